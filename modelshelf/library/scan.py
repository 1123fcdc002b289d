"""Walk the model folders, record every model file and hash the ones not known yet.

A rescan costs about a directory walk: what the database knows about the scanned
folders is read with one query into plain tuples, each file the walk finds is compared
by size, mtime, inode and folder, and nothing is built or written for a file that did not
change. A file that was renamed or moved (same device, inode, size and mtime) keeps its
hashes and ids; a fresh entry of A1111's own hash cache is reused. Only the rest is read,
small files many to a worker task. Results are committed in batches (one transaction
each, and whenever the hashing waits), so an interrupted scan keeps its work and the next
one carries on. Rows of files that are gone are dropped only after a complete walk.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import UserCancelledError
from ..hashing import LocalHashes, ProgressFn, hash_files
from .db import LibraryDB, file_row
from .records import LibraryFile
from .walk import MODEL_EXTENSIONS, FoundFile, is_model_file, iter_model_files, walk_model_files

if TYPE_CHECKING:
    from ..layout import HostLayout
    from .a1111_cache import A1111HashCache

__all__ = [
    "AUTOV3_FOLDERS",
    "MODEL_EXTENSIONS",
    "FoundFile",
    "ScanItems",
    "ScanResult",
    "is_model_file",
    "iter_model_files",
    "scan_layout",
    "scan_library",
]

log = logging.getLogger(__name__)

# Folders whose files Civitai lookups may need by AutoV3 (A1111's Lora hash, the by-hash
# fallback): computed in the scan's one read there, on demand elsewhere (it doubles the
# CPU cost of hashing a safetensors file).
AUTOV3_FOLDERS = frozenset({"loras", "lycoris", "embeddings", "hypernetworks"})

BATCH_ROWS = 2000  # rows per write transaction
BATCH_SECONDS = 1.0  # ... or at least this often (and whenever the hashing waits)


class ScanItems(Sequence[LibraryFile]):
    """The library's rows under the scanned folders, read from the database when used.

    Iterating streams them in path order (a page at a time), so a scan of 100,000 files
    holds no list of them; ``len()`` counts them. Each use reads the database as it is
    then (identification done since the scan shows), so use it while the database is open.
    """

    def __init__(self, db: LibraryDB, roots: list[str]):
        self.db = db
        self.roots = roots

    def __iter__(self) -> Iterator[LibraryFile]:
        return self.db.iter_files(self.roots)

    def __len__(self) -> int:
        return self.db.count_files(self.roots)

    def __getitem__(self, index):
        return list(self)[index]

    def __repr__(self) -> str:
        return f"ScanItems({len(self)} files under {len(self.roots)} folders)"


@dataclass
class ScanResult:
    """What a scan found and did."""

    items: Sequence[LibraryFile] = field(default_factory=list)
    hashed: int = 0  # files read this time
    reused: int = 0  # hashes taken from a rename or A1111's cache instead of reading
    removed: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def scanned(self) -> int:
        return len(self.items)


class _Todo(NamedTuple):
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


class _Writer:
    """Collects rows and writes them in batches, each one transaction."""

    def __init__(self, db: LibraryDB):
        self.db = db
        self.rows: list[tuple] = []
        self.since = time.monotonic()

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS or time.monotonic() - self.since >= BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        rows, self.rows = self.rows, []
        self.since = time.monotonic()
        self.db.write_scanned(rows)


def scan_library(
    db: LibraryDB,
    dirs: Iterable[tuple[str, Path]],
    *,
    a1111_cache: A1111HashCache | None = None,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    autov3_folders: frozenset[str] | None = AUTOV3_FOLDERS,
) -> ScanResult:
    """Bring the library database up to date with the files under ``dirs``.

    ``on_progress(bytes_hashed, bytes_to_hash)`` reports the hashing. When ``cancel`` is
    set the scan stops soon, keeps what it committed and returns ``cancelled=True``.
    AutoV3 is computed for safetensors files of ``autov3_folders`` (None: every folder).
    ``items`` of the result reads the database (see :class:`ScanItems`).
    """
    absolute = [(k, os.path.abspath(d)) for k, d in dirs]
    roots = [d for _, d in absolute]
    known = db.snapshot(roots)
    result = ScanResult(items=ScanItems(db, roots))
    titles = _TitleCounter(a1111_cache)
    moved: list[tuple[str | None, int, int, str]] = []
    todo: list[_Todo] = []
    for key, root, path, st in walk_model_files(absolute, cancel):
        titles.add(key, root, path)
        row = known.pop(path, None)
        if row is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            if row[2] != st.st_ino or row[3] != key:
                moved.append((key, st.st_dev, st.st_ino, path))
            continue
        todo.append(
            _Todo(path, key, root, st.st_size, st.st_mtime_ns, st.st_dev, st.st_ino, st.st_mtime)
        )
    db.relocate(moved)
    writer = _Writer(db)
    try:
        to_hash = _reuse_known(db, todo, titles, writer, result, cancel)
        del todo
        _hash(to_hash, writer, result, workers, on_progress, cancel, autov3_folders)
    finally:
        writer.flush()
    if cancel is not None and cancel.is_set():
        result.cancelled = True
    if not result.cancelled and known:  # a complete walk: what it did not find is gone
        db.forget_paths(list(known))
        result.removed = [Path(p) for p in sorted(known)]
    return result


def _reuse_known(
    db: LibraryDB,
    todo: list[_Todo],
    titles: _TitleCounter,
    writer: _Writer,
    result: ScanResult,
    cancel: threading.Event | None,
) -> list[_Todo]:
    """Record the files whose hashes are known already (a rename, A1111's cache); the rest."""
    check_twins = bool(todo) and db.has_rows()
    rest: list[_Todo] = []
    for t in todo:
        if cancel is not None and cancel.is_set():
            break
        twin = db.find_twin(t.dev, t.ino, t.size, t.mtime_ns) if check_twins else None
        if twin is not None:  # renamed, moved or hard-linked: same bytes
            ids = (twin.model_id, twin.version_id, twin.file_id, twin.id_source)
            source = twin.hash_source or "scan"
            writer.add(_row(t, twin.sha256, twin.autov1, twin.autov2, twin.autov3, source, ids))
            result.reused += 1
            continue
        cached = titles.lookup(t)
        if cached is not None:
            writer.add(_row(t, cached.sha256, None, None, cached.autov3, "a1111-cache"))
            result.reused += 1
            continue
        rest.append(t)
    return rest


def _row(t: _Todo, sha256, autov1, autov2, autov3, source: str, ids=(None,) * 4) -> tuple:
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


def _hash(
    to_hash: list[_Todo],
    writer: _Writer,
    result: ScanResult,
    workers: int | None,
    on_progress: ProgressFn | None,
    cancel: threading.Event | None,
    autov3_folders: frozenset[str] | None,
) -> None:
    """Read the files in ``to_hash`` on ``workers`` threads and record their hashes."""
    if not to_hash or (cancel is not None and cancel.is_set()):
        return
    total = sum(t.size for t in to_hash)
    done = [0]
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            done[0] += n
            now = done[0]
        if on_progress is not None:
            on_progress(now, total)

    if on_progress is not None:
        on_progress(0, total)

    def autov3_for(t: _Todo) -> bool | None:
        if autov3_folders is None or t.folder in autov3_folders:
            return None  # by extension: safetensors
        return False

    outcomes = hash_files(
        to_hash,
        workers,
        cancel=cancel,
        on_bytes=on_bytes,
        with_autov3=autov3_for,
        size_of=_size_of,
        on_idle=writer.flush,
    )
    now = time.time()
    for t, outcome in outcomes:
        if isinstance(outcome, UserCancelledError):
            result.cancelled = True
            continue
        if isinstance(outcome, Exception):
            result.errors.append((Path(t.path), str(outcome)))
            log.warning("Could not hash %s: %s", t.path, outcome)
            continue
        if outcome.size != t.size or outcome.mtime_ns != t.mtime_ns:
            result.errors.append((Path(t.path), "changed while it was read; scan again"))
            continue
        writer.add(_hashed_row(t, outcome, now))
        result.hashed += 1


def _hashed_row(t: _Todo, h: LocalHashes, now: float) -> tuple:
    """``file_row`` of a file just read, built directly (it runs once a file)."""
    return (t.path, t.folder, t.size, t.mtime_ns, t.dev, t.ino, h.sha256, h.autov1, h.autov2,
            h.autov3, "scan", None, None, None, None, "pending", None, None, now)  # fmt: skip


def _size_of(t: _Todo) -> int:
    return t.size


class _TitleCounter:
    """How many files of ours map to each A1111 title (an ambiguous title is not used).

    Only files whose stem A1111's cache knows are counted, so a library without a cache
    (or a rescan of one) pays one set lookup a file at most.
    """

    def __init__(self, cache: A1111HashCache | None):
        self.cache = cache if cache else None
        self.stems = self.cache.stems() if self.cache is not None else set()
        self.counts: dict[str, int] = {}

    def add(self, key: str, root: str, path: str) -> None:
        if not self.stems or self.cache is None:
            return
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem not in self.stems:
            return
        for title in self.cache.titles_for(key, os.path.relpath(path, root)):
            self.counts[title] = self.counts.get(title, 0) + 1

    def lookup(self, t: _Todo):
        if self.cache is None:
            return None
        rel = os.path.relpath(t.path, t.root)
        titles = [x for x in self.cache.titles_for(t.folder, rel) if self.counts.get(x) == 1]
        hit = self.cache.lookup(titles, t.mtime)
        if hit is None or hit.sha256 is None:
            return None  # an AutoV3 alone is not enough: the file must be read for its SHA256
        return hit


def scan_layout(
    db: LibraryDB,
    layout: HostLayout,
    *,
    use_a1111_cache: bool = True,
    **kw,
) -> ScanResult:
    """Scan every folder of a host layout, reusing A1111's hash cache for A1111-family hosts."""
    cache = None
    if use_a1111_cache and layout.kind in ("a1111", "forge", "sdnext") and layout.root:
        from .a1111_cache import load_a1111_cache

        cache = load_a1111_cache(layout.root)
        if cache:
            log.info("Reusing %d hashes from A1111's cache", len(cache))
    return scan_library(db, layout.scan_dirs(), a1111_cache=cache, **kw)
