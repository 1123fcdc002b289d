"""The library database: one SQLite file listing every model file on disk and what it is.

Tables (schema version in ``meta``):

- ``files``: one row per model file path: size, mtime, device/inode (so a renamed file is
  recognised without reading it), hashes, the Civitai ids once known, and how they were
  learnt (``id_source``: ``sidecar``, ``civitai-sha256``, ``civitai-autov3``, ``link``,
  ``download``). ``lookup`` is ``pending`` until Civitai was asked, ``unknown`` if it did
  not know the file.
- ``models``: what the last update check learnt about each identified model (its newest
  published version).

Writes commit one at a time (WAL mode), so an interrupted scan keeps its work. One
connection shared across threads behind a lock: the UIs ask from their own threads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SCHEMA_VERSION", "LibraryDB", "LibraryFile", "ModelUpdate"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    folder TEXT,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    dev INTEGER,
    ino INTEGER,
    sha256 TEXT,
    autov1 TEXT,
    autov2 TEXT,
    autov3 TEXT,
    hash_source TEXT,
    model_id INTEGER,
    version_id INTEGER,
    file_id INTEGER,
    id_source TEXT,
    lookup TEXT NOT NULL DEFAULT 'pending',
    looked_up_at REAL,
    enriched_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
CREATE INDEX IF NOT EXISTS files_version ON files(version_id);
CREATE INDEX IF NOT EXISTS files_model ON files(model_id);
CREATE TABLE IF NOT EXISTS models (
    model_id INTEGER PRIMARY KEY,
    name TEXT,
    type TEXT,
    latest_version_id INTEGER,
    latest_version_name TEXT,
    latest_published_at TEXT,
    checked_at REAL NOT NULL
);
"""

_FILE_COLUMNS = (
    "path, folder, size, mtime_ns, dev, ino, sha256, autov1, autov2, autov3, hash_source, "
    "model_id, version_id, file_id, id_source, lookup, looked_up_at, enriched_at, updated_at"
)


@dataclass(frozen=True)
class LibraryFile:
    """One model file as the library knows it. Hashes are upper-case hex."""

    path: Path
    folder: str | None
    size: int
    mtime_ns: int
    sha256: str | None
    autov2: str | None
    autov3: str | None
    model_id: int | None
    version_id: int | None
    file_id: int | None
    id_source: str | None
    lookup: str  # pending | unknown | identified
    dev: int | None = None
    ino: int | None = None
    autov1: str | None = None
    hash_source: str | None = None  # scan, a1111-cache, download, ...
    looked_up_at: float | None = None
    enriched_at: float | None = None

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9

    @property
    def identified(self) -> bool:
        return self.version_id is not None


@dataclass(frozen=True)
class ModelUpdate:
    """An installed version of a model that has a newer published version."""

    path: Path
    model_id: int
    installed_version_id: int
    latest_version_id: int
    latest_version_name: str | None
    model_name: str | None = None


def _row_to_file(row: sqlite3.Row) -> LibraryFile:
    d = dict(row)
    d["path"] = Path(d["path"])
    d.pop("updated_at", None)
    return LibraryFile(**d)


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None


def _mtime_ns(mtime: float | int) -> int:
    return mtime if isinstance(mtime, int) else round(mtime * 1e9)


