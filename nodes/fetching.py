"""A loader node's ``reference`` → a file in one of its folders, downloaded when missing.

Order: (1) the reference names a version, or was resolved before (``<home>/comfyui_refs.json``
remembers what a bare model id or ``novita:ID`` meant), and the library database knows an
installed file of that version in one of the node's folders → that file, with no network
call at all; (2) otherwise the core plans the download (API calls), refuses a model of
another kind with a sentence naming the right node, and downloads it with the node's
progress bar and ComfyUI's interrupt honoured (a cancelled download keeps only its
resumable ``.part``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import host, service

__all__ = ["LocalModel", "ensure_local", "trained_words_text"]

log = logging.getLogger(__name__)

REFS_FILE = "comfyui_refs.json"
_refs_lock = threading.Lock()

# The node to use for a folder key, named in the "wrong kind" sentence.
NODE_FOR_KEY = {
    "checkpoints": "Load Checkpoint (Model Shelf)",
    "diffusion_models": "Load Checkpoint (Model Shelf)",
    "loras": "Load LoRA (Model Shelf)",
    "vae": "Load VAE (Model Shelf)",
    "controlnet": "Load ControlNet (Model Shelf)",
    "upscale_models": "Load Upscale Model (Model Shelf)",
    "embeddings": "Embedding (Model Shelf)",
}


@dataclass
class LocalModel:
    """A model file as ComfyUI names it: folder key + name relative to that folder."""

    key: str
    name: str
    path: Path
    version_id: int | None
    downloaded: bool = False


def _refs_path(settings: Any) -> Path:
    return Path(settings.home) / REFS_FILE


def _read_refs(settings: Any) -> dict[str, int]:
    try:
        data = json.loads(_refs_path(settings).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, int)}


def _remember(settings: Any, text: str, version_id: int) -> None:
    """Record what ``text`` resolved to (atomic rewrite; a failure only costs a lookup)."""
    with _refs_lock:
        refs = _read_refs(settings)
        if refs.get(text) == version_id:
            return
        refs[text] = version_id
        path = _refs_path(settings)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(refs, indent=1, sort_keys=True), "utf-8")
            os.replace(tmp, path)
        except OSError:
            log.warning(
                "Model Shelf could not write %s; the reference will be looked up again", path
            )


def _installed(shelf: Any, version_id: int, keys: tuple[str, ...]) -> LocalModel | None:
    for path in shelf.installed(version_id):
        path = Path(path)
        if not path.is_file():
            continue
        found = host.relative_name(shelf.layout, path, keys)
        if found is not None:
            return LocalModel(found[0], found[1], path, version_id)
    return None


def _wrong_kind(key: str, node: str) -> service.ModelShelfNodeError:
    right = NODE_FOR_KEY.get(key)
    use = f"; use {right} for it" if right else ""
    return service.ModelShelfNodeError(
        f"This reference is a model for the {key!r} folder, not for {node}{use}."
    )


def ensure_local(reference: str, keys: tuple[str, ...], node: str) -> LocalModel:
    """The file ``reference`` names, in one of ``keys`` (first = where a download goes).

    Raises :class:`service.ModelShelfNodeError` (one sentence) for an expected failure and
    ComfyUI's ``InterruptProcessingException`` when the person stopped the prompt.
    """
    from ..modelshelf.errors import ModelShelfError, UserCancelledError
    from ..modelshelf.refs import parse_ref

    text = (reference or "").strip()
    if not text:
        raise service.ModelShelfNodeError(
            f"{node} needs a reference: paste a Civitai URL, an AIR, model@version or "
            "novita:ID, or drag a model from the Model Shelf sidebar onto the canvas."
        )
    shelf = service.get_shelf()
    settings = shelf.settings
    try:
        ref = parse_ref(text, settings.civitai_url)
        version_id = ref.version_id or _read_refs(settings).get(text)
        if version_id is not None:
            local = _installed(shelf, version_id, keys)
            if local is not None:
                return local
        return _download(shelf, text, keys, node)
    except UserCancelledError:
        mm = host.comfy_module("comfy.model_management")
        throw = getattr(mm, "throw_exception_if_processing_interrupted", None)
        if throw is not None:
            throw()  # raises ComfyUI's InterruptProcessingException and clears its flag
        raise _interrupted() from None
    except ModelShelfError as exc:
        raise service.node_error(exc, settings) from None


def _interrupted() -> BaseException:
    """ComfyUI's InterruptProcessingException (a plain sentence outside ComfyUI)."""
    mm = host.comfy_module("comfy.model_management")
    exc_class = getattr(mm, "InterruptProcessingException", None)
    if exc_class is not None:
        return exc_class()
    return service.ModelShelfNodeError("The download was cancelled; its .part is kept to resume.")


def _download(shelf: Any, text: str, keys: tuple[str, ...], node: str) -> LocalModel:
    with host.InterruptWatch() as watch:
        bar = host.node_progress()

        def on_plan(plan: Any) -> None:  # decided before any byte: refuse another kind
            if plan.folder not in keys:
                raise _wrong_kind(plan.folder, node)

        def on_progress(done: int, total: int | None) -> None:
            watch.interrupted()
            bar(done, total)

        result = shelf.download(text, on_plan=on_plan, on_progress=on_progress, cancel=watch.cancel)
        if watch.cancel.is_set():
            watch.raise_host_interrupt()
    path, downloaded = Path(result.path), not result.already_installed
    version_id = result.version_id if isinstance(result.version_id, int) else None
    if version_id is not None:
        _remember(shelf.settings, text, version_id)
    found = host.relative_name(shelf.layout, path, keys)
    if found is None:  # cannot happen with a layout read from folder_paths; say so plainly
        raise service.ModelShelfNodeError(f"{path.name} was saved outside ComfyUI's {keys[0]}.")
    host.forget_file_lists([found[0]])
    if downloaded:
        service.send_event(service.EVENT_REFRESH, {"folders": [found[0]]})
    return LocalModel(found[0], found[1], path, version_id, downloaded)


def trained_words_text(path: Path) -> str:
    """The trained words of ``path`` as one prompt fragment (``a, b, c``); '' when none."""
    from ..modelshelf.errors import ModelShelfError

    shelf = service.get_shelf()
    try:
        words = shelf.trained_words(path)
    except ModelShelfError as exc:
        log.warning("Model Shelf: no trained words for %s: %s", path.name, exc)
        return ""
    return ", ".join(w.strip() for w in words if w and w.strip())
