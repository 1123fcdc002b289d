"""The download engine against real loopback servers: happy paths, resume, placement."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
import requests
from fakes.httpserver import FakeHTTPServer, Reply

from modelshelf.download.fetch import fetch, probe, sha256_file
from modelshelf.errors import DiskSpaceError, NetworkError, UserCancelledError
from modelshelf.http import RetryPolicy
from modelshelf.providers.base import DownloadSource

KEY = "Bearer test-key-0123456789"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


@pytest.fixture
def provider(fake_storage):
    """A provider endpoint on 127.0.0.1 answering 307 to a fresh signed storage URL."""
    server = FakeHTTPServer().start()
    server.targets = {}

    def redirect(req, m):
        key, name = server.targets[int(m[1])]
        return Reply(307, "", {"Location": fake_storage.signed_url(key, filename=name)})

    server.add_route("GET", r"/api/download/models/(\d+)", redirect)
    yield server
    server.stop()


def make_source(provider, storage, data: bytes, name="lora.safetensors", vid=11, **kw):
    key = storage.add_blob(data, name)
    provider.targets[vid] = (key, name)
    src = DownloadSource(
        url=f"{provider.url}/api/download/models/{vid}",
        filename=name,
        headers={"Authorization": KEY},
        expected_sha256=sha(data),
        expected_size=len(data),
        size_is_exact=True,
        version_id=vid,
        file_id=vid * 10,
    )
    for k, v in kw.items():
        setattr(src, k, v)
    return src, key


POLICY = RetryPolicy(max_retries=3, sleep=lambda s: None)


def test_fetch_places_verified_file_and_nothing_else(provider, fake_storage, tmp_path):
    data = os.urandom(2_500_000)
    src, key = make_source(provider, fake_storage, data)
    seen = []
    result = fetch(src, tmp_path, policy=POLICY, on_progress=lambda d, t: seen.append((d, t)))
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]
    assert (tmp_path / "lora.safetensors").read_bytes() == data
    assert result.sha256 == sha(data) and result.size == len(data)
    assert not result.already_present and result.resumed_from == 0
    assert result.downloaded_bytes == len(data)
    assert seen[-1] == (len(data), len(data))
    assert sha256_file(result.path) == sha(data)
    # the key went to the provider only
    assert all("Authorization" not in r.headers for r in fake_storage.requests)
    assert provider.requests[0].headers["Authorization"] == KEY


def test_already_present_makes_no_storage_request(provider, fake_storage, tmp_path):
    data = os.urandom(100_000)
    src, key = make_source(provider, fake_storage, data)
    (tmp_path / "lora.safetensors").write_bytes(data)
    result = fetch(src, tmp_path, policy=POLICY)
    assert result.already_present and result.downloaded_bytes == 0
    assert fake_storage.gets() == [] and provider.requests == []
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]
    # a known hash skips hashing: a wrong known hash means "not the same file"
    result = fetch(src, tmp_path, policy=POLICY, known_local_sha256=sha(data))
    assert result.already_present


def test_same_name_other_content_gets_distinct_name(provider, fake_storage, tmp_path):
    data = os.urandom(50_000)
    src, _ = make_source(provider, fake_storage, data)
    (tmp_path / "lora.safetensors").write_bytes(b"someone else's model")
    result = fetch(src, tmp_path, policy=POLICY)
    assert result.path.name == "lora (2).safetensors"
    assert (tmp_path / "lora.safetensors").read_bytes() == b"someone else's model"
    assert sorted(os.listdir(tmp_path)) == ["lora (2).safetensors", "lora.safetensors"]
    again = fetch(src, tmp_path, policy=POLICY)  # the copy under (2) is found, no download
    assert again.already_present and again.path.name == "lora (2).safetensors"
    assert len(fake_storage.gets()) == 1


def test_resume_from_existing_part_after_restart(provider, fake_storage, tmp_path):
    data = os.urandom(3_000_000)
    src, key = make_source(provider, fake_storage, data)
    fake_storage.fault("drop", key, after=1_200_000, times=None)
    with pytest.raises(NetworkError):  # every connection drops: retries run out
        fetch(src, tmp_path, policy=RetryPolicy(max_retries=0, sleep=lambda s: None))
    parts = [n for n in os.listdir(tmp_path) if n.endswith(".part")]
    assert parts == ["lora.safetensors.11-110.part"]
    assert (tmp_path / parts[0]).stat().st_size == 1_200_000
    fake_storage.clear_requests()
    fake_storage.faults.clear()
    provider.clear_requests()
    result = fetch(src, tmp_path, policy=POLICY)  # a new call, as after a restart
    assert result.resumed_from == 1_200_000
    assert result.downloaded_bytes == len(data) - 1_200_000
    assert [r.headers["Range"] for r in fake_storage.gets()] == ["bytes=1200000-2999999"]
    assert provider.requests == []  # resumed against the saved signed URL
    assert (tmp_path / "lora.safetensors").read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]


def test_expired_signed_url_asks_the_endpoint_once_more(provider, fake_storage, tmp_path):
    data = os.urandom(2_000_000)
    src, key = make_source(provider, fake_storage, data)
    fake_storage.fault("drop", key, after=500_000, times=None)
    with pytest.raises(NetworkError):
        fetch(src, tmp_path, policy=RetryPolicy(max_retries=0, sleep=lambda s: None))
    fake_storage.faults.clear()
    fake_storage.expire_all()
    provider.clear_requests()
    result = fetch(src, tmp_path, policy=POLICY)
    assert result.resumed_from == 500_000
    assert len(provider.requests) == 1  # the expired URL → one new redirect
    assert (tmp_path / "lora.safetensors").read_bytes() == data


def test_multi_connection_throttled_right_bytes_and_hash(provider, fake_storage, tmp_path):
    data = os.urandom(6 * 2**20 + 123)
    src, key = make_source(provider, fake_storage, data)
    fake_storage.throttle(40 * 2**20)
    result = fetch(src, tmp_path, policy=POLICY, connections=4, min_parallel_size=2**20)
    assert result.sha256 == sha(data)
    assert (tmp_path / "lora.safetensors").read_bytes() == data
    ranges = sorted(r.headers["Range"] for r in fake_storage.gets())
    assert len(ranges) == 4 and "bytes=0-" in ranges
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]


def test_multi_connection_with_drops_resumes_segments(provider, fake_storage, tmp_path):
    data = os.urandom(5 * 2**20)
    src, key = make_source(provider, fake_storage, data)
    fake_storage.fault("drop", key, after=300_000, times=3)
    result = fetch(src, tmp_path, policy=POLICY, connections=3, min_parallel_size=2**20)
    assert result.sha256 == sha(data)
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]


def test_two_concurrent_fetches_download_once(provider, fake_storage, tmp_path):
    data = os.urandom(4_000_000)
    src, key = make_source(provider, fake_storage, data)
    fake_storage.throttle(20 * 2**20)
    results, errors = [], []

    def run():
        try:
            results.append(fetch(src, tmp_path, policy=POLICY, connections=1))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(fake_storage.gets()) == 1
    assert {r.path for r in results} == {tmp_path.resolve() / "lora.safetensors"}
    assert sorted(r.already_present for r in results) == [False, True]
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]


def test_disk_space_checked_before_start(provider, fake_storage, tmp_path, monkeypatch):
    import shutil

    data = os.urandom(10_000)
    src, _ = make_source(provider, fake_storage, data, expected_size=50 * 2**30)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage._replace(free=2**30))
    with pytest.raises(DiskSpaceError) as info:
        fetch(src, tmp_path, policy=POLICY)
    assert "1024 MiB is free" in str(info.value) and "51200 MiB" in str(info.value)
    assert fake_storage.gets() == [] and sorted(os.listdir(tmp_path)) == []


def test_cancel_keeps_part_for_resume(provider, fake_storage, tmp_path):
    data = os.urandom(3_000_000)
    src, key = make_source(provider, fake_storage, data)
    fake_storage.throttle(4 * 2**20)
    cancel = threading.Event()

    def progress(done, total):
        if done >= 300_000:
            cancel.set()

    with pytest.raises(UserCancelledError):
        fetch(src, tmp_path, policy=POLICY, cancel=cancel, on_progress=progress)
    names = sorted(os.listdir(tmp_path))
    assert "lora.safetensors" not in names
    assert "lora.safetensors.11-110.part" in names
    fake_storage.throttle(None)
    result = fetch(src, tmp_path, policy=POLICY)
    assert result.resumed_from >= 300_000
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]


def test_probe_uses_get_with_one_byte_range(provider, fake_storage):
    data = os.urandom(70_000)
    src, key = make_source(provider, fake_storage, data, name="真实模型名.safetensors")
    p = probe(src, policy=POLICY)
    assert p.size == 70_000 and p.accepts_ranges and p.filename == "真实模型名.safetensors"
    assert "REDACTED" in p.final_url and "X-Amz-Signature=REDACTED" in p.final_url
    (req,) = fake_storage.gets()
    assert req.method == "GET" and req.headers["Range"] == "bytes=0-0"


def test_storage_would_refuse_authorization(fake_storage):
    key = fake_storage.add_blob(b"abc", "a.bin")
    url = fake_storage.signed_url(key)
    assert requests.get(url, headers={"Authorization": KEY}, timeout=5).status_code == 400
    assert requests.get(url, timeout=5).content == b"abc"


def test_file_blob_served_from_disk(provider, fake_storage, tmp_path):
    blob = tmp_path / "blob.bin"
    data = os.urandom(1_000_000)
    blob.write_bytes(data)
    out = tmp_path / "out"
    src, _ = make_source(provider, fake_storage, data)
    fake_storage.blobs[provider.targets[11][0]].data = None
    fake_storage.blobs[provider.targets[11][0]].path = Path(blob)
    assert fetch(src, out, policy=POLICY).sha256 == sha(data)
    assert sorted(os.listdir(out)) == ["lora.safetensors"]


def test_multi_connection_resume_across_calls_uses_saved_segments(provider, fake_storage, tmp_path):
    import json

    data = os.urandom(4 * 2**20)
    src, key = make_source(provider, fake_storage, data)
    fake_storage.fault("drop", key, after=200_000, times=None)
    with pytest.raises(NetworkError):
        fetch(
            src,
            tmp_path,
            policy=RetryPolicy(max_retries=0, sleep=lambda s: None),
            connections=4,
            min_parallel_size=2**20,
        )
    state_file = tmp_path / "lora.safetensors.11-110.part.json"
    state = json.loads(state_file.read_text())
    assert KEY.split()[1] not in state_file.read_text()  # the key is never saved
    assert state["preallocated"] and len(state["segments"]) == 4
    saved = {start + written for start, _end, written in state["segments"]}
    assert "lora.safetensors" not in os.listdir(tmp_path)
    fake_storage.faults.clear()
    fake_storage.clear_requests()
    result = fetch(src, tmp_path, policy=POLICY, connections=4, min_parallel_size=2**20)
    assert result.sha256 == sha(data) and result.resumed_from == sum(
        s[2] for s in state["segments"]
    )
    starts = {int(r.headers["Range"].split("=")[1].split("-")[0]) for r in fake_storage.gets()}
    assert starts <= saved and 0 not in starts
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]


def test_disk_full_mid_download_keeps_part_places_nothing(
    provider, fake_storage, tmp_path, monkeypatch
):
    import errno

    data = os.urandom(3_000_000)
    src, _ = make_source(provider, fake_storage, data)
    real_pwrite = os.pwrite

    def pwrite(fd, buf, offset):  # the disk fills up after 1 MB
        if offset >= 1_000_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, buf, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    with pytest.raises(DiskSpaceError) as info:
        fetch(src, tmp_path, policy=POLICY)
    assert "filled up" in str(info.value)
    assert "lora.safetensors" not in os.listdir(tmp_path)
    monkeypatch.setattr(os, "pwrite", real_pwrite)
    result = fetch(src, tmp_path, policy=POLICY)
    assert result.resumed_from > 0 and result.path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["lora.safetensors"]


def test_b2_style_signed_url_name(fake_storage, tmp_path):
    data = os.urandom(20_000)
    key = fake_storage.add_blob(data, "stored.bin")
    url = fake_storage.signed_url(key, filename="b2 模型.safetensors", style="b2")
    src = DownloadSource(url=url, filename="api.safetensors", expected_sha256=sha(data))
    result = fetch(src, tmp_path, policy=POLICY)
    assert sorted(os.listdir(tmp_path)) == ["b2 模型.safetensors"]
    assert result.path.read_bytes() == data
