"""The questions the front ends ask the library, each answered through an index.

- "Is this version installed, where?" for one version or a page of them (``files_version``).
- "Which of these models has a newer version?": the ``updatable`` table, which triggers
  keep right (see :mod:`.records`); a few rows, whatever the size of the library. From
  what the last update check recorded; no network.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from .records import ModelUpdate

__all__ = ["FrontEndQueries"]

_CHUNK = 500  # ids per IN (...) list: well under SQLite's parameter limit


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    wanted = list(dict.fromkeys(int(i) for i in ids))
    for start in range(0, len(wanted), _CHUNK):
        yield wanted[start : start + _CHUNK]


class FrontEndQueries:
    """Mixed into :class:`~modelshelf.library.db.LibraryDB`: installed where, updates."""

    def _rows_for_ids(self, sql: str, ids: Iterable[int]) -> list[tuple]:
        """Rows of ``sql`` (whose ``{ids}`` is an ``IN`` list) for ``ids``, in chunks."""
        rows: list[tuple] = []
        for chunk in _chunks(ids):
            query = sql.format(ids=",".join("?" * len(chunk)))
            with self._lock:
                rows += self._conn.execute(query, chunk).fetchall()
        return rows

    _conn: sqlite3.Connection
    _lock: threading.RLock

    def installed_versions(self, version_id: int) -> list[Path]:
        """Where the files of Civitai version ``version_id`` are on disk (empty: not installed)."""
        return self.installed_many([version_id]).get(int(version_id), [])

    def is_installed(self, version_id: int) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM files WHERE version_id = ? LIMIT 1", (int(version_id),)
            ).fetchone()
        return row is not None

    def installed_many(self, version_ids: Iterable[int]) -> dict[int, list[Path]]:
        """Where each of ``version_ids`` is on disk; versions not installed are left out."""
        found: dict[int, list[Path]] = {}
        sql = "SELECT version_id, path FROM files WHERE version_id IN ({ids}) ORDER BY path"
        for version_id, path in self._rows_for_ids(sql, version_ids):
            found.setdefault(version_id, []).append(Path(path))
        return found

    def versions_by_model(self, model_ids: Iterable[int]) -> dict[int, set[int]]:
        """For each of ``model_ids`` with files on disk: the version ids installed."""
        out: dict[int, set[int]] = {}
        sql = (
            "SELECT model_id, version_id FROM files WHERE model_id IN ({ids})"
            " AND version_id IS NOT NULL"
        )
        for model_id, version_id in self._rows_for_ids(sql, model_ids):
            out.setdefault(model_id, set()).add(version_id)
        return out

    def installed_models(self, model_ids: Iterable[int]) -> set[int]:
        """Which of ``model_ids`` have some version on disk."""
        sql = "SELECT DISTINCT model_id FROM files WHERE model_id IN ({ids})"
        return {r[0] for r in self._rows_for_ids(sql, model_ids)}

    def updated_models(self, model_ids: Iterable[int] | None = None) -> set[int]:
        """Which models (of ``model_ids``; None: all) have a newer version than installed."""
        if model_ids is None:
            with self._lock:
                return {r[0] for r in self._conn.execute("SELECT model_id FROM updatable")}
        sql = "SELECT model_id FROM updatable WHERE model_id IN ({ids})"
        return {r[0] for r in self._rows_for_ids(sql, model_ids)}

    def count_updatable(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM updatable").fetchone()[0]

    # -- update bookkeeping ----------------------------------------------------------------

    def set_latest(
        self,
        model_id: int,
        latest_version_id: int | None,
        latest_version_name: str | None = None,
        *,
        name: str | None = None,
        type: str | None = None,
        published_at: str | None = None,
    ) -> None:
        """Record the newest published version of ``model_id`` as of now."""
        row = (model_id, latest_version_id, latest_version_name, name, type, published_at)
        self.set_latest_many([row])

    def set_latest_many(self, rows: Iterable[tuple]) -> None:
        """Record many ``(model_id, latest_version_id, latest_version_name, name, type,
        published_at)`` at once, in one transaction."""
        now = time.time()
        params = [
            (int(mid), name, type_, vid, vname, published, now)
            for mid, vid, vname, name, type_, published in rows
        ]
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO models (model_id, name, type, latest_version_id,"
                " latest_version_name, latest_published_at, checked_at) VALUES (?,?,?,?,?,?,?)",
                params,
            )

    def latest_checked_at(self, model_id: int) -> float | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT checked_at FROM models WHERE model_id=?", (int(model_id),)
            ).fetchone()
        return row[0] if row else None

    def identified_model_ids(self) -> list[int]:
        """Every model id some identified file belongs to, in order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT model_id FROM files WHERE model_id IS NOT NULL"
                " AND version_id IS NOT NULL ORDER BY model_id"
            ).fetchall()
        return [r[0] for r in rows]

    def updates(self) -> list[ModelUpdate]:
        """Installed files whose model has a newer version than any installed one.

        Uses what the last update check recorded; no network. A model with the latest
        version installed anywhere in the library is not listed.
        """
        sql = (
            "SELECT f.path, f.model_id, f.version_id, m.latest_version_id,"
            " m.latest_version_name, m.name FROM updatable u"  # CROSS JOIN: in this order,
            " CROSS JOIN models m CROSS JOIN files f"  # not a walk of every file by path
            " WHERE m.model_id = u.model_id AND f.model_id = u.model_id"
            " AND f.version_id IS NOT NULL AND f.version_id != m.latest_version_id"
            " ORDER BY f.path"
        )
        with self._lock:
            rows = self._conn.execute(sql).fetchall()
        return [
            ModelUpdate(
                path=Path(r[0]),
                model_id=r[1],
                installed_version_id=r[2],
                latest_version_id=r[3],
                latest_version_name=r[4],
                model_name=r[5],
            )
            for r in rows
        ]
