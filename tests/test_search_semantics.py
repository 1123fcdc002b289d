"""Search against the real servers' semantics (issue 7: defects 6, 8, 12, 13).

Civitai (civitai/civitai ``model-search.service.ts``, ``model.service.ts``,
``model.schema.ts``): with a query only the type and NSFW level reach Meilisearch and the other
filters thin out each window afterwards; an unknown tag adds no filter; an unknown creator is
404 "User not found"; the licence flags are ``z.boolean()`` and 400 on any query string. Our
``search_page`` reads on through the cursor until the page is full, the catalogue ends or the
request bound is reached, and its next cursor loses and repeats nothing.
"""

from __future__ import annotations

import shlex

import pytest
import requests
from fakes.civitai import FakeCivitai
from fakes.factory import make_file, make_model, make_safetensors, make_version
from fakes.novita import NOVITA_KEY, FakeNovita, make_novita_model

from modelshelf.errors import BadInputError, NotFoundError
from modelshelf.http import RetryPolicy
from modelshelf.providers.base import READ_ON_REQUESTS
from modelshelf.providers.civitai import CivitaiProvider
from modelshelf.providers.novita import NovitaProvider
from modelshelf.settings import load_settings
from modelshelf.types import SearchQuery

DATA = make_safetensors(64)


def civitai() -> CivitaiProvider:
    return CivitaiProvider(load_settings(), policy=RetryPolicy(max_retries=0, sleep=lambda s: 0))


def add(fake: FakeCivitai, model_id: int, name: str, *, base_model="SD 1.5", **model_kw) -> None:
    files = [make_file(model_id * 10, f"f{model_id}.safetensors", DATA)]
    version = make_version(model_id * 10, model_id, files, name="v1", base_model=base_model)
    licence = {
        k: model_kw.pop(k)
        for k in ("allowNoCredit", "allowDerivatives", "allowDifferentLicense")
        if k in model_kw
    }
    raw = make_model(model_id, name, versions=[version], **model_kw)
    raw.update(licence)
    fake.add_model(raw)


def models_sent(fake: FakeCivitai):
    return fake.requests_to(r"/api/v1/models", "GET")


def read_all(provider, query: SearchQuery, cursors: list | None = None) -> list:
    """Every item, page by page through ``next_cursor`` (as a UI's "more" button would)."""
    out, cursor = [], None
    for _ in range(50):
        page = provider.search_page(query, cursor)
        out.extend(page.items)
        cursor = page.next_cursor
        if cursors is not None:
            cursors.append(cursor)
        if not cursor:
            return out
    raise AssertionError("paging did not end")


@pytest.fixture
def cli(run_cli):
    """``modelshelf ARGS`` in-process, 200 columns wide."""
    return lambda *args: run_cli(*args, env={"COLUMNS": "200"})


# -- defect 12: licence filters ------------------------------------------------------------
def test_fake_answers_licence_booleans_as_the_real_zod_schema_does(fake_civitai):
    api = fake_civitai.url + "/api/v1/models"
    for key in ("allowNoCredit", "allowDerivatives", "allowDifferentLicense"):
        for value in ("true", "false", "1"):
            reply = requests.get(api, params={key: value}, timeout=10)
            assert reply.status_code == 400, (key, value)
            issue = reply.json()["error"]["issues"][0]
            assert issue["path"] == [key] and issue["expected"] == "boolean"
    everything = requests.get(api, params={"nsfw": "true"}, timeout=10).json()["items"]
    plural = requests.get(
        api, params={"nsfw": "true", "allowDifferentLicenses": "false"}, timeout=10
    ).json()["items"]
    assert [m["id"] for m in plural] == [m["id"] for m in everything]  # unknown key: dropped


def test_licence_filters_are_applied_on_our_side_over_full_pages(fake_civitai):
    for i in range(24):
        add(
            fake_civitai,
            9000 + i,
            f"Licence {i}",
            allowNoCredit=i % 3 == 0,
            allowDerivatives=i % 2 == 0,
            allowDifferentLicense=i % 4 != 1,
        )
    provider = civitai()
    query = SearchQuery(
        query="licence", limit=3, allow_no_credit=True, allow_derivatives=True,
        allow_different_licenses=True,
    )  # fmt: skip
    first = provider.search_page(query)
    assert len(first.items) == 3 and first.next_cursor
    got = read_all(provider, query)
    wanted = {9000 + i for i in range(24) if i % 6 == 0 and i % 4 != 1}
    assert [m.id for m in got] == sorted(wanted, reverse=True)  # relevance order, no repeats
    for request in models_sent(fake_civitai):
        assert not {k for k in request.query_keys if k.lower().startswith("allow")}


def test_cli_licence_flags_work_against_the_strict_server(fake_civitai, cli):
    add(fake_civitai, 9100, "Free one", allowNoCredit=True, allowDerivatives=True)
    add(fake_civitai, 9101, "Credit one", allowNoCredit=False, allowDerivatives=True)
    result = cli("search", "one", "--allow-no-credit", "--allow-derivatives", "--json")
    assert result.code == 0, result.stderr
    import json

    assert [m["id"] for m in json.loads(result.stdout)["items"]] == [9100]


