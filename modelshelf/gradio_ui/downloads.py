"""The Downloads view: the queue, followed by a long-poll, patched row by row in the page.

The server never re-renders the queue as HTML. A poll (a ``gr.Timer`` on 4.x, an
``every=`` loop on 3.41, see :mod:`.compat`) waits on the Shelf (``download_changes``) until
a job changed after the revision this page last saw, or a library task moved, or
:data:`LONG_POLL` seconds passed, and then sends only what changed: ``views.job_view`` dicts
as JSON, the text of a hidden button (a component without a status tracker, which would
animate its timer while the poll waits), which the page script reads (a MutationObserver,
no second Gradio event) to update the matching rows. An idle queue costs
one request per :data:`LONG_POLL`; a running download one per poll interval. Polling runs
only while the UI is visible (the page script starts and stops it).
"""

from __future__ import annotations

import json
import time
from typing import Any

import gradio as gr

from . import render
from .context import UIContext, sentence

__all__ = ["LONG_POLL", "DownloadHandlers", "build_downloads", "payload_text"]

_ACTIONS = ("cancel", "retry", "forget")
LONG_POLL = 20.0  # seconds a poll waits for a change before it answers "nothing new"
_SLICE = 0.25  # seconds between looks at the library tasks while waiting


def payload_text(data: dict[str, Any]) -> str:
    """What the page script reads from the hidden button ``#modelshelf_jobs_data``."""
    return json.dumps(data, ensure_ascii=False, default=str)


def _since(value: Any) -> dict[str, int]:
    """The poll state of a page: the queue revision and each library task's revision."""
    if isinstance(value, dict):
        out = {}
        for key, rev in value.items():
            if str(key).startswith("_"):
                continue  # what the poll carries besides revisions (compat.poll)
            try:
                out[str(key)] = int(rev)
            except (TypeError, ValueError):
                out[str(key)] = 0
        return out
    try:
        return {"jobs": int(value or 0)}
    except (TypeError, ValueError):
        return {"jobs": 0}


class DownloadHandlers:
    """Queue snapshots and the Cancel / Retry buttons."""

    def __init__(self, ctx: UIContext, extra_status=None):
        self.ctx = ctx
        self.extra_status = extra_status  # () -> {name: status dict with "revision"} | None

    def _tasks(self) -> dict[str, Any]:
        return self.extra_status() if self.extra_status is not None else {}

    def _payload(self, jobs: list[Any], *, full: bool, revision: int, tasks) -> str:
        data: dict[str, Any] = {
            "full": full,
            "revision": revision,
            "jobs": [self.ctx.job_view(j) for j in jobs],
        }
        if tasks:
            data["tasks"] = tasks
        return payload_text(data)

    def _state(self, revision: int, tasks: dict[str, Any]) -> dict[str, int]:
        state = {"jobs": revision}
        state.update({name: int(t.get("revision") or 0) for name, t in tasks.items()})
        return state

    def full(self, _since: Any = 0):
        """Every job (a page load or the UI becoming visible): (poll state, payload)."""
        try:
            revision, _ = self.ctx.shelf.download_changes(since=0, timeout=0.0)
            jobs = self.ctx.shelf.downloads()
        except Exception as exc:  # noqa: BLE001
            return {"jobs": 0}, payload_text({"full": False, "jobs": [], "error": sentence(exc)})
        tasks = self._tasks()
        return self._state(revision, tasks), self._payload(
            jobs, full=True, revision=revision, tasks=tasks
        )

    def tick(self, since: Any, wait: float = LONG_POLL):
        """Jobs changed after ``since``, waiting up to ``wait`` s for one; when nothing
        changed, the same state and no page update at all."""
        seen = _since(since)
        deadline = time.monotonic() + max(0.0, wait)
        while True:
            left = deadline - time.monotonic()
            try:
                revision, jobs = self.ctx.shelf.download_changes(
                    since=seen.get("jobs", 0), timeout=max(0.0, min(_SLICE, left))
                )
            except Exception as exc:  # noqa: BLE001
                error = {"full": False, "jobs": [], "error": sentence(exc)}
                return seen, payload_text(error)
            tasks = self._tasks()
            moved = any(int(t.get("revision") or 0) != seen.get(n, 0) for n, t in tasks.items())
            if jobs or moved:
                return self._state(revision, tasks), self._payload(
                    jobs, full=False, revision=revision, tasks=tasks
                )
            if left <= 0:
                return seen, gr.update()

    def action(self, arg: str) -> str:
        """``cancel:ID``, ``retry:ID`` or ``forget:ID`` from a row's button."""
        op, _, job_id = (arg or "").partition(":")
        if op not in _ACTIONS or not job_id:
            return render.message_html("That button is out of date; reload the page.", kind="error")
        try:
            if op == "cancel":
                self.ctx.shelf.cancel_download(job_id)
            elif op == "retry":
                self.ctx.shelf.retry_download(job_id)
            else:
                self.ctx.shelf.forget_download(job_id)
        except Exception as exc:  # noqa: BLE001
            return render.message_html(sentence(exc), kind="error")
        return ""


def build_downloads(ctx: UIContext, actions: dict[str, Any], extra_status=None):
    """Create the Downloads view in the current Blocks; returns its handlers."""
    h = DownloadHandlers(ctx, extra_status)
    message = gr.HTML(elem_id="modelshelf_jobs_msg")
    gr.HTML(
        '<div id="modelshelf-jobs" class="modelshelf-jobs" aria-live="polite">'
        '<div class="modelshelf-muted modelshelf-jobs-empty">No downloads yet.</div></div>',
        elem_id="modelshelf_jobs_panel",
    )
    actions["job"] = (h.action, [], [message])
    return h
