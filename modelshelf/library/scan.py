"""Walk the model folders, record every model file and hash the ones not known yet.

A file whose size and mtime match the database is never read again; a file that was
renamed or moved (same device, inode, size and mtime) keeps its hashes and ids; a fresh
entry of A1111's own hash cache is reused. Only the rest is read, several files at once.
Each result is committed as it arrives, so an interrupted scan keeps its work and the
next one carries on. Rows of files that are gone are dropped only after a complete walk.
"""

from __future__ import annotations

import logging
import os
import stat as stat_mod
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserCancelledError
from ..hashing import ProgressFn, hash_files
from .db import LibraryDB, LibraryFile

if TYPE_CHECKING:
    from ..layout import HostLayout
    from .a1111_cache import A1111HashCache

__all__ = [
    "AUTOV3_FOLDERS",
    "MODEL_EXTENSIONS",
    "FoundFile",
    "ScanResult",
    "is_model_file",
    "iter_model_files",
    "scan_layout",
    "scan_library",
]

log = logging.getLogger(__name__)

MODEL_EXTENSIONS = frozenset(
    {
        ".safetensors",
        ".ckpt",
        ".pt",
        ".pth",
        ".bin",
        ".gguf",
        ".sft",
        ".pt2",
        ".pkl",
        ".onnx",
    }
)

# Folders whose files Civitai lookups may need by AutoV3 (A1111's Lora hash, the by-hash
# fallback): computed in the scan's one read there, on demand elsewhere (it doubles the
# CPU cost of hashing a safetensors file).
AUTOV3_FOLDERS = frozenset({"loras", "lycoris", "embeddings", "hypernetworks"})


@dataclass(frozen=True)
class FoundFile:
    """A model file found on disk: its folder key, path, the folder it was found under."""

    folder: str
    path: Path
    root: Path
    st: os.stat_result

    @property
    def relpath(self) -> str:
        return os.path.relpath(self.path, self.root)


@dataclass
class ScanResult:
    """What a scan found and did."""

    items: list[LibraryFile] = field(default_factory=list)
    hashed: int = 0  # files read this time
    reused: int = 0  # hashes taken from a rename or A1111's cache instead of reading
    removed: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def scanned(self) -> int:
        return len(self.items)


def is_model_file(name: str) -> bool:
    """A model file by extension (``.part`` downloads and sidecars are not)."""
    return os.path.splitext(name)[1].lower() in MODEL_EXTENSIONS


def iter_model_files(dirs: Iterable[tuple[str, Path]]) -> Iterator[FoundFile]:
    """Every model file under ``dirs`` (following symlinks, each real folder once).

    Hidden folders (``.git``, ``.cache``) are skipped; broken links are ignored.
    """
    visited: set[tuple[int, int]] = set()
    seen_paths: set[str] = set()
    for key, root in dirs:
        root = Path(root)
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            try:
                st = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                continue
            if (st.st_dev, st.st_ino) in visited:
                dirnames[:] = []  # a symlink loop or a folder reached twice
                continue
            visited.add((st.st_dev, st.st_ino))
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not is_model_file(name):
                    continue
                path = os.path.join(dirpath, name)
                if path in seen_paths:
                    continue
                try:
                    fst = os.stat(path)
                except OSError:
                    continue
                if not stat_mod.S_ISREG(fst.st_mode):
                    continue
                seen_paths.add(path)
                yield FoundFile(folder=key, path=Path(path), root=root, st=fst)


