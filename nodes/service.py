"""The pack's one :class:`Shelf`, built on ComfyUI's folders, and its push events.

The Shelf is made on first use (never at import: ComfyUI's start stays fast), with the
core's settings (settings file < environment) and the layout read from ``folder_paths``.
Download changes go to the page with ``PromptServer.instance.send_sync`` (thread-safe);
a finished download drops ``folder_paths``' file-list cache and asks the page to refresh
its node lists (the sidebar calls ``app.refreshComboInNodes()``).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from . import host

if TYPE_CHECKING:
    from ..modelshelf.shelf import Shelf

__all__ = [
    "EVENT_DOWNLOAD",
    "EVENT_REFRESH",
    "get_shelf",
    "node_error",
    "reset_shelf",
    "send_event",
]

log = logging.getLogger(__name__)

EVENT_DOWNLOAD = "modelshelf.download"  # data: views.job_view(job)
EVENT_REFRESH = "modelshelf.refresh"  # data: {"folders": [keys]}

_lock = threading.Lock()
_shelf: Shelf | None = None
_unsubscribe: Any = None


def send_event(event: str, data: dict[str, Any]) -> None:
    """``PromptServer.instance.send_sync(event, data)``; nothing outside ComfyUI."""
    server = host.comfy_module("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is None:
        return
    try:
        instance.send_sync(event, data)
    except Exception:  # a closed socket must never fail a download
        log.debug("send_sync(%s) failed", event, exc_info=True)


def _on_job(job: Any) -> None:
    from ..modelshelf import views

    send_event(EVENT_DOWNLOAD, views.job_view(job))
    if job.state == "done":
        folders = folders_of_result(getattr(job, "result", None) or {})
        host.forget_file_lists(folders or None)
        send_event(EVENT_REFRESH, {"folders": folders})


def folders_of_result(result: dict[str, Any]) -> list[str]:
    """The folder keys a finished download's file is listed under."""
    path = result.get("path") if isinstance(result, dict) else None
    if not path or _shelf is None:
        return []
    from pathlib import Path

    return [key for key, _name in host.folder_keys_for(_shelf.layout, Path(path))]


def get_shelf() -> Shelf:
    """The process-wide Shelf on ComfyUI's folders (made on first use)."""
    global _shelf, _unsubscribe
    with _lock:
        if _shelf is None:
            from ..modelshelf.settings import load_settings
            from ..modelshelf.shelf import Shelf

            _shelf = Shelf(load_settings(), host.host_layout())
            _unsubscribe = _shelf.on_download_change(_on_job)
        return _shelf


def reset_shelf() -> None:
    """Close the Shelf (its workers, sessions, databases); the next use makes a new one."""
    global _shelf, _unsubscribe
    with _lock:
        shelf, _shelf = _shelf, None
        unsubscribe, _unsubscribe = _unsubscribe, None
    if unsubscribe is not None:
        unsubscribe()
    if shelf is not None:
        shelf.close()


class ModelShelfNodeError(Exception):
    """A node failed for an expected reason; ``str()`` is one sentence for a person."""


KEY_WHERE = {
    "civitai": (
        "This model needs a Civitai API key: set it in the Model Shelf sidebar (Settings), "
        "with `modelshelf config set civitai_token`, or in the CIVITAI_API_TOKEN environment "
        "variable, then run the workflow again."
    ),
    "novita": (
        "This model needs a Novita API key: set it in the Model Shelf sidebar (Settings), "
        "with `modelshelf config set novita_key`, or in the NOVITA_API_KEY environment "
        "variable, then run the workflow again."
    ),
}


def node_error(exc: BaseException, settings: Any = None) -> ModelShelfNodeError:
    """The one sentence a node shows for a core error (a missing key says where to set it)."""
    from ..modelshelf import errors

    if isinstance(exc, errors.NeedsApiKeyError):
        provider = exc.provider or "civitai"
        key = getattr(settings, "novita_key" if provider == "novita" else "civitai_token", None)
        if not key and provider in KEY_WHERE:
            return ModelShelfNodeError(KEY_WHERE[provider])
    sentence_for = getattr(errors, "sentence_for", None)
    text = sentence_for(exc) if sentence_for is not None else str(exc)
    return ModelShelfNodeError(text or type(exc).__name__)
