"""Tell what each library file is: from its sidecars first, then by asking Civitai.

Order, cheapest first:

1. A sidecar already says it: our ``<stem>.json`` (``modelId``/``modelVersionId``, the same
   keys A1111 metadata carries) or Civitai Helper's ``<stem>.civitai.info``. When the
   sidecar names a SHA256 that is not the file's, it is about other bytes and is ignored.
2. The bulk by-hash POST, 100 SHA256 a call, one call at a time with at least
   ``min_interval`` seconds between calls (429 is retried by the HTTP layer).
3. For LoRA-like files Civitai did not know by SHA256 (it stores hashes of the file it
   scanned, which a metadata edit changes): one GET by AutoV3, which ignores metadata.

Files answered "unknown" are asked again only after ``recheck_after`` seconds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError, UserCancelledError
from ..hashing import autov3 as compute_autov3
from .db import LibraryDB, LibraryFile
from .scan import AUTOV3_FOLDERS, ScanItems

if TYPE_CHECKING:
    from ..types import ModelVersion

__all__ = [
    "BULK_SIZE",
    "AUTOV3_FOLDERS",
    "IdentifyResult",
    "Pacer",
    "due_for_lookup",
    "ids_from_sidecars",
    "identify_files",
]

log = logging.getLogger(__name__)

BULK_SIZE = 100
RECHECK_AFTER = 7 * 24 * 3600.0
_MODEL_ID_KEYS = ("modelId", "model_id", "civitaiModelId", "civitai_model_id")
_VERSION_ID_KEYS = ("modelVersionId", "versionId", "model_version_id", "civitai_version_id")


class Pacer:
    """Keeps at least ``min_interval`` seconds between the starts of successive calls."""

    def __init__(
        self,
        min_interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.min_interval = min_interval
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        now = self.clock()
        if self._last is not None:
            gap = self._last + self.min_interval - now
            if gap > 0:
                self.sleep(gap)
                now = self.clock()
        self._last = now


@dataclass
class IdentifyResult:
    """What identification learnt; ``versions`` maps each identified path to its version."""

    from_sidecars: int = 0
    by_sha256: int = 0
    by_autov3: int = 0
    unknown: int = 0
    requests: int = 0
    versions: dict[Path, ModelVersion] = field(default_factory=dict)
    errors: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def identified(self) -> int:
        return self.from_sidecars + self.by_sha256 + self.by_autov3


def _int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def ids_from_sidecars(path: Path, sha256: str | None) -> tuple[int | None, int, int | None] | None:
    """``(model_id, version_id, file_id)`` from the file's sidecars, or None."""
    info = _read_json(path.with_name(path.stem + ".civitai.info"))
    if info is not None and _int(info.get("id")):
        files = [f for f in info.get("files") or [] if isinstance(f, dict)]
        hashes = {
            str((f.get("hashes") or {}).get("SHA256", "")).upper(): f
            for f in files
            if isinstance(f.get("hashes"), dict)
        }
        hashes.pop("", None)
        match = hashes.get((sha256 or "").upper())
        if not hashes or match is not None or not sha256:
            file_id = _int(match.get("id")) if match else None
            model_id = _int(info.get("modelId")) or _int((info.get("model") or {}).get("id"))
            return model_id, int(info["id"]), file_id
    meta = _read_json(path.with_name(path.stem + ".json"))
    if meta is not None:
        version_id = next((_int(meta[k]) for k in _VERSION_ID_KEYS if _int(meta.get(k))), None)
        written_sha = str(meta.get("sha256") or "").upper()
        if version_id and (not written_sha or not sha256 or written_sha == sha256.upper()):
            model_id = next((_int(meta[k]) for k in _MODEL_ID_KEYS if _int(meta.get(k))), None)
            return model_id, version_id, None
    return None


def _file_of(version: ModelVersion, kind: str, value: str):
    for f in version.files:
        if (getattr(f.hashes, kind) or "").upper() == value.upper():
            return f
    return None


