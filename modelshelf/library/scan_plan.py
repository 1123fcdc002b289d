"""Which files a scan must read: the walk merged with what the database stores.

The walk (:func:`~.walk.walk_root`) and the stored rows (:meth:`~.db_scan.ScanRows.
stored_under`) both come in path order, so one merged pass compares them, file by file,
holding neither in memory:

- a file stored with the same size and mtime is known: nothing is built or written (a
  new inode or folder key is recorded, without a read);
- a stored row the walk does not reach is "unmatched"; after a complete walk, it is gone
  if its file is not on disk (a file the walk cannot reach, under a hidden folder or a
  nested folder walked under another key, is left alone);
- any other file must be read. When nothing is stored under the scanned folders (a first
  scan), it is handed to the hashing at once, as the walk finds it: memory stays flat.
  Otherwise it waits for the end of the walk, when a file renamed or moved (same device,
  inode, size and mtime as a row that is gone) takes that row's hashes and ids, and a
  fresh entry of A1111's hash cache is reused. Those waiting are the changed files only.
"""

from __future__ import annotations

import os
import stat as stat_mod
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple, Protocol

from .db import file_row
from .db_scan import Stored
from .walk import walk_root

if TYPE_CHECKING:
    from .a1111_cache import A1111HashCache
    from .db import LibraryDB
    from .scan_writer import BatchWriter

__all__ = ["ScanPlan", "Todo"]



class _Counts(Protocol):
    """The part of a scan's result the plan updates (``scan.ScanResult`` is one)."""

    reused: int

class Todo(NamedTuple):
    """A file the database does not know as it is now (usable as a path: ``open(todo)``)."""

    path: str
    folder: str
    root: str
    size: int
    mtime_ns: int
    dev: int
    ino: int
    mtime: float

    def __fspath__(self) -> str:
        return self.path


