"""The Model Shelf Blocks: "Browse", "Get models", "Downloads", "Library"; the page's bridge.

:func:`build_ui` builds the same UI for the A1111/Forge tab (``in_webui=True``: the WebUI
loads ``javascript/modelshelf.js`` and ``style.css`` itself) and for ``modelshelf ui``
(:func:`standalone_blocks`, which adds the script and the styles to its own page).

Buttons inside our HTML (a card, a file's "Download", a row's "Cancel") talk to Python
through one *bridge*: a hidden text box and a hidden button; the page script writes
``{"name": ACTION, "arg": TEXT}`` and clicks. Each view registers its actions (a function of
the text and some inputs, and the outputs it sets); one event serves them all, which keeps
the tab's build (the WebUI's start) short. Hidden means a CSS class, so both Gradio
versions keep them in the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from . import compat
from .browse import build_browse
from .context import UIContext
from .downloads import build_downloads
from .getmodels import build_getmodels
from .library import build_library

__all__ = ["BRIDGE", "POLL_INTERVAL", "build_ui", "page_assets", "standalone_blocks"]

BRIDGE = ("open", "reveal", "download", "job", "library", "update", "link", "refresh")
POLL_INTERVAL = 2.0  # seconds between queue snapshots while something changes
_STATIC = Path(__file__).resolve().parent / "static"

Action = tuple[Callable[..., Any], list[Any], list[Any]]  # fn(text, *inputs), inputs, outputs


def page_assets() -> tuple[str, str]:
    """(css, js) of the page script and styles the standalone page embeds."""
    css = (_STATIC / "modelshelf.css").read_text("utf-8")
    js = (_STATIC / "modelshelf.js").read_text("utf-8")
    return css, js


def _unique(components: list[Any]) -> list[Any]:
    out: list[Any] = []
    for c in components:
        if all(c is not d for d in out):
            out.append(c)
    return out


def _wire_bridge(arg: gr.Textbox, go: gr.Button, actions: dict[str, Action]) -> None:
    """One event for every action: its inputs and outputs are the union of theirs."""
    inputs = _unique([c for _, ins, _ in actions.values() for c in ins])
    outputs = _unique([c for _, _, outs in actions.values() for c in outs])

    def index(components: list[Any], within: list[Any]) -> list[int]:
        return [next(i for i, d in enumerate(within) if d is c) for c in components]

    plan = {
        name: (fn, index(ins, inputs), index(outs, outputs))
        for name, (fn, ins, outs) in actions.items()
    }

    def dispatch(text: str, *values: Any):
        result: list[Any] = [gr.update() for _ in outputs]
        try:
            call = json.loads(text or "{}")
            fn, ins, outs = plan[call["name"]]
            arg_text = str(call.get("arg") or "")
        except (ValueError, KeyError, TypeError):
            return result  # not one of ours (an old page): nothing changes
        out = fn(arg_text, *(values[i] for i in ins))
        for i, value in zip(outs, out if len(outs) > 1 else (out,), strict=True):
            result[i] = value
        return result

    go.click(
        dispatch,
        [arg, *inputs],
        outputs,
        api_name=False,
        show_progress="hidden",
        **compat.light(),
    )


def build_ui(ctx: UIContext) -> None:
    """Create the whole UI inside the current ``gr.Blocks`` context."""
    actions: dict[str, Action] = {}
    with gr.Column(elem_id="modelshelf_root", elem_classes=["modelshelf"]):
        with gr.Row(elem_classes=["modelshelf-hidden"]):
            arg = gr.Textbox(
                show_label=False,
                container=False,
                elem_id="modelshelf_bridge_arg",
                elem_classes=["modelshelf-hidden"],
            )
            go = gr.Button("bridge", elem_id="modelshelf_bridge_go")
            poll_on = gr.Button("poll on", elem_id="modelshelf_poll_on")
            poll_off = gr.Button("poll off", elem_id="modelshelf_poll_off")
            since = gr.State({"jobs": 0})
            # the poll's answer, as the text of a hidden button (no status tracker)
            jobs_data = gr.Button("", elem_id="modelshelf_jobs_data")
        with gr.Tabs(elem_id="modelshelf_views"):
            with gr.Tab("Browse", id="browse", elem_id="modelshelf_tab_browse"):
                build_browse(ctx, actions)
            with gr.Tab("Get models", id="getmodels", elem_id="modelshelf_tab_getmodels"):
                build_getmodels(ctx)
            with gr.Tab("Downloads", id="downloads", elem_id="modelshelf_tab_downloads"):
                library_holder: dict[str, Any] = {}
                downloads = build_downloads(
                    ctx, actions, extra_status=lambda: library_holder["h"].tasks_status()
                )
            with gr.Tab("Library", id="library", elem_id="modelshelf_tab_library"):
                library_holder["h"] = build_library(ctx, actions)
    missing = set(BRIDGE) ^ set(actions)
    if missing:
        raise RuntimeError(f"bridge actions out of step: {sorted(missing)}")
    _wire_bridge(arg, go, actions)
    compat.poll(
        downloads.tick,
        since,
        jobs_data,
        interval=POLL_INTERVAL,
        start=poll_on,
        stop=poll_off,
        before=downloads.full,
    )


def standalone_blocks(ctx: UIContext) -> gr.Blocks:
    """The page ``modelshelf ui`` serves: the UI with its script and styles."""
    css, js = page_assets()
    head = f"<script>{js}</script>"
    with gr.Blocks(**compat.blocks_kwargs(title="Model Shelf", css=css, head=head)) as demo:
        gr.Markdown("## Model Shelf", elem_id="modelshelf_title")
        build_ui(ctx)
    return demo
