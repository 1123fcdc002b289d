"""The use case the front ends call: files → a plan (what is installed, what to fetch) → downloads.

::

    plan = plan_for_files([Path("image.png"), "pasted parameters", workflow_dict],
                          settings=settings, layout=layout)
    for item in plan.items: item.state, item.line(), item.to_json()
    outcomes = download_missing(plan, download=shelf.download, on_progress=..., cancel=...)

``download`` has the signature of ``Shelf.download(ref, *, file_id, on_progress, cancel)``
and returns a ``DownloadResult``; each missing file goes through it (verified, resumable,
sidecars, the right folder by type). Guesses (a file name matched by search) are only
downloaded with ``accept_guesses``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelShelfError, UnsupportedTypeError
from ..units import size_text as human_size
from .extract import extract_resources
from .infotext import _Collector
from .resolver import resolve_resources
from .types import ResolvedResource

if TYPE_CHECKING:
    from ..layout import HostLayout
    from ..library.db import LibraryDB
    from ..settings import Settings

__all__ = ["DownloadOutcome", "PlanItem", "ResolvePlan", "download_missing", "plan_for_files"]

Source = Any  # Path (a file), bytes (its content), str (pasted text), dict (a workflow)
DownloadFn = Callable[..., Any]
ProgressFn = Callable[[int, "int | None"], None]

_CIVITAI_TYPE = {
    "checkpoint": "Checkpoint",
    "unet": "Checkpoint",
    "lora": "LORA",
    "lycoris": "LoCon",
    "embedding": "TextualInversion",
    "hypernetwork": "Hypernetwork",
    "vae": "VAE",
    "controlnet": "Controlnet",
    "upscaler": "Upscaler",
}




@dataclass
class PlanItem:
    """One resource of the plan: how it was identified and what happens to it."""

    resolved: ResolvedResource
    target_dir: Path | None = None
    size: int | None = None
    ref: str | None = None  # what to download (model@version or a version URL)
    file_id: int | None = None
    problem: str | None = None  # why it cannot be downloaded into this layout
    downloaded_to: Path | None = None
    download_error: str | None = None

    @property
    def state(self) -> str:
        """installed, downloaded, download, guess, not-found, error or unsupported."""
        r = self.resolved
        if self.downloaded_to is not None:
            return "downloaded"
        if r.status == "installed":
            return "installed"
        if r.status in ("not-found", "error"):
            return r.status
        if self.problem:
            return "unsupported"
        return "guess" if r.confidence == "guess" else "download"

    def line(self) -> str:
        """One line for a person: kind, name, weight, how identified, what happens."""
        r = self.resolved
        res = r.resource
        parts = [f"{res.kind:<12}", res.display_name]
        if res.weight is not None:
            parts.append(f"weight {res.weight:g}")
        if r.version is not None:
            label = r.version.model_name or ""
            parts.append(f"= {label} {r.version.name}".replace("  ", " ").rstrip())
        if r.how:
            parts.append(f"[{_how_text(r)}]")
        parts.append(self.outcome_text())
        return "  ".join(parts)

    def outcome_text(self) -> str:
        state = self.state
        r = self.resolved
        if state == "installed":
            text = f"installed at {r.installed_at[0]}" if r.installed_at else "installed"
        elif state == "downloaded":
            text = f"downloaded to {self.downloaded_to}"
        elif state in ("download", "guess"):
            where = f" to {self.target_dir}" if self.target_dir else ""
            text = f"will download ({human_size(self.size)}){where}"
            if state == "guess":
                text = f"guess, confirm before download: {text}"
        elif state == "unsupported":
            text = f"cannot download here: {self.problem}"
        elif state == "error":
            text = f"look-up failed: {r.reason or 'unknown'}"
        else:
            text = f"not found: {r.reason or 'unknown'}"
        if self.download_error:
            text += f"; download failed: {self.download_error}"
        if r.conflict is not None and state != "installed":
            text += f" (a different file with this name is at {r.conflict})"
        return text

    def to_json(self) -> dict[str, Any]:
        r = self.resolved
        f = r.file
        return {
            **r.resource.to_json(),
            "state": self.state,
            "how": r.how,
            "how_text": _how_text(r) if r.how else None,
            "confidence": r.confidence,
            "model_id": r.model_id,
            "version_id": r.version_id,
            "model_name": r.version.model_name if r.version else None,
            "version_name": r.version.name if r.version else None,
            "file_id": f.id if f else None,
            "file_name": f.name if f else None,
            "size": self.size,
            "sha256": (f.hashes.sha256 or "").upper() or None if f else None,
            "target_dir": str(self.target_dir) if self.target_dir else None,
            "installed_at": [str(p) for p in r.installed_at],
            "downloaded_to": str(self.downloaded_to) if self.downloaded_to else None,
            "conflict": str(r.conflict) if r.conflict else None,
            "ref": self.ref,
            "reason": r.reason or self.problem or self.download_error,
        }


def _how_text(r: ResolvedResource) -> str:
    res = r.resource
    how = r.how or ""
    if how in ("autov2", "autov3", "autov1", "sha256"):
        value = res.hashes.get(how) or res.hashes.get("sha256_12", "")[:10]
        shown = value[:12] + "…" if how == "sha256" else value
        return f"by {how.upper() if how != 'sha256' else 'SHA256'} {shown}".rstrip()
    return {
        "version-id": f"by version id {r.version_id}",
        "air": f"by AIR {res.air or r.version_id}",
        "url": "by its Civitai URL",
        "file-name": "by file name",
        "name-search": "by name search",
    }.get(how, how)


@dataclass
class ResolvePlan:
    """Everything a set of files names, resolved; ``errors`` are unreadable sources."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    items: list[PlanItem] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_download(self, *, accept_guesses: bool = False) -> list[PlanItem]:
        states = {"download", "guess"} if accept_guesses else {"download"}
        return [i for i in self.items if i.state in states]

    def missing(self) -> list[PlanItem]:
        return [i for i in self.items if i.state not in ("installed", "downloaded")]

    @property
    def complete(self) -> bool:
        return not self.missing() and not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "resources": [i.to_json() for i in self.items],
            "errors": list(self.errors),
            "missing": [i.resolved.resource.display_name for i in self.missing()],
            "complete": self.complete,
        }