def due_for_lookup(
    files: Iterable[LibraryFile], recheck_after: float = RECHECK_AFTER
) -> list[LibraryFile]:
    """The unidentified files never asked about, or asked longer than ``recheck_after`` ago.

    Given a scan's ``items`` (:class:`~.scan.ScanItems`) the database answers (an indexed
    query), so a rescan of a large library builds no row for the files already known.
    """
    if isinstance(files, ScanItems):
        return list(files.db.iter_due(files.roots, recheck_after))
    now = time.time()
    return [
        f
        for f in files
        if f.version_id is None
        and (f.lookup == "pending" or (f.looked_up_at or 0) + recheck_after <= now)
    ]


def identify_files(
    db: LibraryDB,
    provider: Any,
    files: Iterable[LibraryFile] | None = None,
    *,
    min_interval: float = 0.5,
    use_autov3: bool = True,
    recheck_after: float = RECHECK_AFTER,
    pacer: Pacer | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
    cancel: threading.Event | None = None,
) -> IdentifyResult:
    """Identify ``files`` (default: every unidentified file due a lookup); record the ids.

    ``provider`` is a :class:`~modelshelf.providers.civitai.CivitaiProvider` (anything with
    ``get_versions_by_hashes`` and ``get_version_by_hash``).
    """
    if files is None:
        files = list(db.iter_due(None, recheck_after))
    todo = [f for f in files if f.version_id is None]
    result = IdentifyResult()
    pacer = pacer or Pacer(min_interval)
    total = len(todo)
    done = 0

    def tick(n: int = 1) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done, total)

    def check_cancel() -> None:
        if cancel is not None and cancel.is_set():
            raise UserCancelledError("Identification was cancelled; what was learnt is kept.")

    asking: list[tuple[str, LibraryFile]] = []
    for f in todo:
        ids = ids_from_sidecars(f.path, f.sha256)
        if ids is not None:
            db.set_ids(f.path, ids[0], ids[1], ids[2], source="sidecar")
            result.from_sidecars += 1
            tick()
        elif f.sha256:
            asking.append((f.sha256, f))
        else:
            tick()

    by_sha: dict[str, list[LibraryFile]] = {}
    for sha, f in asking:
        by_sha.setdefault(sha.upper(), []).append(f)
    hashes = list(by_sha)
    missed: list[LibraryFile] = []
    for start in range(0, len(hashes), BULK_SIZE):
        check_cancel()
        chunk = hashes[start : start + BULK_SIZE]
        pacer.wait()
        versions = provider.get_versions_by_hashes(chunk)
        result.requests += 1
        found: set[str] = set()
        for version in versions:
            for f in version.files:
                sha = (f.hashes.sha256 or "").upper()
                if sha in by_sha and sha not in found:
                    found.add(sha)
                    for lib in by_sha[sha]:
                        db.set_ids(lib.path, version.model_id, version.id, f.id, "civitai-sha256")
                        result.versions[lib.path] = version
                        result.by_sha256 += 1
        for sha in chunk:
            if sha not in found:
                missed.extend(by_sha[sha])
        tick(sum(len(by_sha[s]) for s in chunk if s in found))

    for lib in missed:
        check_cancel()
        version = None
        if use_autov3 and lib.folder in AUTOV3_FOLDERS:
            version = _lookup_autov3(db, provider, lib, pacer, result)
        if version is None:
            db.mark_unknown([lib.path])
            result.unknown += 1
        tick()
    return result


def _lookup_autov3(db: LibraryDB, provider, lib: LibraryFile, pacer: Pacer, result):
    v3 = lib.autov3
    if v3 is None and str(lib.path).lower().endswith((".safetensors", ".sft")):
        try:
            v3 = compute_autov3(lib.path)
        except OSError as exc:
            result.errors.append((lib.path, str(exc)))
            return None
        if v3:
            db.set_autov3(lib.path, v3)
    if not v3:
        return None
    pacer.wait()
    result.requests += 1
    try:
        version = provider.get_version_by_hash(v3)
    except NotFoundError:
        return None
    match = _file_of(version, "autov3", v3)
    if match is None:  # a short-hash hit on another file kind: not trustworthy
        return None
    db.set_ids(lib.path, version.model_id, version.id, match.id, "civitai-autov3")
    result.versions[lib.path] = version
    result.by_autov3 += 1
    return version
