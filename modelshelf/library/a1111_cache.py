"""Reuse the hashes AUTOMATIC1111 already computed (its hash cache), read-only.

Two stores, both under the WebUI's data dir:

- ``cache.json`` (before 1.9; env ``SD_WEBUI_CACHE_FILE``): ``{"hashes": {title: {"mtime",
  "sha256"}}, "hashes-addnet": {...}}``.
- ``cache/<section>/cache.db`` (1.9+; env ``SD_WEBUI_CACHE_DIR``): a diskcache store, SQLite
  table ``Cache(key, raw, mode, value, filename, ...)``. Values are pickled dicts, decoded
  here with an unpickler that refuses every global, so only plain dicts, strings and
  numbers come out; anything else is skipped.

Titles look like ``checkpoint/<relative name with extension>`` or ``lora/<name>``; the
``sha256`` in ``hashes`` is the full-file hash, in ``hashes-addnet`` the AutoV3 basis.
An entry is used only if the file's mtime is not newer than the stored one (A1111's rule)
and only one file of ours maps to its title.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["A1111HashCache", "CachedHash", "find_cache_locations", "load_a1111_cache"]

log = logging.getLogger(__name__)

SECTIONS = ("hashes", "hashes-addnet")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_MODE_RAW, _MODE_TEXT, _MODE_PICKLE = 1, 3, 4
# our folder keys -> the title prefixes A1111 uses for files of that folder
_PREFIXES = {
    "checkpoints": ("checkpoint",),
    "diffusion_models": ("checkpoint",),
    "unet": ("checkpoint",),
    "loras": ("lora",),
    "lycoris": ("lora",),
    "embeddings": ("textual_inversion", "embedding"),
}


@dataclass(frozen=True)
class CachedHash:
    """A hash A1111 stored: full SHA256 (or None) and the AutoV3 basis (or None)."""

    sha256: str | None
    addnet: str | None

    @property
    def autov3(self) -> str | None:
        return self.addnet[:12].upper() if self.addnet else None


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Unpickles only built-in containers and scalars: any class or function is refused."""

    def find_class(self, module: str, name: str):  # noqa: D401
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def _safe_unpickle(data: bytes) -> object | None:
    try:
        return _NoGlobalsUnpickler(io.BytesIO(data)).load()
    except Exception:  # any malformed or refused pickle is simply not used
        return None


def _entry(value: object) -> tuple[float, str] | None:
    if not isinstance(value, dict):
        return None
    sha, mtime = value.get("sha256"), value.get("mtime")
    if not isinstance(sha, str) or not _HEX64.match(sha):
        return None
    if not isinstance(mtime, (int, float)) or isinstance(mtime, bool):
        return None
    return float(mtime), sha.upper()


@dataclass
class A1111HashCache:
    """A1111's hash entries, ``section -> title -> (mtime, SHA256 upper hex)``."""

    sections: dict[str, dict[str, tuple[float, str]]] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sections.values())

    def add(self, section: str, title: str, value: object) -> None:
        entry = _entry(value)
        if entry is not None and isinstance(title, str):
            self.sections.setdefault(section, {}).setdefault(title.replace("\\", "/"), entry)

    def stems(self) -> set[str]:
        """The file names (with and without extension) the titles could stand for.

        A file whose stem is not in this set has no title here, so a scan need not
        compute its titles at all.
        """
        out: set[str] = set()
        for entries in self.sections.values():
            for title in entries:
                name = title.rsplit("/", 1)[-1]
                out.add(name)
                out.add(os.path.splitext(name)[0])
        return out

    @staticmethod
    def titles_for(folder: str | None, relpath: str) -> list[str]:
        """Titles A1111 may have used for a file at ``relpath`` of folder ``folder``."""
        rel = relpath.replace("\\", "/")
        stem_rel = os.path.splitext(rel)[0]
        stem = os.path.basename(stem_rel)
        names = list(dict.fromkeys([rel, stem_rel, stem]))
        prefixes = _PREFIXES.get(folder or "", ())
        if not prefixes:
            prefixes = ("checkpoint", "lora", "textual_inversion", "hypernetwork", "vae")
        return [f"{p}/{n}" for p in prefixes for n in names]

    def lookup(self, titles: list[str], mtime: float) -> CachedHash | None:
        """The fresh hash stored under the first matching title, or None."""
        found: dict[str, str] = {}
        for section in SECTIONS:
            entries = self.sections.get(section, {})
            for title in titles:
                hit = entries.get(title)
                if hit is not None and mtime <= hit[0]:
                    found[section] = hit[1]
                    break
        if not found:
            return None
        return CachedHash(sha256=found.get("hashes"), addnet=found.get("hashes-addnet"))


def find_cache_locations(
    data_dir: str | os.PathLike[str] | None,
) -> tuple[Path | None, Path | None]:
    """Where A1111 keeps ``cache.json`` and the ``cache/`` folder (env overrides first)."""
    env_file = os.environ.get("SD_WEBUI_CACHE_FILE")
    env_dir = os.environ.get("SD_WEBUI_CACHE_DIR")
    base = Path(data_dir) if data_dir else None
    json_file = Path(env_file) if env_file else (base / "cache.json" if base else None)
    cache_dir = Path(env_dir) if env_dir else (base / "cache" if base else None)
    return json_file, cache_dir


def load_a1111_cache(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    json_file: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> A1111HashCache:
    """Read every A1111 hash store found (missing or unreadable stores are skipped)."""
    found_json, found_dir = find_cache_locations(data_dir)
    json_path = Path(json_file) if json_file else found_json
    dir_path = Path(cache_dir) if cache_dir else found_dir
    cache = A1111HashCache()
    if dir_path is not None:
        for section in SECTIONS:
            db = dir_path / section / "cache.db"
            if db.is_file():
                _read_diskcache(db, section, cache)
    if json_path is not None and json_path.is_file():
        _read_json(json_path, cache)
    return cache


def _read_json(path: Path, cache: A1111HashCache) -> None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        log.info("Not using A1111 cache %s: %s", path, exc)
        return
    if not isinstance(data, dict):
        return
    for section in SECTIONS:
        entries = data.get(section)
        if isinstance(entries, dict):
            for title, value in entries.items():
                cache.add(section, title, value)
    cache.sources.append(path)


def _read_diskcache(db: Path, section: str, cache: A1111HashCache) -> None:
    uri = db.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error as exc:
        log.info("Not using A1111 cache %s: %s", db, exc)
        return
    try:
        rows = conn.execute("SELECT key, raw, mode, value, filename FROM Cache").fetchall()
    except sqlite3.Error as exc:
        log.info("Not using A1111 cache %s: %s", db, exc)
        return
    finally:
        conn.close()
    for key, raw, mode, value, filename in rows:
        title = key if raw else _safe_unpickle(bytes(key)) if key is not None else None
        if not isinstance(title, str):
            continue
        if value is None and filename:
            value = _read_value_file(db.parent, filename, mode)
        if mode == _MODE_PICKLE and isinstance(value, (bytes, memoryview)):
            value = _safe_unpickle(bytes(value))
        elif mode in (_MODE_RAW, _MODE_TEXT) and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                continue
        cache.add(section, title, value)
    cache.sources.append(db)


def _read_value_file(root: Path, filename: str, mode: int) -> bytes | str | None:
    path = root / filename
    try:
        if not path.resolve().is_relative_to(root.resolve()):
            return None
        if path.stat().st_size > 1 << 20:  # a hash entry is tiny; never load a big blob
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return data.decode("utf-8", "replace") if mode == _MODE_TEXT else data
