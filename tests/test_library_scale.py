"""The library at scale: rescans write nothing, rows stream, front-end questions are indexed,
update checks are batched, paced and report progress. (Speed itself: bench/.)"""

from __future__ import annotations

import os
import sqlite3
import struct
import threading

import pytest
from fakes.factory import make_file, make_model, make_safetensors, make_version

from modelshelf.errors import UserCancelledError
from modelshelf.hashing import hash_file, hash_files
from modelshelf.library.db import SCHEMA_VERSION, LibraryDB, file_row
from modelshelf.library.identify import Pacer, due_for_lookup
from modelshelf.library.scan import ScanItems, scan_library
from modelshelf.library.updates import check_updates
from modelshelf.providers.civitai import CivitaiProvider
from modelshelf.settings import load_settings


def lora(payload: bytes) -> bytes:
    header = b'{"__metadata__":{}}' + b" " * 5
    return struct.pack("<Q", len(header)) + header + payload


@pytest.fixture
def tree(tmp_path):
    """A small A1111-like tree: 60 LoRAs in three creator folders, two checkpoints."""
    root = tmp_path / "models"
    for i in range(60):
        folder = root / "Lora" / f"creator_{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"lora_{i:03}.safetensors").write_bytes(lora(os.urandom(500 + i)))
    (root / "Stable-diffusion").mkdir(parents=True)
    for i in range(2):
        (root / "Stable-diffusion" / f"ckpt_{i}.ckpt").write_bytes(os.urandom(3 << 20))
    return root


def dirs(root):
    return [("loras", root / "Lora"), ("checkpoints", root / "Stable-diffusion")]


def data_version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA data_version").fetchone()[0]


def test_rescan_of_an_unchanged_library_writes_nothing(tree, tmp_path):
    db_path = tmp_path / "lib.sqlite3"
    db = LibraryDB(db_path)
    first = scan_library(db, dirs(tree), workers=2)
    assert first.hashed == 62 and first.scanned == 62
    watcher = sqlite3.connect(db_path)  # another connection sees any commit as a new version
    before = watcher.execute("PRAGMA data_version").fetchone()[0]
    changes = db.total_changes

    again = scan_library(db, dirs(tree), workers=2)
    assert again.hashed == 0 and again.reused == 0 and again.removed == [] and not again.errors
    assert again.scanned == 62
    assert db.total_changes == changes
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == before

    # ... and a change is seen by the same watcher (the check can fail)
    (tree / "Lora" / "creator_0" / "lora_000.safetensors").unlink()
    third = scan_library(db, dirs(tree), workers=2)
    assert len(third.removed) == 1 and db.total_changes > changes
    assert watcher.execute("PRAGMA data_version").fetchone()[0] != before
    watcher.close()


def test_same_files_under_another_folder_key_are_moved_not_read(tree, tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, dirs(tree))
    renamed = [("lycoris", tree / "Lora"), ("checkpoints", tree / "Stable-diffusion")]
    result = scan_library(db, renamed)
    assert result.hashed == 0
    assert {f.folder for f in db.iter_files([tree / "Lora"])} == {"lycoris"}


def test_scan_items_stream_from_the_database_in_pages(tmp_path):
    db = LibraryDB(tmp_path / "lib.sqlite3")
    root = tmp_path / "models"
    rows = [
        file_row(
            str(root / f"f{i:05}.safetensors"),
            folder="loras",
            size=1,
            mtime_ns=i,
            dev=1,
            ino=i,
            sha256=f"{i:064X}",
            autov1=None,
            autov2=None,
            autov3=None,
            source="scan",
        )
        for i in range(4500)  # more than two pages
    ]
    db.write_scanned(rows)
    db.upsert_file(tmp_path / "elsewhere.ckpt", size=1, mtime=1, sha256="ab" * 32)
    db.set_ids(root / "f00007.safetensors", 1, 10)
    items = ScanItems(db, [str(root)])
    assert len(items) == 4500
    paths = [str(f.path) for f in items]
    assert paths == sorted(r[0] for r in rows)
    # due_for_lookup asks the database for a scan's items, as the list filter would
    due = due_for_lookup(items)
    assert len(due) == 4499 and all(f.version_id is None for f in due)
    assert [f.path for f in due] == [f.path for f in due_for_lookup(list(items))]


