"""CivitaiProvider lookups, errors, auth scoping and download sources against FakeCivitai."""

from __future__ import annotations

import hashlib

import pytest
import requests
from fakes.factory import make_file, make_model, make_safetensors, make_version
from fakes.httpserver import FakeHTTPServer, Reply

from modelshelf.cache import ResponseCache
from modelshelf.errors import (
    AccessError,
    BadInputError,
    NeedsApiKeyError,
    NotFoundError,
    ServerError,
)
from modelshelf.http import RetryPolicy
from modelshelf.providers.civitai import CivitaiProvider, rebase_url
from modelshelf.settings import load_settings

SHA = "9753338AB693CA82BF89ED77A5D1912879E40051463EC6E330FB9866CE798668"


def make_provider(cache: bool = False) -> CivitaiProvider:
    settings = load_settings()
    policy = RetryPolicy(max_retries=1, sleep=lambda s: None)
    rc = ResponseCache(settings.cache_path, settings.cache_ttl) if cache else None
    return CivitaiProvider(settings, cache=rc, policy=policy)


def test_get_model_real_fixture_with_rebased_urls(fake_civitai):
    model = make_provider().get_model(1580878)
    assert model.name == "Semi-realistic illustrious" and model.type == "LORA"
    assert [v.id for v in model.versions] == [1967584, model.versions[1].id]
    assert model.versions[0].model_id == 1580878 and model.versions[0].model_name == model.name
    assert model.versions[0].download_url == f"{fake_civitai.url}/api/download/models/1967584"
    assert fake_civitai.requests[-1].path == "/api/v1/models/1580878"


def test_get_model_not_found_and_bad_id(fake_civitai):
    provider = make_provider()
    with pytest.raises(NotFoundError, match="12345"):
        provider.get_model(12345)
    for bad in ("abc", 0, -3, 2**31):
        with pytest.raises(BadInputError):
            provider.get_model(bad)
    assert len(fake_civitai.requests) == 1


def test_get_version_fills_model_fields(fake_civitai):
    version = make_provider().get_version(1387174)
    assert version.air == "urn:air:flux1:lora:civitai:1231067@1387174"
    assert (version.model_id, version.model_name) == (1231067, "Vivid Impressions Storybook Style")
    assert (version.model_type, version.model_nsfw, version.model_mode) == ("LORA", False, None)
    assert version.files[0].hashes.sha256 == SHA
    assert version.trained_words == ["ppstorybook"] or version.trained_words


def test_get_version_unrated_is_not_found(fake_civitai):
    with pytest.raises(NotFoundError, match="3198110"):
        make_provider().get_version(3198110)  # nsfwLevel 0: the real endpoint 404s


def test_archived_model_mode(fake_civitai):
    data = make_safetensors(128)
    version = make_version(71, 7, [make_file(710, "old.safetensors", data)], name="v1")
    raw = make_model(7, "Old", versions=[version])
    raw["mode"] = "Archived"
    fake_civitai.add_model(raw)
    provider = make_provider()
    model = provider.get_model(7)
    assert model.mode == "Archived" and model.versions[0].files == []
    got = provider.get_version(71)
    assert got.model_mode == "Archived" and got.files == []


@pytest.mark.parametrize("kind", ["SHA256", "AutoV1", "AutoV2", "AutoV3", "CRC32", "BLAKE3"])
def test_by_hash_any_kind(fake_civitai, kind):
    hashes = {
        "SHA256": SHA, "AutoV1": "F414C813", "AutoV2": "9753338AB6", "AutoV3": "34A22376739D",
        "CRC32": "A65AE7B3",
        "BLAKE3": "A5F8AB95AC2486345E4ACCAE541FF19D97ED53EFB0A7CC9226636975A0437591",
    }  # fmt: skip
    version = make_provider().get_version_by_hash(hashes[kind].lower())
    assert version.id == 1387174 and version.model_id == 1231067


def test_by_hash_unknown_and_invalid(fake_civitai):
    provider = make_provider()
    with pytest.raises(NotFoundError, match="ABCDEF1234"):
        provider.get_version_by_hash("ABCDEF1234")
    with pytest.raises(BadInputError):
        provider.get_version_by_hash("not-a-hash")
    assert len(fake_civitai.requests) == 1


