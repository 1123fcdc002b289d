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
from collections import deque
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
SMALL_FILE = 1024 * 1024  # read whole, in one call (on the caller's thread in hash_files)
AUTOV1_OFFSET = 0x100000
AUTOV1_LENGTH = 0x10000
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
ProgressFn = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class LocalHashes:
    """The hashes of one file on disk (upper-case hex), its size in bytes and its mtime
    (ns) when the read ended (``hash_file``), to tell a file that changed meanwhile."""

    sha256: str
    autov2: str
    autov3: str | None
    size: int
    autov1: str | None = None
    mtime_ns: int | None = None

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
    seen: tuple[int, int] | None = None,
) -> LocalHashes:
    """Read ``path`` once and return every hash Civitai knows it by.

    AutoV3 is computed for safetensors (by extension, or ``with_autov3=True``) when the
    header length is sane; it costs a second digest of the same bytes, not a second read.
    A file smaller than one buffer costs five system calls: open, fstat, read, fstat, close.
    ``seen``: the ``(size, mtime_ns)`` a walk just saw. A small file of that size then
    costs three (open, read, close; on some machines a system call costs as much as
    hashing a small file) and its hashes carry that mtime: if the file changes after the
    read, its mtime differs from the stored one and the next scan reads it again.
    """
    if with_autov3 is None:
        with_autov3 = _is_safetensors_name(path)
    _check_cancel(cancel, path)
    whole = min(SMALL_FILE, buffer_size)
    fd = os.open(path, _OPEN_FLAGS)
    try:
        if seen is not None and seen[0] < whole:
            first = os.read(fd, seen[0] + 1)
            if len(first) == seen[0]:
                hashes = _hash_bytes(first, with_autov3, seen[1])
                if on_progress is not None:
                    on_progress(len(first), len(first))
                return hashes
            os.lseek(fd, 0, os.SEEK_SET)  # another size than the walk saw: the usual way
        # a read sized to the file: asking for a whole buffer allocates (and frees) one
        # per call, which costs more than reading and hashing a small file
        first = os.read(fd, min(whole, os.fstat(fd).st_size + 1))
        st = os.fstat(fd)
        if len(first) < whole and st.st_size == len(first):  # all of it, in one read
            hashes = _hash_bytes(first, with_autov3, st.st_mtime_ns)
            if on_progress is not None:
                on_progress(len(first), len(first))
            return hashes
        with open(fd, "rb", buffering=0, closefd=False) as fh:
            return _hash_stream(
                fh, path, st.st_size, first, with_autov3, on_progress, cancel, buffer_size
            )
    finally:
        os.close(fd)


def _hash_bytes(data: bytes, with_autov3: bool, mtime_ns: int) -> LocalHashes:
    """The hashes of a small file read whole (under 2 MiB: no AutoV1)."""
    sha = hashlib.sha256(data).hexdigest().upper()
    v3 = None
    if with_autov3:
        payload_at = _payload_offset(data[:8], len(data))
        if payload_at is not None:
            v3 = (
                hashlib.sha256(data[payload_at:]).hexdigest()[:12].upper()
            )  # under 1 MiB: a copy is cheap
    return LocalHashes(sha256=sha, autov2=sha[:10], autov3=v3, size=len(data), mtime_ns=mtime_ns)