def _label(source: Source, index: int) -> str:
    if isinstance(source, (str, bytes, dict)) and not isinstance(source, os.PathLike):
        return f"<input {index + 1}>"
    return str(source)


def plan_for_files(
    sources: Sequence[Source],
    *,
    settings: Settings,
    layout: HostLayout | None = None,
    provider: Any = None,
    library: LibraryDB | None = None,
    workers: int = 4,
) -> ResolvePlan:
    """Read every source, resolve what they name together, and plan each download.

    A source that cannot be read adds one sentence to ``plan.errors``; the others still
    count. ``layout`` None: targets are left empty (nothing can be downloaded).
    """
    plan = ResolvePlan()
    merged = _Collector()
    for index, source in enumerate(sources):
        label = _label(source, index)
        try:
            meta, resources = extract_resources(source, name=None)
        except ModelShelfError as exc:
            plan.errors.append(str(exc))
            plan.sources.append({"path": label, "kind": None, "resources": 0})
            continue
        plan.sources.append({"path": label, "kind": meta.kind, "resources": len(resources)})
        for res in resources:
            merged.add(res)
    if not merged.items:
        return plan
    own_provider = provider is None
    own_library = library is None
    if own_provider:
        from ..providers import get_provider

        provider = get_provider("civitai", settings)
    if own_library:
        from ..library import open_library

        library = open_library(settings)
    try:
        resolved = resolve_resources(
            merged.items,
            provider=provider,
            library_db=library,
            civitai_root=settings.civitai_url,
            workers=workers,
        )
    finally:
        if own_library and library is not None:
            library.close()
    plan.items = [_plan_item(r, layout, settings) for r in resolved]
    return plan


def _plan_item(r: ResolvedResource, layout: HostLayout | None, settings: Settings) -> PlanItem:
    item = PlanItem(r)
    if r.status != "available" or r.version is None:
        return item
    f = r.file
    if f is None:
        item.problem = "that Civitai version has no downloadable file"
        return item
    item.size = f.approx_size
    item.file_id = f.id
    model_id = r.model_id
    if model_id is not None:
        item.ref = f"{model_id}@{r.version.id}"
    else:
        item.ref = f"{settings.civitai_url.rstrip('/')}/api/v1/model-versions/{r.version.id}"
    if layout is not None:
        from ..layout import target_dir

        model_type = r.version.model_type or _CIVITAI_TYPE.get(r.resource.kind, "Other")
        try:
            item.target_dir = target_dir(layout, model_type, f.type)
        except UnsupportedTypeError as exc:
            item.problem = str(exc).rstrip(".")
    return item


@dataclass
class DownloadOutcome:
    item: PlanItem
    result: Any = None  # the DownloadResult
    error: ModelShelfError | None = None


def download_missing(
    plan: ResolvePlan,
    download: DownloadFn,
    *,
    accept_guesses: bool = False,
    on_progress: ProgressFn | None = None,
    on_item: Callable[[PlanItem], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[DownloadOutcome]:
    """Download every missing item of ``plan``, one after another; failures are recorded.

    ``on_progress(done, total)`` counts bytes over all of them (total: the planned sizes);
    ``on_item`` is told when each starts. A cancelled download stops the rest.
    """
    todo = plan.to_download(accept_guesses=accept_guesses)
    total = sum(i.size or 0 for i in todo) or None
    finished = 0
    outcomes: list[DownloadOutcome] = []
    for item in todo:
        if cancel is not None and cancel.is_set():
            break
        if on_item is not None:
            on_item(item)
        base = finished

        def progress(done: int, _total: int | None, base: int = base) -> None:
            if on_progress is not None:
                on_progress(base + done, total)

        try:
            result = download(item.ref, file_id=item.file_id, on_progress=progress, cancel=cancel)
        except ModelShelfError as exc:
            item.download_error = str(exc).rstrip(".")
            outcomes.append(DownloadOutcome(item, error=exc))
            if exc.exit_code == 130:
                break
            continue
        item.downloaded_to = Path(result.path)
        finished += item.size or 0
        outcomes.append(DownloadOutcome(item, result=result))
    return outcomes
