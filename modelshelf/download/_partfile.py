"""The ``.part`` file of a download, its small state file, and the lock that guards both.

Beside the target, in the same folder (so the final ``os.replace``/``os.link`` is atomic):

- ``<name>.<versionId>-<fileId>.part``: the bytes. Its name depends only on the provider's
  file name and ids, so a restarted process finds it.
- ``<part>.json``: what is needed to resume: the signed storage URL and its expiry (it
  carries no API key, and is never printed), expected size and hash, the total size, the
  server's file name, and for several connections the segments and how much of each is
  written. Written atomically (temp file + ``os.replace``).
- ``<part>.lock``: held while one caller downloads; a second caller (thread or process)
  waits. ``fcntl.flock`` on Unix, deleted safely on release (a waiter re-checks that the
  file it locked is still the one on disk); ``filelock.FileLock`` on Windows. Where
  ``flock`` is refused (some network file systems): an ``O_EXCL`` lock file holding
  ``host pid``, taken over when that process no longer runs on this host.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IntegrityError, UserCancelledError

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = ["PartFile", "PartState", "hash_file_range", "write_at"]

log = logging.getLogger(__name__)

STATE_VERSION = 1
BUFFER = 1024 * 1024


@dataclass
class PartState:
    """What ``<part>.json`` holds."""

    url: str | None = None  # the signed storage URL (no API key in it)
    url_expires_at: float | None = None
    expected_size: int | None = None
    expected_sha256: str | None = None
    total: int | None = None
    server_name: str | None = None
    preallocated: bool = False
    segments: list[list[int]] = field(default_factory=list)  # [start, end, written]
    version: int = STATE_VERSION


def hash_file_range(fd: int, digest, start: int, end: int) -> None:
    """Feed bytes ``[start, end)`` of open file ``fd`` to ``digest`` (1 MiB reads)."""
    buf = bytearray(BUFFER)
    view = memoryview(buf)
    pos = start
    while pos < end:
        want = min(BUFFER, end - pos)
        if hasattr(os, "preadv"):
            n = os.preadv(fd, [view[:want]], pos)
        else:  # pragma: no cover - Windows
            n = _pread_into(fd, view, want, pos)
        if n <= 0:
            raise IntegrityError(
                f"The partial file ended at byte {pos} while it was being checked (something "
                "else changed it); nothing was saved, run the download again."
            )
        digest.update(view[:n])
        pos += n


_SEEK_LOCK = threading.Lock()  # Windows has no pread/pwrite: seek + read/write under a lock


def _pread_into(fd: int, view: memoryview, want: int, pos: int) -> int:  # pragma: no cover
    with _SEEK_LOCK:
        os.lseek(fd, pos, os.SEEK_SET)
        data = os.read(fd, want)
    view[: len(data)] = data
    return len(data)


def write_at(fd: int, data, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``os.pwrite``; seek + write on Windows)."""
    view = memoryview(data)
    while view:
        if hasattr(os, "pwrite"):
            n = os.pwrite(fd, view, offset)
        else:  # pragma: no cover - Windows
            with _SEEK_LOCK:
                os.lseek(fd, offset, os.SEEK_SET)
                n = os.write(fd, view)
        view = view[n:]
        offset += n


class PartFile:
    """Paths and state of one download's ``.part`` in ``dest_dir``."""

    def __init__(self, dest_dir: Path, base_name: str, version_id, file_id, url: str):
        if file_id is None and version_id is None:
            key = hashlib.sha1(url.split("?", 1)[0].encode("utf-8")).hexdigest()[:10]
        else:
            key = f"{version_id or 0}-{file_id or 0}"
        self.dir = dest_dir
        self.path = dest_dir / f"{base_name}.{key}.part"
        self.state_path = self.path.with_name(self.path.name + ".json")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    # -- state ------------------------------------------------------------------------
    def load_state(self) -> PartState:
        try:
            data = json.loads(self.state_path.read_text("utf-8"))
            if data.get("version") != STATE_VERSION:
                return PartState()
            known = set(PartState.__dataclass_fields__)
            return PartState(**{k: v for k, v in data.items() if k in known})
        except (OSError, ValueError, TypeError):
            return PartState()

    def save_state(self, state: PartState) -> None:
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        # 0600 on purpose: it holds the signed storage URL, a short-lived credential
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(state), fh)
        os.replace(tmp, self.state_path)

    def discard(self) -> None:
        """Remove the ``.part`` and its state (after a mismatch or a placement)."""
        for path in (self.path, self.state_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    # -- lock -------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, cancel: threading.Event | None = None) -> Iterator[None]:
        """Hold the download lock; waits (checking ``cancel``) while another holds it."""
        lock = _DirLock(self.lock_path)
        lock.acquire(cancel)
        try:
            yield
        finally:
            lock.release()


class _DirLock:
    """An exclusive lock file that is removed on release without racing waiters."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        self.exclusive_file = False
        self.windows_lock: BaseFileLock | None = None

    def acquire(self, cancel: threading.Event | None) -> None:
        waited = False
        while True:
            if cancel is not None and cancel.is_set():
                raise UserCancelledError(
                    "The download was cancelled while waiting for another one."
                )
            if self._try_flock() or self._try_exclusive():
                return
            if not waited:
                log.info("waiting for another download of %s", self.path.name)
                waited = True
            if cancel is not None:
                cancel.wait(0.05)
            else:
                time.sleep(0.05)

    def _try_flock(self) -> bool:
        if self.exclusive_file:
            return False
        try:
            import fcntl
        except ImportError:  # Windows: filelock's msvcrt lock (it removes the file itself)
            return self._try_windows()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:  # ENOLCK / EOPNOTSUPP: locks not trusted here
            os.close(fd)
            log.info("flock refused on %s (%s); using a lock file", self.path.parent, exc)
            self.exclusive_file = True
            return False
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            same = False
        if not same:  # the holder deleted it after we opened it: start over
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, _owner().encode())
        self.fd = fd
        return True

    def _try_windows(self) -> bool:  # pragma: no cover - Windows only
        import filelock

        lock = filelock.FileLock(str(self.path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return False
        self.windows_lock = lock
        return True

    def _try_exclusive(self) -> bool:
        if not self.exclusive_file:
            return False
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            self._remove_if_stale()
            return False
        os.write(fd, _owner().encode())
        os.close(fd)
        return True

    def _remove_if_stale(self) -> None:
        try:
            host, _, pid = self.path.read_text("utf-8").strip().rpartition(" ")
            if host != socket.gethostname() or not pid.isdigit():
                return
            os.kill(int(pid), 0)
        except ProcessLookupError:
            log.info("removing the stale lock %s", self.path.name)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        except (OSError, ValueError):
            return

    def release(self) -> None:
        if self.windows_lock is not None:  # pragma: no cover - Windows only
            self.windows_lock.release()
            self.windows_lock = None
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still held: waiters notice the inode changed
        if self.fd is not None:
            os.close(self.fd)  # closing drops the flock
            self.fd = None


def _owner() -> str:
    return f"{socket.gethostname()} {os.getpid()}"
