"""The sidebar's "Missing models": what a workflow, an image or a workflow file needs.

The pack only carries requests and renders answers; the reading and resolving is the
core's (``Shelf.resolve_resources``). A checked plan is kept in memory under an id (the
last :data:`KEEP_PLANS`), so "Download all" starts exactly the items the person saw:

    POST /modelshelf/missing            {"workflow": graph} | {"text": infotext}
                                        | multipart "file" | raw bytes (an image, a .json)
      → {"plan_id", "items": [item], "errors": [sentence], "counts": {state: n}, "missing": n}
    POST /modelshelf/missing/download   {"plan_id", "accept": [index of a ticked guess]}
      → {"jobs": [{"index", "job": job_view}], "errors": [{"index", "error"}]}

An item names a folder by its ComfyUI key and a file by the name ComfyUI lists, never by a
path. Bodies are bounded (:data:`MAX_BODY`): a larger one is refused with a sentence.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import guard, host, service

if TYPE_CHECKING:
    from ..modelshelf.layout import HostLayout
    from ..modelshelf.resolve import PlanItem, ResolvePlan

__all__ = ["MAX_BODY", "check", "download", "item_view", "read_sources"]

MAX_BODY = 64 * 1024 * 1024
KEEP_PLANS = 16
CHUNK = 256 * 1024
TOO_LARGE = (
    "That file is larger than 64 MiB; Model Shelf reads the models of images and workflows "
    "up to that size."
)
NOT_A_SOURCE = "Send a workflow (its JSON), an image with generation data, or a workflow file."
# What the sidebar shows for each PlanItem.state.
LABELS = {
    "installed": "Installed",
    "downloaded": "Installed",
    "download": "Missing",
    "guess": "Guess",
    "not-found": "Not found",
    "error": "Look-up failed",
    "unsupported": "Cannot download",
}

_lock = threading.Lock()
_plans: OrderedDict[str, ResolvePlan] = OrderedDict()


# -- reading the request -------------------------------------------------------------
async def _read_limited(stream: Any) -> bytes:
    """The whole of ``stream`` (aiohttp ``StreamReader`` or a body part), at most MAX_BODY."""
    read = getattr(stream, "read_chunk", None) or stream.read  # a body part / the request
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await read(CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > MAX_BODY:
            raise guard.RefusedError(413, TOO_LARGE)
        parts.append(chunk)


async def read_sources(request: Any) -> dict[str, Any]:
    """The sources a ``/missing`` request carries, as ``{"sources": [...]}`` for :func:`check`.

    JSON ``{"workflow": {...}}`` (UI or API format) or ``{"text": "..."}``; a multipart
    form's ``file``; any other body is the file's bytes.
    """
    length = request.content_length
    if length is not None and length > MAX_BODY:
        raise guard.RefusedError(413, TOO_LARGE)
    ctype = (request.content_type or "").lower()
    if ctype.startswith("multipart/"):
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise guard.RefusedError(400, "The form has no file field.")
            if part.name == "file":
                data = await _read_limited(part)
                return {"sources": [data] if data else []}
            await _read_limited(part)  # skip another field, bounded too
    data = await _read_limited(request.content)
    if ctype == "application/json":
        try:
            body = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise guard.RefusedError(400, "The request body is not JSON.") from None
        if isinstance(body, dict) and isinstance(body.get("workflow"), dict):
            return {"sources": [body["workflow"]]}
        if isinstance(body, dict) and isinstance(body.get("text"), str):
            return {"sources": [body["text"]]}
        raise guard.RefusedError(400, NOT_A_SOURCE)
    return {"sources": [data] if data else []}


# -- the views -----------------------------------------------------------------------
def _where(layout: HostLayout, path: Path) -> str | None:
    """``key/name`` under which ComfyUI lists ``path``, or None."""
    found = host.folder_keys_for(layout, path)
    if not found:
        return None
    key, name = found[0]
    return f"{key}/{name.replace(chr(92), '/')}"


def _folder_key(layout: HostLayout, folder: Path | None) -> str | None:
    if folder is None:
        return None
    where = _where(layout, folder / "_")
    return where.split("/", 1)[0] if where else None


def _name(item: PlanItem, data: dict[str, Any]) -> str:
    """What the source called it, else the file it resolved to ("version 400" last)."""
    res = item.resolved.resource
    found = data["downloaded_to"] or (data["installed_at"] or [None])[0]
    on_disk = Path(found).name if found else None
    return res.name or data["file_name"] or on_disk or data["model_name"] or res.display_name


def item_view(index: int, item: PlanItem, layout: HostLayout) -> dict[str, Any]:
    """One row of the list: what, how it was identified, its state, where it goes."""
    from ..modelshelf import views

    data = item.to_json()
    state = item.state
    installed = [_where(layout, Path(p)) for p in data["installed_at"] or []]
    if data["downloaded_to"]:
        installed.insert(0, _where(layout, Path(data["downloaded_to"])))
    conflict = _where(layout, Path(data["conflict"])) if data["conflict"] else None
    return {
        "index": index,
        "kind": data["kind"],
        "name": _name(item, data),
        "weight": data["weight"],
        "state": state,
        "label": LABELS.get(state, state),
        "how": data.get("how_text") or data["how"],  # the core's words, as the CLI prints them
        "model_name": data["model_name"],
        "version_name": data["version_name"],
        "model_id": data["model_id"],
        "version_id": data["version_id"],
        "file_name": data["file_name"],
        "size_text": views.size_text(data["size"]) if data["size"] else "",
        "folder": _folder_key(layout, item.target_dir),
        "installed_as": [w for w in installed if w],
        "conflict": conflict,
        "reason": data["reason"] if state not in ("installed", "downloaded") else None,
        "can_download": state == "download",
        "guess": state == "guess",
    }


def _view(plan_id: str, plan: ResolvePlan, layout: HostLayout) -> dict[str, Any]:
    items = [item_view(i, item, layout) for i, item in enumerate(plan.items)]
    counts: dict[str, int] = {}
    for item in items:
        counts[item["state"]] = counts.get(item["state"], 0) + 1
    return {
        "plan_id": plan_id,
        "items": items,
        "errors": list(plan.errors),
        "counts": counts,
        "missing": sum(1 for i in items if i["state"] not in ("installed", "downloaded")),
    }


# -- the handlers --------------------------------------------------------------------
def _sentence(error: str) -> str:
    """The core's sentence about an unnamed source, with the source named for a person."""
    for label, shown in (("<bytes>", "That file"), ("<workflow>", "That workflow")):
        if error.startswith(label):
            return shown + error[len(label) :]
    return error


