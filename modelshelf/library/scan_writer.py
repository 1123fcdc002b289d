"""The scan's database writes, on a thread of their own, in batches.

SQLite does its work with Python's GIL released, so while the scan's thread walks and
hashes, this thread writes what came before: on two cores the writes cost little of the
scan's time. Rows are collected into batches (:data:`BATCH_ROWS` rows, or every
:data:`BATCH_SECONDS`), each written in one transaction; a bounded queue holds a few
batches, so a slow disk slows the scan instead of filling memory.

Crash safety: :meth:`BatchWriter.close` (in the scan's ``finally``, Ctrl-C included)
hands over what was collected and waits until it is committed. A batch is one
transaction, so a failure or an interrupted process leaves no half batch; the thread is
a daemon, so a second Ctrl-C is not kept waiting (SQLite rolls an unfinished batch back).
An error on the thread (a full disk) is raised in the scan's thread at its next call.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .db import LibraryDB

__all__ = ["BATCH_ROWS", "BATCH_SECONDS", "BatchWriter"]

BATCH_ROWS = 2000  # rows per write transaction
BATCH_SECONDS = 1.0  # ... or at least this often (and whenever the hashing waits)
_QUEUED = 4  # batches waiting at most


class BatchWriter:
    """Collects scanned rows and moved files; writes them in batches on its own thread."""

    def __init__(self, db: LibraryDB):
        self.db = db
        self.rows: list[tuple] = []
        self.moved: list[tuple] = []
        self.since = time.monotonic()
        self._queue: queue.Queue[tuple[list, list] | None] = queue.Queue(_QUEUED)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._failed = False

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_ROWS or time.monotonic() - self.since >= BATCH_SECONDS:
            self.flush()

    def move(self, change: tuple) -> None:
        """A file whose bytes did not change: its new ``(folder, dev, ino, path)``."""
        self.moved.append(change)
        if len(self.moved) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Hand what was collected to the writing thread."""
        self._raise()
        rows, moved = self.rows, self.moved
        self.rows, self.moved = [], []
        self.since = time.monotonic()
        if not rows and not moved:
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="modelshelf-scan-writer", daemon=True
            )
            self._thread.start()
        self._queue.put((rows, moved))

    def close(self) -> None:
        """Write what is left and wait until it is committed (raises the thread's error)."""
        try:
            self.flush()
        finally:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            if self._failed:
                continue  # after a failure: drop the rest, but keep taking from the queue
            try:
                self.db.write_scanned(*batch)
            except BaseException as exc:  # noqa: BLE001 - raised in the scan's thread
                self._failed, self._error = True, exc
