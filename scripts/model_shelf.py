"""A1111 / Forge / SD.Next glue: the "Model Shelf" tab, its settings, the host's folders.

Thin on purpose: the UI is ``modelshelf.gradio_ui``, the work is the core's ``Shelf``.
This file only reads the host (``shared.cmd_opts``, ``shared.opts``, ``modules.paths``),
registers callbacks and closes the Shelf when the WebUI unloads its scripts, so
"Reload UI" never leaves a second set of download workers behind.

(No ``scripts/__init__.py``: it would break ``import scripts.x`` for every extension.)
"""

from __future__ import annotations

import importlib.util
import logging

from modules import paths, script_callbacks, shared

import modelshelf  # noqa: F401  (the extension folder is on sys.path while this file loads)

log = logging.getLogger("modelshelf")

SECTION = ("model_shelf", "Model Shelf")
TAB_TITLE, TAB_ID = "Model Shelf", "modelshelf"
KEY_OPTIONS = {"modelshelf_civitai_key": "civitai_token", "modelshelf_novita_key": "novita_key"}
CLEAR_KEY = "-"  # typed into a key field: remove the saved key
NEEDED = {
    "requests": "requests",
    "platformdirs": "platformdirs",
    "filelock": "filelock",
    "rich": "rich",
    "yaml": "PyYAML",
    "nh3": "nh3",
    "blurhash": "blurhash",
}

_shelf = None  # one Shelf per loaded script; closed on unload


def host_kind() -> str:
    """forge, sdnext or a1111, from what the running WebUI ships."""
    if importlib.util.find_spec("modules_forge") is not None:
        return "forge"
    if hasattr(shared.opts, "data") and "diffusers_dir" in getattr(shared.opts, "data", {}):
        return "sdnext"
    return "a1111"


def _flag(*names: str):
    """The first set one of ``cmd_opts.<name>`` (A1111 strings, Forge Neo lists)."""
    for name in names:
        value = getattr(shared.cmd_opts, name, None)
        if value:
            return value
    return None


def _opt(name: str):
    value = getattr(shared.opts, "data", {}).get(name)
    return value or None


def host_layout():
    """The core's layout of this WebUI, fed from its live flags and settings."""
    from modelshelf.layout import a1111_layout

    kind = host_kind()
    sdnext = kind == "sdnext"
    return a1111_layout(
        paths.data_path,
        kind=kind,
        root=paths.script_path,
        models_dir=paths.models_path,
        ckpt_dir=_opt("ckpt_dir") if sdnext else _flag("ckpt_dir", "ckpt_dirs"),
        lora_dir=_opt("lora_dir") if sdnext else _flag("lora_dirs", "lora_dir"),
        embeddings_dir=_opt("embeddings_dir") if sdnext else _flag("embeddings_dir"),
        hypernetwork_dir=_opt("hypernetwork_dir") if sdnext else _flag("hypernetwork_dir"),
        vae_dir=_opt("vae_dir") if sdnext else _flag("vae_dir", "vae_dirs"),
        controlnet_dir=_opt("control_dir") if sdnext else _flag("controlnet_dir"),
        esrgan_dir=_opt("esrgan_models_path") if sdnext else _flag("esrgan_models_path"),
        text_encoder_dir=_opt("te_dir")
        if sdnext
        else _flag("text_encoder_dir", "text_encoder_dirs"),
    )


def missing_requirements() -> list[str]:
    """The pip names of what ``install.py`` would install (skipped with --skip-install)."""
    return [pip for module, pip in NEEDED.items() if importlib.util.find_spec(module) is None]


def _settings_overrides() -> dict:
    data = getattr(shared.opts, "data", {})
    out = {
        "civitai_url": data.get("modelshelf_civitai_url") or None,
        "connections": data.get("modelshelf_connections") or None,
        "prefer_format": data.get("modelshelf_prefer_format") or None,
        "prefer_fp": None
        if data.get("modelshelf_prefer_fp") in (None, "", "Any")
        else data["modelshelf_prefer_fp"],
        "prefer_size": None
        if data.get("modelshelf_prefer_size") in (None, "", "Any")
        else data["modelshelf_prefer_size"],
    }
    return {k: v for k, v in out.items() if v is not None}


def get_shelf():
    """The Shelf of this WebUI (created on first use)."""
    global _shelf
    if _shelf is None:
        from modelshelf.settings import load_settings
        from modelshelf.shelf import Shelf

        _shelf = Shelf(load_settings(_settings_overrides()), host_layout())
    return _shelf