# -- defect 13: query windows, tags, creators ----------------------------------------------
def add_sparse_flux(fake: FakeCivitai, sd_count: int, flux_ids: list[int]) -> None:
    """``sd_count`` SD 1.5 "Stylo" models ranked first, then Flux ones (relevance = -id)."""
    for i in range(sd_count):
        add(fake, 20000 - i, f"Stylo sd {i}")
    for model_id in flux_ids:
        add(fake, model_id, f"Stylo flux {model_id}", base_model="Flux.1 D")


def test_fake_filters_a_query_window_after_the_fact(fake_civitai):
    add_sparse_flux(fake_civitai, 12, [100, 99])
    reply = requests.get(
        fake_civitai.url + "/api/v1/models",
        params={"query": "stylo sd", "baseModels": "Flux.1 D", "limit": 5},
        timeout=10,
    ).json()
    assert reply["items"] == [] and reply["metadata"]["nextCursor"] == "5"
    reply = requests.get(
        fake_civitai.url + "/api/v1/models",
        params={"query": "stylo", "baseModels": "Flux.1 D", "limit": 5, "cursor": "10"},
        timeout=10,
    ).json()
    assert [m["id"] for m in reply["items"]] == [100, 99] and "nextCursor" not in reply["metadata"]


def test_query_with_base_model_reads_on_until_the_page_is_full(fake_civitai):
    add_sparse_flux(fake_civitai, 17, [300, 299, 298, 297, 296, 295, 294])
    provider = civitai()
    query = SearchQuery(query="stylo", base_models=["Flux.1 D"], limit=5)
    page = provider.search_page(query)
    assert [m.id for m in page.items] == [300, 299, 298, 297, 296]
    assert not page.bound_reached and page.next_cursor
    rest = provider.search_page(query, page.next_cursor)
    assert [m.id for m in rest.items] == [295, 294] and rest.next_cursor is None
    assert all(r.param("limit") == "5" for r in models_sent(fake_civitai))


def test_cli_query_with_base_model_shows_later_windows(fake_civitai, cli):
    add_sparse_flux(fake_civitai, 17, [300, 299])
    result = cli("search", "stylo", "--base-model", "Flux.1 D", "--limit", "5")
    assert result.code == 0, result.stderr
    assert "300" in result.stdout and "299" in result.stdout
    assert "No models" not in result.stdout


def test_next_cursor_loses_and_repeats_nothing_across_partial_windows(fake_civitai):
    wanted = []
    for i in range(30):
        flux, free = i % 5 != 4, i % 3 != 1  # thinned by the server, and by us
        add(fake_civitai, 500 - i, f"Mix {i}", base_model="Flux.1 D" if flux else "SD 1.5",
            allowNoCredit=free)  # fmt: skip
        if flux and free:
            wanted.append(500 - i)
    provider = civitai()
    cursors: list = []
    for limit in (2, 3, 4, 5, 7):
        for text in ("mix", None):  # query windows, then browse pages
            query = SearchQuery(
                query=text,
                base_models=["Flux.1 D"],
                username="tester",  # not the real fixtures' creators
                limit=limit,
                allow_no_credit=True,
            )
            assert [m.id for m in read_all(provider, query, cursors)] == wanted, (limit, text)
    assert any(c and c.startswith("ms:") for c in cursors)  # pages that end inside a window


def test_request_bound_is_reported_with_a_cursor_that_goes_on(fake_civitai):
    add_sparse_flux(fake_civitai, 5 * READ_ON_REQUESTS + 3, [7, 6])
    provider = civitai()
    query = SearchQuery(query="stylo", base_models=["Flux.1 D"], limit=5)
    page = provider.search_page(query)
    assert page.items == [] and page.bound_reached and page.next_cursor
    assert page.scanned == 5 * READ_ON_REQUESTS
    assert len(models_sent(fake_civitai)) == READ_ON_REQUESTS
    more = provider.search_page(query, page.next_cursor)
    assert [m.id for m in more.items] == [7, 6] and not more.bound_reached


def test_cli_says_how_far_it_read_and_quotes_the_cursor(fake_civitai, cli):
    add_sparse_flux(fake_civitai, 5 * READ_ON_REQUESTS + 3, [7])
    result = cli("search", "stylo", "--base-model", "Flux.1 D", "--limit", "5")
    assert result.code == 0, result.stderr
    assert "No models found" not in result.stdout
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith(f"No models matched in the first {5 * READ_ON_REQUESTS} results")
    words = shlex.split(line.partition("--cursor ")[2])
    assert len(words) == 1
    again = cli("search", "stylo", "--base-model", "Flux.1 D", "--limit", "5", "--cursor", words[0])
    assert again.code == 0, again.stderr
    assert "Stylo flux 7" in again.stdout