def _hash_stream(
    fh, path, total: int, first: bytes, with_autov3, on_progress, cancel, buffer_size: int
) -> LocalHashes:
    """Hash ``first`` (the bytes read already), then the rest of ``fh`` chunk by chunk."""
    full = hashlib.sha256()
    v1 = hashlib.sha256()
    v3 = None
    payload_at: int | None = None
    if with_autov3:
        payload_at = _payload_offset(first[:8], total)
        if payload_at is not None:
            v3 = hashlib.sha256()
    buf = bytearray(buffer_size)
    view = memoryview(buf)
    _advise_sequential(fh.fileno())
    pos = 0
    chunk = memoryview(first)
    while chunk:
        n = len(chunk)
        full.update(chunk)
        end = pos + n
        if v3 is not None and payload_at is not None and end > payload_at:
            v3.update(chunk[max(0, payload_at - pos) :])
        if end > AUTOV1_OFFSET and pos < AUTOV1_OFFSET + AUTOV1_LENGTH:
            lo = max(0, AUTOV1_OFFSET - pos)
            hi = min(n, AUTOV1_OFFSET + AUTOV1_LENGTH - pos)
            v1.update(chunk[lo:hi])
        pos = end
        if on_progress is not None:
            on_progress(pos, total)
        _check_cancel(cancel, path)
        chunk = view[: fh.readinto(buf)]
    sha = full.hexdigest().upper()
    # Civitai (HashTask.cs) leaves AutoV1 out for files under 2 MiB
    has_v1 = pos >= 2 * 1024 * 1024
    return LocalHashes(
        sha256=sha,
        autov2=sha[:10],
        autov3=v3.hexdigest()[:12].upper() if v3 is not None else None,
        size=pos,
        autov1=v1.hexdigest()[:8].upper() if has_v1 else None,
        mtime_ns=os.fstat(fh.fileno()).st_mtime_ns,
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
    idle_after: float = 0.25,
    seen_of: Callable[[Any], tuple[int, int]] | None = None,
) -> Iterator[tuple[Any, LocalHashes | Exception]]:
    """Hash many files on ``workers`` threads; yield ``(path, hashes or error)`` as each ends.

    Paths are yielded as given, in completion order. Errors (unreadable file, vanished
    file) are yielded, not raised, so one bad file does not stop a scan. When ``cancel`` is
    set no new file is started, running ones stop at their next read and yield
    :class:`UserCancelledError`. ``on_bytes(n)`` is called with each chunk's size (from worker
    threads); ``with_autov3`` is passed to :func:`hash_file` (None: safetensors by
    extension), or called with each path.

    ``paths`` is consumed as it goes (a generator may walk the disk meanwhile). With
    ``size_of`` (each path's size, known from a walk) files under :data:`SMALL_FILE` are
    read on the caller's thread as they come while the workers read the large ones:
    handing a tiny file to a thread costs more than reading it; ``seen_of(path)`` gives
    the ``(size, mtime_ns)`` the walk saw (see :func:`hash_file`). ``on_idle()`` is called on
    the caller's thread whenever no result came for ``idle_after`` seconds (a chance to
    commit what arrived so far).
    """
    workers = max(1, workers or os.cpu_count() or 1)
    room = workers * 2  # files given to the workers at once (and large ones waiting)
    it = iter(paths)
    waiting: deque = deque()  # large files not given to a worker yet
    pending: set[Future] = set()
    owner: dict[Future, Any] = {}

    # also stops the workers when the caller goes away (Ctrl-C, a closed generator)
    stop = _EitherEvent(cancel)

    def run(p) -> LocalHashes:
        _check_cancel(stop, p)  # type: ignore[arg-type]
        return hash_file(
            p,
            cancel=stop,  # type: ignore[arg-type]
            on_progress=_progress_adapter(on_bytes),
            with_autov3=with_autov3(p) if callable(with_autov3) else with_autov3,
        )

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="modelshelf-hash") as pool:
        try:
            exhausted = False
            while True:
                while waiting and len(pending) < room:
                    p = waiting.popleft()
                    fut = pool.submit(run, p)
                    owner[fut] = p
                    pending.add(fut)
                for fut in [f for f in pending if f.done()] if pending else ():
                    pending.discard(fut)
                    exc = fut.exception()  # an Exception is reported; anything else re-raised
                    yield owner.pop(fut), (exc if isinstance(exc, Exception) else fut.result())
                if stop.is_set():
                    exhausted = True
                    waiting.clear()  # never started: not reported
                if not exhausted and (
                    len(pending) < room or (size_of is not None and len(waiting) < room)
                ):
                    p = next(it, _END)
                    if p is _END:
                        exhausted = True
                    elif size_of is not None and size_of(p) < SMALL_FILE:
                        seen = seen_of(p) if seen_of is not None else None
                        yield p, _run_inline(p, stop, with_autov3, on_bytes, seen)
                    else:
                        waiting.append(p)
                    continue
                if not pending:
                    if exhausted:
                        return
                    continue
                done, _ = wait(
                    pending,
                    timeout=None if on_idle is None else idle_after,
                    return_when=FIRST_COMPLETED,
                )
                if not done:
                    on_idle()  # type: ignore[misc]
        except BaseException:
            stop.own.set()
            raise


_END = object()


def _run_inline(p, stop, with_autov3, on_bytes, seen=None) -> LocalHashes | Exception:
    """Hash one small file on the caller's thread (one progress report: it is one read)."""
    if stop.is_set():
        return UserCancelledError(f"Hashing of {os.fspath(p)} was cancelled.")
    try:
        v3 = with_autov3(p) if callable(with_autov3) else with_autov3
        hashes = hash_file(p, with_autov3=v3, seen=seen)
    except Exception as exc:  # noqa: BLE001 - yielded to the caller, one per file
        return exc
    if on_bytes is not None:
        on_bytes(hashes.size)
    return hashes


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
