"""library/identify.py + enrich.py against the fake Civitai (real HTTP on loopback)."""

from __future__ import annotations

import json
import re
import struct

import pytest
from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version
from fakes.httpserver import Reply

from modelshelf.library.db import LibraryDB
from modelshelf.library.enrich import enrich_files
from modelshelf.library.identify import Pacer, identify_files
from modelshelf.library.scan import scan_library
from modelshelf.providers.civitai import CivitaiProvider
from modelshelf.settings import load_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def civitai(fake_civitai, monkeypatch):
    monkeypatch.setenv("MODELSHELF_MAX_RETRY_WAIT", "0.05")
    fake_civitai.add_route(
        "GET", r"/img/.*", lambda req, m: Reply(200, PNG, {"Content-Type": "image/png"})
    )
    return fake_civitai


def provider() -> CivitaiProvider:
    return CivitaiProvider(load_settings())


def publish(fake, model_id: int, data: bytes, name: str, *, type_: str = "LORA", words=("w",)):
    """Put a model with one version holding ``data`` on the fake; return its version dict."""
    version_id, file_id = model_id * 10, model_id * 100
    version = make_version(
        version_id,
        model_id,
        [make_file(file_id, name, data, version_id=version_id, root=fake.url)],
        name="v1",
        trained_words=words,
        images=[make_image(f"{fake.url}/img/{version_id}.png", image_id=version_id)],
        root=fake.url,
        model_type=type_,
    )
    fake.add_model(make_model(model_id, f"model {model_id}", type_, [version]))
    return version


def bulk_bodies(fake) -> list[list[str]]:
    return [r.json() for r in fake.requests_to(r"/api/v1/model-versions/by-hash", "POST")]


class RecordingClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_bulk_lookup_batches_100_and_paces(civitai, tmp_path):
    root = tmp_path / "loras"
    root.mkdir()
    known = {}
    for i in range(1, 231):
        data = make_safetensors(64 + i)
        (root / f"m{i:03}.safetensors").write_bytes(data)
        if i <= 180:
            publish(civitai, 1000 + i, data, f"m{i:03}.safetensors")
            known[root / f"m{i:03}.safetensors"] = 1000 + i
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("checkpoints", root)])  # not a LoRA folder: no AutoV3 fallback
    civitai.clear_requests()
    ticks = RecordingClock()
    result = identify_files(db, provider(), pacer=Pacer(2.0, clock=ticks.clock, sleep=ticks.sleep))

    bodies = bulk_bodies(civitai)
    assert [len(b) for b in bodies] == [100, 100, 30]
    assert all(re.fullmatch(r"[0-9A-F]{64}", h) for b in bodies for h in b)
    assert ticks.sleeps == [2.0, 2.0]  # one call at a time, 2 s apart
    assert result.by_sha256 == 180 and result.unknown == 50 and result.requests == 3
    for path, model_id in known.items():
        row = db.get(path)
        assert (row.model_id, row.version_id, row.file_id) == (
            model_id,
            model_id * 10,
            model_id * 100,
        )
        assert row.id_source == "civitai-sha256"
    assert db.get(root / "m200.safetensors").lookup == "unknown"

    # nothing is asked again: identified are done, unknown wait for the recheck period
    civitai.clear_requests()
    again = identify_files(db, provider(), min_interval=0)
    assert again.requests == 0 and civitai.requests == []


def test_autov3_fallback_for_a_lora_with_edited_metadata(civitai, tmp_path):
    loras = tmp_path / "loras"
    ckpts = tmp_path / "checkpoints"
    loras.mkdir()
    ckpts.mkdir()
    published = make_safetensors(3000, {"ss_output_name": "orig"})
    publish(civitai, 7, published, "edited.safetensors")
    local = make_safetensors(3000, {"ss_output_name": "renamed by me, longer"})
    (loras / "edited.safetensors").write_bytes(local)
    (ckpts / "mystery.safetensors").write_bytes(make_safetensors(999))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("loras", loras), ("checkpoints", ckpts)])
    civitai.clear_requests()

    result = identify_files(db, provider(), min_interval=0)
    assert result.by_autov3 == 1 and result.by_sha256 == 0 and result.unknown == 1
    singles = civitai.requests_to(r"/api/v1/model-versions/by-hash/.+", "GET")
    header = struct.unpack("<Q", local[:8])[0]
    import hashlib

    v3 = hashlib.sha256(local[8 + header :]).hexdigest()[:12].upper()
    assert [r.path.rsplit("/", 1)[1] for r in singles] == [v3]  # only the LoRA, by AutoV3
    row = db.get(loras / "edited.safetensors")
    assert (row.version_id, row.id_source) == (70, "civitai-autov3")
    assert db.get(ckpts / "mystery.safetensors").lookup == "unknown"