def test_bulk_by_hash_chunks_and_drops_unmatched(fake_civitai):
    data = make_safetensors(256)
    sha = hashlib.sha256(data).hexdigest()
    fake_civitai.add_model(
        make_model(
            8, "Eight", versions=[make_version(81, 8, [make_file(810, "e.st", data)], name="a")]
        )
    )
    fillers = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(148)]
    found = make_provider().get_versions_by_hashes([SHA.lower(), *fillers, sha, sha.upper()])
    assert sorted(v.id for v in found) == [81, 1387174]
    posts = fake_civitai.requests_to(r"/api/v1/model-versions/by-hash", "POST")
    assert [len(p.json()) for p in posts] == [100, 50]
    assert all(len(h) == 64 for p in posts for h in p.json())


def test_bulk_by_hash_rejects_short_hashes_before_sending(fake_civitai):
    with pytest.raises(BadInputError, match="SHA256"):
        make_provider().get_versions_by_hashes([SHA, "9753338AB6"])
    assert fake_civitai.requests == []
    r = requests.post(fake_civitai.url + "/api/v1/model-versions/by-hash", json=["9753338AB6"])
    assert r.status_code == 400 and "SHA256" in r.json()["error"]


def test_get_models_batches_ids(fake_civitai):
    data = make_safetensors(32)
    for mid in range(100, 250):
        v = make_version(mid * 10, mid, [make_file(mid * 100, f"{mid}.st", data)], name="v")
        fake_civitai.add_model(make_model(mid, f"M{mid}", versions=[v]))
    ids = [*range(100, 250), 1231067, 99999]
    models = make_provider().get_models(ids)
    assert [m.id for m in models] == ids[:-1]
    sent = fake_civitai.requests_to(r"/api/v1/models", "GET")
    assert len(sent) == 2 and all(r.param("limit") == "100" for r in sent)
    assert [len(r.param("ids").split(",")) for r in sent] == [100, 52]


def test_raw_version_json_is_cached(fake_civitai):
    provider = make_provider(cache=True)
    raw = provider.raw_version_json(1387174)
    assert raw["air"] == "urn:air:flux1:lora:civitai:1231067@1387174"
    assert provider.raw_version_json(1387174) == raw
    assert len(fake_civitai.requests) == 1


def test_resolve_download_and_auth_scope(fake_civitai, monkeypatch):
    provider = make_provider()
    version = provider.get_version(1387174)
    source = provider.resolve_download(version, version.files[0])
    assert source.url == f"{fake_civitai.url}/api/download/models/1387174"
    assert source.headers == {} and "token" not in source.url
    assert source.expected_sha256 == SHA.lower() and source.size_is_exact is False
    assert source.expected_size == round(18829.1484375 * 1024)
    assert source.filename == "pp-storybook_rank2_bf16.safetensors"
    assert (source.version_id, source.file_id) == (1387174, 1289799)
    monkeypatch.setenv("CIVITAI_API_TOKEN", fake_civitai.valid_token)
    authed = make_provider()
    source = authed.resolve_download(version, version.files[0])
    assert source.headers == {"Authorization": f"Bearer {fake_civitai.valid_token}"}
    assert authed.auth_headers("https://civitai.com/api/v1/models") == {}
    other_port = fake_civitai.url.rsplit(":", 1)[0] + ":1"
    assert authed.auth_headers(other_port + "/x") == {}
    assert authed.auth_headers(f"http://127.0.0.2:{fake_civitai.port}/x") == {}
    version.files[0].download_url = None
    source = authed.resolve_download(version, version.files[0])
    assert source.url == f"{fake_civitai.url}/api/download/models/1387174?fileId=1289799"


def test_token_goes_only_as_bearer_to_the_api(fake_civitai, monkeypatch):
    monkeypatch.setenv("CIVITAI_API_TOKEN", fake_civitai.valid_token)
    provider = make_provider()
    provider.get_model(1231067)
    provider.get_version_by_hash(SHA)
    for r in fake_civitai.requests:
        assert r.headers["Authorization"] == f"Bearer {fake_civitai.valid_token}"
        assert "token" not in r.query_keys


