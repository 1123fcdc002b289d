"""The A1111 / Forge adapter (scripts/model_shelf.py) with stubs of the WebUI's ``modules``.

Runs under the installed Gradio (4.x, as Forge) and, through test_a1111_gradio3.py, under
A1111's Gradio 3.41.2: the script loads, the tab builds and serves, settings are
registered (keys never kept in the WebUI's config), folders come from ``cmd_opts``, and
unloading the scripts closes the Shelf so a reload does not leave a second one.
"""

from __future__ import annotations

import json
import runpy
import sys
import urllib.request
from pathlib import Path

import pytest

gr = pytest.importorskip("gradio")

ROOT = Path(__file__).resolve().parents[1]
STUBS = Path(__file__).resolve().parent / "a1111_stubs"


@pytest.fixture
def webui(tmp_path, monkeypatch):
    """A fresh stubbed WebUI: data dir, custom --ckpt-dir and --lora-dir; the script loaded."""
    monkeypatch.syspath_prepend(str(STUBS))
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    from modules import paths, script_callbacks, shared

    data = tmp_path / "webui"
    monkeypatch.setattr(paths, "script_path", str(data))
    monkeypatch.setattr(paths, "data_path", str(data))
    monkeypatch.setattr(paths, "models_path", str(data / "models"))
    shared.cmd_opts.ckpt_dir = str(tmp_path / "my-checkpoints")
    shared.cmd_opts.lora_dir = str(tmp_path / "my-loras")
    script_callbacks.clear_callbacks()
    namespace = runpy.run_path(str(ROOT / "scripts" / "model_shelf.py"))
    yield namespace, script_callbacks, shared, data
    script_callbacks.script_unloaded_callback()
    script_callbacks.clear_callbacks()
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.")]:
        sys.modules.pop(name, None)


def labels(blocks) -> set[str]:
    out = set()
    for block in blocks.blocks.values():
        for attr in ("label", "value"):
            value = getattr(block, attr, None)
            if isinstance(value, str):
                out.add(value)
    return out


def test_the_tab_builds_with_its_labels(webui):
    _, callbacks, _, _ = webui
    tabs = callbacks.ui_tabs_callback()
    assert [(title, elem_id) for _, title, elem_id in tabs] == [("Model Shelf", "modelshelf")]
    found = labels(tabs[0][0])
    for label in (
        "Provider",
        "Search",
        "NSFW",
        "Next page",
        "Previous page",
        "Browse",
        "Downloads",
        "Library",
        "Scan",
        "Get models",
        "Parameters",
        "Check",
        "Download all",
    ):
        assert label in found, label


def test_the_tab_serves_inside_a_webui_page(webui):
    _, callbacks, _, _ = webui
    tab = callbacks.ui_tabs_callback()[0][0]
    # as A1111's create_ui nests the tabs
    with (
        gr.Blocks(analytics_enabled=False) as demo,
        gr.Tabs(),
        gr.Tab("Model Shelf", id="modelshelf"),
    ):
        tab.render()
    demo.queue()
    try:
        _, url, _ = demo.launch(
            server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True
        )
        with urllib.request.urlopen(url + "config", timeout=30) as reply:
            config = json.loads(reply.read())
    finally:
        demo.close()
    shown = json.dumps(config)
    assert '"Next page"' in shown and "modelshelf_jobs_data" in shown


def test_folders_come_from_cmd_opts(webui, tmp_path):
    namespace, _, _, data = webui
    layout = namespace["host_layout"]()
    assert layout.folders["checkpoints"][0] == tmp_path / "my-checkpoints"
    assert layout.folders["loras"][0] == tmp_path / "my-loras"
    assert layout.folders["embeddings"][0] == data / "embeddings"  # A1111: under the data dir
    assert layout.folders["vae"][0] == data / "models" / "VAE"


def test_settings_are_registered_and_keys_never_stay_in_the_webui_config(webui, tmp_path):
    namespace, callbacks, shared, _ = webui
    callbacks.ui_settings_callback()
    info = shared.opts.data_labels
    for key in (
        "modelshelf_civitai_key",
        "modelshelf_novita_key",
        "modelshelf_nsfw",
        "modelshelf_provider",
        "modelshelf_prefer_format",
        "modelshelf_connections",
        "modelshelf_civitai_url",
    ):
        assert info[key].section == ("model_shelf", "Model Shelf"), key
    assert info["modelshelf_civitai_key"].component_args["type"] == "password"
    shared.opts.set("modelshelf_civitai_key", "sk-secret-123")
    config = tmp_path / "config.json"
    shared.opts.save(config)
    assert "sk-secret-123" not in config.read_text()
    from modelshelf.settings import load_settings

    assert load_settings().civitai_token == "sk-secret-123"
    shared.opts.set("modelshelf_civitai_key", "-")  # remove it
    assert load_settings().civitai_token is None


def test_unloading_closes_the_shelf_and_a_reload_keeps_one(webui):
    namespace, callbacks, _, _ = webui
    callbacks.ui_tabs_callback()
    first = namespace["get_shelf"]()
    callbacks.script_unloaded_callback()
    assert first._closed
    callbacks.clear_callbacks()
    again = runpy.run_path(str(ROOT / "scripts" / "model_shelf.py"))  # "Reload UI"
    callbacks.ui_tabs_callback()
    second = again["get_shelf"]()
    assert second is not first and not second._closed
    assert len(callbacks.callback_map["callbacks_script_unloaded"]) == 1


def test_a_skipped_install_still_loads_the_tab_and_says_what_is_missing(webui, monkeypatch):
    namespace, _, _, _ = webui
    on_ui_tabs = namespace["on_ui_tabs"]
    monkeypatch.setitem(on_ui_tabs.__globals__["NEEDED"], "modelshelf_not_installed", "nope-pkg")
    tabs = on_ui_tabs()
    text = " ".join(labels(tabs[0][0]))
    assert "nope-pkg" in text and "pip install" in text


def test_the_webui_loads_the_same_page_script_and_styles():
    # A1111 loads only javascript/*.js (top level) and the root style.css; they are copies
    # of the files `modelshelf ui` embeds (cp modelshelf/gradio_ui/static/* after a change).
    static = ROOT / "modelshelf" / "gradio_ui" / "static"
    assert (ROOT / "javascript" / "modelshelf.js").read_bytes() == (
        static / "modelshelf.js"
    ).read_bytes()
    assert (ROOT / "style.css").read_bytes() == (static / "modelshelf.css").read_bytes()
    assert not list((ROOT / "javascript").glob("*.mjs"))
