"""Where model files go in each host: :class:`HostLayout` and :func:`resolve_layout`.

Three modules, imported in this order and never the other way round (no cycle):
:mod:`.base` (folder keys, :class:`HostLayout`, the type → folder table, A1111-family
folders), :mod:`.comfy` (ComfyUI's defaults and ``extra_model_paths.yaml``) and
:mod:`.detect` (host detection and :func:`resolve_layout`). This package only gathers
their public names.
"""

from __future__ import annotations

from .base import (
    FOLDER_KEYS,
    LAYOUT_KINDS,
    OTHER_KEY,
    HostLayout,
    a1111_layout,
    folder_key,
    layout_key,
    target_dir,
)
from .comfy import comfyui_layout
from .detect import detect_layout, host_layout, layout_for_models_dir, resolve_layout

__all__ = [
    "FOLDER_KEYS",
    "LAYOUT_KINDS",
    "OTHER_KEY",
    "HostLayout",
    "a1111_layout",
    "comfyui_layout",
    "detect_layout",
    "folder_key",
    "host_layout",
    "layout_for_models_dir",
    "layout_key",
    "resolve_layout",
    "target_dir",
]