def test_rebase_url():
    root = "http://127.0.0.1:9/base"
    assert rebase_url("https://api.civitai.com/api/v1/models?a=1&b=2", root) == (
        "http://127.0.0.1:9/base/api/v1/models?a=1&b=2"
    )
    assert rebase_url("https://civitai.red/api/download/models/1", root).startswith(root)
    assert (
        rebase_url("https://image.civitai.com/x.jpeg", root) == "https://image.civitai.com/x.jpeg"
    )
    assert rebase_url("/api/download/models/5", root) == root + "/api/download/models/5"


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "text"),
    [
        (401, {"error": "Unauthorized"}, {}, NeedsApiKeyError, "CIVITAI_API_TOKEN"),
        (403, "<html>Attention Required</html>", {"Content-Type": "text/html"}, AccessError, "403"),
        (400, {"error": "Bad thing happened"}, {}, BadInputError, "Bad thing happened"),
        (400, {"error": {"issues": [{"path": ["id"], "message": "Expected number"}]}}, {},
         BadInputError, "id: Expected number"),
        (200, "<html>challenge</html>", {"Content-Type": "text/html"}, ServerError, "web page"),
        (200, "not json at all", {"Content-Type": "application/json"}, ServerError, "web page"),
    ],
)  # fmt: skip
def test_error_mapping(fake_civitai, status, body, headers, error, text):
    fake_civitai.add_route("GET", r"/api/v1/models/42", lambda r, m: Reply(status, body, headers))
    with pytest.raises(error, match=text):
        make_provider().get_model(42)


def test_download_endpoint_rules(fake_civitai):
    """The fake's download endpoint follows api.md §1.9 (used by the download helpers)."""
    url = fake_civitai.url + "/api/download/models/1387174"

    def get(**kw):
        return requests.get(url, allow_redirects=False, **kw)

    assert (get().status_code, get().json()) == (404, {"error": "File not found"})
    fake_civitai.download_target = lambda vid, f: f"http://127.0.0.2:1/{vid}/{f['name']}"
    r = get()
    assert r.status_code == 307 and r.headers["Location"].endswith(
        "pp-storybook_rank2_bf16.safetensors"
    )
    fake_civitai.download_rules[1387174] = {"require_auth": True}
    assert get().status_code == 401 and "logged in" in get().json()["message"]
    assert get(headers={"Authorization": "Bearer test-token"}).status_code == 307
    browser = get(headers={"User-Agent": "Mozilla/5.0 Chrome"})
    assert browser.status_code == 307 and browser.headers["Location"].startswith("/login?")
    fake_civitai.download_rules[1387174] = {"early_access_deadline": "2999-01-01T00:00:00Z"}
    r = get(headers={"Authorization": "Bearer test-token"})
    assert r.status_code == 403 and r.json()["deadline"] == "2999-01-01T00:00:00Z"
    fake_civitai.download_rules[1387174] = {"disabled": True, "require_auth": True}
    assert get().status_code == 401 and "disabled downloads" in get().json()["message"]
    fake_civitai.download_rules[1387174] = {"archived": True, "disabled": True}
    assert get().status_code == 410
    browser = get(headers={"User-Agent": "Mozilla/5.0"})
    assert browser.headers["Content-Type"].startswith("text/plain")
    assert get(params={"format": "Bogus"}).status_code == 400
    fake_civitai.download_rules.clear()
    assert get(params={"format": "GGUF"}).status_code == 404
    assert get(params={"fileId": "1289799"}).status_code == 307


def test_httpserver_raw_header_bytes_and_dropped_body():
    server = FakeHTTPServer()
    name = "真实模型名.safetensors"
    cd = f'attachment; filename="{name}"'.encode()
    server.add_route("GET", r"/f", lambda r, m: Reply(200, b"x" * 100, {"Content-Disposition": cd}))
    server.add_route("GET", r"/drop", lambda r, m: Reply(200, b"y" * 1000, drop_after=10))
    with server:
        r = requests.get(server.url + "/f")
        assert (
            r.headers["Content-Disposition"].encode("latin-1").decode("utf-8").endswith(f'"{name}"')
        )
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(server.url + "/drop")
    assert [q.path for q in server.requests] == ["/f", "/drop"]
