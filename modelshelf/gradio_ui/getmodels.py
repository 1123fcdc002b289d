"""The "Get models" view: what an image, a workflow or pasted parameters need, and fetch it.

A person drops a PNG / JPEG / WebP or a workflow ``.json`` and/or pastes infotext into
"Parameters", presses "Check", and sees every model the file names: installed where,
or what would be downloaded (size, folder), or why it was not found; guesses (a bare
file name matched by search) carry a tick box. "Download all" queues every missing one
with ``Shelf.start_download``, so the Downloads view follows them.

The view holds no resolution logic: it asks ``Shelf.resolve_resources`` and renders the
plan's JSON (``ResolvePlan.to_json``, documented in docs/DESIGN.md "Resolve").
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import gradio as gr

from . import compat, render
from .context import UIContext, sentence

__all__ = ["FILE_TYPES", "GetModelsHandlers", "build_getmodels", "list_html"]

FILE_TYPES = [".png", ".jpg", ".jpeg", ".webp", ".json", ".txt"]
KIND_LABELS = {
    "checkpoint": "Checkpoint",
    "lora": "LoRA",
    "lycoris": "LyCORIS",
    "embedding": "Embedding",
    "hypernetwork": "Hypernetwork",
    "vae": "VAE",
    "controlnet": "ControlNet",
    "upscaler": "Upscaler",
    "unet": "Diffusion model",
    "clip": "Text encoder",
    "clip_vision": "CLIP vision",
    "other": "Other",
}
NOTHING = "Drop an image or a workflow, or paste its parameters, then press Check."
STALE = "That list is out of date; press Check again."


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _sentence(text: str | None) -> str:
    text = (text or "").strip() or "unknown"
    return text if text.endswith((".", "!", "?")) else text + "."


def _file_source(value: Any) -> Path | bytes | None:
    """The uploaded file as Gradio hands it over: a path (4.x), a temp file (3.41) or bytes."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):  # a FileData-like payload
        value = value.get("path") or value.get("name")
    name = value if isinstance(value, (str, os.PathLike)) else getattr(value, "name", None)
    if isinstance(name, (str, os.PathLike)) and str(name):
        return Path(name)
    return None


def _size_text(size: Any) -> str:
    from ..views import size_text  # on use: the tab's build (the WebUI's start) skips views

    return size_text(size)


def _status(res: dict[str, Any], index: int, queued: dict[str, str]) -> str:
    """The "what happens" cell of one resource."""
    state = res.get("state")
    target = res.get("target_dir")
    to = f" to {target}" if target else ""
    size = _size_text(res.get("size")) if res.get("size") is not None else "unknown size"
    if str(index) in queued:
        return (
            '<span class="modelshelf-gm-state modelshelf-gm-queued">Queued</span> '
            "follow it under Downloads."
        )
    if state == "installed":
        where = res.get("installed_at") or []
        text = f"Installed at {where[0]}" if where else "Installed"
        return f'<span class="modelshelf-gm-state modelshelf-gm-installed">{_e(text)}</span>'
    if state == "downloaded":
        text = f"Downloaded to {res.get('downloaded_to')}"
        return f'<span class="modelshelf-gm-state modelshelf-gm-installed">{_e(text)}</span>'
    if state == "download":
        return f'<span class="modelshelf-gm-state">{_e(f"Will download ({size}){to}")}</span>'
    if state == "guess":
        return (
            f'<span class="modelshelf-gm-state">{_e(f"Will download ({size}){to}")}</span>'
            '<label class="modelshelf-gm-accept"><input type="checkbox"'
            f' data-modelshelf-guess="{index}"> Use this guess</label>'
        )
    if state == "unsupported":
        text = f"Cannot download here: {_sentence(res.get('reason'))}"
    elif state == "error":
        text = f"Look-up failed: {_sentence(res.get('reason'))}"
    else:
        text = f"Not found: {_sentence(res.get('reason'))}"
    return f'<span class="modelshelf-gm-state modelshelf-gm-missing">{_e(text)}</span>'


