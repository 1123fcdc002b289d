"""modelshelf.http retries against the fake Civitai: waits are recorded, never slept."""

from __future__ import annotations

import socket

import pytest

from modelshelf.errors import NetworkError, RateLimitedError, ServerError
from modelshelf.http import RetryPolicy, build_session, request_with_retries
from modelshelf.providers.civitai import CivitaiProvider
from modelshelf.settings import load_settings
from modelshelf.types import SearchQuery


def policy(waits: list[float], retries: int = 3) -> RetryPolicy:
    return RetryPolicy(max_retries=retries, base_delay=1.0, max_delay=60.0, sleep=waits.append)


def models_url(fake) -> str:
    return fake.url + "/api/v1/models/1231067"


def test_429_without_retry_after_backs_off_30s(fake_civitai):
    waits: list[float] = []
    fake_civitai.fail_next(r"/api/v1/models", 429, {"error": "Too Many Requests"}, times=2)
    r = request_with_retries(build_session(), "GET", models_url(fake_civitai), policy=policy(waits))
    assert r.status_code == 200 and r.json()["id"] == 1231067
    assert waits == [30.0, 30.0]
    assert len(fake_civitai.requests) == 3


def test_429_with_retry_after_is_honoured(fake_civitai):
    waits: list[float] = []
    fake_civitai.fail_next(r"/api/v1/models", 429, headers={"Retry-After": "7"})
    request_with_retries(build_session(), "GET", models_url(fake_civitai), policy=policy(waits))
    assert waits == [7.0]


def test_503_with_retry_after_2(fake_civitai):
    waits: list[float] = []
    body = {"error": "Model search is temporarily overloaded — please retry."}
    fake_civitai.fail_next(r"/api/v1/models", 503, body, {"Retry-After": "2"}, times=2)
    r = request_with_retries(build_session(), "GET", models_url(fake_civitai), policy=policy(waits))
    assert r.status_code == 200 and waits == [2.0, 2.0]


def test_retries_run_out(fake_civitai):
    waits: list[float] = []
    fake_civitai.fail_next(r"/api/v1/models", 429, times=10)
    with pytest.raises(RateLimitedError) as info:
        request_with_retries(
            build_session(), "GET", models_url(fake_civitai), policy=policy(waits, 2)
        )
    assert info.value.exit_code == 6 and len(waits) == 2
    assert len(fake_civitai.requests) == 3
    fake_civitai.clear_faults()
    fake_civitai.fail_next(r"/api/v1/models", 503, headers={"Retry-After": "2"}, times=10)
    with pytest.raises(ServerError) as info:
        request_with_retries(
            build_session(), "GET", models_url(fake_civitai), policy=policy(waits, 1)
        )
    assert info.value.status == 503


def test_dropped_connection_is_retried(fake_civitai):
    waits: list[float] = []
    fake_civitai.fail_next(r"/api/v1/models", 0)
    r = request_with_retries(build_session(), "GET", models_url(fake_civitai), policy=policy(waits))
    assert r.status_code == 200 and len(waits) == 1 and 0 < waits[0] <= 1.0


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    waits: list[float] = []
    with pytest.raises(NetworkError, match="127.0.0.1") as info:
        request_with_retries(
            build_session(), "GET", f"http://127.0.0.1:{port}/x", policy=policy(waits, 2)
        )
    assert type(info.value) is NetworkError and len(waits) == 2
    assert waits[1] > 0 and all(w <= 60 for w in waits)


def test_user_agent_is_not_a_browser(fake_civitai):
    request_with_retries(build_session(), "GET", models_url(fake_civitai), policy=policy([]))
    agent = fake_civitai.requests[-1].headers["User-Agent"].lower()
    assert "modelshelf" in agent
    assert not any(word in agent for word in ("mozilla", "chrome", "safari", "firefox"))


def test_provider_retries_search_overload(fake_civitai):
    waits: list[float] = []
    provider = CivitaiProvider(load_settings(), policy=policy(waits))
    fake_civitai.fail_next(r"/api/v1/models", 503, headers={"Retry-After": "2"})
    page = provider.search_page(SearchQuery(query="storybook"))
    assert [m.id for m in page.items] == [1231067] and waits == [2.0]


def test_provider_default_policy_from_settings(fake_civitai, monkeypatch):
    monkeypatch.setenv("MODELSHELF_MAX_RETRY_WAIT", "0.01")
    provider = CivitaiProvider(load_settings())
    assert provider.policy.max_delay == 0.01 and provider.policy.max_retries == 4
    fake_civitai.fail_next(r"/api/v1/models", 429, times=10)
    with pytest.raises(RateLimitedError):
        provider.get_model(1231067)
    assert len(fake_civitai.requests) == 5