def check(_query: dict, _match: dict, body: dict) -> dict[str, Any]:
    """Resolve the sources through the core; keep the plan for "Download all"."""
    sources = body.get("sources") or []
    if not sources:
        raise guard.RefusedError(400, NOT_A_SOURCE)
    shelf = service.get_shelf()
    plan = shelf.resolve_resources(sources)
    errors = [_sentence(e) for e in plan.errors]
    if errors and not plan.items:
        raise guard.RefusedError(400, errors[0])
    plan.errors = errors
    plan_id = secrets.token_hex(8)
    with _lock:
        _plans[plan_id] = plan
        while len(_plans) > KEEP_PLANS:
            _plans.popitem(last=False)
    return _view(plan_id, plan, shelf.layout)


def _accepted(body: dict) -> set[int]:
    accept = body.get("accept", [])
    if not isinstance(accept, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 10000 for i in accept
    ):
        raise guard.RefusedError(400, "accept must be a list of item numbers.")
    return set(accept)


def download(_query: dict, _match: dict, body: dict) -> dict[str, Any]:
    """Queue every missing item of a checked plan (and the guesses the person ticked)."""
    from ..modelshelf import views
    from ..modelshelf.errors import ModelShelfError, sentence_for

    plan_id = body.get("plan_id")
    if not isinstance(plan_id, str) or not guard.re_full(plan_id):
        raise guard.RefusedError(400, "plan_id is missing.")
    accept = _accepted(body)
    with _lock:
        plan = _plans.get(plan_id)
    if plan is None:
        raise guard.RefusedError(404, "That list is out of date; check the workflow again.")
    shelf = service.get_shelf()
    jobs: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(plan.items):
        wanted = item.state == "download" or (item.state == "guess" and index in accept)
        if not wanted or not item.ref:
            continue
        try:
            job = shelf.start_download(item.ref, file_id=item.file_id)
        except ModelShelfError as exc:
            errors.append({"index": index, "error": sentence_for(exc)})
            continue
        jobs.append({"index": index, "job": views.job_view(job)})
    return {"jobs": jobs, "errors": errors}
