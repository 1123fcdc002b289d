"""Which identified models have a newer published version than the one on disk.

One ``/models?ids=`` call per 100 models (``CivitaiProvider.get_models``) records each
model's newest published version in the database; :meth:`LibraryDB.updates` then answers
without the network, for the UIs as much as for ``modelshelf updates``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .db import LibraryDB, ModelUpdate

if TYPE_CHECKING:
    from ..types import Model, ModelVersion

__all__ = ["UpdateCheck", "check_updates", "latest_version"]

log = logging.getLogger(__name__)

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
        return min(published, key=lambda v: v.index)
    return published[0]


def check_updates(db: LibraryDB, provider: Any) -> UpdateCheck:
    """Ask Civitai about every identified model, record its newest version, list updates."""
    ids = sorted({f.model_id for f in db.identified() if f.model_id})
    check = UpdateCheck()
    if not ids:
        return check
    models = provider.get_models(ids)
    seen = set()
    for model in models:
        if not isinstance(model.id, int):
            continue
        seen.add(model.id)
        newest = latest_version(model)
        db.set_latest(
            model.id,
            newest.id if newest else None,
            newest.name if newest else None,
            name=model.name,
            type=model.type,
            published_at=newest.published_at if newest else None,
        )
    check.checked_models = len(seen)
    check.missing_models = [i for i in ids if i not in seen]
    check.updates = db.updates()
    return check
