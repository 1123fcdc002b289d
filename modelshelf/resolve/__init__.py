"""Everything a picture or a workflow needs: read it, resolve what it names, fetch what is missing.

Front ends call the use case (no host import here)::

    from modelshelf.resolve import plan_for_files, download_missing
    plan = plan_for_files([path_or_bytes_or_text_or_workflow_dict], settings=s, layout=l)
    download_missing(plan, download=shelf.download, on_progress=..., cancel=...)

Lower levels: :func:`extract_resources` (one source → :class:`Resource` list),
:func:`resolve_resources` (resources → :class:`ResolvedResource`, library first, then
Civitai with at most one call per resource).
"""

from __future__ import annotations

from .extract import extract_resources, resources_of
from .plan import (
    DownloadOutcome,
    PlanItem,
    ResolvePlan,
    download_missing,
    plan_for_files,
)
from .readers import Metadata, read_source
from .resolver import LibraryIndex, resolve_resources
from .types import ResolvedResource, Resource

__all__ = [
    "DownloadOutcome",
    "LibraryIndex",
    "Metadata",
    "PlanItem",
    "ResolvePlan",
    "ResolvedResource",
    "Resource",
    "download_missing",
    "extract_resources",
    "plan_for_files",
    "read_source",
    "resolve_resources",
    "resources_of",
]
