"""The local library: what model files are on disk, what they are, and what is newer.

Core API for the front ends (no rescan needed)::

    db = open_library(settings)
    db.installed_versions(version_id)   # is this version installed, where
    db.installed_many(version_ids)      # the same for a page of cards: {version_id: [paths]}
    db.updated_models(model_ids)        # which of these models have a newer version
    db.updates()                        # installed files with a newer version (last check)

``scan`` walks and hashes, ``identify`` asks Civitai, ``enrich`` writes the missing
sidecars, ``updates`` checks for newer versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .db import LibraryDB, LibraryFile, ModelUpdate

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["LibraryDB", "LibraryFile", "ModelUpdate", "open_library"]


def open_library(settings: Settings) -> LibraryDB:
    """The library database of these settings (``<home>/library.sqlite3``)."""
    return LibraryDB(settings.library_path)
