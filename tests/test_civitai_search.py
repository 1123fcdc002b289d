"""CivitaiProvider search against FakeCivitai: what is sent, paging, filters, cache."""

from __future__ import annotations

import pytest
from fakes.civitai import FakeCivitai
from fakes.factory import make_file, make_model, make_safetensors, make_version

from modelshelf.cache import ResponseCache
from modelshelf.errors import BadInputError, NeedsApiKeyError
from modelshelf.http import RetryPolicy
from modelshelf.providers.civitai import CivitaiProvider
from modelshelf.settings import load_settings
from modelshelf.types import SearchQuery


def make_provider(cache: bool = False) -> CivitaiProvider:
    settings = load_settings()
    policy = RetryPolicy(max_retries=2, sleep=lambda s: None)
    rc = ResponseCache(settings.cache_path, settings.cache_ttl) if cache else None
    return CivitaiProvider(settings, cache=rc, policy=policy)


def add_many(fake: FakeCivitai, count: int, start: int = 5000, name: str = "Bulk") -> None:
    data = make_safetensors(64)
    for i in range(count):
        mid = start + i
        files = [make_file(mid * 10, f"bulk_{i}.safetensors", data)]
        version = make_version(mid * 10, mid, files, name="v1", base_model="SDXL 1.0")
        fake.add_model(make_model(mid, f"{name} {i}", versions=[version]))


def list_requests(fake: FakeCivitai):
    return fake.requests_to(r"/api/v1/models", "GET")


def test_types_and_base_models_are_repeated_never_comma_joined(fake_civitai):
    provider = make_provider()
    query = SearchQuery(types=["lora", "Checkpoint,LyCORIS"], base_models=["SD 1.5,Flux.1 D"])
    page = provider.search_page(query)
    sent = list_requests(fake_civitai)[-1]
    assert sent.params("types") == ["LORA", "Checkpoint", "LoCon"]
    assert sent.params("baseModels") == ["SD 1.5", "Flux.1 D"]
    assert all("," not in v for v in sent.params("types") + sent.params("baseModels"))
    names = {m.name for m in page.items}
    assert "Vivid Impressions Storybook Style" in names  # Flux LORA
    assert {m.type for m in page.items} <= {"LORA", "Checkpoint", "LoCon"}


def test_base_model_filter_drops_other_versions(fake_civitai):
    provider = make_provider()
    page = provider.search_page(SearchQuery(base_models=["Illustrious"], nsfw=True))
    assert [m.id for m in page.items] == [1580878]
    assert all(v.base_model == "Illustrious" for v in page.items[0].versions)


def test_every_seed_parameter_is_sent_in_accepted_form(fake_civitai, monkeypatch):
    monkeypatch.setenv("CIVITAI_API_TOKEN", fake_civitai.valid_token)
    provider = make_provider()
    query = SearchQuery(
        query="storybook",
        limit=5,
        tag="style",
        username="PixelPawsAI",
        types=["LORA"],
        sort="Most Downloaded",
        period="AllTime",
        rating=4,
        favorites=False,
        hidden=False,
        primary_file_only=True,
        allow_no_credit=True,
        allow_derivatives=True,
        allow_different_licenses=True,
        allow_commercial_use="Image",
        nsfw=False,
        supports_generation=True,
        base_models=["Flux.1 D"],
    )
    provider.search_page(query)
    sent = list_requests(fake_civitai)[-1]
    expected = {
        "query": "storybook", "limit": "5", "tag": "style", "username": "PixelPawsAI",
        "types": "LORA", "sort": "Most Downloaded", "period": "AllTime", "rating": "4",
        "favorites": "false", "hidden": "false", "primaryFileOnly": "true",
        "allowCommercialUse": "Image", "nsfw": "false", "supportsGeneration": "true",
        "baseModels": "Flux.1 D",
    }  # fmt: skip
    assert dict(sent.query) == expected  # the licence flags are ours to apply (z.boolean 400s)
    assert "page" not in sent.query_keys and "token" not in sent.query_keys
    assert sent.headers["Authorization"] == f"Bearer {fake_civitai.valid_token}"


def test_unset_booleans_are_not_sent(fake_civitai):
    make_provider().search_page(SearchQuery())
    assert list_requests(fake_civitai)[-1].query == []


def test_favorites_without_token_is_refused_before_sending(fake_civitai):
    provider = make_provider()
    with pytest.raises(NeedsApiKeyError, match="CIVITAI_API_TOKEN"):
        provider.search_page(SearchQuery(favorites=True))
    with pytest.raises(NeedsApiKeyError):
        provider.search_page(SearchQuery(hidden=True))
    assert list_requests(fake_civitai) == []
    provider.search_page(SearchQuery(favorites=False, hidden=False))  # nothing to filter
    assert list_requests(fake_civitai)[-1].query_keys == []


def test_favorites_with_token(fake_civitai, monkeypatch):
    monkeypatch.setenv("CIVITAI_API_TOKEN", fake_civitai.valid_token)
    fake_civitai.favorites = {1231067}
    page = make_provider().search_page(SearchQuery(favorites=True, nsfw=True))
    assert [m.id for m in page.items] == [1231067]