def test_unknown_tag_is_unfiltered_by_the_server_and_filtered_by_us(fake_civitai):
    add(fake_civitai, 9200, "Tagged", tags=("Zebra Style", "style"))
    add(fake_civitai, 9201, "Untagged", tags=("style",))
    api = fake_civitai.url + "/api/v1/models"
    unknown = requests.get(api, params={"tag": "nosuchtag", "nsfw": "true"}, timeout=10).json()
    assert len(unknown["items"]) > 1  # the real server adds no filter for an unknown tag
    provider = civitai()
    assert provider.search_page(SearchQuery(tag="nosuchtag", nsfw=True)).items == []
    assert [
        m.id for m in provider.search_page(SearchQuery(tag="ZEBRA style", nsfw=True)).items
    ] == [9200]


def test_unknown_creator_says_there_is_no_such_creator(fake_civitai, cli):
    reply = requests.get(fake_civitai.url + "/api/v1/models", params={"username": "nob.ody"})
    assert (reply.status_code, reply.json()) == (404, {"message": "User not found"})
    with pytest.raises(NotFoundError, match="no creator named 'nob.ody'"):
        civitai().search_page(SearchQuery(username="nob.ody"))
    result = cli("search", "--user", "nob.ody")
    assert result.code == 3
    assert "no creator named 'nob.ody'" in result.stderr and "model search" not in result.stderr


def test_known_creator_matches_after_slugifying(fake_civitai):
    page = civitai().search_page(SearchQuery(username="Pixel.Paws.AI", nsfw=True))
    assert page.items and {m.creator.username for m in page.items} == {"PixelPawsAI"}


# -- defect 8: the next-page hint ----------------------------------------------------------
def test_more_results_hint_is_shell_quoted(fake_civitai, cli):
    for i in range(6):
        add(fake_civitai, 9300 + i, f"Quote {i}")
    result = cli("search", "--limit", "2")
    assert result.code == 0, result.stderr
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("More results: --cursor '") and "|" in line
    (cursor,) = shlex.split(line.partition("--cursor ")[2])
    assert "|" in cursor
    again = cli("search", "--limit", "2", "--cursor", cursor, "--json")
    assert again.code == 0, again.stderr


# -- defect 6: Novita NSFW off ---------------------------------------------------------------
@pytest.fixture
def novita():
    with FakeNovita(load_real=False) as server:
        yield server


def novita_provider(server: FakeNovita, **settings) -> NovitaProvider:
    values = {"novita_url": server.url, "novita_key": NOVITA_KEY, **settings}
    return NovitaProvider(load_settings(values), policy=RetryPolicy(max_retries=0))


def add_novita(server: FakeNovita, count: int, sfw, start: int = 1000) -> None:
    """``count`` models; model ``i`` is SFW when ``sfw(i)``."""
    for i in range(count):
        server.add_model(
            make_novita_model(start + i, f"m{i:03d}", civitai_version_id=50 + i, is_nsfw=not sfw(i))
        )


def test_novita_hides_nsfw_models_when_nsfw_is_off_in_the_settings(novita):
    add_novita(novita, 30, lambda i: i % 3 == 0)
    provider = novita_provider(novita)  # settings nsfw off, query says nothing
    page = provider.search_page(SearchQuery(limit=4))
    assert len(page.items) == 4 and not any(m.nsfw for m in page.items)
    got = read_all(provider, SearchQuery(limit=4))
    assert [m.id for m in got] == [1000 + i for i in range(0, 30, 3)]
    everything = novita_provider(novita, nsfw=True).search_page(SearchQuery(limit=30))
    assert len(everything.items) == 30


def test_novita_filtered_pages_read_on_up_to_the_bound(novita):
    add_novita(novita, 5 * READ_ON_REQUESTS + 5, lambda i: i == 0, start=1)
    novita.add_model(make_novita_model(9999, "late", civitai_version_id=9))
    provider = novita_provider(novita)
    first = provider.search_page(SearchQuery(limit=5))
    assert [m.id for m in first.items] == [1]
    assert first.bound_reached and first.next_cursor
    assert len(novita.requests_to("/v3/model")) == READ_ON_REQUESTS
    last = provider.search_page(SearchQuery(limit=5), first.next_cursor)
    assert [m.id for m in last.items] == [9999] and last.next_cursor is None


def test_cli_novita_empty_page_with_cursor_is_not_no_models_found(novita, monkeypatch, cli):
    add_novita(novita, 5 * READ_ON_REQUESTS + 5, lambda i: False)
    novita.add_model(make_novita_model(9999, "late", civitai_version_id=9))
    monkeypatch.setenv("MODELSHELF_NOVITA_URL", novita.url)
    monkeypatch.setenv("NOVITA_API_KEY", NOVITA_KEY)
    result = cli("search", "--provider", "novita", "--limit", "5")
    assert result.code == 0, result.stderr
    assert "No models found" not in result.stdout
    assert "No models matched in the first 50 results; more may match: --cursor c_" in result.stdout


@pytest.mark.parametrize("cursor", ["ms:x:12|3|4", "ms:5", "ms:99999:1"])
def test_a_mangled_cursor_of_ours_is_bad_input_before_any_request(fake_civitai, cursor):
    with pytest.raises(BadInputError, match="copy the whole --cursor value"):
        civitai().search_page(SearchQuery(limit=5), cursor)
    assert models_sent(fake_civitai) == []