class ScanPlan:
    """Iterating yields the files to read; meanwhile it records moves, renames and reuses.

    ``total`` is the number of bytes to read, known once the walk is done (None before);
    ``gone`` the stored paths whose files are gone, once ``walked_all``.
    """

    def __init__(
        self,
        db: LibraryDB,
        dirs: list[tuple[str, str]],
        writer: BatchWriter,
        result: _Counts,
        *,
        a1111_cache: A1111HashCache | None = None,
        cancel: threading.Event | None = None,
    ):
        self.db = db
        self.dirs = dirs
        self.writer = writer
        self.result = result
        self.cancel = cancel
        self.titles = _TitleCounter(a1111_cache)
        self.fresh = not db.has_rows([root for _, root in dirs])
        self.total: int | None = None
        self.walked_all = False
        self.gone: list[str] = []
        self._queued = 0
        self._unmatched: list[Stored] = []
        self._visited: set[tuple[int, int]] = set()

    def _cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def __iter__(self) -> Iterator[Todo]:
        waiting: list[Todo] = []
        for key, root in self.dirs:
            for t in self._merge(key, root):
                if self.fresh and not self.titles.known(t.path):
                    self._queued += t.size
                    yield t
                else:
                    waiting.append(t)
            if self._cancelled():
                return
        self.walked_all = True
        # a row under two scanned folders (one inside the other) is unmatched twice
        unique = {row.path: row for row in self._unmatched}.values()
        gone = [row for row in unique if not _is_file(row.path)]
        self._unmatched = []
        self.gone = [row.path for row in gone]
        rest = self._reuse_known(waiting, gone)
        del waiting, gone
        self.total = self._queued + sum(t.size for t in rest)
        yield from rest

    def _merge(self, key: str, root: str) -> Iterator[Todo]:
        """The files under ``root`` that must be read; records moves and unmatched rows."""
        stored: Iterator[tuple] = iter(()) if self.fresh else self.db.stored_under(root)
        try:
            row = next(stored, None)
            unmatched = self._unmatched
            for path, st in walk_root(root, self._visited, self.cancel):
                self.titles.add(key, root, path)
                while row is not None and row[0] < path:
                    unmatched.append(Stored._make(row))
                    row = next(stored, None)
                if row is not None and row[0] == path:
                    known, row = row, next(stored, None)
                    # known: path, size (-1: no SHA256), mtime_ns, dev, ino, folder
                    if known[1] == st.st_size and known[2] == st.st_mtime_ns:
                        if known[4] != st.st_ino or known[3] != st.st_dev or known[5] != key:
                            self.writer.move((key, st.st_dev, st.st_ino, path))
                        continue
                yield Todo(
                    path, key, root, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino,
                    st.st_mtime,
                )  # fmt: skip
            if self._cancelled():
                return  # an incomplete walk: what it did not reach is not gone
            while row is not None:
                unmatched.append(Stored._make(row))
                row = next(stored, None)
        finally:
            close = getattr(stored, "close", None)
            if close is not None:
                close()  # ends its read transaction

    def _reuse_known(self, waiting: list[Todo], gone_rows: list[Stored]) -> list[Todo]:
        """Record the files whose hashes are known already (a rename, A1111's cache); the rest."""
        gone = {(r.dev, r.ino, r.size, r.mtime_ns): r.path for r in gone_rows if r.size >= 0}
        rest: list[Todo] = []
        for t in waiting:
            if self._cancelled():
                break
            twin_path = gone.get((t.dev, t.ino, t.size, t.mtime_ns))
            twin = self.db.get(twin_path) if twin_path is not None else None
            if twin is not None and twin.sha256:  # renamed or moved: the same bytes
                ids = (twin.model_id, twin.version_id, twin.file_id, twin.id_source)
                source = twin.hash_source or "scan"
                self.writer.add(
                    _row(t, twin.sha256, twin.autov1, twin.autov2, twin.autov3, source, ids)
                )
                self.result.reused += 1
                continue
            cached = self.titles.lookup(t)
            if cached is not None:
                self.writer.add(_row(t, cached.sha256, None, None, cached.autov3, "a1111-cache"))
                self.result.reused += 1
                continue
            rest.append(t)
        return rest


def _is_file(path: str) -> bool:
    try:
        return stat_mod.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _row(t: Todo, sha256, autov1, autov2, autov3, source: str, ids=(None,) * 4) -> tuple:
    return file_row(
        t.path,
        folder=t.folder,
        size=t.size,
        mtime_ns=t.mtime_ns,
        dev=t.dev,
        ino=t.ino,
        sha256=sha256,
        autov1=autov1,
        autov2=autov2,
        autov3=autov3,
        source=source,
        ids=ids,
    )


class _TitleCounter:
    """How many files of ours map to each A1111 title (an ambiguous title is not used).

    Only files whose stem A1111's cache knows are counted, so a library without a cache
    (or a rescan of one) pays one set lookup a file at most.
    """

    def __init__(self, cache: A1111HashCache | None):
        self.cache = cache if cache else None
        self.stems = self.cache.stems() if self.cache is not None else set()
        self.counts: dict[str, int] = {}

    def known(self, path: str) -> bool:
        """Whether A1111's cache may know ``path`` (its stem is there)."""
        return bool(self.stems) and os.path.splitext(os.path.basename(path))[0] in self.stems

    def add(self, key: str, root: str, path: str) -> None:
        if self.cache is None or not self.known(path):
            return
        for title in self.cache.titles_for(key, os.path.relpath(path, root)):
            self.counts[title] = self.counts.get(title, 0) + 1

    def lookup(self, t: Todo):
        if self.cache is None:
            return None
        rel = os.path.relpath(t.path, t.root)
        titles = [x for x in self.cache.titles_for(t.folder, rel) if self.counts.get(x) == 1]
        hit = self.cache.lookup(titles, t.mtime)
        if hit is None or hit.sha256 is None:
            return None  # an AutoV3 alone is not enough: the file must be read for its SHA256
        return hit
