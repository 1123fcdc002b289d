"""Fill in the cards of identified files: preview, ``<stem>.json``, ``<stem>.civitai.info``.

Uses :func:`modelshelf.sidecars.write_sidecars`, which merges into a person's ``.json``
without overwriting what they wrote and never replaces an existing preview. A file is
enriched once (``enriched_at`` in the database) unless ``force`` is given.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelShelfError, UserCancelledError
from .db import LibraryDB

if TYPE_CHECKING:
    from ..types import ModelVersion

__all__ = ["EnrichResult", "enrich_files", "missing_sidecars"]

log = logging.getLogger(__name__)


@dataclass
class EnrichResult:
    enriched: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    errors: list[tuple[Path, str]] = field(default_factory=list)


def missing_sidecars(model_path: Path) -> bool:
    """True when the file lacks its ``.json``, ``.civitai.info`` or a preview."""
    from ..sidecars import existing_preview

    stem = model_path.with_name(model_path.stem)
    return (
        not Path(f"{stem}.json").exists()
        or not Path(f"{stem}.civitai.info").exists()
        or existing_preview(model_path) is None
    )


def enrich_files(
    db: LibraryDB,
    versions: Mapping[Path, ModelVersion],
    *,
    nsfw: bool = False,
    fetch_image: Callable[[str], tuple[bytes, str | None]] | None = None,
    force: bool = False,
    on_progress: Callable[[int, int | None], None] | None = None,
    cancel: threading.Event | None = None,
) -> EnrichResult:
    """Write what is missing beside each path of ``versions`` (path -> its version)."""
    from ..sidecars import write_sidecars

    result = EnrichResult()
    items = list(versions.items())
    for done, (path, version) in enumerate(items, 1):
        if cancel is not None and cancel.is_set():
            raise UserCancelledError("Filling in the model cards was cancelled.")
        row = db.get(path)
        if row is None:
            continue
        if not force and row.enriched_at is not None and not missing_sidecars(path):
            continue
        before = _snapshot(path)
        try:
            write_sidecars(path, version, sha256=row.sha256, nsfw=nsfw, fetch_image=fetch_image)
        except (ModelShelfError, OSError) as exc:
            result.errors.append((path, str(exc)))
            log.warning("Could not write the cards of %s: %s", path, exc)
            continue
        db.mark_enriched(path)
        result.enriched.append(path)
        result.written.extend(p for p in _snapshot(path) if p not in before)
        if on_progress is not None:
            on_progress(done, len(items))
    return result


def _snapshot(model_path: Path) -> set[Path]:
    folder = model_path.parent
    stem = model_path.stem
    try:
        return {
            p
            for p in folder.iterdir()
            if p != model_path and (p.stem == stem or p.name.startswith(stem + "."))
        }
    except OSError:
        return set()
