"""Network failures on real loopback sockets: silent and refused servers, bodies cut short,
retry notices, and a cancel that ends a retry wait at once."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading

import pytest
import requests
from fakes.httpserver import FakeHTTPServer, Reply
from fakes.sockets import SilentServer, refused_url

from modelshelf.cancel import cancel_scope
from modelshelf.download.fetch import fetch
from modelshelf.errors import NetworkError, UserCancelledError
from modelshelf.http import RetryNotice, RetryPolicy, build_session, request_with_retries
from modelshelf.providers.base import DownloadSource
from modelshelf.providers.civitai import CivitaiProvider
from modelshelf.settings import load_settings
from modelshelf.sidecars import http_image_fetcher

BOUND = 30.0  # how long a cancelled call may take before the test calls it stuck
RETRY_LINE = re.compile(r"modelshelf: .+; retrying( in \d+ s)? \(\d+ of \d+\)…$")


def quick(notices: list | None = None, **kw) -> RetryPolicy:
    """Real waits, but short ones; notices recorded."""
    kw.setdefault("base_delay", 0.01)
    kw.setdefault("read_timeout", 0.3)
    kw.setdefault("deadline", 30.0)  # retries are counted here, not timed
    return RetryPolicy(on_retry=None if notices is None else notices.append, **kw)


@pytest.fixture
def server():
    with FakeHTTPServer() as srv:
        yield srv


# -- silent and refused servers ----------------------------------------------------------


def test_silent_server_gives_up_with_a_sentence():
    notices: list[RetryNotice] = []
    with SilentServer() as silent:
        with pytest.raises(NetworkError) as info:
            request_with_retries(build_session(), "GET", silent.url + "/x", policy=quick(notices))
        assert silent.accepted.is_set()
    assert "127.0.0.1 did not answer in time" in str(info.value)
    assert info.value.exit_code == 6 and info.value.__cause__ is None
    assert all(n.reason == "did not answer" for n in notices)


def test_provider_timeouts_come_from_the_settings(isolated_home):
    (isolated_home / "settings.json").write_text(json.dumps({"timeout": 0.3}))
    with SilentServer() as silent:
        settings = load_settings({"civitai_url": silent.url})
        provider = CivitaiProvider(settings)
        assert provider.policy.timeout == (0.3, 0.3)
        assert provider.policy.deadline == pytest.approx(0.9)
        with pytest.raises(NetworkError, match="Civitai at 127.0.0.1 did not answer"):
            provider.get_model(1)


def test_default_timeouts():
    policy = RetryPolicy.from_settings(load_settings())
    assert policy.timeout == (5.0, 20.0) and policy.deadline == 60.0
    assert policy.refused_retries == 2 and policy.max_retries == 4


def test_refused_port_is_retried_briefly_then_one_sentence():
    notices: list[RetryNotice] = []
    with pytest.raises(NetworkError) as info:
        request_with_retries(build_session(), "GET", refused_url() + "/x", policy=quick(notices))
    assert "127.0.0.1 refused the connection (3 tries)" in str(info.value)
    assert [str(n) for n in notices] == [
        "127.0.0.1 refused the connection; retrying (1 of 2)…",
        "127.0.0.1 refused the connection; retrying (2 of 2)…",
    ]


def test_listeners_hear_every_retry():
    from modelshelf.http import add_retry_listener

    heard: list[RetryNotice] = []
    remove = add_retry_listener(heard.append)
    try:
        with pytest.raises(NetworkError):
            request_with_retries(build_session(), "GET", refused_url(), policy=quick())
    finally:
        remove()
    assert [n.retry for n in heard] == [1, 2]
    with pytest.raises(NetworkError):
        request_with_retries(build_session(), "GET", refused_url(), policy=quick())
    assert len(heard) == 2  # removed: hears no more


# -- a body cut short (Content-Length larger than what arrives) --------------------------


def truncated(body: bytes) -> Reply:
    return Reply(200, body, {"Content-Type": "application/json"}, len(body) + 500, len(body))


def test_api_body_cut_short_is_retried_then_our_network_error(server):
    body = json.dumps({"id": 42, "name": "x" * 200}).encode()
    calls = []

    def answer(req, m):
        calls.append(req)
        return truncated(body) if len(calls) <= 10 else Reply(200, body)

    server.add_route("GET", r"/api/v1/models/42", answer)
    notices: list[RetryNotice] = []
    settings = load_settings({"civitai_url": server.url})
    provider = CivitaiProvider(settings, policy=quick(notices, max_retries=2))
    with pytest.raises(NetworkError) as info:
        provider.get_model(42)
    assert not isinstance(info.value, requests.RequestException)
    assert "broke off before the answer was complete (3 tries)" in str(info.value)
    assert len(calls) == 3 and [n.reason for n in notices] == ["broke off its answer"] * 2


def test_api_body_cut_short_once_is_retried_and_succeeds(server):
    body = json.dumps({"ok": True}).encode()
    calls = []

    def answer(req, m):
        calls.append(req)
        return truncated(body) if len(calls) == 1 else Reply(200, body)

    server.add_route("GET", r"/thing", answer)
    reply = request_with_retries(build_session(), "GET", server.url + "/thing", policy=quick())
    assert reply.json() == {"ok": True} and len(calls) == 2


def test_preview_body_cut_short_is_our_network_error(server):
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 4000
    server.add_route("GET", r"/img\.png", lambda r, m: Reply(200, png, {}, len(png) + 9, 1000))
    fetch_image = http_image_fetcher(build_session(), policy=quick(max_retries=0))
    with pytest.raises(NetworkError, match="broke off"):
        fetch_image(server.url + "/img.png")


def test_download_cut_short_keeps_its_part_and_says_so(server, tmp_path):
    data = os.urandom(50_000)
    calls = []

    def blob(req, m):
        calls.append(req.headers.get("Range"))
        first = int(re.match(r"bytes=(\d+)-", req.headers.get("Range") or "bytes=0-")[1])
        if first == 0:
            return Reply(200, data, {"Content-Type": "application/octet-stream"}, None, 20_000)
        rng = {"Content-Range": f"bytes {first}-{len(data) - 1}/{len(data)}"}
        return Reply(206, data[first:], rng, None, 0)  # headers, then the connection drops

    server.add_route("GET", r"/file\.bin", blob)
    source = DownloadSource(
        url=server.url + "/file.bin",
        filename="file.safetensors",
        expected_sha256=hashlib.sha256(data).hexdigest(),
        expected_size=len(data),
        size_is_exact=True,
        version_id=1,
        file_id=2,
    )
    with pytest.raises(NetworkError) as info:
        fetch(source, tmp_path, policy=quick(max_retries=2), connections=1)
    assert "run the download again to resume it" in str(info.value)
    parts = list(tmp_path.glob("*.part"))
    assert len(parts) == 1 and parts[0].stat().st_size == 20_000
    assert not (tmp_path / "file.safetensors").exists()
    assert (
        calls[0] == "bytes=0-"
        and len(calls) > 1
        and all(c.startswith("bytes=20000-") for c in calls[1:])
    )


# -- a cancel ends a retry wait at once --------------------------------------------------


def run_in_thread(call) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def overloaded(server) -> list:
    seen = []

    def answer(req, m):
        seen.append(req)
        return Reply(503, {"error": "overloaded"}, {"Retry-After": "600"})

    server.add_route("GET", r"/.*", answer)
    return seen


def test_cancel_interrupts_a_long_retry_after(server):
    seen = overloaded(server)
    waiting, cancel = threading.Event(), threading.Event()
    policy = RetryPolicy(max_delay=600, on_retry=lambda notice: waiting.set())
    thread, outcome = run_in_thread(
        lambda: request_with_retries(
            build_session(), "GET", server.url + "/x", policy=policy, cancel=cancel
        )
    )
    assert waiting.wait(BOUND)
    cancel.set()
    thread.join(BOUND)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), UserCancelledError)
    assert len(seen) == 1


def test_a_cancel_scope_reaches_the_provider_s_retry_wait(server):
    seen = overloaded(server)
    waiting, cancel = threading.Event(), threading.Event()
    settings = load_settings({"civitai_url": server.url})
    provider = CivitaiProvider(
        settings, policy=RetryPolicy(max_delay=600, on_retry=lambda n: waiting.set())
    )

    def call():
        with cancel_scope(cancel):
            return provider.get_model(7)

    thread, outcome = run_in_thread(call)
    assert waiting.wait(BOUND)
    cancel.set()
    thread.join(BOUND)
    assert not thread.is_alive() and isinstance(outcome.get("error"), UserCancelledError)
    assert len(seen) == 1


def test_cancel_interrupts_a_download_s_retry_wait(server, tmp_path):
    seen = overloaded(server)
    waiting, cancel = threading.Event(), threading.Event()
    source = DownloadSource(url=server.url + "/f.bin", filename="f.safetensors", version_id=3)
    policy = RetryPolicy(max_delay=600, on_retry=lambda n: waiting.set())
    thread, outcome = run_in_thread(lambda: fetch(source, tmp_path, policy=policy, cancel=cancel))
    assert waiting.wait(BOUND)
    cancel.set()
    thread.join(BOUND)
    assert not thread.is_alive() and isinstance(outcome.get("error"), UserCancelledError)
    assert len(seen) == 1
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".safetensors"]


# -- the CLI shows the retries without -v ------------------------------------------------


@pytest.fixture
def cli(run_cli):
    """``modelshelf ARGS`` in-process (``run_cli``)."""
    return run_cli


def test_cli_prints_each_retry_then_one_sentence_for_a_refused_port(cli):
    proc = cli("search", "--no-cache", env={"MODELSHELF_CIVITAI_URL": refused_url()})
    assert proc.code == 6 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[:2] == [
        "modelshelf: Civitai refused the connection; retrying (1 of 2)…",
        "modelshelf: Civitai refused the connection; retrying (2 of 2)…",
    ]
    assert all(RETRY_LINE.match(line) for line in lines[:2])
    assert len(lines) == 3 and "Traceback" not in proc.stderr
    assert lines[2].startswith("modelshelf: Civitai at 127.0.0.1 refused the connection")


def test_cli_gives_up_on_a_silent_server(isolated_home, cli):
    # read timeout 2 s: the deadline (6 s) leaves room for one retry, not two
    (isolated_home / "settings.json").write_text(json.dumps({"timeout": 2.0}))
    with SilentServer() as silent:
        proc = cli("search", "--no-cache", env={"MODELSHELF_CIVITAI_URL": silent.url})
    assert proc.code == 6, proc.stderr
    lines = proc.stderr.splitlines()
    assert "modelshelf: Civitai did not answer; retrying (1 of 4)…" in lines
    assert lines[-1].startswith("modelshelf: Civitai at 127.0.0.1 did not answer in time")
    assert all(RETRY_LINE.match(line) for line in lines[:-1])