def test_sidecars_identify_without_asking(civitai, tmp_path):
    root = tmp_path / "loras"
    root.mkdir()
    ours = root / "ours.safetensors"
    ours.write_bytes(make_safetensors(100))
    (root / "ours.json").write_text(json.dumps({"modelId": 3, "modelVersionId": 30}))
    helper = root / "helper.safetensors"
    helper.write_bytes(make_safetensors(200))
    (root / "helper.civitai.info").write_text(json.dumps({"id": 40, "modelId": 4, "files": []}))
    stale = root / "stale.safetensors"
    stale.write_bytes(make_safetensors(300))
    (root / "stale.json").write_text(json.dumps({"modelVersionId": 50, "sha256": "00" * 32}))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("checkpoints", root)])
    civitai.clear_requests()

    result = identify_files(db, provider(), min_interval=0)
    assert result.from_sidecars == 2
    assert (db.get(ours).model_id, db.get(ours).version_id) == (3, 30)
    assert (db.get(helper).model_id, db.get(helper).version_id) == (4, 40)
    assert db.get(ours).id_source == "sidecar"
    asked = [h for b in bulk_bodies(civitai) for h in b]
    assert asked == [db.get(stale).sha256]  # the sidecar names other bytes: asked


def test_rate_limit_is_honoured(civitai, tmp_path):
    root = tmp_path / "loras"
    root.mkdir()
    data = make_safetensors(500)
    (root / "a.safetensors").write_bytes(data)
    publish(civitai, 9, data, "a.safetensors")
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("loras", root)])
    civitai.fail_next(
        r"/api/v1/model-versions/by-hash", 429, {"error": "Too many"}, {"Retry-After": "0"}
    )
    result = identify_files(db, provider(), min_interval=0)
    assert result.by_sha256 == 1
    assert len(bulk_bodies(civitai)) == 2  # the 429, then the retry


def test_enrich_fills_missing_cards_and_keeps_user_text(civitai, tmp_path):
    from modelshelf.http import build_session
    from modelshelf.sidecars import http_image_fetcher

    root = tmp_path / "loras"
    root.mkdir()
    data = make_safetensors(700)
    (root / "mine.safetensors").write_bytes(data)
    (root / "mine.json").write_text(
        json.dumps({"activation text": "my own words", "notes": "keep"})
    )
    fresh = make_safetensors(701)
    (root / "fresh.safetensors").write_bytes(fresh)
    publish(civitai, 11, data, "mine.safetensors", words=("civitai words",))
    publish(civitai, 12, fresh, "fresh.safetensors", words=("trigger one", "trigger two"))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("loras", root)])
    found = identify_files(db, provider(), min_interval=0)
    assert set(found.versions) == {root / "mine.safetensors", root / "fresh.safetensors"}

    result = enrich_files(db, found.versions, fetch_image=http_image_fetcher(build_session()))
    assert len(result.enriched) == 2 and not result.errors
    mine = json.loads((root / "mine.json").read_text())
    assert mine["activation text"] == "my own words" and mine["notes"] == "keep"
    assert mine["modelVersionId"] == 110
    fresh_meta = json.loads((root / "fresh.json").read_text())
    assert "trigger one" in fresh_meta["activation text"]
    info = json.loads((root / "fresh.civitai.info").read_text())
    assert info["id"] == 120
    assert (root / "fresh.preview.png").read_bytes() == PNG
    assert db.get(root / "fresh.safetensors").enriched_at is not None

    # a second pass does nothing: the cards are there
    again = enrich_files(db, found.versions, fetch_image=http_image_fetcher(build_session()))
    assert again.enriched == []


def test_autov3_computed_on_demand_when_the_scan_had_none(civitai, tmp_path):
    loras = tmp_path / "loras"
    loras.mkdir()
    published = make_safetensors(1500, {"a": "1"})
    publish(civitai, 21, published, "x.safetensors")
    local = make_safetensors(1500, {"a": "edited"})
    path = loras / "x.safetensors"
    path.write_bytes(local)
    db = LibraryDB(tmp_path / "lib.sqlite3")
    st = path.stat()
    # as if the SHA256 came from A1111's cache: no AutoV3 recorded
    db.upsert_file(path, size=st.st_size, mtime=st.st_mtime_ns, sha256="ab" * 32, folder="loras")
    result = identify_files(db, provider(), min_interval=0)
    assert result.by_autov3 == 1
    row = db.get(path)
    assert row.version_id == 210 and row.autov3 is not None and row.sha256 == "AB" * 32
