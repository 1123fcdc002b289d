"""Faults end to end: fake Civitai on 127.0.0.1 redirecting to fake storage on 127.0.0.2.

Each test asserts what the model folder holds afterwards: never a partial, wrong, HTML or
misplaced file.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from cli_runner import process_env
from fakes.storage import LOGIN_PAGE, link_storage

from modelshelf.download.fetch import fetch
from modelshelf.errors import (
    AccessError,
    DownloadsDisabledError,
    EarlyAccessError,
    IntegrityError,
    NeedsApiKeyError,
    NotFoundError,
    RateLimitedError,
)
from modelshelf.http import RetryPolicy
from modelshelf.providers.base import DownloadSource

VID, FID, NAME = 1387174, 1289799, "pp-storybook_rank2_bf16.safetensors"
TOKEN = "civitai-test-token-123456"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


def policy(sleeps: list | None = None) -> RetryPolicy:
    return RetryPolicy(
        max_retries=2, sleep=(sleeps.append if sleeps is not None else lambda s: None)
    )


@pytest.fixture
def wired(fake_civitai, fake_storage):
    """``(source, key, data)`` for the fixture LoRA, wired to a storage blob."""
    data = os.urandom(1_500_000)
    keys = link_storage(fake_civitai, fake_storage, {FID: data})
    source = DownloadSource(
        url=f"{fake_civitai.url}/api/download/models/{VID}",
        filename=NAME,
        headers={"Authorization": f"Bearer {TOKEN}"},
        expected_sha256=sha(data),
        expected_size=len(data),
        size_is_exact=True,
        version_id=VID,
        file_id=FID,
    )
    return source, keys[FID], data


def test_redirect_followed_without_authorization(wired, fake_civitai, fake_storage, tmp_path):
    source, key, data = wired
    result = fetch(source, tmp_path, policy=policy())
    assert sorted(os.listdir(tmp_path)) == [NAME]
    assert result.path.read_bytes() == data
    (endpoint,) = fake_civitai.requests_to(rf"/api/download/models/{VID}")
    assert endpoint.headers["Authorization"] == f"Bearer {TOKEN}"
    gets = fake_storage.gets(key)
    assert len(gets) == 1
    for req in fake_storage.requests:
        assert "Authorization" not in req.headers
        assert TOKEN not in req.path + repr(req.query) + str(req.headers)
    # and it would have been refused had the key been sent
    import requests

    url = fake_storage.signed_url(key)
    assert requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5).status_code == 400


def test_drop_mid_body_resumes_with_range(wired, fake_storage, tmp_path):
    source, key, data = wired
    fake_storage.fault("drop", key, after=400_000)
    sleeps: list = []
    result = fetch(source, tmp_path, policy=policy(sleeps))
    assert result.path.read_bytes() == data and result.downloaded_bytes == len(data)
    assert [r.headers["Range"] for r in fake_storage.gets(key)] == [
        "bytes=0-",
        f"bytes=400000-{len(data) - 1}",
    ]
    assert len(sleeps) == 1
    assert sorted(os.listdir(tmp_path)) == [NAME]


def test_range_ignored_starts_over(wired, fake_storage, tmp_path):
    source, key, data = wired
    fake_storage.fault("drop", key, after=300_000)
    fake_storage.fault("ignore_range", key)
    result = fetch(source, tmp_path, policy=policy())
    assert result.path.read_bytes() == data and result.sha256 == sha(data)
    assert sorted(os.listdir(tmp_path)) == [NAME]


def test_corrupt_bytes_raise_integrity_and_leave_nothing(wired, fake_storage, tmp_path):
    source, key, _ = wired
    fake_storage.fault("corrupt", key)
    with pytest.raises(IntegrityError) as info:
        fetch(source, tmp_path, policy=policy())
    assert info.value.exit_code == 5 and "SHA256" in str(info.value)
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize(
    ("rules", "error", "words"),
    [
        ({"require_auth": True}, NeedsApiKeyError, "API key"),
        ({"disabled": True}, DownloadsDisabledError, "disabled downloads"),
        ({"early_access_deadline": "2099-01-02T00:00:00Z"}, EarlyAccessError, "2099-01-02"),
        ({"archived": True}, NotFoundError, "archived"),  # gone for good: exit 3
        ({"no_grant": True}, AccessError, "do not have access"),
    ],
)
def test_endpoint_refusals(wired, fake_civitai, fake_storage, tmp_path, rules, error, words):
    source, _, _ = wired
    if rules.get("require_auth"):
        source.headers = {}
    fake_civitai.download_rules[VID] = rules
    with pytest.raises(error) as info:
        fetch(source, tmp_path, policy=policy())
    assert words in str(info.value)
    assert info.value.exit_code == (3 if error is NotFoundError else 4)
    if error is EarlyAccessError:
        assert info.value.deadline == "2099-01-02T00:00:00Z"
    assert fake_storage.gets() == []
    assert sorted(os.listdir(tmp_path)) == []


def test_not_found(fake_civitai, fake_storage, tmp_path):
    source = DownloadSource(url=f"{fake_civitai.url}/api/download/models/999", filename="x.pt")
    with pytest.raises(NotFoundError):
        fetch(source, tmp_path, policy=policy())
    assert sorted(os.listdir(tmp_path)) == []


def test_429_retried_then_rate_limited(wired, fake_civitai, tmp_path):
    source, _, _ = wired
    fake_civitai.fail_next(r"/api/download/", 429, {"error": "slow down"}, {"Retry-After": "7"}, 5)
    sleeps: list = []
    with pytest.raises(RateLimitedError):
        fetch(source, tmp_path, policy=policy(sleeps))
    assert sleeps == [7.0, 7.0]
    assert sorted(os.listdir(tmp_path)) == []


def test_429_then_success(wired, fake_storage, tmp_path):
    source, key, data = wired
    fake_storage.fault("status", key, status=429, body=b"busy")  # no Retry-After
    sleeps: list = []
    result = fetch(source, tmp_path, policy=policy(sleeps))
    assert result.path.read_bytes() == data and len(sleeps) == 1
    assert sorted(os.listdir(tmp_path)) == [NAME]


def test_storage_401_and_403_bodies(wired, fake_storage, tmp_path):
    source, key, _ = wired
    fake_storage.fault("status", key, status=403, body=b"<Error>AccessDenied</Error>", times=None)
    with pytest.raises(AccessError):
        fetch(source, tmp_path, policy=policy())
    assert not any(n.endswith((".safetensors",)) for n in os.listdir(tmp_path))


def test_html_login_page_is_never_a_model(wired, fake_storage, tmp_path):
    source, key, _ = wired
    fake_storage.fault("html_login", key)
    with pytest.raises(NeedsApiKeyError) as info:
        fetch(source, tmp_path, policy=policy())
    assert "login page" in str(info.value)
    assert sorted(os.listdir(tmp_path)) == []
    assert LOGIN_PAGE  # the page the fake sent


def test_hostile_server_name_stays_inside(wired, fake_storage, tmp_path):
    source, key, data = wired
    fake_storage.fault("filename", key, value='attachment; filename="../../evil.safetensors"')
    models = tmp_path / "models"
    result = fetch(source, models, policy=policy())
    assert result.path == models.resolve() / "evil.safetensors"
    assert sorted(os.listdir(tmp_path)) == ["models"]
    assert sorted(os.listdir(models)) == ["evil.safetensors"]


def test_utf8_server_name(wired, fake_storage, tmp_path):
    source, key, data = wired
    fake_storage.fault("filename", key, value='attachment; filename="真实模型名.safetensors"')
    result = fetch(source, tmp_path, policy=policy())
    assert sorted(os.listdir(tmp_path)) == ["真实模型名.safetensors"]
    assert result.path.read_bytes() == data


def test_416_with_complete_part_is_verified(wired, fake_storage, tmp_path):
    source, key, data = wired
    part = tmp_path / f"{NAME}.{VID}-{FID}.part"
    part.write_bytes(data)
    result = fetch(source, tmp_path, policy=policy())
    assert result.resumed_from == len(data) and result.downloaded_bytes == 0
    (req,) = fake_storage.gets(key)
    assert req.headers["Range"] == f"bytes={len(data)}-"
    assert sorted(os.listdir(tmp_path)) == [NAME]


def write_driver(tmp_path: Path, source: DownloadSource, data: bytes, prints: str) -> Path:
    """A script that fetches ``source`` into ``tmp_path/models`` and prints ``r.<prints>``.

    It logs at INFO on stderr, so a run waiting for another one's lock says so there.
    """
    driver = tmp_path / "driver.py"
    driver.write_text(
        textwrap.dedent(
            f"""
            import logging
            from modelshelf.download.fetch import fetch
            from modelshelf.providers.base import DownloadSource
            logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
            src = DownloadSource(url={source.url!r}, filename={NAME!r},
                headers={source.headers!r}, expected_sha256={source.expected_sha256!r},
                expected_size={len(data)}, size_is_exact=True, version_id={VID}, file_id={FID})
            r = fetch(src, {str(tmp_path / "models")!r}, connections=1)
            print(r.{prints})
            """
        )
    )
    return driver


def start_driver(driver: Path) -> subprocess.Popen:
    """Run ``driver`` in a real process, in the test's isolated environment."""
    return subprocess.Popen(
        [sys.executable, str(driver)],
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def watch_stderr(proc: subprocess.Popen, needle: str) -> tuple[threading.Event, list[str]]:
    """Read ``proc``'s stderr on a thread; the event is set at a line with ``needle`` or EOF."""
    done = threading.Event()
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if needle in line:
                done.set()
        done.set()

    threading.Thread(target=read, daemon=True).start()
    return done, lines


def test_sigkill_mid_download_then_resume(wired, fake_storage, tmp_path):
    source, key, data = wired
    # the body pauses past the first 1 MiB buffer: that much is on disk, the rest is not
    hold = fake_storage.hold(key, after=1_200_000)
    driver = write_driver(tmp_path, source, data, "resumed_from")
    proc = start_driver(driver)
    part = tmp_path / "models" / f"{NAME}.{VID}-{FID}.part"
    try:
        assert hold.reached.wait(30), "the first run never got mid-body"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (part.exists() and part.stat().st_size):
            time.sleep(0.02)  # polling the file for the written buffer, with a deadline
        assert proc.poll() is None  # still held mid-body
        proc.kill()  # SIGKILL
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    hold.release()
    kept = part.stat().st_size
    assert 0 < kept < len(data)
    assert not (tmp_path / "models" / NAME).exists()
    fake_storage.clear_requests()
    out = subprocess.run(
        [sys.executable, str(driver)], env=process_env(), capture_output=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= kept
    ranges = [r.headers["Range"] for r in fake_storage.gets(key)]
    assert ranges and ranges[0].startswith("bytes=") and ranges[0] != "bytes=0-"
    assert (tmp_path / "models" / NAME).read_bytes() == data
    assert sorted(os.listdir(tmp_path / "models")) == [NAME]


def test_two_processes_on_one_file_download_it_once(wired, fake_storage, tmp_path):
    """The second process starts while the first provably holds the lock mid-body."""
    source, key, data = wired
    hold = fake_storage.hold(key, after=500_000)
    driver = write_driver(tmp_path, source, data, "already_present")
    first = start_driver(driver)
    second = None
    try:
        assert hold.reached.wait(30), "the first run never got mid-body"
        second = start_driver(driver)
        needle = "waiting for another download"
        told, second_log = watch_stderr(second, needle)
        assert told.wait(30), "the second run neither waited nor ended"
        assert any(needle in line for line in second_log), second_log
        # both alive, the first still held mid-body, the second still waiting on the lock
        assert first.poll() is None and second.poll() is None
        assert len(fake_storage.gets(key)) == 1
        hold.release()
        first_out = first.communicate(timeout=60)[0].strip()
        second.wait(60)
        second_out = second.stdout.read().strip()
    finally:
        hold.release()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
    assert (first.returncode, second.returncode) == (0, 0)
    assert (first_out, second_out) == ("False", "True")  # the second found it installed
    assert len(fake_storage.gets(key)) == 1
    assert (tmp_path / "models" / NAME).read_bytes() == data
    assert sorted(os.listdir(tmp_path / "models")) == [NAME]
