"""A small on-disk cache of API answers (SQLite, standard library).

Values are JSON. Entries older than ``ttl`` seconds are misses. The cache is an
optimisation only: a corrupt, locked or unwritable file is logged and behaves as a miss,
never an error. Each call opens its own short-lived connection, so one instance is safe
from several threads, and WAL mode lets several processes share the file.
Callers build keys; they must never put a secret in one (see ``CivitaiProvider``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["ResponseCache"]

log = logging.getLogger(__name__)

_SCHEMA = "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, stored REAL, value TEXT)"


class ResponseCache:
    """JSON values by string key, with a lifetime of ``ttl`` seconds."""

    def __init__(self, path: Path, ttl: float, *, clock=time.time, timeout: float = 2.0):
        self.path = Path(path)
        self.ttl = float(ttl)
        self._clock = clock
        self._timeout = timeout
        self._ready = False
        self._setup_lock = threading.Lock()
        self._warned = False
        self._puts = 0

    def _connect(self):
        import sqlite3

        if self._ready:
            return sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        with self._setup_lock:  # switching to WAL needs the file to itself: one thread does it
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            if not self._ready:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
                self._ready = True
            return conn

    def _failed(self, action: str, exc: BaseException) -> None:
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(
            level,
            "response cache %s failed (%s: %s); continuing without it",
            action,
            type(exc).__name__,
            exc,
        )

    def get(self, key: str) -> Any | None:
        """The value stored under ``key`` if younger than ``ttl``, else None."""
        if self.ttl <= 0:
            return None
        try:
            conn = self._connect()
            try:
                row = conn.execute(
                    "SELECT stored, value FROM responses WHERE key = ?", (key,)
                ).fetchone()
            finally:
                conn.close()
            if row is None or self._clock() - float(row[0]) > self.ttl:
                return None
            return json.loads(row[1])
        except Exception as exc:  # any failure of an optimisation is a miss
            self._failed("read", exc)
            return None

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``."""
        if self.ttl <= 0:
            return
        try:
            text = json.dumps(value, separators=(",", ":"))
            conn = self._connect()
            try:
                conn.execute(
                    "INSERT OR REPLACE INTO responses (key, stored, value) VALUES (?, ?, ?)",
                    (key, self._clock(), text),
                )
                self._puts += 1
                if self._puts % 50 == 1:
                    conn.execute(
                        "DELETE FROM responses WHERE stored < ?", (self._clock() - self.ttl,)
                    )
            finally:
                conn.close()
        except Exception as exc:
            self._failed("write", exc)

    def clear(self) -> None:
        """Forget every entry."""
        try:
            conn = self._connect()
            try:
                conn.execute("DELETE FROM responses")
            finally:
                conn.close()
        except Exception as exc:
            self._failed("clear", exc)
