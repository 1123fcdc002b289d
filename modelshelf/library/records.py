"""What the library database stores: its schema and the typed rows it hands out.

Tables (schema version in ``meta``):

- ``files``: one row per model file path: size, mtime, device/inode (so a renamed file is
  recognised without reading it), hashes, the Civitai ids once known, and how they were
  learnt (``id_source``: ``sidecar``, ``civitai-sha256``, ``civitai-autov3``, ``link``,
  ``download``). ``lookup`` is ``pending`` until Civitai was asked, ``unknown`` if it did
  not know the file.
- ``models``: what the last update check learnt about each identified model (its newest
  published version).
- ``updatable``: the models that have an update (a newer version recorded, an older one
  installed, the newest one nowhere on disk). Triggers on ``files`` and ``models`` keep it
  right whenever an id, a file or a latest version changes, so "which models have
  updates" reads a few rows instead of testing every model.

Every question a front end asks is answered through an index: a path (primary key), a
version id ("installed where"), a model id and the latest version (the triggers), a
SHA256. The version and model indexes are partial (only identified files), so a first
scan of unknown files does not pay for them. Schema 2 dropped the inode index of schema 1
(a renamed file is matched among the rows of files that vanished, in memory) and added
``updatable``; a schema 1 file is upgraded when opened (:func:`migrate`, in ``db.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FILE_COLUMNS",
    "FILL_UPDATABLE",
    "HAS_UPDATE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "LibraryFile",
    "ModelUpdate",
]

SCHEMA_VERSION = 2

# A model has an update when a newer version is recorded, some installed file is of
# another version, and no file anywhere is of the newest one.
HAS_UPDATE = (
    "m.latest_version_id IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM files f WHERE f.model_id = m.model_id"
    " AND f.version_id IS NOT NULL AND f.version_id != m.latest_version_id)"
    " AND NOT EXISTS (SELECT 1 FROM files g WHERE g.version_id = m.latest_version_id)"
)


_ABSENT = "NOT EXISTS (SELECT 1 FROM updatable u WHERE u.model_id = m.model_id)"


def _refresh(ref: str) -> str:
    """Trigger statements that recompute ``updatable`` for the models a row ``ref`` touches:
    its own model, and any model whose newest version is the row's version. (No ``OR
    IGNORE``: in a trigger the outer statement's conflict policy would override it.)"""
    return (
        f"DELETE FROM updatable WHERE model_id = {ref}.model_id OR model_id IN"
        f" (SELECT model_id FROM models WHERE latest_version_id = {ref}.version_id);"
        " INSERT INTO updatable SELECT m.model_id FROM models m WHERE"
        f" (m.model_id = {ref}.model_id OR m.latest_version_id = {ref}.version_id)"
        f" AND {HAS_UPDATE} AND {_ABSENT};"
    )