def _row(res: dict[str, Any], index: int, queued: dict[str, str]) -> str:
    kind = KIND_LABELS.get(res.get("kind") or "", str(res.get("kind") or "Other"))
    name = res.get("name") or res.get("file_name") or f"version {res.get('version_id')}"
    weight = res.get("weight")
    weight_html = (
        f' <span class="modelshelf-tag">weight {weight:g}</span>'
        if isinstance(weight, (int, float))
        else ""
    )
    found = " ".join(x for x in (res.get("model_name"), res.get("version_name")) if x)
    how = res.get("how_text") or ""
    if res.get("state") == "guess":
        how = f"Guess, {how}" if how else "Guess"
    ident = f"<div>{_e(found)}</div>" if found else ""
    ident += f'<div class="modelshelf-muted">{_e(how)}</div>' if how else ""
    conflict = ""
    if res.get("conflict") and res.get("state") != "installed":
        conflict = (
            '<div class="modelshelf-muted">A different file with this name is at '
            f"{_e(res['conflict'])}.</div>"
        )
    return (
        f'<tr data-state="{_e(res.get("state"))}"><td>{_e(kind)}</td>'
        f'<td class="modelshelf-fname">{_e(name)}{weight_html}</td>'
        f"<td>{ident or '–'}</td><td>{_status(res, index, queued)}{conflict}</td></tr>"
    )


