"""The transfer loop: fills a ``.part`` from one or several connections, resuming.

:class:`Downloader` is used by :func:`modelshelf.download.fetch.fetch` with the lock held.
It opens the first range (``bytes=N-`` where N is what the ``.part`` already holds),
reads the answer:

- 206 checked against ``Content-Range``: resume; if the file is large
  (``min_parallel_size``) and ``connections > 1`` the rest is split into segments;
- 200: the server ignored ``Range``: truncate and start over from this body;
- 416: the ``.part`` may already be complete (its size equals ``bytes */N``): verify it;

and keeps a per-segment retry budget that resets whenever bytes arrive, so a connection
dropped mid-body resumes from the current offset.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import DiskSpaceError, IntegrityError, ModelShelfError, NetworkError, ServerError
from ..http import RetryNotice
from ._segments import (
    CHUNK,
    BodyReader,
    HashFront,
    Progress,
    Segment,
    check_cancel,
    split_segments,
    write_chunk,
)

if TYPE_CHECKING:
    from ..http import RetryPolicy
    from ._partfile import PartFile, PartState
    from ._transfer import Opened, Transfer

__all__ = ["Downloader", "RangesIgnored"]

log = logging.getLogger(__name__)
STATE_SAVE_INTERVAL = 1.0
EDQUOT = getattr(errno, "EDQUOT", -1)


class RangesIgnored(Exception):
    """A segment's range request got the whole file (200): fall back to one connection."""


class _Stop(Exception):
    """Another segment failed: this one stops quietly."""


