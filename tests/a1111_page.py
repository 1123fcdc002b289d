"""A WebUI-like page around the Model Shelf tab, served by whichever Gradio runs this file.

    python tests/a1111_page.py DATA_DIR PORT

Like A1111's ``ui.create_ui``: the extension's ``on_ui_tabs`` Blocks rendered in a
``gr.Tab`` of the page's own Blocks; ``javascript/*.js`` and ``style.css`` put into every
page the way ``modules/ui_gradio_extensions.py`` does (``TemplateResponse`` patched);
a txt2img tab with ``#txt2img_prompt`` and ``#txt2img_extra_refresh_internal`` (which
counts its clicks into ``#refresh_count``), so the page script's send-to-prompt and
host refresh are tested against the host's element ids. Prints "ready URL" and serves
until its stdin closes.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "a1111_stubs"), str(ROOT)]

import gradio as gr  # noqa: E402
import gradio.routes  # noqa: E402


def patch_page() -> None:
    """Put the extension's script and styles into the page, as the WebUI does."""
    script = (ROOT / "javascript" / "modelshelf.js").read_text("utf-8")
    css = (ROOT / "style.css").read_text("utf-8")
    head = f'<script type="text/javascript">{script}</script><style>{css}</style>'
    original = gradio.routes.templates.TemplateResponse

    def template_response(*args, **kwargs):
        res = original(*args, **kwargs)
        res.body = res.body.replace(b"</head>", f"{head}</head>".encode())
        res.init_headers()
        return res

    gradio.routes.templates.TemplateResponse = template_response


def main() -> None:
    data, port = Path(sys.argv[1]), int(sys.argv[2])
    from modules import paths, script_callbacks

    paths.script_path = paths.data_path = str(data)
    paths.models_path = str(data / "models")
    script_callbacks.clear_callbacks()
    runpy.run_path(str(ROOT / "scripts" / "model_shelf.py"))
    (tab, title, elem_id), *_ = script_callbacks.ui_tabs_callback()
    patch_page()
    with (
        gr.Blocks(analytics_enabled=False, title="Stable Diffusion") as demo,
        gr.Tabs(elem_id="tabs"),
    ):
        with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
            gr.Textbox(label="Prompt", elem_id="txt2img_prompt", lines=2)
            count = gr.Number(0, label="Refreshed", elem_id="refresh_count")
            refresh = gr.Button("refresh", elem_id="txt2img_extra_refresh_internal")
            refresh.click(lambda n: (n or 0) + 1, count, count)
        with gr.Tab(title, id=elem_id, elem_id=f"tab_{elem_id}"):
            tab.render()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    print(f"ready http://127.0.0.1:{port}/", flush=True)
    sys.stdin.read()
    demo.close()
    script_callbacks.script_unloaded_callback()


if __name__ == "__main__":
    main()