class LazyShelf:
    """Stands for the Shelf in the tab: it is created (settings read, folders resolved) on
    the first click, not while the WebUI starts. A problem then reads as a sentence."""

    def __getattr__(self, name: str):
        return getattr(get_shelf(), name)


def close_shelf() -> None:
    """Stop the download workers (running jobs are recorded) and close everything."""
    global _shelf
    shelf, _shelf = _shelf, None
    if shelf is not None:
        shelf.close()


def on_ui_tabs():
    import gradio as gr

    missing = missing_requirements()
    with gr.Blocks(analytics_enabled=False) as tab:
        if missing:
            gr.Markdown(
                f"Model Shelf cannot start: {', '.join(missing)} is not installed (the WebUI "
                "was started with --skip-install?). Start it once without --skip-install, or "
                f"run: pip install {' '.join(missing)}"
            )
            return [(tab, TAB_TITLE, TAB_ID)]
        from modelshelf.gradio_ui import UIContext, build_ui

        data = getattr(shared.opts, "data", {})
        ctx = UIContext(
            shelf=LazyShelf(),
            in_webui=True,
            default_provider=data.get("modelshelf_provider") or "civitai",
            default_nsfw=data.get("modelshelf_nsfw") or "PG-13",
        )
        build_ui(ctx)
    return [(tab, TAB_TITLE, TAB_ID)]


def _save_key(option: str) -> None:
    """Move a key typed in the settings into the core's settings file (mode 0600).

    The WebUI's ``config.json`` keeps an empty value, so the key is never written there
    in clear nor rendered back into the page.
    """
    value = (shared.opts.data.get(option) or "").strip()
    shared.opts.data[option] = ""
    if not value:
        return
    from modelshelf.settings import load_settings, save_settings_file

    home = load_settings().home
    save_settings_file(home, {KEY_OPTIONS[option]: None if value == CLEAR_KEY else value})
    log.info("Model Shelf: %s saved in the Model Shelf settings file.", option)


def on_ui_settings():
    import gradio as gr

    from modelshelf.views import NSFW_LEVELS

    def add(key, default, label, component=None, args=None, info=None, onchange=None):
        option = shared.OptionInfo(
            default, label, component, args, onchange=onchange, section=SECTION
        )
        if info and hasattr(option, "info"):
            option = option.info(info)
        shared.opts.add_option(key, option)

    for key, label in (
        ("modelshelf_civitai_key", "Civitai API key"),
        ("modelshelf_novita_key", "Novita AI API key"),
    ):
        add(
            key,
            "",
            label,
            gr.Textbox,
            {"type": "password", "placeholder": "saved keys are not shown"},
            info="kept in Model Shelf's own settings file, never in config.json; "
            f"type {CLEAR_KEY} to remove",
            onchange=lambda key=key: _save_key(key),
        )
    add(
        "modelshelf_provider",
        "civitai",
        "Default provider",
        gr.Radio,
        {"choices": ["civitai", "novita"]},
    )
    add(
        "modelshelf_nsfw",
        "PG-13",
        "Highest NSFW rating shown",
        gr.Dropdown,
        {"choices": [label for label, _ in NSFW_LEVELS]},
    )
    add(
        "modelshelf_prefer_format",
        "SafeTensor",
        "Preferred file format",
        gr.Dropdown,
        {"choices": ["SafeTensor", "PickleTensor", "GGUF", "Diffusers", "Other"]},
    )
    add(
        "modelshelf_prefer_fp",
        "Any",
        "Preferred precision",
        gr.Dropdown,
        {"choices": ["Any", "fp16", "bf16", "fp32", "fp8"]},
    )
    add(
        "modelshelf_prefer_size",
        "Any",
        "Pruned or full",
        gr.Dropdown,
        {"choices": ["Any", "pruned", "full"]},
    )
    add(
        "modelshelf_connections",
        4,
        "Connections per download",
        gr.Slider,
        {"minimum": 1, "maximum": 16, "step": 1},
    )
    add(
        "modelshelf_civitai_url",
        "",
        "Civitai mirror URL (empty: civitai.com)",
        gr.Textbox,
        info="takes effect after Reload UI, like the other Model Shelf settings",
    )


script_callbacks.on_ui_tabs(on_ui_tabs, name="modelshelf")
script_callbacks.on_ui_settings(on_ui_settings, name="modelshelf")
script_callbacks.on_script_unloaded(close_shelf, name="modelshelf")