class Downloader:
    """Fills ``part`` and returns ``(total, sha256)``; the caller verifies and places."""

    def __init__(
        self,
        part: PartFile,
        state: PartState,
        transfer: Transfer,
        policy: RetryPolicy,
        *,
        connections: int,
        min_parallel_size: int,
        progress: Progress,
        cancel: threading.Event | None,
        check_space,
    ):
        self.part = part
        self.state = state
        self.transfer = transfer
        self.policy = policy
        self.connections = max(1, connections)
        self.min_parallel_size = min_parallel_size
        self.progress = progress
        self.cancel = cancel
        self.check_space = check_space
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.fd = -1
        self._front: HashFront | None = None
        self.server_disposition: str | None = None
        self.resumed_from = 0
        self.expected_size: int | None = None
        self.size_is_exact = False

    @property
    def front(self) -> HashFront:
        """The hash front of the running download (created by :meth:`run`)."""
        if self._front is None:
            raise RuntimeError("the download is not running")
        return self._front

    # -- setup ------------------------------------------------------------------------
    def _initial_segments(self) -> list[Segment]:
        size = os.fstat(self.fd).st_size
        st = self.state
        if st.preallocated and st.segments and st.total and size == st.total:
            segs = [Segment.from_list(s) for s in st.segments]
            for s in segs:
                if s.end is None or s.end > st.total:
                    return [Segment(0, None, 0)]
                s.written = min(s.written, s.end - s.start)
            return segs
        if st.preallocated:  # the state does not describe this file: start over
            os.ftruncate(self.fd, 0)
            size = 0
        end = st.total if st.total and size <= st.total else None
        return [Segment(0, end, min(size, end) if end else size)]

    def _restart(self, end: int | None) -> Segment:
        """Throw away what the ``.part`` holds; one segment from byte 0."""
        log.info("starting %s over from byte 0", self.part.path.name)
        seg = Segment(0, end)
        self.front.reset([seg])
        os.ftruncate(self.fd, 0)
        self.state.preallocated = False
        self.state.segments = [seg.as_list()]
        self.progress.done = 0
        return seg

    def run(self) -> tuple[int, str]:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0)
        self.fd = os.open(self.part.path, flags, 0o666)
        try:
            return self._run()
        finally:
            if self._front is not None:
                self._front.close()
            os.close(self.fd)

    def _run(self) -> tuple[int, str]:
        segments = self._initial_segments()
        self._front = HashFront(self.fd, segments, buffers=2 * self.connections + 2)
        self.front.catch_up()  # an existing .part is hashed once, here
        self.resumed_from = sum(s.written for s in segments)
        self.progress.done = self.resumed_from
        first = next((s for s in segments if not s.done), None)
        if first is None:
            return self.state.total or 0, self.front.hexdigest()
        opened = self.transfer.open(first.pos, first.end)
        if self.transfer.signed_url:
            self.state.url = self.transfer.signed_url
            self.state.url_expires_at = self.transfer.signed_expires_at
        self.server_disposition = opened.content_disposition
        if opened.content_disposition:
            self.state.server_name = opened.content_disposition
        segments, first, opened = self._settle_first(segments, first, opened)
        if opened is None:  # 416 on a complete .part
            return first.end or 0, self.front.hexdigest()
        total = opened.total if opened.status == 200 else (opened.total or self.state.total)
        self.state.total = total
        self.progress.total = total
        if total is not None and size_mismatch(total, self.expected_size, self.size_is_exact):
            opened.response.close()
            raise_size(total, self.expected_size)
        if total is not None:
            self.check_space(total - sum(s.written for s in segments))
        segments = self._maybe_split(segments, total)
        first = next(s for s in segments if s.start <= first.pos < (s.end or first.pos + 1))
        self.state.segments = [s.as_list() for s in segments]
        self.part.save_state(self.state)
        self._run_workers(segments, first, opened)
        end = total if total is not None else segments[-1].pos
        if self.front.pos != end:
            raise NetworkError("The download ended before the whole file arrived; run it again.")
        self.progress.add(0, force=True)
        return end, self.front.hexdigest()

    def _settle_first(self, segments, first: Segment, opened: Opened):
        """Interpret the first answer; may restart the file. Returns the new layout."""
        if opened.status == 416:
            opened.response.close()
            full = opened.total
            if full is not None and len(segments) == 1 and first.pos == full:
                first.end = full
                self.state.total = full
                return segments, first, None
            if full is not None and first.pos > full:
                first = self._restart(None)
                return self._settle_first([first], first, self.transfer.open(0, None))
            raise ServerError(
                "The storage server refused the byte range (HTTP 416); run the download again.",
                status=416,
            )
        if opened.status == 200:
            if self.resumed_from or len(segments) > 1:
                log.info("the server ignored Range")
            first = self._restart(opened.total)
            return [first], first, opened
        if opened.first != first.pos:
            opened.response.close()
            first = self._restart(None)
            return self._settle_first([first], first, self.transfer.open(0, None))
        known = self.state.total
        if known is not None and opened.total is not None and opened.total != known:
            log.info("the file changed on the server (%s -> %s bytes)", known, opened.total)
            opened.response.close()
            first = self._restart(None)
            return self._settle_first([first], first, self.transfer.open(0, None))
        if first.end is None and opened.total is not None:
            first.end = opened.total
        return segments, first, opened

    def _maybe_split(self, segments: list[Segment], total: int | None) -> list[Segment]:
        if (
            total is None
            or self.connections < 2
            or total < self.min_parallel_size
            or len(segments) != 1
            or self.state.preallocated
        ):
            return segments
        only = segments[0]
        if only.written:  # keep the done prefix as a finished segment
            done = Segment(0, only.pos, only.written)
            rest = split_segments(only.pos, total, self.connections)
            new = [done, *rest]
        else:
            new = split_segments(0, total, self.connections)
        if len(new) - (1 if only.written else 0) < 2:
            return segments
        self._preallocate(total)
        self.front.segments = sorted(new, key=lambda s: s.start)
        return new

    def _preallocate(self, total: int) -> None:
        try:
            if hasattr(os, "posix_fallocate"):
                try:
                    os.posix_fallocate(self.fd, 0, total)
                except OSError as exc:
                    if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                        raise
                    os.ftruncate(self.fd, total)
            else:  # pragma: no cover
                os.ftruncate(self.fd, total)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskSpaceError(
                    f"Not enough free space in {self.part.dir} for {total} bytes; free some "
                    "space and try again."
                ) from None
            raise
        self.state.preallocated = True

    # -- workers ----------------------------------------------------------------------
    def _run_workers(self, segments: list[Segment], first: Segment, opened: Opened) -> None:
        todo = [s for s in segments if not s.done]
        if len(todo) == 1:
            try:
                self._segment(todo[0], opened)
            except RangesIgnored:
                seg = self._restart(self.state.total)
                self._segment(seg, None)
            return
        threads = []
        for seg in todo:
            first_answer = opened if seg is first else None
            t = threading.Thread(
                target=self._guarded,
                args=(seg, first_answer),
                daemon=True,
                name=f"modelshelf-seg-{seg.start}",
            )
            threads.append(t)
            t.start()
        try:
            while True:
                alive = [t for t in threads if t.is_alive()]
                if not alive:
                    break
                alive[0].join(STATE_SAVE_INTERVAL)
                self._save_segments()
        finally:
            self.stop.set()
            for t in threads:
                t.join()
            self._save_segments()
        errors = [e for e in self.errors if not isinstance(e, _Stop)]
        if any(isinstance(e, RangesIgnored) for e in errors):
            seg = self._restart(self.state.total)
            self._segment(seg, None)
            return
        if errors:
            raise errors[0]

    def _save_segments(self) -> None:
        self.state.segments = self.front.snapshot()
        try:
            self.part.save_state(self.state)
        except OSError as exc:
            log.warning("could not save the download state: %s", exc)

    def _guarded(self, seg: Segment, opened: Opened | None) -> None:
        try:
            self._segment(seg, opened)
        except BaseException as exc:  # handed to the coordinator
            self.errors.append(exc)
            self.stop.set()

    def _segment(self, seg: Segment, opened: Opened | None) -> None:
        """Fill ``seg``, reopening after drops; the budget resets when bytes arrive."""
        import requests
        import urllib3

        attempt = 0
        while not seg.done:
            if opened is None:
                opened = self.transfer.open(seg.pos, seg.end)
            if opened.status == 200 and seg.pos > 0:
                opened.response.close()
                raise RangesIgnored()
            if opened.status == 416 and seg.end is None and opened.total == seg.pos:
                opened.response.close()
                seg.end = seg.pos
                break
            if opened.status == 416 or (opened.status == 206 and opened.first != seg.pos):
                opened.response.close()
                raise ServerError("The storage server answered the wrong byte range.")
            if seg.end is None and opened.total is not None:
                seg.end = opened.total
            before = seg.written
            host = urlsplit(opened.url).hostname or "the storage server"
            failure: BaseException | None = None
            try:
                self._copy(opened, seg)
            except ModelShelfError:
                raise
            except (
                requests.RequestException,
                urllib3.exceptions.HTTPError,
                OSError,  # timeouts, resets; a full disk is a DiskSpaceError above
            ) as exc:
                failure = exc
            finally:
                opened.response.close()
                opened = None
            if failure is None and seg.end is None:
                seg.end = seg.pos  # no length given: the body ending is the end
                break
            if seg.done:
                break
            if seg.written > before:
                attempt = 0
            if attempt >= self.policy.max_retries:
                raise NetworkError(
                    f"The connection to {host} kept dropping ({type(failure).__name__}); run "
                    "the download again to resume it (the partial file is kept)."
                )
            wait = self.policy.delay(attempt, None, None)
            log.debug("connection dropped at byte %d (%r); resuming", seg.pos, failure)
            notice = RetryNotice(
                host, "dropped the connection", attempt + 1, self.policy.max_retries, wait
            )
            self.policy.retrying(notice, self.cancel)
            attempt += 1

    def _copy(self, opened: Opened, seg: Segment) -> None:
        from ._responses import check_first_bytes

        reader = BodyReader(opened.response)
        host = urlsplit(opened.url).hostname or "the server"
        while True:
            check_cancel(self.cancel)
            if self.stop.is_set():
                raise _Stop()
            want = CHUNK if seg.end is None else min(CHUNK, seg.end - seg.pos)
            if want <= 0:
                return
            buf = self.front.take_buffer(self.cancel)
            try:
                view = memoryview(buf)[:want]
                n = reader.fill(view)
                if not n:
                    if seg.end is not None:
                        raise ConnectionError("the body ended early")
                    self.front.give_back(buf)
                    return
                offset = seg.pos
                if offset == 0:
                    check_first_bytes(view[:n], self.transfer.expected_name, host)
                write_chunk(self.fd, view[:n], offset)
            except BaseException:
                self.front.give_back(buf)
                raise
            self.front.wrote(seg, offset, view[:n], buf)
            self.progress.add(n, received=True)


def size_mismatch(total: int, expected: int | None, exact: bool) -> bool:
    """Whether ``total`` contradicts the API's size (exact, or sizeKB rounded)."""
    if expected is None:
        return False
    if exact:
        return total != expected
    return abs(total - expected) > max(4096, expected // 100)


def raise_size(total: int, expected: int | None) -> None:
    raise IntegrityError(
        f"The server's file is {total} bytes but the API says {expected}; nothing was saved."
    )
