"""hashing.py: the hashes Civitai knows a file by, from one streamed read."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading

import pytest

from modelshelf.errors import UserCancelledError
from modelshelf.hashing import (
    LocalHashes,
    autov1,
    autov3,
    hash_file,
    hash_files,
    safetensors_payload_offset,
    sha256_file,
)


def safetensors_bytes(payload: bytes, metadata: dict | None = None) -> bytes:
    header = {"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + payload


def test_safetensors_hashes_match_civitai_definitions(tmp_path):
    payload = os.urandom(3 * 1024 * 1024 + 17)  # > 2 MiB so AutoV1 exists; odd size
    data = safetensors_bytes(payload, {"ss_output_name": "x"})
    path = tmp_path / "lora.safetensors"
    path.write_bytes(data)

    # a tiny buffer forces the header/AutoV1 boundaries to fall inside and across reads
    for buffer_size in (4096, 1000, 1 << 20):
        got = hash_file(path, buffer_size=buffer_size)
        sha = hashlib.sha256(data).hexdigest().upper()
        assert got.sha256 == sha
        assert got.autov2 == sha[:10]
        assert got.autov3 == hashlib.sha256(payload).hexdigest()[:12].upper()
        assert got.autov1 == hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8].upper()
        assert got.size == len(data)
    assert autov3(path) == got.autov3
    assert autov1(path) == got.autov1
    assert sha256_file(path) == got.sha256


def test_autov3_ignores_metadata_edits(tmp_path):
    payload = os.urandom(50_000)
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    a.write_bytes(safetensors_bytes(payload, {"note": "original"}))
    b.write_bytes(safetensors_bytes(payload, {"note": "edited by a trainer, longer text"}))
    ha, hb = hash_file(a), hash_file(b)
    assert ha.sha256 != hb.sha256
    assert ha.autov3 == hb.autov3


def test_non_safetensors_and_bad_headers_have_no_autov3(tmp_path):
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"PK\x03\x04" + os.urandom(10_000))
    h = hash_file(ckpt)
    assert h.autov3 is None
    assert h.autov1 is None  # under 2 MiB Civitai has no AutoV1
    assert h.sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest().upper()

    bogus = tmp_path / "broken.safetensors"  # header length beyond the end of the file
    bogus.write_bytes(struct.pack("<Q", 10**9) + b"{}")
    assert hash_file(bogus).autov3 is None
    assert safetensors_payload_offset(bogus) is None

    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"abc")
    assert hash_file(tiny).autov3 is None
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    assert hash_file(empty).sha256 == hashlib.sha256(b"").hexdigest().upper()


def test_progress_reports_every_byte_and_cancel_stops(tmp_path):
    path = tmp_path / "m.bin"
    path.write_bytes(os.urandom(100_000))
    seen = []
    hash_file(path, on_progress=lambda d, t: seen.append((d, t)), buffer_size=8192)
    assert seen[-1] == (100_000, 100_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    cancel = threading.Event()

    def stop_after_first(done, total):
        cancel.set()

    with pytest.raises(UserCancelledError):
        hash_file(path, on_progress=stop_after_first, cancel=cancel, buffer_size=8192)
    with pytest.raises(UserCancelledError):
        sha256_file(path, on_progress=stop_after_first, cancel=cancel, buffer_size=8192)


def test_hash_files_runs_all_and_reports_errors(tmp_path):
    paths = []
    for i in range(9):
        p = tmp_path / f"f{i}.safetensors"
        p.write_bytes(safetensors_bytes(os.urandom(10_000 + i)))
        paths.append(p)
    missing = tmp_path / "gone.ckpt"
    results = dict(hash_files([*paths, missing], workers=3))
    assert set(results) == {*paths, missing}
    assert isinstance(results[missing], FileNotFoundError)
    for p in paths:
        h = results[p]
        assert isinstance(h, LocalHashes)
        assert h.sha256 == hashlib.sha256(p.read_bytes()).hexdigest().upper()


def test_hash_files_cancel_starts_nothing_new(tmp_path):
    paths = []
    for i in range(6):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(os.urandom(1000))
        paths.append(p)
    cancel = threading.Event()
    cancel.set()
    assert list(hash_files(paths, workers=2, cancel=cancel)) == []


def test_to_file_hashes_maps_fields(tmp_path):
    p = tmp_path / "x.safetensors"
    p.write_bytes(safetensors_bytes(b"1234" * 100))
    fh = hash_file(p).to_file_hashes()
    assert fh.sha256 and fh.autov2 == fh.sha256[:10] and fh.autov3
