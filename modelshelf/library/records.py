"""What the library database stores: its schema and the typed rows it hands out.

Tables (schema version in ``meta``):

- ``files``: one row per model file path: size, mtime, device/inode (so a renamed file is
  recognised without reading it), hashes, the Civitai ids once known, and how they were
  learnt (``id_source``: ``sidecar``, ``civitai-sha256``, ``civitai-autov3``, ``link``,
  ``download``). ``lookup`` is ``pending`` until Civitai was asked, ``unknown`` if it did
  not know the file.
- ``models``: what the last update check learnt about each identified model (its newest
  published version).

Every question a front end asks is answered through an index: a path (primary key), a
version id ("installed where"), a model id and the latest version ("which have updates"),
a SHA256, an inode (a renamed file). The version and model indexes are partial (only
identified files), so a first scan of unknown files does not pay for them; they replaced
the full ``files_version`` / ``files_model`` of the first release, dropped on open.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FILE_COLUMNS", "SCHEMA", "SCHEMA_VERSION", "LibraryFile", "ModelUpdate"]

SCHEMA_VERSION = 1

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
CREATE INDEX IF NOT EXISTS files_inode ON files(ino);
CREATE TABLE IF NOT EXISTS models (
    model_id INTEGER PRIMARY KEY,
    name TEXT,
    type TEXT,
    latest_version_id INTEGER,
    latest_version_name TEXT,
    latest_published_at TEXT,
    checked_at REAL NOT NULL
);
"""
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