def test_small_files_are_hashed_inline_with_the_same_results(tmp_path):
    paths = []
    for i, size in enumerate([10, 2000, 3 << 20, 900_000, 5, (1 << 20) + 7]):
        p = tmp_path / f"m{i}.safetensors"
        p.write_bytes(lora(os.urandom(size)))
        paths.append(p)
    sizes = {p: p.stat().st_size for p in paths}
    got = dict(hash_files(paths, 2, size_of=sizes.__getitem__))
    assert got == {p: hash_file(p) for p in paths}
    assert all(got[p].mtime_ns == p.stat().st_mtime_ns for p in paths)

    cancel = threading.Event()
    cancel.set()
    out = list(hash_files(paths, 2, size_of=sizes.__getitem__, cancel=cancel))
    assert all(isinstance(r, UserCancelledError) for _, r in out)


def plan_of(db: LibraryDB, sql: str, params=()) -> str:
    rows = db._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(r[-1] for r in rows)


@pytest.fixture
def identified(tmp_path):
    """300 files of 150 models (two versions each on disk), models 1..15 have a newer one."""
    db = LibraryDB(tmp_path / "lib.sqlite3")
    for mid in range(1, 151):
        for v in (1, 2):
            db.upsert_file(
                tmp_path / f"m{mid}_v{v}.safetensors",
                size=1,
                mtime=1,
                sha256=f"{mid * 10 + v:064X}",
                model_id=mid,
                version_id=mid * 100 + v,
            )
        latest = mid * 100 + (3 if mid <= 15 else 2)
        db.set_latest(mid, latest, "newest", name=f"model {mid}")
    return db


def test_installed_many_answers_a_page_through_the_version_index(identified, tmp_path):
    page = [101, 102, 999, 5002, 14901]
    found = identified.installed_many(page)
    assert found == {
        101: [tmp_path / "m1_v1.safetensors"],
        102: [tmp_path / "m1_v2.safetensors"],
        5002: [tmp_path / "m50_v2.safetensors"],
        14901: [tmp_path / "m149_v1.safetensors"],
    }
    assert identified.installed_versions(999) == [] and not identified.is_installed(999)
    sql = "SELECT version_id, path FROM files WHERE version_id IN (?,?)"
    plan = plan_of(identified, sql, (1, 2))
    assert "USING INDEX files_version_id" in plan


def test_updated_models_for_a_page_and_for_all(identified):
    assert identified.updated_models(range(10, 21)) == set(range(10, 16))
    assert identified.updated_models() == set(range(1, 16))
    assert {u.model_id for u in identified.updates()} == set(range(1, 16))
    assert identified.installed_models([1, 2, 999]) == {1, 2}
    plan = plan_of(
        identified,
        "SELECT 1 FROM files f WHERE f.model_id = ? AND f.version_id IS NOT NULL",
        (1,),
    )
    assert "files_model_id" in plan


