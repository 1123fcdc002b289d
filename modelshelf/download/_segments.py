"""Writing a download's bytes into the ``.part``: one or several connections, hashed as it goes.

A download is a list of :class:`Segment` (``[start, end)`` of the file, of which the
first ``written`` bytes are on disk). One connection is one segment; several connections
split the rest of the file into equal segments, each fetched with ``Range`` by its own
thread and written with ``os.pwrite`` into the preallocated ``.part``.

The SHA256 is streamed, never a second read of the finished file. :class:`HashFront`
keeps the offset up to which the file is hashed (the "front"). Bytes a worker writes AT
the front are hashed straight from memory; bytes written ahead of it (by the workers of
later segments) are left alone until the front reaches them, and are then read back once
from the page cache. So with four connections segment 0 is hashed as it arrives; when it
is complete the front re-reads what segment 1 has written so far, then follows segment
1's worker in memory, and so on. On a restart the front re-reads (once) what the
``.part`` already holds.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DiskSpaceError, ModelShelfError, UserCancelledError
from ._partfile import hash_file_range, write_at

__all__ = ["BodyReader", "HashFront", "Progress", "Segment", "split_segments"]

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


@dataclass
class Segment:
    """Bytes ``[start, end)`` of the file (``end`` None: until the body ends)."""

    start: int
    end: int | None
    written: int = 0

    @property
    def pos(self) -> int:
        return self.start + self.written

    @property
    def done(self) -> bool:
        return self.end is not None and self.pos >= self.end

    def covers(self, offset: int) -> bool:
        return self.start <= offset and (self.end is None or offset < self.end)

    def as_list(self) -> list[int]:
        return [self.start, -1 if self.end is None else self.end, self.written]

    @classmethod
    def from_list(cls, item: list[int]) -> Segment:
        start, end, written = (int(x) for x in item)
        return cls(start, None if end < 0 else end, max(0, written))


def split_segments(start: int, total: int, parts: int, min_size: int = 2**20) -> list[Segment]:
    """``[start, total)`` cut into at most ``parts`` segments of at least ``min_size``."""
    remaining = total - start
    parts = max(1, min(parts, remaining // max(1, min_size) or 1))
    size = -(-remaining // parts)
    return [Segment(s, min(s + size, total)) for s in range(start, total, size)]


class HashFront:
    """The streaming SHA256 of a file written out of order by several segments.

    Every digest update runs, in order, on one helper thread (hashlib releases the GIL on
    large buffers), so receiving, writing and hashing overlap on two cores. Receive
    buffers come from a small pool (:meth:`take_buffer`); a buffer handed to
    :meth:`wrote` returns to the pool once hashed, which bounds memory.
    """

    def __init__(self, fd: int, segments: list[Segment], buffers: int = 6):
        self.fd = fd
        self.lock = threading.Lock()
        self.segments = sorted(segments, key=lambda s: s.start)
        self.digest = hashlib.sha256()
        self.pos = 0
        self.reread = 0  # bytes read back from the file (what arrived ahead of the front)
        self._free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(buffers):
            self._free.put(bytearray(CHUNK))
        self._jobs: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._hasher, daemon=True, name="modelshelf-hash")
        self._thread.start()

    # -- the hasher thread ------------------------------------------------------------
    def _hasher(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                kind, a, b = job
                if self._error is None:
                    if kind == "mem":
                        self.digest.update(a)
                    elif kind == "file":
                        hash_file_range(self.fd, self.digest, a, b)
            except BaseException as exc:  # reported by hexdigest()
                self._error = exc
            finally:
                if job is not None and job[0] == "mem":
                    self._free.put(job[2])
                self._jobs.task_done()

    def take_buffer(self, cancel: threading.Event | None = None) -> bytearray:
        """A free receive buffer (waits while all are queued for hashing)."""
        while True:
            try:
                return self._free.get(timeout=0.2)
            except queue.Empty:
                check_cancel(cancel)

    def give_back(self, buf: bytearray) -> None:
        self._free.put(buf)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    # -- the front --------------------------------------------------------------------
    def reset(self, segments: list[Segment]) -> None:
        """Start the hash over (call before truncating the file)."""
        with self.lock:
            self._jobs.join()
            self._error = None
            self.digest = hashlib.sha256()
            self.segments = sorted(segments, key=lambda s: s.start)
            self.pos = 0

    def catch_up(self) -> None:
        """Hash, from the file, what is already written contiguously at the front."""
        with self.lock:
            self._advance()

    def _advance(self) -> None:
        while True:
            seg = next((s for s in self.segments if s.covers(self.pos)), None)
            if seg is None:
                return
            avail = seg.pos
            if avail <= self.pos:
                return
            self._jobs.put(("file", self.pos, avail))  # re-read from the page cache
            self.reread += avail - self.pos
            self.pos = avail

    def wrote(self, seg: Segment, offset: int, data: memoryview, buf: bytearray) -> None:
        """Record that ``data`` (a view of pool buffer ``buf``) was written at ``offset``."""
        with self.lock:
            seg.written += len(data)
            if offset != self.pos:
                self._free.put(buf)  # ahead of the front: re-read later
                return
            self._jobs.put(("mem", data, buf))
            self.pos += len(data)
            self._advance()

    def snapshot(self) -> list[list[int]]:
        with self.lock:
            return [s.as_list() for s in self.segments]

    def hexdigest(self) -> str:
        self._jobs.join()
        if self._error is not None:
            raise self._error
        return self.digest.hexdigest().upper()


class Progress:
    """Calls ``on_progress(done, total)`` at most every 50 ms (and at the end)."""

    def __init__(self, on_progress: Callable[[int, int | None], None] | None, done: int):
        self.callback = on_progress
        self.done = done
        self.received = 0  # bytes that came over the network in this call
        self.total: int | None = None
        self._lock = threading.Lock()
        self._last = 0.0

    def add(self, n: int, *, force: bool = False, received: bool = False) -> None:
        with self._lock:
            self.done += n
            if received:
                self.received += n
            now = time.monotonic()
            if self.callback is None or (not force and now - self._last < 0.05):
                return
            self._last = now
            done, total = self.done, self.total
        try:
            self.callback(done, total)
        except ModelShelfError:
            raise
        except Exception:  # an observer's bug never stops a download
            log.exception("progress callback failed")


def write_chunk(fd: int, data: memoryview | bytes, offset: int) -> None:
    """``pwrite`` with a full disk turned into :class:`DiskSpaceError`."""
    try:
        write_at(fd, data, offset)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            raise DiskSpaceError(
                "The disk filled up during the download; free some space and run it again "
                "(the partial file is kept and the download resumes)."
            ) from None
        raise


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise UserCancelledError(
            "The download was cancelled; the partial file is kept and resumes next time."
        )


class BodyReader:
    """Reads a response body straight into our buffers.

    With a plain ``Content-Length`` body it uses the socket's buffered ``readinto1``
    (no bytes object per chunk) and returns what arrived within ~0.1 s, so a slow link
    still reports progress and notices a cancel; otherwise ``urllib3``'s ``read``.
    """

    FILL_TIME = 0.1

    def __init__(self, response):
        self.response = response
        headers = response.headers
        length = headers.get("Content-Length", "")
        plain = (
            headers.get("Content-Encoding", "identity").lower() == "identity"
            and "chunked" not in headers.get("Transfer-Encoding", "").lower()
            and length.isdigit()
        )
        fp = getattr(getattr(response.raw, "_fp", None), "fp", None)
        self.readinto1 = getattr(fp, "readinto1", None) if plain else None
        self.remaining = int(length) if plain else 0  # counted only when plain
        self.pending: OSError | None = None

    def fill(self, view: memoryview) -> int:
        if self.readinto1 is None:
            data = self.response.raw.read(len(view))
            view[: len(data)] = data
            return len(data)
        if self.pending is not None:
            error, self.pending = self.pending, None
            raise error
        view = view[: min(len(view), self.remaining)]
        filled = 0
        started = time.monotonic()
        while filled < len(view):
            try:
                n = self.readinto1(view[filled:])
            except OSError as exc:  # keep what arrived; raise on the next call
                if not filled:
                    raise
                self.pending = exc
                break
            if not n:
                if self.remaining - filled > 0 and not filled:
                    raise ConnectionError("the connection closed before the body ended")
                break  # keep what arrived; the next call reports the early end
            filled += n
            if time.monotonic() - started > self.FILL_TIME:
                break
        self.remaining -= filled
        return filled
