"""The scan's merged pass: the walk comes in the database's path order, rows the walk does
not reach are kept unless their file is gone, a first scan hashes as it walks, and the
writing thread's failures reach the caller."""

from __future__ import annotations

import os
import sqlite3
import struct
import threading

import pytest

from modelshelf.hashing import hash_file
from modelshelf.library.db import LibraryDB
from modelshelf.library.scan import scan_library
from modelshelf.library.walk import walk_model_files


def lora(payload: bytes) -> bytes:
    header = b'{"__metadata__":{}}' + b" " * 5
    return struct.pack("<Q", len(header)) + header + payload


def touch(path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_the_walk_comes_in_the_order_of_the_path_index(tmp_path):
    names = [
        "a.safetensors", "a/x.safetensors", "a0.safetensors", "a-b/y.pt", "a.b/z.pt",
        "b/c/d.ckpt", "b/c.ckpt", "B.ckpt", "é.pt", "日本/模型.safetensors", "z z/q.pt",
    ]  # fmt: skip
    for name in names:
        touch(tmp_path / name)
    walked = [p for _, _, p, _ in walk_model_files([("k", tmp_path)])]
    assert len(walked) == len(names)
    assert walked == sorted(walked)  # Python's order...
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("k", tmp_path)])
    stored = [r[0] for r in db._conn.execute("SELECT path FROM files ORDER BY path")]
    assert stored == walked  # ... is SQLite's


def test_a_name_that_is_not_utf8_is_skipped_not_a_crash(tmp_path, caplog):
    touch(tmp_path / "good.safetensors")
    with open(os.fsencode(tmp_path) + b"/bad\xff.safetensors", "wb") as fh:
        fh.write(b"x")
    db = LibraryDB(tmp_path / "lib.sqlite3")
    result = scan_library(db, [("loras", tmp_path)])
    assert [f.path.name for f in result.items] == ["good.safetensors"]
    assert "not valid UTF-8" in caplog.text


def test_nested_folders_under_two_keys_keep_their_rows(tmp_path):
    """A folder scanned under its own key and inside another: no row is dropped, and the
    second scan writes nothing."""
    outer = tmp_path / "models"
    touch(outer / "top.ckpt", b"top")
    touch(outer / "Lora" / "inner.safetensors", lora(b"inner"))
    dirs = [("loras", outer / "Lora"), ("checkpoints", outer)]
    db = LibraryDB(tmp_path / "lib.sqlite3")
    first = scan_library(db, dirs)
    assert first.hashed == 2 and first.removed == []
    assert db.get(outer / "Lora" / "inner.safetensors").folder == "loras"
    changes = db.total_changes
    again = scan_library(db, dirs)
    assert again.removed == [] and again.hashed == 0 and db.total_changes == changes
    assert again.scanned == 2
    (outer / "Lora" / "inner.safetensors").unlink()
    third = scan_library(db, dirs)
    assert third.removed == [outer / "Lora" / "inner.safetensors"]


def test_a_first_scan_hashes_while_it_walks_and_knows_the_total_at_the_end(tmp_path):
    root = tmp_path / "loras"
    for i in range(30):
        touch(root / f"d{i % 3}" / f"m{i:02}.safetensors", lora(os.urandom(100 + i)))
    reports: list[tuple[int, int | None]] = []
    db = LibraryDB(tmp_path / "lib.sqlite3")
    result = scan_library(db, [("loras", root)], on_progress=lambda d, t: reports.append((d, t)))
    assert result.hashed == 30
    assert reports[0][1] is None  # the walk was not finished when the first file was read
    total = sum(p.stat().st_size for p in root.rglob("*.safetensors"))
    assert reports[-1] == (total, total)

    # a rescan with changes knows the total before the first read (the walk ends first)
    for i in range(3):
        touch(root / f"new{i}.safetensors", lora(os.urandom(50)))
    reports.clear()
    again = scan_library(db, [("loras", root)], on_progress=lambda d, t: reports.append((d, t)))
    assert again.hashed == 3 and all(t is not None for _, t in reports)


def test_a_renamed_file_is_matched_among_the_gone_rows(tmp_path):
    root = tmp_path / "loras"
    touch(root / "old.safetensors", lora(b"same bytes"))
    touch(root / "other.safetensors", lora(b"other bytes"))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, [("loras", root)])
    db.set_ids(root / "old.safetensors", 4, 44)
    (root / "sub").mkdir()
    (root / "old.safetensors").rename(root / "sub" / "new.safetensors")
    result = scan_library(db, [("loras", root)])
    assert result.hashed == 0 and result.reused == 1
    assert result.removed == [root / "old.safetensors"]
    assert db.installed_versions(44) == [root / "sub" / "new.safetensors"]


def test_a_file_of_another_size_than_the_walk_saw_is_hashed_as_it_is(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(lora(b"now longer than the walk saw"))
    st = path.stat()
    expected = hash_file(path)
    assert hash_file(path, seen=(st.st_size - 5, st.st_mtime_ns)) == expected
    same = hash_file(path, seen=(st.st_size, 12345))
    assert same.sha256 == expected.sha256 and same.mtime_ns == 12345  # the walk's mtime


def test_a_failed_batch_write_reaches_the_caller_and_keeps_earlier_batches(tmp_path, monkeypatch):
    import modelshelf.library.scan_writer as writer_mod

    root = tmp_path / "loras"
    for i in range(10):
        touch(root / f"m{i}.safetensors", lora(os.urandom(64 + i)))
    monkeypatch.setattr(writer_mod, "BATCH_ROWS", 4)
    db = LibraryDB(tmp_path / "lib.sqlite3")
    real = db.write_scanned
    calls = []

    def full_disk_on_the_second_batch(rows, moved=()):
        calls.append(threading.current_thread().name)
        if len(calls) == 2:
            raise sqlite3.OperationalError("database or disk is full")
        real(rows, moved)

    monkeypatch.setattr(db, "write_scanned", full_disk_on_the_second_batch)
    with pytest.raises(sqlite3.OperationalError, match="disk is full"):
        scan_library(db, [("loras", root)])
    assert calls[0] == "modelshelf-scan-writer"  # written off the scan's thread
    monkeypatch.undo()
    assert db.count_files() == 4  # the first batch, whole; nothing after the failure


def test_the_scan_report_streams_its_files_and_counts_in_sql(tmp_path):
    from modelshelf.layout import resolve_layout
    from modelshelf.library.operations import scan_and_identify, updates_in
    from modelshelf.settings import load_settings

    models = tmp_path / "m"
    for i in range(5):
        touch(models / "loras" / f"l{i}.safetensors", lora(os.urandom(40 + i)))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    db.upsert_file(tmp_path / "elsewhere.ckpt", size=1, mtime=1, sha256="AB" * 32,
                   model_id=1, version_id=10)  # fmt: skip  # identified, but not in the layout
    layout = resolve_layout(models_dir=models)

    def no_civitai():
        raise AssertionError("not asked")

    report = scan_and_identify(db, layout, no_civitai, settings=load_settings(), identify=False)
    assert not isinstance(report.items, list)  # read from the database when used
    assert (report.scanned, report.identified, report.unknown) == (5, 0, 5)
    db.set_ids(models / "loras" / "l2.safetensors", 2, 20)  # learnt since: the stream shows it
    assert [f.path.name for f in report.unknown_files(2)] == ["l0.safetensors", "l1.safetensors"]
    assert len(report.unknown_files()) == 4 and len(report.items) == 5
    counted = updates_in(db, no_civitai, layout, offline=True)
    assert counted.identified == 1  # the file under the layout's folders, not elsewhere.ckpt
