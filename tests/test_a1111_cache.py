"""library/a1111_cache.py: reuse A1111's hash cache (cache.json and the 1.9+ diskcache)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sqlite3
from pathlib import Path

import pytest

from modelshelf.library.a1111_cache import load_a1111_cache
from modelshelf.library.db import LibraryDB
from modelshelf.library.scan import scan_layout, scan_library

FAKE_SHA = "0123456789abcdef" * 4  # not the file's real hash: proves the cache was used


@pytest.fixture
def webui(tmp_path) -> Path:
    """An A1111 install with one checkpoint in a sub-folder and two LoRAs."""
    root = tmp_path / "webui"
    (root / "models" / "Stable-diffusion" / "sd15").mkdir(parents=True)
    (root / "models" / "Lora").mkdir(parents=True)
    (root / "webui.py").write_text("# A1111\n")
    (root / "modules").mkdir()
    (root / "models" / "Stable-diffusion" / "sd15" / "real.safetensors").write_bytes(b"c" * 5000)
    (root / "models" / "Lora" / "style.safetensors").write_bytes(b"l" * 4000)
    return root


def ckpt(webui: Path) -> Path:
    return webui / "models" / "Stable-diffusion" / "sd15" / "real.safetensors"


def lora(webui: Path) -> Path:
    return webui / "models" / "Lora" / "style.safetensors"


def a1111_dirs(webui: Path):
    return [
        ("checkpoints", webui / "models" / "Stable-diffusion"),
        ("loras", webui / "models" / "Lora"),
    ]


def write_cache_json(webui: Path, hashes: dict, addnet: dict | None = None) -> None:
    data = {"hashes": hashes, "hashes-addnet": addnet or {}, "extensions-git": {}}
    (webui / "cache.json").write_text(json.dumps(data))


def diskcache_db(cache_dir: Path, section: str) -> sqlite3.Connection:
    """The SQLite file diskcache 5 writes (same table), filled by hand."""
    (cache_dir / section).mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(cache_dir / section / "cache.db")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS Cache (rowid INTEGER PRIMARY KEY, key BLOB, raw INTEGER,"
        " store_time REAL, expire_time REAL, access_time REAL, access_count INTEGER DEFAULT 0,"
        " tag BLOB, size INTEGER DEFAULT 0, mode INTEGER DEFAULT 0, filename TEXT, value BLOB)"
    )
    return conn


def put_pickled(conn: sqlite3.Connection, key: str, value: object) -> None:
    blob = value if isinstance(value, bytes) else pickle.dumps(value, protocol=5)
    conn.execute(
        "INSERT INTO Cache (key, raw, store_time, mode, value) VALUES (?, 1, 0, 4, ?)",
        (key, sqlite3.Binary(blob)),
    )
    conn.commit()


def test_fresh_cache_json_entry_is_reused_without_reading(webui, tmp_path):
    mtime = os.path.getmtime(ckpt(webui))
    write_cache_json(
        webui, {"checkpoint/sd15/real.safetensors": {"mtime": mtime, "sha256": FAKE_SHA}}
    )
    db = LibraryDB(tmp_path / "lib.sqlite3")
    result = scan_library(db, a1111_dirs(webui), a1111_cache=load_a1111_cache(webui))
    row = db.get(ckpt(webui))
    assert row.sha256 == FAKE_SHA.upper() and row.hash_source == "a1111-cache"
    assert result.reused == 1 and result.hashed == 1  # only the LoRA was read


def test_stale_entry_is_ignored_and_the_file_read(webui, tmp_path):
    mtime = os.path.getmtime(ckpt(webui))
    write_cache_json(
        webui, {"checkpoint/sd15/real.safetensors": {"mtime": mtime - 10, "sha256": FAKE_SHA}}
    )
    db = LibraryDB(tmp_path / "lib.sqlite3")
    result = scan_library(db, a1111_dirs(webui), a1111_cache=load_a1111_cache(webui))
    real = hashlib.sha256(ckpt(webui).read_bytes()).hexdigest().upper()
    assert db.get(ckpt(webui)).sha256 == real
    assert result.reused == 0 and result.hashed == 2


def test_addnet_only_entry_does_not_replace_the_full_hash(webui, tmp_path):
    mtime = os.path.getmtime(lora(webui))
    write_cache_json(webui, {}, {"lora/style": {"mtime": mtime, "sha256": FAKE_SHA}})
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, a1111_dirs(webui), a1111_cache=load_a1111_cache(webui))
    real = hashlib.sha256(lora(webui).read_bytes()).hexdigest().upper()
    assert db.get(lora(webui)).sha256 == real


def test_lora_entry_by_stem_with_addnet_gives_autov3(webui, tmp_path):
    mtime = os.path.getmtime(lora(webui))
    write_cache_json(
        webui,
        {"lora/style": {"mtime": mtime, "sha256": FAKE_SHA}},
        {"lora/style": {"mtime": mtime, "sha256": "fedcba9876543210" * 4}},
    )
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, a1111_dirs(webui), a1111_cache=load_a1111_cache(webui))
    row = db.get(lora(webui))
    assert row.sha256 == FAKE_SHA.upper() and row.autov3 == "FEDCBA987654"


def test_ambiguous_title_is_not_trusted(webui, tmp_path):
    (webui / "models" / "Lora" / "sub").mkdir()
    twin = webui / "models" / "Lora" / "sub" / "style.safetensors"
    twin.write_bytes(b"other bytes")
    mtime = max(os.path.getmtime(lora(webui)), os.path.getmtime(twin))
    write_cache_json(webui, {"lora/style": {"mtime": mtime, "sha256": FAKE_SHA}})
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, a1111_dirs(webui), a1111_cache=load_a1111_cache(webui))
    assert db.get(twin).sha256 == hashlib.sha256(b"other bytes").hexdigest().upper()
    assert db.get(lora(webui)).sha256 != FAKE_SHA.upper()


def test_diskcache_store_is_read_read_only(webui, tmp_path):
    mtime = os.path.getmtime(ckpt(webui))
    conn = diskcache_db(webui / "cache", "hashes")
    put_pickled(conn, "checkpoint/sd15/real.safetensors", {"mtime": mtime, "sha256": FAKE_SHA})
    conn.close()
    before = (webui / "cache" / "hashes" / "cache.db").read_bytes()
    db = LibraryDB(tmp_path / "lib.sqlite3")
    from modelshelf.layout import resolve_layout

    layout = resolve_layout(host_dir=webui)
    assert layout.kind == "a1111"
    result = scan_layout(db, layout)
    assert db.get(ckpt(webui)).sha256 == FAKE_SHA.upper()
    assert result.reused == 1
    assert (webui / "cache" / "hashes" / "cache.db").read_bytes() == before  # untouched


class Boom:
    """A pickle that would run code when loaded."""

    def __reduce__(self):
        return (Path.touch, (MARKER,))


MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"modelshelf-pickle-ran-{os.getpid()}"


def test_pickles_with_globals_are_refused_never_run(webui, tmp_path):
    MARKER.unlink(missing_ok=True)
    mtime = os.path.getmtime(ckpt(webui))
    conn = diskcache_db(webui / "cache", "hashes")
    put_pickled(conn, "checkpoint/sd15/real.safetensors", pickle.dumps(Boom()))
    put_pickled(conn, "lora/style", b"not a pickle at all")
    put_pickled(conn, "checkpoint/x", {"mtime": mtime, "sha256": "short"})  # not a sha256
    conn.close()
    cache = load_a1111_cache(webui)
    assert len(cache) == 0
    assert not MARKER.exists()
    db = LibraryDB(tmp_path / "lib.sqlite3")
    scan_library(db, a1111_dirs(webui), a1111_cache=cache)
    assert (
        db.get(ckpt(webui)).sha256 == hashlib.sha256(ckpt(webui).read_bytes()).hexdigest().upper()
    )


def test_env_overrides_and_broken_stores(webui, tmp_path, monkeypatch):
    elsewhere = tmp_path / "cachefile.json"
    elsewhere.write_text(
        json.dumps({"hashes": {"lora/style": {"mtime": 1e12, "sha256": FAKE_SHA}}})
    )
    monkeypatch.setenv("SD_WEBUI_CACHE_FILE", str(elsewhere))
    cache = load_a1111_cache(webui)
    assert cache.lookup(["lora/style"], 5.0).sha256 == FAKE_SHA.upper()
    elsewhere.write_text("{ not json")
    assert len(load_a1111_cache(webui)) == 0
    (webui / "cache" / "hashes").mkdir(parents=True)
    (webui / "cache" / "hashes" / "cache.db").write_bytes(b"garbage, not sqlite")
    assert len(load_a1111_cache(webui)) == 0


def test_real_diskcache_when_installed(webui, tmp_path):
    diskcache = pytest.importorskip("diskcache")
    mtime = os.path.getmtime(ckpt(webui))
    store = diskcache.Cache(
        str(webui / "cache" / "hashes"), size_limit=2**32, disk_min_file_size=2**18
    )
    store["checkpoint/sd15/real.safetensors"] = {"mtime": mtime, "sha256": FAKE_SHA}
    store.close()
    cache = load_a1111_cache(webui)
    assert cache.lookup(["checkpoint/sd15/real.safetensors"], mtime).sha256 == FAKE_SHA.upper()
