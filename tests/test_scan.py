"""library/scan.py + db.py: walk real folders, hash once, survive renames, deletes, Ctrl-C."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
from pathlib import Path

import pytest

from modelshelf.library.db import SCHEMA_VERSION, LibraryDB
from modelshelf.library.scan import iter_model_files, scan_layout, scan_library


def safetensors_bytes(payload: bytes) -> bytes:
    raw = json.dumps({"w": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, 0]}})
    raw = raw.encode() + b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + payload


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


@pytest.fixture
def models(tmp_path) -> Path:
    root = tmp_path / "models"
    (root / "loras" / "style").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    (root / "embeddings").mkdir()
    (root / "loras" / "style" / "ink.safetensors").write_bytes(safetensors_bytes(b"ink" * 3000))
    (root / "loras" / "flat.safetensors").write_bytes(safetensors_bytes(b"flat" * 2000))
    (root / "checkpoints" / "base.ckpt").write_bytes(b"PK\x03\x04" + os.urandom(20_000))
    (root / "embeddings" / "bad.pt").write_bytes(os.urandom(3000))
    # not model files: a download in progress, sidecars, a preview, a hidden folder
    (root / "loras" / "next.safetensors.part").write_bytes(b"partial")
    (root / "loras" / "flat.json").write_text('{"activation text": "flat"}')
    (root / "loras" / "flat.civitai.info").write_text("{}")
    (root / "loras" / "flat.preview.png").write_bytes(b"\x89PNG")
    (root / "loras" / ".trash").mkdir()
    (root / "loras" / ".trash" / "old.safetensors").write_bytes(b"x")
    return root


def dirs_of(root: Path) -> list[tuple[str, Path]]:
    return [(d.name, d) for d in sorted(root.iterdir()) if d.is_dir()]


def test_first_scan_records_model_files_with_real_hashes(models, tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    assert db.schema_version == SCHEMA_VERSION
    result = scan_library(db, dirs_of(models), workers=2)
    names = sorted(f.path.name for f in result.items)
    assert names == ["bad.pt", "base.ckpt", "flat.safetensors", "ink.safetensors"]
    assert result.hashed == 4 and result.scanned == 4 and not result.errors
    ink = db.get(models / "loras" / "style" / "ink.safetensors")
    data = ink.path.read_bytes()
    assert ink.sha256 == sha(data) and ink.autov2 == sha(data)[:10]
    assert ink.autov3 == sha(data[8 + struct.unpack("<Q", data[:8])[0] :])[:12]
    assert ink.folder == "loras" and ink.lookup == "pending"
    assert db.get(models / "checkpoints" / "base.ckpt").autov3 is None


def test_rescan_reads_nothing_unchanged_and_rehashes_a_changed_file(models, tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, dirs_of(models))
    ckpt = models / "checkpoints" / "base.ckpt"
    db.set_ids(ckpt, 1, 11, 111)

    again = scan_library(db, dirs_of(models))
    assert again.hashed == 0 and again.reused == 0 and again.scanned == 4
    assert db.get(ckpt).version_id == 11  # ids survive an unchanged rescan

    new_bytes = b"PK\x03\x04" + os.urandom(20_001)
    ckpt.write_bytes(new_bytes)
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    third = scan_library(db, dirs_of(models))
    assert third.hashed == 1
    row = db.get(ckpt)
    assert row.sha256 == sha(new_bytes)
    assert row.version_id is None and row.lookup == "pending"  # other bytes, other model


def test_renamed_file_keeps_hashes_and_ids_without_a_read(models, tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, dirs_of(models))
    old = models / "loras" / "flat.safetensors"
    before = db.get(old)
    db.set_ids(old, 5, 55, 555, source="sidecar")
    new = models / "loras" / "style" / "renamed.safetensors"
    old.rename(new)

    result = scan_library(db, dirs_of(models))
    assert result.hashed == 0 and result.reused == 1
    assert db.get(old) is None and old in result.removed
    row = db.get(new)
    assert row.sha256 == before.sha256 and row.autov3 == before.autov3
    assert (row.model_id, row.version_id, row.file_id, row.id_source) == (5, 55, 555, "sidecar")
    assert db.installed_versions(55) == [new]


def test_deleted_file_is_forgotten(models, tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, dirs_of(models))
    gone = models / "embeddings" / "bad.pt"
    gone.unlink()
    result = scan_library(db, dirs_of(models))
    assert result.removed == [gone]
    assert db.get(gone) is None and result.scanned == 3


def test_forget_missing_only_touches_scanned_roots(models, tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    other = tmp_path / "elsewhere" / "x.safetensors"
    db.upsert_file(other, size=1, mtime=1.0, sha256="ab" * 32)
    scan_library(db, [("loras", models / "loras")])
    assert db.get(other) is not None  # not under the scanned folder: kept
    assert db.forget_missing() == [other]  # checked on disk when no seen set is given


def test_symlinks_followed_without_loops(models, tmp_path):
    outside = tmp_path / "shared_loras"
    outside.mkdir()
    (outside / "shared.safetensors").write_bytes(safetensors_bytes(b"s" * 100))
    os.symlink(outside, models / "loras" / "linked")
    os.symlink(models / "loras", models / "loras" / "style" / "loop")  # a loop
    os.symlink(models / "nowhere.ckpt", models / "checkpoints" / "broken.ckpt")
    found = [f.path.name for f in iter_model_files(dirs_of(models))]
    assert found.count("shared.safetensors") == 1
    assert found.count("ink.safetensors") == 1 and "broken.ckpt" not in found
    db = LibraryDB(tmp_path / "lib.sqlite3")
    result = scan_library(db, dirs_of(models))
    assert result.scanned == 5


def test_interrupted_scan_keeps_work_and_next_scan_continues(tmp_path):
    root = tmp_path / "loras"
    root.mkdir()
    size = 10_000
    for i in range(12):
        (root / f"m{i:02}.safetensors").write_bytes(safetensors_bytes(os.urandom(size)))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    cancel = threading.Event()

    def on_progress(done: int, total: int | None) -> None:
        if done >= 4 * size:
            cancel.set()

    first = scan_library(db, [("loras", root)], workers=1, cancel=cancel, on_progress=on_progress)
    assert first.cancelled
    assert 0 < first.hashed < 12
    assert len(db.all_files()) == first.hashed  # each finished file was committed
    assert all(f.sha256 for f in db.all_files())

    # a fresh connection (as after Ctrl-C and a new process) sees the same rows
    db2 = LibraryDB(tmp_path / "lib.sqlite3")
    second = scan_library(db2, [("loras", root)])
    assert not second.cancelled
    assert second.hashed == 12 - first.hashed
    assert second.scanned == 12


def test_file_changing_while_read_is_not_recorded(tmp_path):
    root = tmp_path / "loras"
    root.mkdir()
    target = root / "growing.safetensors"
    target.write_bytes(safetensors_bytes(b"a" * 3_000_000))  # read in several chunks

    def still_downloading(done: int, total: int | None) -> None:
        if 0 < done < 3_000_000:
            with open(target, "ab") as fh:
                fh.write(b"more")  # the download was still being written

    db = LibraryDB(tmp_path / "lib.sqlite3")
    result = scan_library(db, [("loras", root)], on_progress=still_downloading)
    assert result.hashed == 0 and "changed while" in result.errors[0][1]
    assert db.get(target) is None

    again = scan_library(db, [("loras", root)])  # once it is complete, it is recorded
    assert again.hashed == 1 and db.get(target).sha256 == sha(target.read_bytes())


def test_file_changed_after_its_read_is_read_again_next_time(tmp_path, monkeypatch):
    root = tmp_path / "loras"
    root.mkdir()
    target = root / "edited.safetensors"
    target.write_bytes(safetensors_bytes(b"a" * 1000))
    import modelshelf.library.scan as scan_mod

    real = scan_mod.hash_files

    def hash_then_touch(paths, workers=None, **kw):
        for p, out in real(paths, workers, **kw):
            with open(p, "ab") as fh:
                fh.write(b"more")
            yield p, out

    monkeypatch.setattr(scan_mod, "hash_files", hash_then_touch)
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("loras", root)])
    monkeypatch.undo()
    old = db.get(target)  # the hash of the bytes that were read, with their size and mtime
    read = safetensors_bytes(b"a" * 1000)
    assert old.sha256 == sha(read) and old.size == len(read)
    again = scan_library(db, [("loras", root)])
    assert again.hashed == 1 and db.get(target).sha256 == sha(target.read_bytes())


def test_db_core_api(tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    a = tmp_path / "a.safetensors"
    row = db.upsert_file(a, size=10, mtime=1.5, sha256="ab" * 32, autov3="cd" * 6)
    assert row.sha256 == "AB" * 32 and row.autov2 == "AB" * 5 and row.autov3 == "CD" * 6
    assert row.mtime == 1.5
    assert db.unidentified() == [row] and db.identified() == []
    db.upsert_file(
        tmp_path / "b.ckpt", size=3, mtime=2, sha256="ef" * 32, model_id=7, version_id=70
    )
    assert db.installed_versions(70) == [tmp_path / "b.ckpt"]
    assert db.installed_versions(71) == []
    db.mark_unknown([a])
    assert db.get(a).lookup == "unknown"
    assert db.unidentified(include_unknown=False) == []
    db.set_latest(7, 72, "v3")
    ups = db.updates()
    assert [(u.path, u.installed_version_id, u.latest_version_id) for u in ups] == [
        (tmp_path / "b.ckpt", 70, 72)
    ]
    # once the latest version is on disk too, nothing to update
    db.upsert_file(
        tmp_path / "c.ckpt", size=3, mtime=2, sha256="12" * 32, model_id=7, version_id=72
    )
    assert db.updates() == []
    with pytest.raises(LookupError):
        db.set_ids(tmp_path / "nope.ckpt", 1, 2)


def test_scan_layout_uses_host_layout(tmp_path):
    from modelshelf.layout import resolve_layout

    models = tmp_path / "m"
    (models / "loras").mkdir(parents=True)
    (models / "loras" / "a.safetensors").write_bytes(safetensors_bytes(b"z" * 10))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    result = scan_layout(db, resolve_layout(models_dir=models))
    assert [f.path.name for f in result.items] == ["a.safetensors"]
    assert result.items[0].folder == "loras"


def test_autov3_only_where_lookups_use_it_unless_asked(tmp_path):
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    big = ckpts / "model.safetensors"
    big.write_bytes(safetensors_bytes(b"c" * 5000))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("checkpoints", ckpts)])
    assert db.get(big).autov3 is None  # not a LoRA folder: no second digest

    db2 = LibraryDB(tmp_path / "all.sqlite3")
    scan_library(db2, [("checkpoints", ckpts)], autov3_folders=None)
    data = big.read_bytes()
    assert db2.get(big).autov3 == sha(data[8 + struct.unpack("<Q", data[:8])[0] :])[:12]
