"""Which layout to use: :func:`resolve_layout` for ``--models-dir`` / ``--host-dir``.

Recognising a host folder (``--host-dir``) and reading where it keeps models:

- ComfyUI: ``folder_paths.py``, or ``main.py`` with ``comfy/``, or ``custom_nodes/``
  (also the ``ComfyUI/`` folder inside a Windows portable install).
- Forge: ``modules_forge/``. SD.Next: ``installer.py`` and ``modules/``.
  A1111: ``webui.py`` or ``launch.py``, and ``modules/``.

A1111/Forge path flags are read from ``COMMANDLINE_ARGS`` in ``webui-user.sh`` /
``webui-user.bat``; SD.Next's path settings from its ``config.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInputError
from .base import (
    HOST_NAMES,
    LAYOUT_KINDS,
    OTHER_KEY,
    HostLayout,
    a1111_layout,
    absolute,
    as_dirs,
    dedup,
    shown,
)
from .comfy import comfyui_default_folders, comfyui_layout

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "HOST_MARKERS",
    "detect_kind",
    "detect_layout",
    "host_layout",
    "layout_for_models_dir",
    "read_webui_user_args",
    "resolve_layout",
]

log = logging.getLogger(__name__)

# SD.Next config.json key → our folder key (first configured folder is the write target).
SDNEXT_CONFIG_KEYS = {
    "ckpt_dir": "checkpoints",
    "unet_dir": "diffusion_models",
    "lora_dir": "loras",
    "lyco_dir": "loras",
    "embeddings_dir": "embeddings",
    "hypernetwork_dir": "hypernetworks",
    "vae_dir": "vae",
    "control_dir": "controlnet",
    "esrgan_models_path": "upscale_models",
    "realesrgan_models_path": "upscale_models",
    "te_dir": "text_encoders",
}
_A1111_FLAGS = {
    "data_dir": ("--data-dir",),
    "models_dir": ("--models-dir",),
    "ckpt_dir": ("--ckpt-dir", "--ckpt-dirs"),
    "lora_dir": ("--lora-dir", "--lora-dirs"),
    "embeddings_dir": ("--embeddings-dir",),
    "hypernetwork_dir": ("--hypernetwork-dir",),
    "vae_dir": ("--vae-dir", "--vae-dirs"),
    "controlnet_dir": ("--controlnet-dir",),
    "esrgan_dir": ("--esrgan-models-path",),
    "text_encoder_dir": ("--text-encoder-dir", "--text-encoder-dirs"),
}


# What detection looks for, per host (in the order it is tried); said when nothing matched.
HOST_MARKERS = {
    "comfyui": "folder_paths.py, main.py with comfy/, or custom_nodes/",
    "forge": "modules_forge/",
    "sdnext": "installer.py with modules/",
    "a1111": "webui.py or launch.py with modules/",
}


def _is_comfy(d: Path) -> bool:
    return (
        (d / "folder_paths.py").is_file()
        or ((d / "main.py").is_file() and (d / "comfy").is_dir())
        or (d / "custom_nodes").is_dir()
    )


def detect_kind(host_dir: Path) -> tuple[str, Path] | None:
    """``(kind, root)`` of the host in ``host_dir``, or None when it is not one."""
    d = Path(host_dir)
    if _is_comfy(d):
        return "comfyui", d
    if (d / "modules_forge").is_dir():
        return "forge", d
    if (d / "installer.py").is_file() and (d / "modules").is_dir():
        return "sdnext", d
    if ((d / "webui.py").is_file() or (d / "launch.py").is_file()) and (d / "modules").is_dir():
        return "a1111", d
    if _is_comfy(d / "ComfyUI"):  # Windows portable: ComfyUI_windows_portable/ComfyUI
        return "comfyui", d / "ComfyUI"
    return None


def detect_layout(host_dir: Path) -> HostLayout:
    """The layout of the host installed in ``host_dir`` (BadInputError when none is)."""
    return host_layout(Path(host_dir), None)


def _not_a_host(d: Path) -> BadInputError:
    looked = "; ".join(f"{HOST_NAMES[k]}: {m}" for k, m in HOST_MARKERS.items())
    return BadInputError(
        f"{d} is not a host folder Model Shelf recognises (it looked for {looked}); if it is "
        f"one, say which with --layout {'|'.join(LAYOUT_KINDS)}, or pass a plain models folder "
        "with --models-dir."
    )


def host_layout(host_dir: Path, kind: str | None = None) -> HostLayout:
    """The layout of ``host_dir``; ``kind`` forces the host kind instead of detecting it."""
    d = absolute(host_dir)
    if not d.is_dir():
        raise BadInputError(f"{d} is not a folder; pass your host's folder to --host-dir.")
    root = d
    if kind is None:
        found = detect_kind(d)
        if found is None:
            raise _not_a_host(d)
        kind, root = found
    root = root.resolve()
    if kind == "comfyui":
        return comfyui_layout(root)
    if kind == "sdnext":
        return _sdnext_layout(root)
    return _a1111_family_layout(root, kind)


def read_webui_user_args(root: Path) -> list[str]:
    """The ``COMMANDLINE_ARGS`` set in ``webui-user.sh`` / ``webui-user.bat``, split."""
    for name, pattern, posix in (
        ("webui-user.sh", r"^\s*(?:export\s+)?COMMANDLINE_ARGS=(.*)$", True),
        ("webui-user.bat", r"^\s*set\s+\"?COMMANDLINE_ARGS=(.*?)\"?\s*$", False),
    ):
        path = root / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        value = None
        for line in text.splitlines():
            m = re.match(pattern, line, re.IGNORECASE)
            if m:
                value = m.group(1).strip()  # the last assignment wins
        if not value:
            continue
        try:
            if posix:
                parts = shlex.split(value, comments=True)
                if len(parts) == 1 and " " in parts[0]:  # export COMMANDLINE_ARGS="--a x --b y"
                    parts = shlex.split(parts[0])
            else:
                parts = [p.strip('"') for p in shlex.split(value, posix=False)]
        except ValueError:
            log.warning("could not parse COMMANDLINE_ARGS in %s", path)
            continue
        return parts
    return []


def _a1111_family_layout(root: Path, kind: str) -> HostLayout:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for dest, flags in _A1111_FLAGS.items():
        for flag in flags:
            plural = flag.endswith("dirs")
            parser.add_argument(
                flag, dest=dest + ("s" if plural else ""), nargs="*" if plural else None
            )
    try:
        opts, _unknown = parser.parse_known_args(read_webui_user_args(root))
    except (SystemExit, argparse.ArgumentError):  # a malformed flag
        log.warning("ignoring unreadable COMMANDLINE_ARGS in %s", root)
        opts = parser.parse_args([])
    values = vars(opts)
    data_dir = (as_dirs(values.get("data_dir"), root) or [root])[0]
    kwargs = {}
    for dest in _A1111_FLAGS:
        if dest == "data_dir":
            continue
        single, many = values.get(dest), values.get(dest + "s") or []
        merged = [*many, *([single] if single else [])] if many else single
        if merged:
            kwargs[dest] = merged
    layout = a1111_layout(data_dir, kind=kind, root=root, **kwargs)
    motion = root / "extensions" / "sd-webui-animatediff" / "model"
    if motion.parent.is_dir():
        layout.set_folders("animatediff_models", [motion])
    return layout


def _sdnext_layout(root: Path) -> HostLayout:
    layout = a1111_layout(root, kind="sdnext", root=root)
    config_path = root / "config.json"
    if not config_path.is_file():
        return layout
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable %s (%s); using SD.Next defaults", config_path, exc)
        return layout
    if not isinstance(config, dict):
        return layout
    configured: dict[str, list[Path]] = {}
    for name, key in SDNEXT_CONFIG_KEYS.items():
        value = config.get(name)
        if isinstance(value, str) and value.strip():
            configured.setdefault(key, []).extend(as_dirs(value, root))
    for key, dirs in configured.items():
        layout.set_folders(key, dedup([*dirs, *layout.folders.get(key, [])]))
    return layout


def layout_for_models_dir(models_dir: str | Path, kind: str = "comfyui") -> HostLayout:
    """A plain models folder (``--models-dir``) laid out like ``kind``.

    ``comfyui``: ``DIR/<key>`` (``DIR/checkpoints``, ``DIR/loras``, ...).
    ``a1111``/``forge``/``sdnext``: ``DIR/Stable-diffusion``, ``DIR/Lora``, ... and
    embeddings in ``DIR/embeddings`` (there is no data dir above a plain models folder).
    Types no host has a folder for (Poses, Wildcards, MotionModule on A1111...) go to
    ``DIR/other``. A relative ``DIR`` is taken from the working folder.
    """
    models = absolute(models_dir)
    if models.exists() and not models.is_dir():
        raise BadInputError(f"{models} is a file, not a folder; pass a folder to --models-dir.")
    if kind == "comfyui":
        folders = comfyui_default_folders(models)
        folders[OTHER_KEY] = [models / OTHER_KEY]
        return HostLayout(kind="comfyui", root=None, folders=folders)
    if kind in ("a1111", "forge", "sdnext"):
        layout = a1111_layout(
            models, kind=kind, models_dir=models, embeddings_dir=models / "embeddings"
        )
        layout.root = None
        layout.set_folders(OTHER_KEY, [models / OTHER_KEY])
        return layout
    raise BadInputError(f"Unknown layout {shown(kind)}; use one of {', '.join(LAYOUT_KINDS)}.")


def resolve_layout(
    models_dir: Path | str | None = None,
    host_dir: Path | str | None = None,
    layout: str | None = None,
    *,
    settings: Settings | None = None,
) -> HostLayout:
    """The layout for ``--models-dir DIR | --host-dir DIR [--layout L]``; paths absolute.

    Without either folder, ``settings``' ``models_dir`` or ``host_dir`` (with its
    ``layout``) is used. A models folder need not exist yet (a download creates it).
    """
    if not models_dir and not host_dir and settings is not None:
        if settings.models_dir and settings.host_dir:
            raise BadInputError(
                f"The settings file {settings.settings_path} sets both models_dir and host_dir; "
                "remove one with `modelshelf config unset KEY`, or pass --models-dir or --host-dir."
            )
        models_dir, host_dir = settings.models_dir, settings.host_dir
        layout = layout or settings.layout
    if layout is not None and layout not in LAYOUT_KINDS:
        raise BadInputError(
            f"Unknown layout {shown(layout)}; use one of {', '.join(LAYOUT_KINDS)}."
        )
    if models_dir and host_dir:
        raise BadInputError("Pass either --models-dir or --host-dir, not both.")
    if models_dir:
        return layout_for_models_dir(models_dir, layout or "comfyui")
    if host_dir:
        return host_layout(Path(host_dir), layout)
    raise BadInputError(
        "Say which models folder to use: pass --models-dir DIR (a plain folder) or --host-dir DIR "
        "(your A1111, Forge, SD.Next or ComfyUI folder), or set one once with "
        "`modelshelf config set models_dir DIR`."
    )
