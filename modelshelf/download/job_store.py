"""The download record ``downloads.json``, shared safely by several processes.

Each :class:`~.manager.DownloadManager` is an *owner* (``host:pid:nonce``) that holds an
exclusive ``flock`` on ``<record>.owners/<owner>.alive`` for its whole life. The record
is read and rewritten under a :class:`filelock.FileLock`; a save keeps every job owned by
another owner that is still alive, so a WebUI and the standalone app (or the CLI) never
drop or interrupt each other's jobs. Jobs of an owner that is gone are adopted: queued or
running ones come back as ``interrupted``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from pathlib import Path
from typing import IO, Any

from .jobs import INTERRUPTED, QUEUED, RUNNING, Job

__all__ = ["JobStore"]

log = logging.getLogger(__name__)

INTERRUPTED_SENTENCE = "Interrupted when Model Shelf stopped; retry to resume it."


class JobStore:
    """Load, merge and save the jobs of one owner in a shared JSON record."""

    def __init__(self, path: Path):
        from filelock import FileLock

        self.path = path
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._file_lock = FileLock(str(path) + ".lock", timeout=10)
        self._alive: IO[bytes] | None = None
        self._hold_alive_lock()

    # liveness -----------------------------------------------------------------------
    def _owners_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".owners")

    def _alive_path(self, owner: str) -> Path:
        return self._owners_dir() / (owner.replace(":", "_").replace(os.sep, "_") + ".alive")

    def _hold_alive_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: other owners are taken as gone
            return
        try:
            self._owners_dir().mkdir(parents=True, exist_ok=True)
            handle = open(self._alive_path(self.owner), "wb")  # noqa: SIM115 - held open
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._alive = handle
        except OSError as exc:
            log.debug("no liveness lock for the download record: %s", exc)

    def is_alive(self, owner: str | None) -> bool:
        """Whether another live manager (any process) owns jobs tagged ``owner``."""
        if not owner or owner == self.owner:
            return owner == self.owner
        try:
            import fcntl
        except ImportError:
            return False
        path = self._alive_path(owner)
        try:
            with open(path, "rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return True
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        except OSError:
            return False
        try:
            path.unlink()  # a dead owner's marker
        except OSError:
            pass
        return False

    def close(self) -> None:
        if self._alive is not None:
            path = Path(self._alive.name)
            self._alive.close()
            self._alive = None
            try:
                path.unlink()
            except OSError:
                pass

    # record -------------------------------------------------------------------------
    def _read(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("ignoring an unreadable download record %s: %s", self.path, exc)
            return []
        jobs = data.get("jobs", []) if isinstance(data, dict) else []
        return [raw for raw in jobs if isinstance(raw, dict)]

    def load(self) -> list[Job]:
        """The jobs this owner takes over: its own and those of owners that are gone."""
        adopted: list[Job] = []
        with self._file_lock:
            for raw in self._read():
                if self.is_alive(raw.get("owner")):
                    continue
                try:
                    job = Job.from_dict(raw)
                except (TypeError, ValueError):
                    log.warning("ignoring a malformed download record entry")
                    continue
                if job.state in (QUEUED, RUNNING):
                    job.state = INTERRUPTED
                    job.error = INTERRUPTED_SENTENCE
                    job.speed = job.eta = None
                job.owner = self.owner
                adopted.append(job)
        return adopted

    def save(self, jobs: list[Job]) -> None:
        """Rewrite the record: ``jobs`` plus every live other owner's jobs."""
        mine = {job.id for job in jobs}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._file_lock:
                others = [
                    raw
                    for raw in self._read()
                    if raw.get("id") not in mine
                    and raw.get("owner") != self.owner
                    and self.is_alive(raw.get("owner"))
                ]
                data = {"version": 1, "jobs": others + [j.to_dict() for j in jobs]}
                tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1), "utf-8")
                os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not save the download record %s: %s", self.path, exc)
        except Exception as exc:  # filelock.Timeout: another process holds it too long
            log.warning("could not lock the download record %s: %s", self.path, exc)
