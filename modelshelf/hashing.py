"""Streamed file hashing: SHA256, AutoV1, AutoV2 and AutoV3 in one read.

Every digest is upper-case hex, as Civitai stores it; compare case-insensitively.

- ``sha256_file`` is the fast path for verifying a download (full SHA256 only).
- ``hash_file`` reads a file once and returns :class:`LocalHashes`: full SHA256, AutoV2
  (``sha256[:10]``), AutoV1 (sha256 of the 64 KiB at offset 1 MiB, first 8 hex) and, for
  safetensors, AutoV3 (sha256 of the bytes after the header, first 12 hex).
- ``hash_files`` hashes several files at once on threads (hashlib releases the GIL while
  it digests a large buffer, so two threads use two cores).

Reads use ``readinto`` on one reusable buffer, so memory stays constant whatever the size.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from .errors import UserCancelledError

__all__ = [
    "BUFFER_SIZE",
    "LocalHashes",
    "ProgressFn",
    "autov1",
    "autov3",
    "hash_file",
    "hash_files",
    "safetensors_payload_offset",
    "sha256_file",
]

BUFFER_SIZE = 1024 * 1024
SMALL_FILE = 1024 * 1024  # read whole, in one call; many of them go to a worker as one task
SMALL_BATCH_BYTES = 8 * 1024 * 1024
SMALL_BATCH_FILES = 256
AUTOV1_OFFSET = 0x100000
AUTOV1_LENGTH = 0x10000
ProgressFn = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class LocalHashes:
    """The hashes of one file on disk (upper-case hex) and its size in bytes."""

    sha256: str
    autov2: str
    autov3: str | None
    size: int
    autov1: str | None = None

    def to_file_hashes(self):
        """The same hashes as a :class:`modelshelf.types.FileHashes`."""
        from .types import FileHashes

        return FileHashes(
            sha256=self.sha256, autov1=self.autov1, autov2=self.autov2, autov3=self.autov3
        )


def safetensors_payload_offset(path: str | os.PathLike[str]) -> int | None:
    """Where a safetensors file's tensor bytes start (8 + header length), or None if not one."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        size = os.fstat(fh.fileno()).st_size
    return _payload_offset(head, size)


def _payload_offset(head: bytes, size: int) -> int | None:
    if len(head) < 8:
        return None
    (header_len,) = struct.unpack("<Q", head)
    end = 8 + header_len
    return end if end <= size else None


