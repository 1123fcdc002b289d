"""A download queue for the UIs: concurrency limit, progress, cancel, retry, a record.

The record is ``<home>/downloads.json`` (see :mod:`.job_store`: locked, shared by several
processes). A job that was queued or running when its process died is loaded back as
``interrupted``; :meth:`DownloadManager.retry` runs it again, and the fetch engine resumes
its ``.part`` file.

Every change bumps one revision counter; each :class:`Job` snapshot carries the revision
of its last change, so a page can ask :meth:`DownloadManager.changes` for what changed
since the revision it has (a long-poll). ``bytes_done`` never goes backwards. Listeners
run on one dispatcher thread, never on a download thread; an exception in a listener is
logged, never fatal.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelShelfError, UserCancelledError
from .jobs import (
    CANCELLED,
    DONE,
    FAILED,
    INTERRUPTED,
    QUEUED,
    RETRYABLE_STATES,
    RUNNING,
    TERMINAL_STATES,
    DownloadRequest,
    Job,
    Runner,
    default_runner,
    result_dict,
)

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["TERMINAL_STATES", "DownloadManager", "DownloadRequest", "Job", "Runner"]

_STOP = object()

log = logging.getLogger(__name__)

SPEED_WINDOW = 3.0  # seconds of progress samples behind the speed figure
SAVE_EVERY = 1.0  # seconds between record writes caused by progress alone


class _Progress:
    """Turns (done, total) calls into job fields with a windowed speed and an ETA."""

    def __init__(self, manager: DownloadManager, job_id: str):
        self.manager, self.job_id = manager, job_id
        self.samples: list[tuple[float, int]] = []
        self.lock = threading.Lock()  # the engine may report from several threads

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        with self.lock:
            self.samples.append((now, done))
            while len(self.samples) > 2 and now - self.samples[0][0] > SPEED_WINDOW:
                self.samples.pop(0)
            t0, d0 = self.samples[0]
        speed = (done - d0) / (now - t0) if now > t0 and done >= d0 else None
        eta = (total - done) / speed if speed and total is not None and total >= done else None
        self.manager._update(
            self.job_id, bytes_done=done, bytes_total=total, speed=speed, eta=eta, _progress=True
        )

    def describe(self, *, name: str | None, target_dir: str | None) -> None:
        """Record what the plan decided (the file's name and folder) on the job."""
        self.manager._update(self.job_id, name=name, target_dir=target_dir, _progress=True)


class DownloadManager:
    """A queue of downloads run by ``max_concurrent`` worker threads."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_concurrent: int = 2,
        store_path: str | os.PathLike[str] | None = None,
        runner: Runner | None = None,
    ):
        self.settings = settings
        self.max_concurrent = max(1, int(max_concurrent))
        self.store_path = Path(store_path) if store_path else Path(settings.home) / "downloads.json"
        self._runner = runner or default_runner(settings)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._cancels: dict[str, threading.Event] = {}
        self._user_cancelled: set[str] = set()
        self._listeners: list[Callable[[Job], None]] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._events: queue.Queue[Any] = queue.Queue()
        self._dispatcher: threading.Thread | None = None
        self._closed = False
        self._last_save = 0.0
        self._revision = 0
        from .job_store import JobStore

        self._store = JobStore(self.store_path)
        for job in self._store.load():
            self._revision += 1
            job.revision = self._revision
            self._jobs[job.id] = job
        if self._jobs:
            self._save()

    # public API ---------------------------------------------------------------
    def submit(self, request: DownloadRequest) -> str:
        """Queue ``request``; returns the new job's id (a ``token=`` in a URL REF is dropped)."""
        from ..http import redact_url

        if "://" in request.ref:  # the record is saved: keep no secret in it
            request = replace(request, ref=redact_url(request.ref))
        job = Job(id=uuid.uuid4().hex[:12], request=request, owner=self._store.owner)
        with self._lock:
            if self._closed:
                from ..errors import ModelShelfError

                raise ModelShelfError("Model Shelf is shutting down; start the download again.")
            self._jobs[job.id] = job
            self._set(job)
            snapshot = replace(job)
        self._notify(snapshot)
        self._enqueue(job.id)
        return job.id

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued or running job (a finished one is left as it is)."""
        with self._lock:
            job = self._get(job_id)
            if job.state == QUEUED:
                self._set(job, state=CANCELLED, finished_at=time.time(), error="Cancelled.")
            elif job.state == RUNNING:
                self._user_cancelled.add(job_id)
                self._cancels[job_id].set()
            snapshot = replace(job)
        if snapshot.state == CANCELLED:
            self._notify(snapshot)
        return snapshot

    def retry(self, job_id: str) -> Job:
        """Queue a failed, cancelled or interrupted job again (its .part is resumed)."""
        with self._lock:
            job = self._get(job_id)
            if job.state not in RETRYABLE_STATES:
                from ..errors import BadInputError

                raise BadInputError(
                    f"Download {job_id} is {job.state}; only a failed, "
                    "cancelled or interrupted download can be retried."
                )
            self._user_cancelled.discard(job_id)
            self._set(
                job,
                state=QUEUED,
                error=None,
                exit_code=None,
                speed=None,
                eta=None,
                finished_at=None,
            )
            snapshot = replace(job)
        self._notify(snapshot)
        self._enqueue(job_id)
        return snapshot

    def jobs(self) -> list[Job]:
        """Snapshots of every job, oldest first."""
        with self._lock:
            return [replace(j) for j in sorted(self._jobs.values(), key=lambda j: j.created_at)]

    def job(self, job_id: str) -> Job:
        with self._lock:
            return replace(self._get(job_id))

    def subscribe(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Call ``callback(job)`` on every change; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job is finished or ``timeout`` passes; returns its snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while not self._get(job_id).finished:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            return replace(self._get(job_id))

    @property
    def revision(self) -> int:
        """The revision of the latest change (0 before any)."""
        with self._lock:
            return self._revision

    def changes(self, since: int = 0, timeout: float = 0.0) -> tuple[int, list[Job]]:
        """(revision, jobs changed after ``since``), waiting up to ``timeout`` for one.

        A long-poll: a page passes the revision it got last time. Jobs forgotten since are
        simply absent; ask :meth:`jobs` for the whole list after a reload.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while self._revision <= since and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            changed = [replace(j) for j in self._jobs.values() if j.revision > since]
            changed.sort(key=lambda j: j.created_at)
            return self._revision, changed

    def forget(self, job_id: str) -> None:
        """Drop a finished job from the record."""
        with self._lock:
            if self._get(job_id).finished:
                del self._jobs[job_id]
                self._revision += 1
                self._save()
                self._changed.notify_all()

    def shutdown(self, *, wait: bool = True, timeout: float | None = 30.0) -> None:
        """Stop the workers; running jobs are stopped and recorded as interrupted."""
        with self._lock:
            self._closed = True
            for job in self._jobs.values():
                if job.state == RUNNING:
                    self._cancels[job.id].set()
            workers = list(self._workers)
        for _ in workers:
            self._queue.put(None)
        if wait:
            for thread in workers:
                thread.join(timeout)
        with self._lock:
            for job in self._jobs.values():
                if job.state == QUEUED:
                    self._set(job, state=INTERRUPTED, error="Stopped before it started.")
            self._save()
            self._changed.notify_all()
        self._events.put(_STOP)
        dispatcher = self._dispatcher
        if wait and dispatcher is not None and dispatcher is not threading.current_thread():
            dispatcher.join(timeout)
        self._store.close()

    # internals ------------------------------------------------------------------
    def _get(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            from ..errors import NotFoundError

            raise NotFoundError(f"There is no download {job_id!r}.") from None

    def _enqueue(self, job_id: str) -> None:
        with self._lock:
            self._cancels[job_id] = threading.Event()
            if len(self._workers) < self.max_concurrent:
                thread = threading.Thread(
                    target=self._work, name=f"modelshelf-download-{len(self._workers)}", daemon=True
                )
                self._workers.append(thread)
                thread.start()
        self._queue.put(job_id)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            with self._lock:
                job = self._jobs.get(job_id)
                if job is None or job.state != QUEUED or self._closed:
                    continue
                cancel = self._cancels[job_id]
                self._set(job, state=RUNNING, started_at=time.time(), attempts=job.attempts + 1)
                snapshot = replace(job)
            self._notify(snapshot)
            self._run(snapshot, cancel)

    def _run(self, job: Job, cancel: threading.Event) -> None:
        changes: dict[str, Any]
        try:
            result = self._runner(job.request, _Progress(self, job.id), cancel)
        except UserCancelledError as exc:
            user = job.id in self._user_cancelled
            state = CANCELLED if user or not self._closed else INTERRUPTED
            changes = {"state": state, "error": str(exc) or "Cancelled.", "exit_code": 130}
        except ModelShelfError as exc:
            changes = {"state": FAILED, "error": str(exc), "exit_code": exc.exit_code}
        except Exception as exc:  # a full disk, or a bug: keep the worker alive, say it
            from ..errors import exit_status, sentence_for

            log.exception("download %s failed", job.id)
            changes = {"state": FAILED, "error": sentence_for(exc), "exit_code": exit_status(exc)}
        else:
            data = result_dict(result)
            changes = {"state": DONE, "result": data, "speed": None, "eta": 0.0}
            size = (data or {}).get("size")
            if isinstance(size, int):
                changes.update(bytes_done=size, bytes_total=size)
        self._update(job.id, finished_at=time.time(), **changes)

    def _update(self, job_id: str, *, _progress: bool = False, **changes: Any) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            if _progress and job.state != RUNNING:
                return
            done = changes.get("bytes_done")
            if _progress and isinstance(done, int) and done < job.bytes_done:
                changes["bytes_done"] = job.bytes_done  # a restarted range never shows as lost
            self._set(job, _progress=_progress, **changes)
            snapshot = replace(job)
        self._notify(snapshot)

    def _set(self, job: Job, *, _progress: bool = False, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(job, key, value)
        self._revision += 1
        job.revision = self._revision
        now = time.monotonic()
        if not _progress or now - self._last_save >= SAVE_EVERY:
            self._save()
        self._changed.notify_all()

    def _notify(self, snapshot: Job) -> None:
        """Hand ``snapshot`` to the dispatcher thread, which calls the listeners."""
        with self._lock:
            if not self._listeners:
                return
            if self._dispatcher is None or not self._dispatcher.is_alive():
                self._dispatcher = threading.Thread(
                    target=self._dispatch, name="modelshelf-download-events", daemon=True
                )
                self._dispatcher.start()
        self._events.put(snapshot)

    def _dispatch(self) -> None:
        while True:
            snapshot = self._events.get()
            if snapshot is _STOP:
                return
            with self._lock:
                listeners = list(self._listeners)
            for callback in listeners:
                try:
                    callback(replace(snapshot))
                except Exception:
                    log.exception("a download listener failed (ignored)")

    def _save(self) -> None:
        """Write the record (caller holds the lock)."""
        self._last_save = time.monotonic()
        self._store.save(list(self._jobs.values()))
