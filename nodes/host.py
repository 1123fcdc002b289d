"""The one place that touches ComfyUI's modules; everything degrades outside ComfyUI.

ComfyUI's ``folder_paths``, ``comfy.utils``, ``comfy.model_management``, ``server`` and
``nodes`` are imported when first needed (never at pack import), so the pack imports in
a bare Python and under pytest with stubs. Folder keys become the core's
:class:`HostLayout` (kind ``comfyui``) with every path of a key, ``extra_model_paths.yaml``
included; the first path of a key is the write target, as ComfyUI-Manager uses it.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ..modelshelf.layout import FOLDER_KEYS, HostLayout

__all__ = [
    "InterruptWatch",
    "comfy_module",
    "folder_keys_for",
    "forget_file_lists",
    "host_layout",
    "local_names",
    "node_progress",
    "relative_name",
]

log = logging.getLogger(__name__)

# Folder keys the layout carries: the core's keys plus ComfyUI's own style/clip keys.
_LAYOUT_KEYS = (*FOLDER_KEYS, "style_models", "gligen", "vae_approx")


def comfy_module(name: str) -> ModuleType | None:
    """ComfyUI's module ``name`` (``folder_paths``, ``comfy.utils``...), or None outside it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def host_layout() -> HostLayout:
    """ComfyUI's folders as a :class:`HostLayout`, read now from ``folder_paths``.

    Read on every call (cheap: a dict walk) so paths added after start (another pack's
    ``add_model_folder_path``) are seen. Keys ComfyUI does not know are left out.
    """
    folder_paths = comfy_module("folder_paths")
    if folder_paths is None:
        raise RuntimeError("ComfyUI's folder_paths is not importable; is this ComfyUI?")
    known = getattr(folder_paths, "folder_names_and_paths", {})
    folders: dict[str, list[Path]] = {}
    for key in _LAYOUT_KEYS:
        if key not in known:
            continue
        try:
            paths = folder_paths.get_folder_paths(key)
        except KeyError:
            continue
        if paths:
            folders[key] = [Path(p) for p in paths]
    base = getattr(folder_paths, "base_path", None)
    return HostLayout(kind="comfyui", root=Path(base) if base else None, folders=folders)


def folder_keys_for(layout: HostLayout, path: Path) -> list[tuple[str, str]]:
    """Every ``(key, name)`` under which ComfyUI lists ``path`` (name relative, OS seps)."""
    out: list[tuple[str, str]] = []
    target = os.path.normcase(os.path.abspath(path))
    for key, dirs in layout.folders.items():
        for folder in dirs:
            root = os.path.normcase(os.path.abspath(folder))
            if target.startswith(root + os.sep):
                out.append((key, os.path.relpath(os.path.abspath(path), os.path.abspath(folder))))
    return out


def relative_name(layout: HostLayout, path: Path, keys: tuple[str, ...]) -> tuple[str, str] | None:
    """``(key, name)`` of ``path`` for the first of ``keys`` that lists it, else None."""
    found = dict(folder_keys_for(layout, path))
    for key in keys:
        if key in found:
            return key, found[key]
    return None


def local_names(key: str) -> list[str]:
    """ComfyUI's own list for ``key`` (``folder_paths.get_filename_list``); [] outside."""
    folder_paths = comfy_module("folder_paths")
    if folder_paths is None:
        return []
    try:
        return list(folder_paths.get_filename_list(key))
    except KeyError:
        return []


def forget_file_lists(keys: list[str] | None = None) -> None:
    """Drop ``folder_paths``' cached file lists so a new file shows at the next look.

    An in-place overwrite does not change a folder's mtime, so the cache is popped
    rather than trusted (research comfyui.md §4.1).
    """
    folder_paths = comfy_module("folder_paths")
    cache = getattr(folder_paths, "filename_list_cache", None)
    if not isinstance(cache, dict):
        return
    for key in list(cache) if keys is None else keys:
        cache.pop(key, None)


class _NullBar:
    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        pass


def node_progress(total: int = 100) -> Callable[[int, int | None], None]:
    """An ``on_progress(done, total)`` that fills the running node's bar (per mille)."""
    utils = comfy_module("comfy.utils")
    bar_class = getattr(utils, "ProgressBar", None)
    try:
        bar = bar_class(total) if bar_class is not None else _NullBar()
    except Exception:  # no running prompt (a hook may be missing): no bar, no failure
        bar = _NullBar()

    def report(done: int, size: int | None) -> None:
        if size:
            bar.update_absolute(min(total, done * total // size), total)

    return report


class InterruptWatch:
    """Sets ``cancel`` when ComfyUI's interrupt (the Cancel / Stop button) is pressed.

    ``comfy.model_management.processing_interrupted()`` is read by a small thread (the
    download itself may be waiting on the network) and on every progress report.
    """

    POLL_SECONDS = 0.1

    def __init__(self) -> None:
        self.cancel = threading.Event()
        self._mm = comfy_module("comfy.model_management")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelshelf-interrupt", daemon=True)

    def interrupted(self) -> bool:
        check = getattr(self._mm, "processing_interrupted", None)
        if check is not None and check():
            self.cancel.set()
        return self.cancel.is_set()

    def _run(self) -> None:
        while not self._stop.wait(self.POLL_SECONDS):
            if self.interrupted():
                return

    def __enter__(self) -> InterruptWatch:
        if self._mm is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def raise_host_interrupt(self) -> None:
        """Raise ComfyUI's own InterruptProcessingException (and clear its flag)."""
        throw = getattr(self._mm, "throw_exception_if_processing_interrupted", None)
        if throw is not None:
            throw()