def test_fake_refuses_what_the_real_service_refuses(fake_civitai):
    """The fake answers like Civitai, so a client sending these would fail its tests."""
    import requests

    api = fake_civitai.url + "/api/v1/models"
    r = requests.get(api, params={"query": "x", "page": 1})
    assert r.status_code == 400 and "Cannot use page param" in r.json()["error"]
    r = requests.get(api, params={"page": 11, "limit": 100})
    assert r.status_code == 429 and "too many pages" in r.json()["error"]
    r = requests.get(api, params={"types": "LORA,Checkpoint"})
    assert r.status_code == 400 and r.json()["error"]["issues"][0]["path"] == ["types"]
    r = requests.get(api, params={"types": "lora"})
    assert r.status_code == 400
    r = requests.get(api, params={"favorites": "false"})
    assert (r.status_code, r.json()) == (401, {"error": "Unauthorized"})
    r = requests.get(api, params={"limit": 101})
    assert r.status_code == 400
    r = requests.get(api, params={"page": 1, "limit": 2})
    meta = r.json()["metadata"]
    assert meta["currentPage"] == 1 and meta["pageSize"] == 2 and "totalItems" not in meta


def test_query_paging_uses_numeric_cursors_and_never_page(fake_civitai):
    add_many(fake_civitai, 7, name="Pagetest")
    provider = make_provider()
    names = [m.name for m in provider.search(SearchQuery(query="pagetest", limit=3))]
    assert sorted(names) == sorted(f"Pagetest {i}" for i in range(7))
    sent = list_requests(fake_civitai)
    assert len(sent) == 3
    assert [r.param("cursor") for r in sent] == [None, "3", "6"]
    assert all("page" not in r.query_keys for r in sent)


def test_browse_paging_follows_opaque_cursors_to_the_end(fake_civitai):
    add_many(fake_civitai, 12)
    provider = make_provider()
    ids = [m.id for m in provider.search(SearchQuery(limit=5, nsfw=True))]
    assert len(ids) == len(set(ids)) == len(fake_civitai.models)
    cursors = [r.param("cursor") for r in list_requests(fake_civitai)]
    assert cursors[0] is None and all("|" in c for c in cursors[1:])


def test_numeric_next_cursor_is_kept_as_string(fake_civitai):
    fake_civitai.numeric_cursor = True
    add_many(fake_civitai, 4)
    provider = make_provider()
    page = provider.search_page(SearchQuery(limit=2, nsfw=True))
    assert page.next_cursor == "2"
    second = provider.search_page(SearchQuery(limit=2, nsfw=True), cursor=page.next_cursor)
    assert {m.id for m in second.items}.isdisjoint({m.id for m in page.items})


def test_search_is_lazy_and_stops_at_max_items(fake_civitai):
    add_many(fake_civitai, 10)
    provider = make_provider()
    results = provider.search(SearchQuery(limit=3, nsfw=True), max_items=4)
    assert list_requests(fake_civitai) == []
    assert len(list(results)) == 4
    assert len(list_requests(fake_civitai)) == 2


def test_nsfw_default_is_pg_only(fake_civitai):
    provider = make_provider()
    pg = {m.id for m in provider.search(SearchQuery())}
    everything = {m.id for m in provider.search(SearchQuery(nsfw=True))}
    assert 2833924 not in pg and 2833924 in everything  # nsfwLevel 4 lacks the PG bit
    assert pg < everything
    assert "nsfw" not in list_requests(fake_civitai)[0].query_keys
    for model in provider.search(SearchQuery()):
        for version in model.versions:
            assert all(i.nsfw_level == 1 for i in version.images)


def test_limit_out_of_range_is_bad_input_without_request(fake_civitai):
    with pytest.raises(BadInputError):
        make_provider().search_page(SearchQuery(limit=101))
    assert fake_civitai.requests == []


def test_server_zod_error_becomes_bad_input(fake_civitai):
    with pytest.raises(BadInputError, match="types") as info:
        make_provider().search_page(SearchQuery(types=["NotAType"]))
    assert info.value.status == 400


def test_urls_are_rebased_onto_the_configured_root(fake_civitai):
    page = make_provider().search_page(SearchQuery(types=["Checkpoint"], limit=2, nsfw=True))
    urls = [f.download_url for m in page.items for v in m.versions for f in v.files]
    assert urls and all(u.startswith(fake_civitai.url + "/api/download/models/") for u in urls)
    assert any("type=" in u for u in urls)  # query of non-primary files kept
    assert page.next_page.startswith(fake_civitai.url)


def test_cache_serves_repeat_pages_and_separates_token(fake_civitai, monkeypatch):
    provider = make_provider(cache=True)
    first = provider.search_page(SearchQuery(limit=2))
    again = provider.search_page(SearchQuery(limit=2))
    assert [m.id for m in again.items] == [m.id for m in first.items]
    assert len(list_requests(fake_civitai)) == 1
    monkeypatch.setenv("CIVITAI_API_TOKEN", fake_civitai.valid_token)
    authed = make_provider(cache=True)
    authed.search_page(SearchQuery(limit=2))
    assert len(list_requests(fake_civitai)) == 2  # not served from the anonymous entry
    authed.search_page(SearchQuery(limit=2))
    assert len(list_requests(fake_civitai)) == 2
    assert fake_civitai.valid_token.encode() not in authed.cache.path.read_bytes()
    uncached = CivitaiProvider(load_settings(), cache=None)
    uncached.search_page(SearchQuery(limit=2))
    assert len(list_requests(fake_civitai)) == 3
