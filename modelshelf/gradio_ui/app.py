"""The Model Shelf Blocks: "Browse", "Get models", "Downloads", "Library"; the page's bridges.

:func:`build_ui` builds the same UI for the A1111/Forge tab (``in_webui=True``: the WebUI
loads ``javascript/modelshelf.js`` and ``style.css`` itself) and for ``modelshelf ui``
(:func:`standalone_blocks`, which adds the script and the styles to its own page).

Buttons inside our HTML (a card, a file's "Download", a row's "Cancel") talk to Python
through *bridges*: a hidden text box and a hidden button per action; the page script
writes the argument and clicks. Hidden means a CSS class, so both Gradio versions keep
them in the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from . import compat
from .browse import build_browse
from .context import UIContext
from .downloads import build_downloads
from .getmodels import build_getmodels
from .library import build_library

__all__ = ["BRIDGES", "POLL_INTERVAL", "build_ui", "page_assets", "standalone_blocks"]

BRIDGES = ("open", "reveal", "download", "job", "library", "update", "link", "refresh")
POLL_INTERVAL = 1.0  # seconds between queue snapshots while the UI is visible
_STATIC = Path(__file__).resolve().parent / "static"


def page_assets() -> tuple[str, str]:
    """(css, js) of the page script and styles the standalone page embeds."""
    css = (_STATIC / "modelshelf.css").read_text("utf-8")
    js = (_STATIC / "modelshelf.js").read_text("utf-8")
    return css, js


def _bridge(name: str) -> tuple[gr.Textbox, gr.Button]:
    arg = gr.Textbox(
        show_label=False,
        container=False,
        elem_id=f"modelshelf_{name}_arg",
        elem_classes=["modelshelf-hidden"],
    )
    go = gr.Button(f"{name}", elem_id=f"modelshelf_{name}_go", elem_classes=["modelshelf-hidden"])
    return arg, go


def build_ui(ctx: UIContext) -> None:
    """Create the whole UI inside the current ``gr.Blocks`` context."""
    with gr.Column(elem_id="modelshelf_root", elem_classes=["modelshelf"]):
        with gr.Row(elem_classes=["modelshelf-hidden"]):
            bridges = {name: _bridge(name) for name in BRIDGES}
            poll_on = gr.Button("poll on", elem_id="modelshelf_poll_on")
            poll_off = gr.Button("poll off", elem_id="modelshelf_poll_off")
            revision = gr.State(0)
            jobs_json = gr.Textbox(
                elem_id="modelshelf_jobs_json", show_label=False, container=False
            )
        with gr.Tabs(elem_id="modelshelf_views"):
            with gr.Tab("Browse", id="browse", elem_id="modelshelf_tab_browse"):
                browse = build_browse(ctx, bridges)
            with gr.Tab("Get models", id="getmodels", elem_id="modelshelf_tab_getmodels"):
                build_getmodels(ctx)
            with gr.Tab("Downloads", id="downloads", elem_id="modelshelf_tab_downloads"):
                library_holder: dict[str, Any] = {}
                downloads = build_downloads(
                    ctx, bridges, extra_status=lambda: library_holder["h"].tasks_status()
                )
            with gr.Tab("Library", id="library", elem_id="modelshelf_tab_library"):
                library_holder["h"] = build_library(ctx, bridges)
    h = downloads["handlers"]
    compat.poll(
        h.tick,
        [revision],
        [revision, jobs_json],
        interval=POLL_INTERVAL,
        start=poll_on,
        stop=poll_off,
        before=h.full,
    )
    compat.js_event(jobs_json.change, "(v) => { modelshelfApplyJobs(v); }", jobs_json)
    refresh_arg, refresh_go = bridges["refresh"]
    page_outputs = [
        browse["state"],
        browse["grid"],
        browse["label"],
        browse["prev"],
        browse["next"],
        browse["message"],
    ]
    refresh_go.click(
        lambda st: browse["handlers"].page(st, 0),
        browse["state"],
        page_outputs,
        api_name=False,
        show_progress="hidden",
    )
    del refresh_arg


def standalone_blocks(ctx: UIContext) -> gr.Blocks:
    """The page ``modelshelf ui`` serves: the UI with its script and styles."""
    css, js = page_assets()
    head = f"<script>{js}</script>"
    with gr.Blocks(**compat.blocks_kwargs(title="Model Shelf", css=css, head=head)) as demo:
        gr.Markdown("## Model Shelf", elem_id="modelshelf_title")
        build_ui(ctx)
    return demo
