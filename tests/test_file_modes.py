"""Files we write follow the umask like the model does; settings.json stays private.
Also: a signed URL's expiry is read as UTC whatever the local time zone (DST included)."""

from __future__ import annotations

import calendar
import hashlib
import os
import stat
import time
from pathlib import Path

import pytest
from fakes.httpserver import FakeHTTPServer, Reply

from modelshelf.download._transfer import signed_url_expiry
from modelshelf.download.fetch import fetch
from modelshelf.http import RetryPolicy, build_session
from modelshelf.providers.base import DownloadSource
from modelshelf.settings import save_settings_file
from modelshelf.sidecars import atomic_write_bytes, http_image_fetcher, write_sidecars
from modelshelf.types import Image, ModelVersion

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


@pytest.fixture
def umask():
    """``umask(value)`` sets the process umask for this test; restored afterwards."""
    old = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    yield set_umask
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("value", [0o022, 0o002, 0o077])
def test_model_and_sidecars_get_the_same_mode(umask, value, tmp_path):
    umask(value)
    data = os.urandom(4096)
    with FakeHTTPServer() as server:
        server.add_route("GET", r"/f\.bin", lambda r, m: Reply(200, data))
        server.add_route(
            "GET", r"/.*\.png", lambda r, m: Reply(200, PNG, {"Content-Type": "image/png"})
        )
        source = DownloadSource(
            url=server.url + "/f.bin",
            filename="m.safetensors",
            expected_sha256=hashlib.sha256(data).hexdigest(),
            expected_size=len(data),
            size_is_exact=True,
            version_id=1,
            file_id=2,
        )
        policy = RetryPolicy(max_retries=0)
        model = fetch(source, tmp_path, policy=policy).path
        version = ModelVersion(
            id=1, name="v", images=[Image(url=server.url + "/a/width=64/p.png", nsfw_level=1)]
        )
        written = write_sidecars(
            model, version, fetch_image=http_image_fetcher(build_session(), policy=policy)
        )
    expected = 0o666 & ~value
    assert {p.name for p in written} == {"m.preview.png", "m.json", "m.civitai.info"}
    assert mode(model) == expected
    for path in written:
        assert mode(path) == expected, path.name


def test_atomic_write_replaces_with_the_umask_mode(umask, tmp_path):
    umask(0o027)
    target = tmp_path / "x.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and mode(target) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temp file left


def test_settings_file_stays_private_whatever_the_umask(umask, tmp_path):
    umask(0o000)
    path = save_settings_file(tmp_path, {"civitai_token": "secret-token-123"})
    assert mode(path) == 0o600


@pytest.fixture
def tz_with_dst():
    """Local time is Central European (summer time in July) for this test."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "CET-1CEST,M3.5.0,M10.5.0/3"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.parametrize("stamp", ["20240715T120000Z", "20240115T120000Z"])
def test_signed_url_expiry_is_utc_in_summer_and_winter(tz_with_dst, stamp):
    assert time.localtime(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ"))).tm_isdst == (
        stamp[4:6] == "07"
    )
    url = f"https://storage.example/f?X-Amz-Date={stamp}&X-Amz-Expires=3600&X-Amz-Signature=s"
    expected = calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")) + 3600
    assert signed_url_expiry(url) == expected
