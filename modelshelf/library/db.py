"""The library database: one SQLite file listing every model file on disk and what it is.

The schema and the row types are in :mod:`.records`; the scan's bulk operations in
:mod:`.db_scan`; the front ends' questions ("installed where", "which have updates") in
:mod:`.db_queries`. Single writes commit at once; the scan writes in batches, each one
transaction (WAL mode), so an interrupted scan keeps what it committed. One connection
shared across threads behind a lock: the UIs ask from their own threads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .db_queries import FrontEndQueries
from .db_scan import UPSERT_FILE, ScanRows
from .records import (
    FILL_UPDATABLE,
    ROW_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    LibraryFile,
    ModelUpdate,
    file_from_row,
    under_roots,
)

__all__ = ["SCHEMA_VERSION", "LibraryDB", "LibraryFile", "ModelUpdate"]


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None


def _mtime_ns(mtime: float | int) -> int:
    return mtime if isinstance(mtime, int) else round(mtime * 1e9)


class LibraryDB(ScanRows, FrontEndQueries):
    """The library database at ``path`` (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
        with self._lock:
            if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # up to 32 MiB of pages: inserting 100,000 rows with a 2 MiB cache spends more
            # time re-reading index pages than writing them
            self._conn.execute("PRAGMA cache_size=-32768")
            row = self._schema_row()
            if row is None:
                with self._conn:
                    self._conn.executescript(SCHEMA)
                    self._conn.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
            elif int(row[0]) > SCHEMA_VERSION:
                from ..errors import ModelShelfError

                raise ModelShelfError(
                    f"The library database {self.path} was written by a newer Model Shelf; "
                    "update Model Shelf or remove that file to rebuild it."
                )
            elif int(row[0]) < SCHEMA_VERSION:
                migrate(self._conn)
            else:  # indexes added since the file was made; nothing is written if all exist
                self._conn.executescript(SCHEMA)

    def _schema_row(self) -> tuple | None:
        try:
            return self._conn.execute(
                "SELECT value FROM meta WHERE key='schema_version'"
            ).fetchone()
        except sqlite3.OperationalError:  # a new, empty file
            return None

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self._schema_row()
            if row is None:  # only before the schema is written, which __init__ does
                raise RuntimeError("the library database has no schema version")
            return int(row[0])

    @property
    def total_changes(self) -> int:
        """Rows this connection has written since it was opened (a rescan adds none)."""
        return self._conn.total_changes

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LibraryDB:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------

    def _select(self, where: str = "", params: Iterable = ()) -> list[LibraryFile]:
        sql = f"SELECT {ROW_COLUMNS} FROM files {where} ORDER BY path"
        with self._lock:
            rows = self._conn.execute(sql, tuple(params)).fetchall()
        return [file_from_row(r) for r in rows]

    def get(self, path: str | os.PathLike[str]) -> LibraryFile | None:
        rows = self._select("WHERE path = ?", (os.fspath(path),))
        return rows[0] if rows else None

    def all_files(self) -> list[LibraryFile]:
        """Every row (a list: for small libraries and tests; :meth:`iter_files` streams)."""
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
        row = file_row(
            key,
            folder=folder,
            size=int(size),
            mtime_ns=_mtime_ns(mtime),
            dev=dev,
            ino=ino,
            sha256=sha256,
            autov1=autov1,
            autov2=autov2,
            autov3=autov3,
            source=source,
            ids=(model_id, version_id, file_id, id_source),
        )
        with self._lock, self._conn:
            self._conn.execute(UPSERT_FILE, row)
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
        where, params = ("", ()) if roots is None else under_roots(roots)
        with self._lock:
            rows = [r[0] for r in self._conn.execute(f"SELECT path FROM files {where}", params)]
        gone = [p for p in rows if (p not in seen if seen is not None else not os.path.exists(p))]
        if gone:
            self.forget(gone)
        return [Path(p) for p in gone]


def migrate(conn: sqlite3.Connection) -> None:
    """Upgrade a schema 1 file to the current schema, in one transaction.

    Every step is idempotent (two processes opening the same old file both may run it):
    the inode index goes, ``updatable`` and its triggers come and are filled once from
    what the file holds. Ctrl-C or a crash midway rolls it all back; the next open
    runs it again.
    """
    script = (
        "BEGIN IMMEDIATE;\n"
        + SCHEMA
        + "\nDELETE FROM updatable;\n"
        + FILL_UPDATABLE
        + ";\nUPDATE meta SET value = '"
        + str(SCHEMA_VERSION)
        + "' WHERE key = 'schema_version' AND CAST(value AS INTEGER) < "
        + str(SCHEMA_VERSION)
        + ";\nCOMMIT;"
    )
    try:
        conn.executescript(script)
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise


def file_row(
    path: str,
    *,
    folder: str | None,
    size: int,
    mtime_ns: int,
    dev: int | None,
    ino: int | None,
    sha256: str | None,
    autov1: str | None,
    autov2: str | None,
    autov3: str | None,
    source: str,
    ids: tuple[int | None, int | None, int | None, str | None] = (None, None, None, None),
    now: float | None = None,
) -> tuple:
    """The parameters of :data:`UPSERT_FILE` for one file (``ids``: model, version, file, how).

    Without a version id the stored ids are kept when the SHA256 is unchanged, and reset
    to ``pending`` when the bytes are other bytes.
    """
    now = time.time() if now is None else now
    sha = _upper(sha256)
    model_id, version_id, file_id, id_source = ids
    known: tuple[Any, ...]
    if version_id is not None:
        known = (model_id, version_id, file_id, id_source or source, "identified", now, None)
    else:
        known = (None, None, None, None, "pending", None, None)
    return (
        path,
        folder,
        size,
        mtime_ns,
        dev,
        ino,
        sha,
        _upper(autov1),
        _upper(autov2) or (sha[:10] if sha else None),
        _upper(autov3),
        source,
        *known,
        now,
    )