def _is_safetensors_name(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith((".safetensors", ".sft"))


def _check_cancel(cancel: threading.Event | None, path) -> None:
    if cancel is not None and cancel.is_set():
        raise UserCancelledError(f"Hashing of {os.fspath(path)} was cancelled.")


def sha256_file(
    path: str | os.PathLike[str],
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    buffer_size: int = BUFFER_SIZE,
) -> str:
    """Full-file SHA256 as upper-case hex, streamed in ``buffer_size`` reads."""
    digest = hashlib.sha256()
    buf = bytearray(buffer_size)
    view = memoryview(buf)
    done = 0
    with open(path, "rb", buffering=0) as fh:
        total = os.fstat(fh.fileno()).st_size
        _advise_sequential(fh.fileno())
        while True:
            _check_cancel(cancel, path)
            n = fh.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            done += n
            if on_progress is not None:
                on_progress(done, total)
    return digest.hexdigest().upper()


def hash_file(
    path: str | os.PathLike[str],
    *,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    with_autov3: bool | None = None,
    buffer_size: int = BUFFER_SIZE,
) -> LocalHashes:
    """Read ``path`` once and return every hash Civitai knows it by.

    AutoV3 is computed for safetensors (by extension, or ``with_autov3=True``) when the
    header length is sane; it costs a second digest of the same bytes, not a second read.
    """
    with open(path, "rb", buffering=0) as fh:
        total = os.fstat(fh.fileno()).st_size
        if with_autov3 is None:
            with_autov3 = _is_safetensors_name(path)
        whole = min(SMALL_FILE, buffer_size)
        if total < whole:  # smaller than one buffer: read whole, hashed without chunking
            _check_cancel(cancel, path)
            data = fh.read(whole)
            if len(data) < whole:  # as expected: the whole file in one read
                hashes = _hash_bytes(data, with_autov3)
                if on_progress is not None:
                    on_progress(len(data), total)
                return hashes
            fh.seek(0)  # it grew since: read it in chunks like any large file
        return _hash_stream(fh, path, total, with_autov3, on_progress, cancel, buffer_size)


def _hash_bytes(data: bytes, with_autov3: bool) -> LocalHashes:
    """The hashes of a small file read whole (under 2 MiB: no AutoV1)."""
    sha = hashlib.sha256(data).hexdigest().upper()
    v3 = None
    if with_autov3:
        payload_at = _payload_offset(data[:8], len(data))
        if payload_at is not None:
            v3 = hashlib.sha256(memoryview(data)[payload_at:]).hexdigest()[:12].upper()
    return LocalHashes(sha256=sha, autov2=sha[:10], autov3=v3, size=len(data))


def _hash_stream(fh, path, total, with_autov3, on_progress, cancel, buffer_size) -> LocalHashes:
    full = hashlib.sha256()
    v1 = hashlib.sha256()
    v3 = None
    buf = bytearray(buffer_size)
    view = memoryview(buf)
    pos = 0
    _advise_sequential(fh.fileno())
    payload_at = None
    while True:
        _check_cancel(cancel, path)
        n = fh.readinto(buf)
        if not n:
            break
        chunk = view[:n]
        if pos == 0 and with_autov3:
            payload_at = _payload_offset(bytes(chunk[:8]), total)
            if payload_at is not None:
                v3 = hashlib.sha256()
        full.update(chunk)
        end = pos + n
        if v3 is not None and end > payload_at:
            v3.update(chunk[max(0, payload_at - pos) :])
        if end > AUTOV1_OFFSET and pos < AUTOV1_OFFSET + AUTOV1_LENGTH:
            lo = max(0, AUTOV1_OFFSET - pos)
            hi = min(n, AUTOV1_OFFSET + AUTOV1_LENGTH - pos)
            v1.update(chunk[lo:hi])
        pos = end
        if on_progress is not None:
            on_progress(pos, total)
    sha = full.hexdigest().upper()
    # Civitai (HashTask.cs) leaves AutoV1 out for files under 2 MiB
    has_v1 = pos >= 2 * 1024 * 1024
    return LocalHashes(
        sha256=sha,
        autov2=sha[:10],
        autov3=v3.hexdigest()[:12].upper() if v3 is not None else None,
        size=pos,
        autov1=v1.hexdigest()[:8].upper() if has_v1 else None,
    )


def autov1(path: str | os.PathLike[str]) -> str:
    """A1111's old ``model_hash``: sha256 of the 64 KiB at offset 1 MiB, first 8 hex."""
    with open(path, "rb") as fh:
        fh.seek(AUTOV1_OFFSET)
        data = fh.read(AUTOV1_LENGTH)
    return hashlib.sha256(data).hexdigest()[:8].upper()


def autov3(path: str | os.PathLike[str]) -> str | None:
    """The AutoV3 ("addnet") hash of a safetensors file, or None if it is not one."""
    offset = safetensors_payload_offset(path)
    if offset is None:
        return None
    digest = hashlib.sha256()
    buf = bytearray(BUFFER_SIZE)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        while n := fh.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()[:12].upper()


def hash_files(
    paths: Iterable[str | os.PathLike[str]],
    workers: int | None = None,
    *,
    cancel: threading.Event | None = None,
    on_bytes: Callable[[int], None] | None = None,
    with_autov3: bool | None | Callable[[Any], bool | None] = None,
    size_of: Callable[[Any], int] | None = None,
    on_idle: Callable[[], None] | None = None,
) -> Iterator[tuple[Any, LocalHashes | Exception]]:
    """Hash many files on ``workers`` threads; yield ``(path, hashes or error)`` as each ends.

    Paths are yielded as given, in completion order. Errors (unreadable file, vanished
    file) are yielded, not raised, so one bad file does not stop a scan. When ``cancel`` is
    set no new file is started, running ones stop at their next read and yield
    :class:`CancelledError`. ``on_bytes(n)`` is called from worker threads with each
    chunk's size; ``with_autov3`` is passed to :func:`hash_file` (None: safetensors by
    extension), or called with each path. With ``size_of`` (each path's size, known from
    a walk) small files go to a worker many at a time, so the hand-off does not cost more
    than reading them. ``on_idle()`` is called on the caller's thread each time it is about
    to wait for a result (a chance to commit what arrived so far).
    """
    workers = max(1, workers or os.cpu_count() or 1)
    pending: set[Future] = set()
    tasks = _tasks(iter(paths), size_of)

    # also stops the workers when the caller goes away (Ctrl-C, a closed generator)
    stop = _EitherEvent(cancel)

    def run(batch: list) -> list[tuple[Any, LocalHashes | Exception]]:
        out: list[tuple[Any, LocalHashes | Exception]] = []
        for p in batch:
            try:
                _check_cancel(stop, p)  # type: ignore[arg-type]
                hashes = hash_file(
                    p,
                    cancel=stop,  # type: ignore[arg-type]
                    on_progress=_progress_adapter(on_bytes),
                    with_autov3=with_autov3(p) if callable(with_autov3) else with_autov3,
                )
            except Exception as exc:  # noqa: BLE001 - yielded to the caller, one per file
                out.append((p, exc))
            else:
                out.append((p, hashes))
        return out

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelshelf-hash") as pool:
        try:
            exhausted = False
            while True:
                while not exhausted and len(pending) < workers * 2:
                    batch = None if stop.is_set() else next(tasks, None)
                    if batch is None:
                        exhausted = True
                        break
                    pending.add(pool.submit(run, batch))
                if not pending:
                    return
                done, pending = wait(pending, timeout=0, return_when=FIRST_COMPLETED)
                if not done:
                    if on_idle is not None:
                        on_idle()
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield from fut.result()
        except BaseException:
            stop.own.set()
            raise


def _tasks(paths: Iterator, size_of: Callable[[Any], int] | None) -> Iterator[list]:
    """One path per task, or runs of small files grouped up to a few MiB per task."""
    batch: list = []
    batch_bytes = 0
    for p in paths:
        size = size_of(p) if size_of is not None else SMALL_FILE
        if size >= SMALL_FILE:
            if batch:  # keep the given order: the small files before come first
                yield batch
                batch, batch_bytes = [], 0
            yield [p]
            continue
        batch.append(p)
        batch_bytes += size
        if batch_bytes >= SMALL_BATCH_BYTES or len(batch) >= SMALL_BATCH_FILES:
            yield batch
            batch, batch_bytes = [], 0
    if batch:
        yield batch


def _progress_adapter(on_bytes: Callable[[int], None] | None) -> ProgressFn | None:
    if on_bytes is None:
        return None
    last = [0]

    def report(done: int, _total: int | None) -> None:
        on_bytes(done - last[0])
        last[0] = done

    return report


class _EitherEvent:
    """Set when either the caller's cancel event or our own stop event is set."""

    def __init__(self, other: threading.Event | None):
        self.other = other
        self.own = threading.Event()

    def is_set(self) -> bool:
        return self.own.is_set() or (self.other is not None and self.other.is_set())


def _advise_sequential(fd: int) -> None:
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        try:
            advise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except OSError:
            pass
