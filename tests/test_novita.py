"""The Novita provider against the fake Novita server (real HTTP on loopback)."""

from __future__ import annotations

import json

import pytest
import requests
from fakes.fixtures import REAL_FIXTURES
from fakes.httpserver import Reply
from fakes.novita import NOVITA_KEY, FakeNovita, decode_cursor, make_novita_model

from modelshelf.cache import ResponseCache
from modelshelf.errors import (
    AccessError,
    BadInputError,
    CivitaiDownloadRequired,
    NeedsApiKeyError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from modelshelf.http import RetryPolicy
from modelshelf.providers.novita import NovitaProvider, novita_error
from modelshelf.providers.novita_parse import civitai_version_id_from_sd_name, parse_page
from modelshelf.settings import load_settings
from modelshelf.types import SearchQuery


class RecordingSleep:
    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def provider_for(server: FakeNovita, key: str | None = NOVITA_KEY, **kw) -> NovitaProvider:
    settings = load_settings({"novita_url": server.url, "novita_key": key})
    kw.setdefault("policy", RetryPolicy(max_retries=2, sleep=RecordingSleep()))
    return NovitaProvider(settings, **kw)


@pytest.fixture
def novita():
    with FakeNovita() as server:
        yield server


def test_real_page_parses_into_models_with_versions_and_autov2():
    data = json.loads((REAL_FIXTURES / "novita_v3_model_page.json").read_text())
    page = parse_page(data, limit=2)
    assert page.next_cursor == "c_WzgwNDY2NiwiNTUxOTkiXQ=="
    assert page.provider == "novita"
    first, second = page.items
    assert (first.id, first.provider, first.type) == (114600, "novita", "checkpoint")
    assert first.name == "realisticVisionV40_v40VAE-inpainting"
    assert first.tags[:2] == ["photorealistic", "anatomical"]
    assert first.base_models == ["SD 1.5"]
    assert first.extra["civitai_version_id"] == 81543
    assert first.extra["is_sdxl"] is False and first.extra["status"] == 1
    assert first.extra["download_url_ttl"] == 2592000
    version = first.versions[0]
    assert (version.id, version.name, version.base_model) == (
        114600,
        "V4.0-inpainting (VAE)",
        "SD 1.5",
    )
    assert version.base_model_type == "Inpainting"
    assert version.status == "available"
    assert version.extra["civitai_version_id"] == 81543
    assert (
        version.extra["sd_name_in_api"] == "realisticVisionV40_v40VAE-inpainting_81543.safetensors"
    )
    (file,) = version.files
    assert file.name == "realisticVisionV40_v40VAE-inpainting_81543.safetensors"
    assert file.hashes.autov2 == "1A805277C8" and file.hashes.sha256 is None
    assert file.format == "SafeTensor" and file.primary
    assert version.images[0].url.endswith("/1495044.jpeg")
    assert second.type == "locon"  # outside the filter enum, kept as given
    assert second.extra["civitai_version_id"] == 39807
    assert second.versions[0].extra["sd_name_in_api"] == "GoodHands-beta2_39807"
    assert second.name == "GoodHands-beta2" and second.versions[0].name == "beta2"


@pytest.mark.parametrize(
    ("sd_name", "expected"),
    [
        ("GoodHands-beta2_39807.safetensors", 39807),
        ("GoodHands-beta2_39807", 39807),
        ("a_b_12.ckpt", 12),
        ("noversion.safetensors", None),
        ("x_99999999999.safetensors", None),
        ("", None),
        (None, None),
    ],
)
def test_civitai_version_id_from_sd_name(sd_name, expected):
    assert civitai_version_id_from_sd_name(sd_name) == expected


def test_short_page_and_empty_cursor_end_the_results():
    model = make_novita_model(1, "a", civitai_version_id=5)
    assert (
        parse_page({"models": [model], "pagination": {"next_cursor": "c_x"}}, limit=2).next_cursor
        is None
    )
    assert (
        parse_page({"models": [model], "pagination": {"next_cursor": ""}}, limit=1).next_cursor
        is None
    )
    assert parse_page({"models": [model]}, limit=1).next_cursor is None
    assert (
        parse_page({"models": [model], "pagination": {"next_cursor": "c_1"}}, limit=1).next_cursor
        == "c_1"
    )
    assert parse_page("garbage", limit=1).items == []


def test_unknown_type_and_fields_pass_through():
    data = make_novita_model(7, "thing", civitai_version_id=8, type_name="lyco", brand_new=3)
    page = parse_page({"models": [data]}, limit=10)
    assert page.items[0].type == "lyco"
    assert page.items[0].extra["brand_new"] == 3


def test_search_page_sends_every_filter_with_the_bearer_key(novita):
    provider = provider_for(novita)
    query = SearchQuery(
        query="hands",
        types=["LORA", "locon"],
        visibility="public",
        source="civitai",
        is_sdxl=False,
        is_inpainting=False,
        limit=5,
    )
    page = provider.search_page(query)
    (request,) = novita.requests_to("/v3/model")
    assert request.headers["Authorization"] == f"Bearer {NOVITA_KEY}"
    assert request.query == [
        ("filter.visibility", "public"),
        ("filter.source", "civitai"),
        ("filter.types", "lora,locon"),
        ("filter.is_sdxl", "false"),
        ("filter.query", "hands"),
        ("filter.is_inpainting", "false"),
        ("pagination.limit", "5"),
    ]
    assert [m.id for m in page.items] == [55199]
    assert page.next_cursor is None  # a short page


def test_cursor_paging_follows_the_servers_base64_cursors(novita):
    novita.add_synthetic(25)
    provider = provider_for(novita)
    first = provider.search_page(SearchQuery(limit=10))
    assert len(first.items) == 10 and first.next_cursor.startswith("c_")
    assert decode_cursor(first.next_cursor) == 10
    second = provider.search_page(SearchQuery(limit=10), first.next_cursor)
    assert second.items[0].id != first.items[0].id
    assert novita.requests[-1].param("pagination.cursor") == first.next_cursor
    everything = list(provider.search(SearchQuery(limit=10)))
    assert len(everything) == 27
    assert len({m.id for m in everything}) == 27


def test_lazy_search_stops_after_max_items_without_fetching_more(novita):
    novita.add_synthetic(50)
    provider = provider_for(novita)
    novita.clear_requests()
    items = list(provider.search(SearchQuery(limit=10), max_items=15))
    assert len(items) == 15
    assert len(novita.requests_to("/v3/model")) == 2


def test_client_side_filters_for_base_model_tag_and_nsfw(novita):
    novita.add_model(make_novita_model(1, "spicy", civitai_version_id=2, is_nsfw=True, tags=["x"]))
    novita.add_synthetic(6)
    provider = provider_for(novita)
    sdxl = provider.search_page(SearchQuery(base_models=["SDXL 1.0"], limit=100))
    assert sdxl.items and all(m.base_models == ["SDXL 1.0"] for m in sdxl.items)
    tagged = provider.search_page(SearchQuery(tag="group1", limit=100))
    assert [m.name for m in tagged.items] == ["synthetic-0001", "synthetic-0005"]
    safe = provider.search_page(SearchQuery(nsfw=False, limit=100))
    assert 1 not in {m.id for m in safe.items}
    assert 1 not in {m.id for m in provider.search_page(SearchQuery(limit=100)).items}  # settings
    assert 1 in {m.id for m in provider.search_page(SearchQuery(nsfw=True, limit=100)).items}


def test_fake_accepts_the_sdk_filter_type_spelling(novita):
    reply = requests.get(
        novita.url + "/v3/model",
        params={"filter.type": "checkpoint", "pagination.limit": "10"},
        headers={"Authorization": f"Bearer {NOVITA_KEY}"},
        timeout=5,
    )
    assert [m["id"] for m in reply.json()["models"]] == [114600]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
def test_fake_rejects_limits_outside_0_100(novita, limit):
    reply = requests.get(
        novita.url + "/v3/model",
        params={"pagination.limit": limit},
        headers={"Authorization": f"Bearer {NOVITA_KEY}"},
        timeout=5,
    )
    assert reply.status_code == 400 and reply.json()["reason"] == "INVALID_REQUEST_BODY"


@pytest.mark.parametrize("limit", [0, 101, -3])
def test_provider_refuses_limits_outside_0_100_before_asking(novita, limit):
    with pytest.raises(BadInputError):
        provider_for(novita).search_page(SearchQuery(limit=limit))
    assert novita.requests == []


def test_missing_key_is_refused_locally_and_by_the_server(novita):
    with pytest.raises(NeedsApiKeyError, match="NOVITA_API_KEY"):
        provider_for(novita, key=None).search_page(SearchQuery())
    assert novita.requests == []
    reply = requests.get(novita.url + "/v3/model", timeout=5)
    assert reply.status_code == 400 and reply.json()["reason"] == "MISSING_API_KEY"
    error = novita_error(reply.status_code, reply.json())
    assert isinstance(error, NeedsApiKeyError) and "NOVITA_API_KEY" in str(error)


def test_wrong_key_gives_needs_api_key_without_showing_the_key(novita):
    with pytest.raises(NeedsApiKeyError) as info:
        provider_for(novita, key="wrong-secret-key").search_page(SearchQuery())
    assert "INVALID_API_KEY" in str(info.value) and "NOVITA_API_KEY" in str(info.value)
    assert "wrong-secret-key" not in str(info.value)
    assert info.value.exit_code == 4


def test_error_bodies_map_onto_our_errors():
    assert isinstance(novita_error(404, {"reason": "API_NOT_FOUND"}), NotFoundError)
    assert isinstance(novita_error(403, {"reason": "API_NOT_ALLOWED"}), AccessError)
    assert type(novita_error(400, {"reason": "INVALID_REQUEST_BODY"})) is BadInputError
    assert isinstance(novita_error(502, "<html>"), ServerError)
    echoed = novita_error(400, {"reason": "X", "message": "bad key sk-1 here"}, key="sk-1")
    assert "sk-1" not in str(echoed)


def test_404_from_the_server_is_not_found(novita):
    novita.fail_next("/v3/model", 404, {"code": 404, "reason": "API_NOT_FOUND", "message": "no"})
    with pytest.raises(NotFoundError, match="API_NOT_FOUND"):
        provider_for(novita).search_page(SearchQuery())


def test_429_is_retried_then_rate_limited(novita):
    body = {"code": 429, "reason": "RATE_LIMIT_EXCEEDED", "message": "slow down"}
    novita.fail_next("/v3/model", 429, body, headers={"Retry-After": "0"}, times=5)
    sleep = RecordingSleep()
    provider = provider_for(novita, policy=RetryPolicy(max_retries=2, sleep=sleep))
    with pytest.raises(RateLimitedError, match="RATE_LIMIT_EXCEEDED"):
        provider.search_page(SearchQuery())
    assert len(novita.requests_to("/v3/model")) == 3
    assert sleep.waits == [0, 0]


def test_one_429_then_success_recovers(novita):
    novita.fail_next("/v3/model", 429, {"code": 429, "reason": "RATE_LIMIT_EXCEEDED"})
    page = provider_for(novita).search_page(SearchQuery(limit=10))
    assert len(page.items) == 2


def test_non_json_200_is_a_server_error(novita):
    novita.add_route("GET", "/v3/model", lambda req, m: Reply(200, "<html>"))
    with pytest.raises(ServerError):
        provider_for(novita).search_page(SearchQuery())


def test_bad_cursor_and_bad_root_are_refused(novita):
    with pytest.raises(BadInputError, match="c_"):
        provider_for(novita).search_page(SearchQuery(), "nope")
    with pytest.raises(BadInputError, match="novita_url"):  # refused when the settings load
        load_settings({"novita_url": "ftp://x", "novita_key": "k"})
    settings = load_settings({"novita_key": "k"}).with_(novita_url="ftp://x")
    with pytest.raises(BadInputError):  # and by the provider, whatever built the settings
        NovitaProvider(settings)


def test_get_model_by_id_scans_pages_and_by_sd_name_queries(novita):
    novita.add_synthetic(30)
    provider = provider_for(novita)
    model = provider.get_model(500025)
    assert model.name == "synthetic-0025"
    again = provider.get_model("500025")
    assert again is model  # remembered, no new request
    by_name = provider_for(novita).get_model("GoodHands-beta2_39807")
    assert by_name.id == 55199
    assert novita.requests[-1].param("filter.query") == "GoodHands-beta2_39807"
    assert provider.get_version(114600).files[0].hashes.autov2 == "1A805277C8"
    with pytest.raises(NotFoundError, match="no lookup by id"):
        provider_for(novita, max_scan_pages=1).get_model(42)
    with pytest.raises(NotFoundError):
        provider.get_model("no-such-model")


def test_private_model_resolves_to_its_signed_url_without_the_key(novita):
    content = b"private lora bytes"
    novita.add_private(777, "my-trained-lora", content)
    provider = provider_for(novita)
    model = provider.get_model(777)
    version = model.versions[0]
    source = provider.resolve_download(version, version.files[0])
    assert source.url.startswith(novita.url + "/files/777/")
    assert source.headers == {}
    assert source.filename == "my-trained-lora.safetensors"
    assert source.expires_at == pytest.approx(version.extra["fetched_at"] + 86400)
    assert requests.get(source.url, timeout=5).content == content


def test_public_model_download_points_at_civitai(novita):
    provider = provider_for(novita)
    version = provider.get_version(55199)
    with pytest.raises(CivitaiDownloadRequired) as info:
        provider.resolve_download(version, version.files[0])
    assert info.value.civitai_version_id == 39807
    assert "39807" in str(info.value) and info.value.exit_code == 4


def test_cached_repeat_makes_no_request_and_keys_hold_no_secret(novita, isolated_home):
    cache = ResponseCache(isolated_home / "cache.sqlite3", 300)
    provider = provider_for(novita, cache=cache)
    first = provider.search_page(SearchQuery(query="hands", limit=10))
    second = provider_for(novita, cache=cache).search_page(SearchQuery(query="hands", limit=10))
    assert [m.id for m in first.items] == [m.id for m in second.items] == [55199]
    assert len(novita.requests_to("/v3/model")) == 1
    for path in isolated_home.glob("cache.sqlite3*"):  # the database and its WAL
        assert NOVITA_KEY.encode() not in path.read_bytes()
    other_key = provider_for(novita, key="another-key", cache=cache)
    with pytest.raises(NeedsApiKeyError):
        other_key.search_page(SearchQuery(query="hands", limit=10))  # not served from cache
