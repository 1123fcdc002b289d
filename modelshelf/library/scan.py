"""Walk the model folders, record every model file and hash the ones not known yet.

A rescan costs about a directory walk: the walk and the database's rows for the scanned
folders, both in path order, are merged in one pass (:mod:`.scan_plan`), and nothing is
built or written for a file that did not change. A file that was renamed or moved (same
device, inode, size and mtime) keeps its hashes and ids; a fresh entry of A1111's own
hash cache is reused. Only the rest is read: small files on this thread, large ones on
worker threads; on a first scan, as the walk finds them. Results are written on a
thread of their own in batches (:mod:`.scan_writer`: one transaction each, and whenever
the hashing waits), so an interrupted scan keeps its work and the next one carries on.
Rows of files that are gone are dropped only after a complete walk.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserCancelledError
from ..hashing import LocalHashes, ProgressFn, hash_files
from .db import LibraryDB
from .records import LibraryFile
from .scan_plan import ScanPlan, Todo
from .scan_writer import BatchWriter
from .walk import MODEL_EXTENSIONS, FoundFile, is_model_file, iter_model_files

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
        return self.count_files()

    def count_files(self, *, identified: bool | None = None) -> int:
        """How many (None: all; True: identified; False: not), counted in SQL."""
        where = {None: "", True: "version_id IS NOT NULL", False: "version_id IS NULL"}
        return self.db.count_files(self.roots, where=where[identified])

    def unidentified(self) -> Iterator[LibraryFile]:
        """The files with no known version, streamed in path order."""
        return self.db.iter_files(self.roots, where="version_id IS NULL")

    def __getitem__(self, index):
        return list(self)[index]

    def __repr__(self) -> str:
        return f"ScanItems({len(self)} files under {len(self.roots)} folders)"


@dataclass
class ScanResult:
    """What a scan found and did."""

    items: ScanItems
    hashed: int = 0  # files read this time
    reused: int = 0  # hashes taken from a rename or A1111's cache instead of reading
    removed: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def scanned(self) -> int:
        return len(self.items)


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
    result = ScanResult(items=ScanItems(db, [d for _, d in absolute]))
    writer = BatchWriter(db)
    plan = ScanPlan(db, absolute, writer, result, a1111_cache=a1111_cache, cancel=cancel)
    try:
        _hash(plan, writer, result, workers, on_progress, cancel, autov3_folders)
    finally:
        writer.close()
    if cancel is not None and cancel.is_set():
        result.cancelled = True
    if not result.cancelled and plan.walked_all and plan.gone:
        db.forget_paths(plan.gone)
        result.removed = [Path(p) for p in sorted(plan.gone)]
    return result


def _hash(
    plan: ScanPlan,
    writer: BatchWriter,
    result: ScanResult,
    workers: int | None,
    on_progress: ProgressFn | None,
    cancel: threading.Event | None,
    autov3_folders: frozenset[str] | None,
) -> None:
    """Read the files ``plan`` yields on ``workers`` threads and record their hashes.

    ``on_progress(bytes_read, bytes_to_read)``: the total is None until the walk is done.
    """
    done = [0]
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            done[0] += n
            now = done[0]
        if on_progress is not None:
            on_progress(now, plan.total)

    def autov3_for(t: Todo) -> bool | None:
        if autov3_folders is None or t.folder in autov3_folders:
            return None  # by extension: safetensors
        return False

    outcomes = hash_files(
        plan,
        workers,
        cancel=cancel,
        on_bytes=on_bytes if on_progress is not None else None,
        with_autov3=autov3_for,
        size_of=_size_of,
        on_idle=writer.flush,
        seen_of=_seen_of,
    )
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
        writer.add(_hashed_row(t, outcome, time.time()))
        result.hashed += 1
    if on_progress is not None and done[0] and plan.total is not None:
        on_progress(done[0], plan.total)  # the total, once the walk is known to be over


def _hashed_row(t: Todo, h: LocalHashes, now: float) -> tuple:
    """``file_row`` of a file just read, built directly (it runs once a file)."""
    return (t.path, t.folder, t.size, t.mtime_ns, t.dev, t.ino, h.sha256, h.autov1, h.autov2,
            h.autov3, "scan", None, None, None, None, "pending", None, None, now)  # fmt: skip


def _size_of(t: Todo) -> int:
    return t.size


def _seen_of(t: Todo) -> tuple[int, int]:
    return t.size, t.mtime_ns


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
