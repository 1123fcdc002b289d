"""Which identified models have a newer published version than the one on disk.

One ``/models?ids=`` call per 100 models (``CivitaiProvider.get_models``), paced like the
identification, records each model's newest published version in the database;
:meth:`LibraryDB.updates` then answers without the network, for the UIs as much as for
``modelshelf updates``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UserCancelledError
from .db import LibraryDB, ModelUpdate
from .identify import Pacer

if TYPE_CHECKING:
    from ..types import Model, ModelVersion

__all__ = ["BATCH", "UpdateCheck", "check_updates", "latest_version"]

log = logging.getLogger(__name__)

BATCH = 100  # model ids per ``/models?ids=`` call (Civitai's page limit)
_NOT_PUBLISHED = {"draft", "scheduled", "unpublished", "deleted", "training", "failed"}


@dataclass
class UpdateCheck:
    updates: list[ModelUpdate] = field(default_factory=list)
    checked_models: int = 0
    missing_models: list[int] = field(default_factory=list)  # gone from Civitai or hidden


def latest_version(model: Model) -> ModelVersion | None:
    """The newest published version (Civitai lists versions newest first)."""
    published = [
        v for v in model.versions if (v.status or "Published").lower() not in _NOT_PUBLISHED
    ]
    if not published:
        return None
    if all(v.index is not None for v in published):
        return min(published, key=lambda v: v.index or 0)  # every index is set here
    return published[0]


def check_updates(
    db: LibraryDB,
    provider: Any,
    *,
    on_progress: Callable[[int, int | None], None] | None = None,
    cancel: threading.Event | None = None,
    min_interval: float = 0.5,
    pacer: Pacer | None = None,
) -> UpdateCheck:
    """Ask Civitai about every identified model, record its newest version, list updates.

    One ``ids=`` call per :data:`BATCH` models, at least ``min_interval`` seconds apart;
    each batch is recorded as it arrives (an interrupted check keeps what it learnt).
    ``on_progress(models_checked, models_total)`` after each batch; when ``cancel`` is set
    the check stops before the next call and raises :class:`UserCancelledError`.
    """
    ids = db.identified_model_ids()
    check = UpdateCheck()
    if not ids:
        return check
    pacer = pacer or Pacer(min_interval)
    seen: set[int] = set()
    if on_progress is not None:
        on_progress(0, len(ids))
    for start in range(0, len(ids), BATCH):
        if cancel is not None and cancel.is_set():
            raise UserCancelledError("The update check was cancelled; what was learnt is kept.")
        chunk = ids[start : start + BATCH]
        pacer.wait()
        rows = []
        for model in provider.get_models(chunk):
            if not isinstance(model.id, int) or model.id in seen:
                continue
            seen.add(model.id)
            newest = latest_version(model)
            rows.append(
                (
                    model.id,
                    newest.id if newest else None,
                    newest.name if newest else None,
                    model.name,
                    model.type,
                    newest.published_at if newest else None,
                )
            )
        db.set_latest_many(rows)
        if on_progress is not None:
            on_progress(min(start + BATCH, len(ids)), len(ids))
    check.checked_models = len(seen)
    check.missing_models = [i for i in ids if i not in seen]
    check.updates = db.updates()
    return check