def _same_stat(row: LibraryFile, st: os.stat_result) -> bool:
    return row.sha256 is not None and row.size == st.st_size and row.mtime_ns == st.st_mtime_ns


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
    """
    dirs = [(k, Path(os.path.abspath(d))) for k, d in dirs]
    known = {str(f.path): f for f in db.all_files()}
    by_identity = {
        (f.dev, f.ino, f.size, f.mtime_ns): f for f in known.values() if f.sha256 and f.ino
    }
    result = ScanResult()
    to_hash: dict[str, FoundFile] = {}
    found = list(iter_model_files(dirs))
    title_users = _title_users(found, a1111_cache)

    for ff in found:
        if cancel is not None and cancel.is_set():
            break
        st = ff.st
        row = known.get(str(ff.path))
        if row is not None and _same_stat(row, st):
            if row.folder != ff.folder or row.ino != st.st_ino:
                _record(db, ff, row, source="scan", keep_ids=True)
            continue
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        twin = by_identity.get(ident)
        if twin is not None:  # renamed, moved or hard-linked: same bytes
            _record(db, ff, twin, source="scan", keep_ids=True)
            result.reused += 1
            continue
        cached = _from_a1111(a1111_cache, ff, title_users)
        if cached is not None:
            db.upsert_file(
                ff.path,
                size=st.st_size,
                mtime=st.st_mtime_ns,
                sha256=cached.sha256,
                autov3=cached.autov3,
                source="a1111-cache",
                folder=ff.folder,
                dev=st.st_dev,
                ino=st.st_ino,
            )
            result.reused += 1
            continue
        to_hash[str(ff.path)] = ff

    total = sum(ff.st.st_size for ff in to_hash.values())
    done = [0]
    lock = threading.Lock()

    def on_bytes(n: int) -> None:
        with lock:
            done[0] += n
            now = done[0]
        if on_progress is not None:
            on_progress(now, total)

    if on_progress is not None and to_hash:
        on_progress(0, total)

    def autov3_for(path: Path) -> bool | None:
        if autov3_folders is None or to_hash[str(path)].folder in autov3_folders:
            return None  # by extension: safetensors
        return False

    outcomes = hash_files(
        list(to_hash), workers, cancel=cancel, on_bytes=on_bytes, with_autov3=autov3_for
    )
    for path, outcome in outcomes:
        ff = to_hash[str(path)]
        if isinstance(outcome, UserCancelledError):
            result.cancelled = True
            continue
        if isinstance(outcome, Exception):
            result.errors.append((ff.path, str(outcome)))
            log.warning("Could not hash %s: %s", ff.path, outcome)
            continue
        try:
            after = os.stat(ff.path)
        except OSError as exc:
            result.errors.append((ff.path, str(exc)))
            continue
        if after.st_size != ff.st.st_size or after.st_mtime_ns != ff.st.st_mtime_ns:
            result.errors.append((ff.path, "changed while it was read; scan again"))
            continue
        db.upsert_file(
            ff.path,
            size=outcome.size,
            mtime=after.st_mtime_ns,
            sha256=outcome.sha256,
            autov1=outcome.autov1,
            autov2=outcome.autov2,
            autov3=outcome.autov3,
            source="scan",
            folder=ff.folder,
            dev=after.st_dev,
            ino=after.st_ino,
        )
        result.hashed += 1
    if cancel is not None and cancel.is_set():
        result.cancelled = True

    if not result.cancelled:
        seen = {str(ff.path) for ff in found}
        result.removed = db.forget_missing([d for _, d in dirs], seen=seen)
    rows = {str(f.path): f for f in db.all_files()}
    result.items = [rows[str(ff.path)] for ff in found if str(ff.path) in rows]
    return result


def _record(
    db: LibraryDB, ff: FoundFile, src: LibraryFile, *, source: str, keep_ids: bool
) -> LibraryFile:
    st = ff.st
    return db.upsert_file(
        ff.path,
        size=st.st_size,
        mtime=st.st_mtime_ns,
        sha256=src.sha256,
        autov1=src.autov1,
        autov2=src.autov2,
        autov3=src.autov3,
        model_id=src.model_id if keep_ids else None,
        version_id=src.version_id if keep_ids else None,
        file_id=src.file_id if keep_ids else None,
        source=src.hash_source or source,
        id_source=src.id_source if keep_ids else None,
        folder=ff.folder,
        dev=st.st_dev,
        ino=st.st_ino,
    )


def _title_users(found: list[FoundFile], cache: A1111HashCache | None) -> dict[str, int] | None:
    """How many files of ours map to each A1111 title (an ambiguous title is not used)."""
    if not cache:
        return None
    counts: dict[str, int] = {}
    for ff in found:
        for title in cache.titles_for(ff.folder, ff.relpath):
            counts[title] = counts.get(title, 0) + 1
    return counts


def _from_a1111(cache, ff: FoundFile, title_users: dict[str, int] | None):
    if not cache or title_users is None:
        return None
    titles = [t for t in cache.titles_for(ff.folder, ff.relpath) if title_users.get(t) == 1]
    hit = cache.lookup(titles, ff.st.st_mtime)
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