# The schema 1 file as the previous release wrote it (the first release lacked the partial
# indexes and had files_version / files_model instead: both are upgraded).
SCHEMA_1_FILES = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO meta VALUES ('schema_version', '1');"
    "CREATE TABLE files (path TEXT PRIMARY KEY, folder TEXT, size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL, dev INTEGER, ino INTEGER, sha256 TEXT, autov1 TEXT,"
    " autov2 TEXT, autov3 TEXT, hash_source TEXT, model_id INTEGER, version_id INTEGER,"
    " file_id INTEGER, id_source TEXT, lookup TEXT NOT NULL DEFAULT 'pending',"
    " looked_up_at REAL, enriched_at REAL, updated_at REAL NOT NULL);"
    "CREATE TABLE models (model_id INTEGER PRIMARY KEY, name TEXT, type TEXT,"
    " latest_version_id INTEGER, latest_version_name TEXT, latest_published_at TEXT,"
    " checked_at REAL NOT NULL);"
    # model 3: v7 installed, v9 newest (an update); model 4: v8 installed and newest
    "INSERT INTO files (path, size, mtime_ns, sha256, version_id, model_id, updated_at)"
    " VALUES ('/m/a.ckpt', 1, 1, 'AB', 7, 3, 0), ('/m/b.ckpt', 1, 1, 'CD', 8, 4, 0);"
    "INSERT INTO models VALUES (3, 'three', 'LORA', 9, 'v9', NULL, 0),"
    " (4, 'four', 'LORA', 8, 'v8', NULL, 0);"
)
FIRST_RELEASE_INDEXES = (
    "CREATE INDEX files_version ON files(version_id); CREATE INDEX files_model ON files(model_id);"
)
PREVIOUS_RELEASE_INDEXES = (
    "CREATE INDEX files_sha256 ON files(sha256);"
    "CREATE INDEX files_version_id ON files(version_id) WHERE version_id IS NOT NULL;"
    "CREATE INDEX files_model_id ON files(model_id, version_id) WHERE model_id IS NOT NULL;"
    "CREATE INDEX files_inode ON files(ino);"
)


@pytest.mark.parametrize("indexes", [FIRST_RELEASE_INDEXES, PREVIOUS_RELEASE_INDEXES])
def test_a_schema_1_file_opens_and_is_upgraded(tmp_path, indexes):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1_FILES + indexes)
    conn.close()

    db = LibraryDB(path)
    assert db.schema_version == SCHEMA_VERSION == 2
    names = {r[0] for r in db._conn.execute("SELECT name FROM sqlite_master")}
    assert {"files_version_id", "files_model_id", "updatable", "files_updatable_insert"} <= names
    assert not {"files_version", "files_model", "files_inode"} & names
    assert db.updated_models() == {3}  # filled from what the old file held
    assert [u.model_id for u in db.updates()] == [3]
    assert db.installed_many([7]) == {7: [db.get("/m/a.ckpt").path]}
    # the triggers work on the upgraded file: the newest version arrives, the update goes
    db.upsert_file("/m/c.ckpt", size=1, mtime=1, sha256="EF" * 32, model_id=3, version_id=9)
    assert db.updated_models() == set() and db.updates() == []
    db.close()
    assert LibraryDB(path).schema_version == 2  # opening again changes nothing


def test_an_interrupted_upgrade_leaves_schema_1_and_runs_again(tmp_path, monkeypatch):
    import modelshelf.library.db as db_mod

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1_FILES + PREVIOUS_RELEASE_INDEXES)
    conn.close()
    monkeypatch.setattr(db_mod, "FILL_UPDATABLE", "SELECT no_such_function()")  # fails midway
    with pytest.raises(sqlite3.OperationalError):
        LibraryDB(path)
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT value FROM meta").fetchone()[0] == "1"
        names = {r[0] for r in check.execute("SELECT name FROM sqlite_master")}
    assert "files_inode" in names and "updatable" not in names  # rolled back whole
    monkeypatch.undo()
    assert LibraryDB(path).updated_models() == {3}