class LibraryDB:
    """The library database at ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._conn:
                self._conn.executescript(_SCHEMA)
                row = self._conn.execute(
                    "SELECT value FROM meta WHERE key='schema_version'"
                ).fetchone()
                if row is None:
                    self._conn.execute(
                        "INSERT INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                elif int(row["value"]) > SCHEMA_VERSION:
                    from ..errors import ModelShelfError

                    raise ModelShelfError(
                        f"The library database {self.path} was written by a newer Model Shelf; "
                        "update Model Shelf or remove that file to rebuild it."
                    )

    @property
    def schema_version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row["value"])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LibraryDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def _select(self, where: str = "", params: Iterable = ()) -> list[LibraryFile]:
        sql = f"SELECT {_FILE_COLUMNS} FROM files {where} ORDER BY path"
        with self._lock:
            rows = self._conn.execute(sql, tuple(params)).fetchall()
        return [_row_to_file(r) for r in rows]

    def get(self, path: str | os.PathLike[str]) -> LibraryFile | None:
        rows = self._select("WHERE path = ?", (os.fspath(path),))
        return rows[0] if rows else None

    def all_files(self) -> list[LibraryFile]:
        return self._select()

    def identified(self) -> list[LibraryFile]:
        """Files whose Civitai version is known."""
        return self._select("WHERE version_id IS NOT NULL")

    def unidentified(self, *, include_unknown: bool = True) -> list[LibraryFile]:
        """Files with no known version (``include_unknown=False``: only those never asked)."""
        if include_unknown:
            return self._select("WHERE version_id IS NULL")
        return self._select("WHERE version_id IS NULL AND lookup = 'pending'")

    def by_sha256(self, sha256: str) -> list[LibraryFile]:
        return self._select("WHERE sha256 = ?", (sha256.upper(),))

    def installed_versions(self, version_id: int) -> list[Path]:
        """Where the files of Civitai version ``version_id`` are on disk (empty: not installed)."""
        return [f.path for f in self._select("WHERE version_id = ?", (int(version_id),))]

    def is_installed(self, version_id: int) -> bool:
        return bool(self.installed_versions(version_id))

    def versions_by_model(self, model_ids: Iterable[int]) -> dict[int, set[int]]:
        """For each of ``model_ids`` with files on disk: the version ids installed (one query)."""
        ids = sorted({int(m) for m in model_ids})
        if not ids:
            return {}
        out: dict[int, set[int]] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for model_id, version_id in self._conn.execute(
                    f"SELECT model_id, version_id FROM files WHERE model_id IN ({marks}) "
                    "AND version_id IS NOT NULL",
                    chunk,
                ):
                    out.setdefault(model_id, set()).add(version_id)
        return out

    # -- writing ---------------------------------------------------------------------------

    def upsert_file(
        self,
        path: str | os.PathLike[str],
        *,
        size: int,
        mtime: float | int,
        sha256: str | None,
        autov2: str | None = None,
        autov3: str | None = None,
        model_id: int | None = None,
        version_id: int | None = None,
        file_id: int | None = None,
        source: str = "scan",
        id_source: str | None = None,
        autov1: str | None = None,
        folder: str | None = None,
        dev: int | None = None,
        ino: int | None = None,
    ) -> LibraryFile:
        """Record a file and its hashes (``mtime``: float seconds or int nanoseconds).

        If the stored SHA256 differs (the file changed), ids learnt for the old bytes are
        dropped unless new ones are given. ``source`` says where the hashes came from, and
        also how the ids were learnt unless ``id_source`` says otherwise.
        """
        key = os.fspath(path)
        sha = _upper(sha256)
        autov2 = _upper(autov2) or (sha[:10] if sha else None)
        now = time.time()
        with self._lock, self._conn:
            old = self._conn.execute(
                "SELECT sha256, model_id, version_id, file_id, id_source, lookup, looked_up_at,"
                " enriched_at FROM files WHERE path = ?",
                (key,),
            ).fetchone()
            keep = old is not None and old["sha256"] == sha and sha is not None
            if version_id is not None:
                ids = (model_id, version_id, file_id, id_source or source, "identified", now, None)
            elif keep:
                kept = "model_id version_id file_id id_source lookup looked_up_at enriched_at"
                ids = tuple(old[c] for c in kept.split())
            else:
                ids = (None, None, None, None, "pending", None, None)
            self._conn.execute(
                f"INSERT OR REPLACE INTO files ({_FILE_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    folder,
                    int(size),
                    _mtime_ns(mtime),
                    dev,
                    ino,
                    sha,
                    _upper(autov1),
                    autov2,
                    _upper(autov3),
                    source,
                    *ids,
                    now,
                ),
            )
        result = self.get(key)
        assert result is not None
        return result

    def set_ids(
        self,
        path: str | os.PathLike[str],
        model_id: int | None,
        version_id: int,
        file_id: int | None = None,
        source: str = "civitai-sha256",
    ) -> None:
        """Record what ``path`` is (its Civitai model, version and file)."""
        with self._lock, self._conn:
            cur = self._conn.execute(
                "UPDATE files SET model_id=?, version_id=?, file_id=?, id_source=?,"
                " lookup='identified', looked_up_at=?, updated_at=? WHERE path=?",
                (model_id, version_id, file_id, source, time.time(), time.time(), os.fspath(path)),
            )
        if cur.rowcount == 0:
            from ..errors import NotFoundError

            raise NotFoundError(f"{path} is not in the library; run `modelshelf scan` first.")

    def mark_unknown(self, paths: Iterable[str | os.PathLike[str]], how: str = "unknown") -> None:
        """Record that Civitai was asked about ``paths`` and did not know them."""
        now = time.time()
        with self._lock, self._conn:
            self._conn.executemany(
                "UPDATE files SET lookup=?, looked_up_at=? WHERE path=? AND version_id IS NULL",
                [(how, now, os.fspath(p)) for p in paths],
            )

    def set_autov3(self, path: str | os.PathLike[str], autov3: str) -> None:
        """Store an AutoV3 computed after the scan (the rest of the row is unchanged)."""
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE files SET autov3=? WHERE path=?", (_upper(autov3), os.fspath(path))
            )

    def mark_enriched(self, path: str | os.PathLike[str]) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE files SET enriched_at=? WHERE path=?", (time.time(), os.fspath(path))
            )

    def forget(self, paths: Iterable[str | os.PathLike[str]]) -> int:
        with self._lock, self._conn:
            cur = self._conn.executemany(
                "DELETE FROM files WHERE path=?", [(os.fspath(p),) for p in paths]
            )
        return cur.rowcount

    def forget_missing(
        self,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        *,
        seen: set[str] | None = None,
    ) -> list[Path]:
        """Drop rows for files that are gone; return their paths.

        Only rows under ``roots`` (all rows when None) are considered. With ``seen`` (the
        paths a complete scan found) a row not in it is gone; without, each is checked on disk.
        """
        prefixes = None
        if roots is not None:
            prefixes = [os.path.join(os.fspath(r), "") for r in roots]
        with self._lock:
            rows = [r["path"] for r in self._conn.execute("SELECT path FROM files")]
        gone = []
        for p in rows:
            if prefixes is not None and not any(p.startswith(x) for x in prefixes):
                continue
            missing = (p not in seen) if seen is not None else not os.path.exists(p)
            if missing:
                gone.append(p)
        if gone:
            self.forget(gone)
        return [Path(p) for p in gone]

    # -- update bookkeeping ----------------------------------------------------------------

    def set_latest(
        self,
        model_id: int,
        latest_version_id: int | None,
        latest_version_name: str | None = None,
        *,
        name: str | None = None,
        type: str | None = None,
        published_at: str | None = None,
    ) -> None:
        """Record the newest published version of ``model_id`` as of now."""
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT OR REPLACE INTO models (model_id, name, type, latest_version_id,"
                " latest_version_name, latest_published_at, checked_at) VALUES (?,?,?,?,?,?,?)",
                (
                    int(model_id),
                    name,
                    type,
                    latest_version_id,
                    latest_version_name,
                    published_at,
                    time.time(),
                ),
            )

    def latest_checked_at(self, model_id: int) -> float | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT checked_at FROM models WHERE model_id=?", (int(model_id),)
            ).fetchone()
        return row["checked_at"] if row else None

    def updates(self) -> list[ModelUpdate]:
        """Installed files whose model has a newer version than any installed one.

        Uses what the last update check recorded; no network. A model with the latest
        version installed anywhere in the library is not listed.
        """
        sql = (
            "SELECT f.path, f.model_id, f.version_id, m.latest_version_id,"
            " m.latest_version_name, m.name FROM files f JOIN models m ON m.model_id = f.model_id"
            " WHERE f.version_id IS NOT NULL AND m.latest_version_id IS NOT NULL"
            " AND f.version_id != m.latest_version_id"
            " AND NOT EXISTS (SELECT 1 FROM files g WHERE g.version_id = m.latest_version_id)"
            " ORDER BY f.path"
        )
        with self._lock:
            rows = self._conn.execute(sql).fetchall()
        return [
            ModelUpdate(
                path=Path(r[0]),
                model_id=r[1],
                installed_version_id=r[2],
                latest_version_id=r[3],
                latest_version_name=r[4],
                model_name=r[5],
            )
            for r in rows
        ]