_MODEL_REFRESH = (
    "DELETE FROM updatable WHERE model_id = NEW.model_id;"
    " INSERT INTO updatable SELECT m.model_id FROM models m"
    f" WHERE m.model_id = NEW.model_id AND {HAS_UPDATE};"
)
_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS files_updatable_insert AFTER INSERT ON files"
    f" WHEN NEW.version_id IS NOT NULL BEGIN {_refresh('NEW')} END;\n",
    "CREATE TRIGGER IF NOT EXISTS files_updatable_delete AFTER DELETE ON files"
    f" WHEN OLD.version_id IS NOT NULL BEGIN {_refresh('OLD')} END;\n",
    "CREATE TRIGGER IF NOT EXISTS files_updatable_update AFTER UPDATE OF model_id, version_id"
    " ON files WHEN OLD.version_id IS NOT NEW.version_id OR OLD.model_id IS NOT NEW.model_id"
    f" BEGIN {_refresh('OLD')} {_refresh('NEW')} END;\n",
    # INSERT OR REPLACE runs the insert trigger (the replaced row's delete trigger does not run)
    f"CREATE TRIGGER IF NOT EXISTS models_updatable_insert AFTER INSERT ON models"
    f" BEGIN {_MODEL_REFRESH} END;\n",
    "CREATE TRIGGER IF NOT EXISTS models_updatable_update AFTER UPDATE ON models BEGIN"
    f" DELETE FROM updatable WHERE model_id = OLD.model_id; {_MODEL_REFRESH} END;\n",
    "CREATE TRIGGER IF NOT EXISTS models_updatable_delete AFTER DELETE ON models"
    " BEGIN DELETE FROM updatable WHERE model_id = OLD.model_id; END;\n",
)
# Fills ``updatable`` from scratch (the upgrade from schema 1).
FILL_UPDATABLE = (
    f"INSERT OR IGNORE INTO updatable SELECT m.model_id FROM models m WHERE {HAS_UPDATE}"
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    folder TEXT,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    dev INTEGER,
    ino INTEGER,
    sha256 TEXT,
    autov1 TEXT,
    autov2 TEXT,
    autov3 TEXT,
    hash_source TEXT,
    model_id INTEGER,
    version_id INTEGER,
    file_id INTEGER,
    id_source TEXT,
    lookup TEXT NOT NULL DEFAULT 'pending',
    looked_up_at REAL,
    enriched_at REAL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
DROP INDEX IF EXISTS files_version;
DROP INDEX IF EXISTS files_model;
CREATE INDEX IF NOT EXISTS files_version_id ON files(version_id) WHERE version_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS files_model_id ON files(model_id, version_id)
    WHERE model_id IS NOT NULL;
DROP INDEX IF EXISTS files_inode;
CREATE TABLE IF NOT EXISTS models (
    model_id INTEGER PRIMARY KEY,
    name TEXT,
    type TEXT,
    latest_version_id INTEGER,
    latest_version_name TEXT,
    latest_published_at TEXT,
    checked_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS models_latest ON models(latest_version_id);
CREATE TABLE IF NOT EXISTS updatable (model_id INTEGER PRIMARY KEY);
""" + "".join(_TRIGGERS)
FILE_COLUMNS = (
    "path, folder, size, mtime_ns, dev, ino, sha256, autov1, autov2, autov3, hash_source, "
    "model_id, version_id, file_id, id_source, lookup, looked_up_at, enriched_at, updated_at"
)
# The columns a LibraryFile is built from, in its constructor's order.
ROW_COLUMNS = (
    "path, folder, size, mtime_ns, sha256, autov2, autov3, model_id, version_id, file_id, "
    "id_source, lookup, dev, ino, autov1, hash_source, looked_up_at, enriched_at"
)


@dataclass(frozen=True, slots=True)
class LibraryFile:
    """One model file as the library knows it. Hashes are upper-case hex."""

    path: Path
    folder: str | None
    size: int
    mtime_ns: int
    sha256: str | None
    autov2: str | None
    autov3: str | None
    model_id: int | None
    version_id: int | None
    file_id: int | None
    id_source: str | None
    lookup: str  # pending | unknown | identified
    dev: int | None = None
    ino: int | None = None
    autov1: str | None = None
    hash_source: str | None = None  # scan, a1111-cache, download, ...
    looked_up_at: float | None = None
    enriched_at: float | None = None

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9

    @property
    def identified(self) -> bool:
        return self.version_id is not None


def file_from_row(row: tuple) -> LibraryFile:
    """A :class:`LibraryFile` from a row selected as ``ROW_COLUMNS``."""
    return LibraryFile(Path(row[0]), *row[1:])


@dataclass(frozen=True)
class ModelUpdate:
    """An installed version of a model that has a newer published version."""

    path: Path
    model_id: int
    installed_version_id: int
    latest_version_id: int
    latest_version_name: str | None
    model_name: str | None = None


def under_roots(roots: Iterable[str | os.PathLike[str]]) -> tuple[str, tuple[str, ...]]:
    """``WHERE`` clause and parameters for the rows under any of ``roots`` (a range scan)."""
    terms, params = [], []
    for root in roots:
        prefix = os.path.join(os.fspath(root), "")
        terms.append("(path >= ? AND path < ?)")
        params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
    if not terms:
        return "WHERE 0", ()
    return "WHERE (" + " OR ".join(terms) + ")", tuple(params)