def test_a_newer_schema_is_refused_with_a_sentence(tmp_path):
    from modelshelf.errors import ModelShelfError

    path = tmp_path / "new.sqlite3"
    LibraryDB(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99'")
    with pytest.raises(ModelShelfError, match="newer Model Shelf"):
        LibraryDB(path)


def test_the_stored_updates_answer_follows_every_change(tmp_path):
    """Random changes to files and latest versions: ``updatable`` always equals the answer
    computed from scratch over every model."""
    import random

    from modelshelf.library.records import HAS_UPDATE

    db = LibraryDB(tmp_path / "lib.sqlite3")
    rng = random.Random(7)

    def from_scratch() -> set[int]:
        sql = f"SELECT m.model_id FROM models m WHERE {HAS_UPDATE}"
        return {r[0] for r in db._conn.execute(sql)}

    for step in range(400):
        mid = rng.randint(1, 12)
        vid = mid * 10 + rng.randint(1, 4)
        path = tmp_path / f"f{rng.randint(1, 30)}.safetensors"
        action = rng.choice(["file", "file", "ids", "latest", "forget", "rehash", "no-model"])
        if action == "file":
            db.upsert_file(path, size=1, mtime=step, sha256=f"{step:064X}", model_id=mid,
                           version_id=vid)  # fmt: skip
        elif action == "ids" and db.get(path) is not None:
            db.set_ids(path, mid, vid)
        elif action == "no-model" and db.get(path) is not None:
            db.set_ids(path, None, vid)  # a version whose model is not known
        elif action == "latest":
            db.set_latest(mid, vid if rng.random() < 0.9 else None, "v")
        elif action == "forget":
            db.forget([path])
        elif action == "rehash" and db.get(path) is not None:
            db.upsert_file(path, size=2, mtime=step, sha256=f"{step + 9999:064X}")  # ids reset
        assert db.updated_models() == from_scratch(), (step, action)
    assert from_scratch()  # the walk did reach states with updates


class RecordingPacer(Pacer):
    """A pacer on a fake clock: records the waits it would have made."""

    def __init__(self, min_interval: float):
        self.now = 0.0
        self.slept: list[float] = []
        super().__init__(min_interval, clock=lambda: self.now, sleep=self._sleep)

    def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def many_models(fake_civitai, tmp_path):
    """250 identified models on disk; every tenth has a newer version on Civitai."""
    db = LibraryDB(tmp_path / "lib.sqlite3")
    for mid in range(1, 251):
        versions = []
        for vid in ([mid * 10 + 2] if mid % 10 == 0 else []) + [mid * 10 + 1]:
            data = make_safetensors(100 + vid % 1000)
            f = make_file(vid * 10, f"v{vid}.safetensors", data, version_id=vid)
            versions.append(make_version(vid, mid, [f], name=f"v{vid}", images=[]))
        fake_civitai.add_model(make_model(mid, f"model {mid}", "LORA", versions))
        db.upsert_file(
            tmp_path / f"m{mid}.safetensors",
            size=1,
            mtime=1,
            sha256=f"{mid:064X}",
            model_id=mid,
            version_id=mid * 10 + 1,
        )
    return db


def test_update_check_is_batched_paced_and_reports_progress(fake_civitai, many_models):
    fake_civitai.clear_requests()
    pacer = RecordingPacer(0.5)
    progress = []
    check = check_updates(
        many_models,
        CivitaiProvider(load_settings()),
        pacer=pacer,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    calls = fake_civitai.requests_to(r"/api/v1/models", "GET")
    assert [len(c.param("ids").split(",")) for c in calls] == [100, 100, 50]
    assert pacer.slept == [0.5, 0.5]  # the calls came back at once: each later one waited
    assert progress == [(0, 250), (100, 250), (200, 250), (250, 250)]
    assert {u.model_id for u in check.updates} == set(range(10, 251, 10))
    assert many_models.updated_models() == set(range(10, 251, 10))


def test_update_check_cancel_keeps_what_was_learnt(fake_civitai, many_models):
    cancel = threading.Event()

    def stop_after_first_batch(done: int, total: int | None) -> None:
        if done >= 100:
            cancel.set()

    with pytest.raises(UserCancelledError):
        check_updates(
            many_models,
            CivitaiProvider(load_settings()),
            pacer=RecordingPacer(0),
            on_progress=stop_after_first_batch,
            cancel=cancel,
        )
    assert len(fake_civitai.requests_to(r"/api/v1/models", "GET")) == 1
    assert many_models.updated_models() == set(range(10, 101, 10))  # the first 100 models
