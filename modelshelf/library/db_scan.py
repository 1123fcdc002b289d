"""The library database's bulk operations, for the scan: streamed reads, batched writes.

A rescan reads the stored ``(size, mtime, device, inode, folder)`` of the files under each
scanned folder as one stream in path order (:meth:`ScanRows.stored_under`, on a
connection and read snapshot of its own), merges it with the walk, which comes in the
same order, and writes nothing when nothing changed: no dictionary of the library is
built. What did change is written with ``executemany`` in one transaction per batch.
Rows are handed out as streams (keyset pages under the lock), so a caller never needs a
list of the whole library.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

from .records import FILE_COLUMNS, ROW_COLUMNS, LibraryFile, file_from_row, under_roots

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["UPSERT_FILE", "ScanRows", "Stored"]

_KEEP = (
    "excluded.version_id IS NULL AND excluded.sha256 IS NOT NULL AND files.sha256 = excluded.sha256"
)
_ID_COLUMNS = (
    "model_id", "version_id", "file_id", "id_source", "lookup", "looked_up_at", "enriched_at",
)  # fmt: skip
_PLAIN_COLUMNS = (
    "folder", "size", "mtime_ns", "dev", "ino", "sha256", "autov1", "autov2", "autov3",
    "hash_source", "updated_at",
)  # fmt: skip

# Insert a file, or update it keeping its ids when its SHA256 did not change (and no new
# ids are given); other bytes start over as ``pending``.
UPSERT_FILE = (
    f"INSERT INTO files ({FILE_COLUMNS}) VALUES ({', '.join('?' * 19)}) "
    "ON CONFLICT(path) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in _PLAIN_COLUMNS)
    + ", "
    + ", ".join(f"{c}=CASE WHEN {_KEEP} THEN files.{c} ELSE excluded.{c} END" for c in _ID_COLUMNS)
)


class Stored(NamedTuple):
    """What the database holds about one file, for the scan to compare (size is -1 when
    no SHA256 is stored: the file must be read)."""

    path: str
    size: int
    mtime_ns: int
    dev: int | None
    ino: int | None
    folder: str | None


_PAGE = 2000


class ScanRows:
    """Mixed into :class:`~modelshelf.library.db.LibraryDB`: what the scan reads and writes."""

    path: Path
    _conn: sqlite3.Connection
    _lock: threading.RLock

    def stored_under(self, root: str) -> Iterator[tuple]:
        """What is stored about every file under ``root``, in path order, as a stream of
        plain tuples in :class:`Stored`'s order (a tuple a file: nothing else is built).

        Read on a connection of its own in one read transaction (a snapshot: the scan's
        own commits meanwhile do not show), which ends when the stream does.
        """

        where, params = under_roots([root])
        conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN")
            yield from conn.execute(
                "SELECT path, CASE WHEN sha256 IS NULL THEN -1 ELSE size END, mtime_ns, dev,"
                f" ino, folder FROM files {where} ORDER BY path",
                params,
            )
        finally:
            conn.close()

    def has_rows(self, roots: Iterable[str | os.PathLike[str]] | None = None) -> bool:
        """Whether any file (under ``roots``) is recorded."""

        where, params = ("", ()) if roots is None else under_roots(list(roots))
        with self._lock:
            row = self._conn.execute(f"SELECT 1 FROM files {where} LIMIT 1", params).fetchone()
        return row is not None

    def write_scanned(
        self, rows: list[tuple], moved: Sequence[tuple[str | None, int, int, str]] = ()
    ) -> None:
        """Record many files at once (rows from :func:`~modelshelf.library.db.file_row`) and
        the new ``(folder, dev, ino, path)`` of files whose bytes did not change, in one
        transaction."""
        if rows or moved:
            with self._lock, self._conn:
                if rows:
                    self._conn.executemany(UPSERT_FILE, rows)
                if moved:
                    self._conn.executemany(
                        "UPDATE files SET folder=?, dev=?, ino=? WHERE path=?", moved
                    )

    def forget_paths(self, paths: list[str]) -> None:
        if paths:
            with self._lock, self._conn:
                self._conn.executemany("DELETE FROM files WHERE path=?", [(p,) for p in paths])

    def iter_files(
        self,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        *,
        where: str = "",
        params: tuple = (),
    ) -> Iterator[LibraryFile]:
        """Stream the rows (under ``roots``; matching ``where``) in path order, page by page."""

        clause, base = ("WHERE 1", ()) if roots is None else under_roots(list(roots))
        extra = f" AND ({where})" if where else ""
        last = ""
        while True:
            with self._lock:
                page = self._conn.execute(
                    f"SELECT {ROW_COLUMNS} FROM files {clause} AND path > ?{extra}"
                    f" ORDER BY path LIMIT {_PAGE}",
                    (*base, last, *params),
                ).fetchall()
            for row in page:
                yield file_from_row(row)
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def count_files(
        self,
        roots: Iterable[str | os.PathLike[str]] | None = None,
        *,
        where: str = "",
        params: tuple = (),
    ) -> int:
        """How many rows (under ``roots``; matching ``where``), counted in SQL."""

        clause, base = ("WHERE 1", ()) if roots is None else under_roots(list(roots))
        extra = f" AND ({where})" if where else ""
        with self._lock:
            row = self._conn.execute(
                f"SELECT count(*) FROM files {clause}{extra}", (*base, *params)
            ).fetchone()
        return row[0]

    def iter_due(
        self, roots: Iterable[Path | str] | None = None, recheck_after: float = 0.0
    ) -> Iterator[LibraryFile]:
        """Unidentified rows never asked about, or asked longer than ``recheck_after`` ago."""
        return self.iter_files(
            roots,
            where="version_id IS NULL AND (lookup = 'pending' OR coalesce(looked_up_at, 0) <= ?)",
            params=(time.time() - recheck_after,),
        )