def _summary(resources: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for res in resources:
        counts[res.get("state") or ""] = counts.get(res.get("state") or "", 0) + 1
    size = sum(r.get("size") or 0 for r in resources if r.get("state") == "download")
    parts = [f"<b>{len(resources)}</b> model{'s' if len(resources) != 1 else ''}"]
    if counts.get("installed"):
        parts.append(f"<b>{counts['installed']}</b> installed")
    if counts.get("download"):
        parts.append(f"<b>{counts['download']}</b> to download ({_e(_size_text(size))})")
    if counts.get("guess"):
        parts.append(f"<b>{counts['guess']}</b> guessed")
    missing = sum(counts.get(k, 0) for k in ("not-found", "error", "unsupported"))
    if missing:
        parts.append(f"<b>{missing}</b> not found")
    return f'<div class="modelshelf-counts">{" · ".join(parts)}</div>'


def list_html(plan: dict[str, Any] | None, queued: dict[str, str] | None = None) -> str:
    """The result list of a plan's JSON; ``queued`` maps a resource index to its job id."""
    if not plan:
        return '<div class="modelshelf-muted">No file checked yet.</div>'
    queued = queued or {}
    parts = [render.message_html(_sentence(e), kind="error") for e in plan.get("errors") or []]
    resources = plan.get("resources") or []
    if resources:
        parts.append(_summary(resources))
        rows = (_row(res, i, queued) for i, res in enumerate(resources))
        parts.append(render.table_html(["Kind", "Name", "Identified as", "Status"], rows))
    elif not parts:
        parts.append(render.message_html("This file names no model."))
    return f'<div class="modelshelf-getmodels">{"".join(parts)}</div>'


def _can_download(plan: dict[str, Any] | None, queued: dict[str, str]) -> bool:
    return any(
        r.get("state") in ("download", "guess") and str(i) not in queued
        for i, r in enumerate((plan or {}).get("resources") or [])
    )


class GetModelsHandlers:
    """Check and Download all (plain methods, testable without a page)."""

    def __init__(self, ctx: UIContext):
        self.ctx = ctx

    def check(self, file_value: Any, text: str | None):
        """Resolve the dropped file and/or pasted parameters.

        Returns (state, list html, message html, "Download all" update, accepted guesses).
        """
        sources: list[Any] = []
        source = _file_source(file_value)
        if source is not None:
            sources.append(source)
        if text and text.strip():
            sources.append(text)
        if not sources:
            return self._out({}, render.message_html(NOTHING, kind="warn"))
        try:
            plan = self.ctx.shelf.resolve_resources(sources).to_json()
        except Exception as exc:  # noqa: BLE001 - a sentence for the page
            return self._out({}, render.message_html(sentence(exc), kind="error"))
        return self._out({"plan": plan, "queued": {}}, "")

    def _out(self, state: dict[str, Any], message: str):
        plan, queued = state.get("plan"), state.get("queued") or {}
        body = list_html(plan, queued)
        button = gr.update(interactive=_can_download(plan, queued))
        return state, body, message, button, ""

    def download_all(self, state: dict[str, Any] | None, accepted: str | None):
        """Queue every missing model (and each guess ticked in ``accepted``: "0,3").

        Returns (state, list html, message html, "Download all" update).
        """
        state = dict(state or {})
        plan = state.get("plan")
        if not plan:
            return state, gr.update(), render.message_html(STALE, kind="error"), gr.update()
        queued = dict(state.get("queued") or {})
        ticked = {p.strip() for p in (accepted or "").split(",") if p.strip()}
        started: list[str] = []
        failures: list[str] = []
        for i, res in enumerate(plan.get("resources") or []):
            key = str(i)
            wanted = res.get("state") == "download" or (
                res.get("state") == "guess" and key in ticked
            )
            if not wanted or key in queued:
                continue
            name = res.get("file_name") or res.get("name") or res.get("ref")
            try:
                if not res.get("ref"):
                    raise ValueError
                job = self.ctx.shelf.start_download(res["ref"], file_id=res.get("file_id"))
            except ValueError:
                failures.append(f"{name}: there is nothing to download.")
                continue
            except Exception as exc:  # noqa: BLE001
                failures.append(f"{name}: {sentence(exc)}")
                continue
            queued[key] = job.id
            started.append(name)
        state["queued"] = queued
        parts = [render.message_html(f, kind="error") for f in failures]
        if started:
            what = (
                f"{started[0]}: follow it"
                if len(started) == 1
                else (f"{len(started)} models: follow them")
            )
            parts.insert(0, render.message_html(f"Queued {what} under Downloads."))
        elif not failures:
            guesses = any(r.get("state") == "guess" for r in plan.get("resources") or [])
            text = "Nothing is missing."
            if guesses and _can_download(plan, queued):
                text = "Nothing to download: tick a guess to accept it first."
            parts.append(render.message_html(text))
        button = gr.update(interactive=_can_download(plan, queued))
        return state, list_html(plan, queued), "".join(parts), button


def build_getmodels(ctx: UIContext) -> GetModelsHandlers:
    """Create the "Get models" view in the current Blocks and wire it."""
    h = GetModelsHandlers(ctx)
    state = gr.State({})
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=240):
            upload = gr.File(
                label="Image or workflow",
                file_types=FILE_TYPES,
                elem_id="modelshelf_gm_file",
            )
        with gr.Column(scale=2):
            params = gr.Textbox(
                label="Parameters",
                lines=6,
                max_lines=12,
                placeholder="Paste an image's generation parameters (as A1111 shows them).",
                elem_id="modelshelf_gm_params",
            )
    with gr.Row():
        check = gr.Button("Check", variant="primary", elem_id="modelshelf_gm_check")
        fetch = gr.Button("Download all", interactive=False, elem_id="modelshelf_gm_download")
    accepted = gr.Textbox(
        show_label=False,
        container=False,
        elem_id="modelshelf_gm_accepted",
        elem_classes=["modelshelf-hidden"],
    )
    message = gr.HTML(elem_id="modelshelf_gm_msg")
    body = gr.HTML(list_html(None), elem_id="modelshelf_gm_list")
    check.click(
        h.check,
        [upload, params],
        [state, body, message, fetch, accepted],
        api_name=False,
        show_progress="minimal",
    )
    queued = fetch.click(
        h.download_all, [state, accepted], [state, body, message, fetch], api_name=False
    )
    compat.js_event(queued.then, "() => { modelshelfPollSoon(); }")
    return h
