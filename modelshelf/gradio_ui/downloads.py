"""The Downloads view: the queue, followed by snapshots, patched row by row in the page.

The server never re-renders the queue as HTML. A poll (a ``gr.Timer`` on 4.x, an
``every=`` loop on 3.41, see :mod:`.compat`) asks the Shelf which jobs changed since the
revision this page last saw and puts only those, as ``views.job_view`` dicts, into a
hidden box; the page script updates the matching rows. Polling runs only while the UI
is visible (the page script starts and stops it).
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from . import render
from .context import UIContext, sentence

__all__ = ["DownloadHandlers", "build_downloads"]

_ACTIONS = ("cancel", "retry", "forget")


class DownloadHandlers:
    """Queue snapshots and the Cancel / Retry buttons."""

    def __init__(self, ctx: UIContext, extra_status=None):
        self.ctx = ctx
        self.extra_status = extra_status  # () -> dict | None: library task progress

    def _payload(self, jobs: list[Any], *, full: bool, revision: int) -> str:
        data: dict[str, Any] = {
            "full": full,
            "revision": revision,
            "jobs": [self.ctx.job_view(j) for j in jobs],
        }
        if self.extra_status is not None:
            data["tasks"] = self.extra_status()
        return json.dumps(data, ensure_ascii=False, default=str)

    def full(self, _since: Any = 0):
        """Every job (a page load or the UI becoming visible): (revision, payload)."""
        try:
            revision, _ = self.ctx.shelf.download_changes(since=0, timeout=0.0)
            jobs = self.ctx.shelf.downloads()
        except Exception as exc:  # noqa: BLE001
            return 0, json.dumps({"full": False, "jobs": [], "error": sentence(exc)})
        return revision, self._payload(jobs, full=True, revision=revision)

    def tick(self, since: Any):
        """Jobs changed after ``since``; nothing (no page update at all) when none did."""
        try:
            since = int(since or 0)
        except (TypeError, ValueError):
            since = 0
        try:
            revision, jobs = self.ctx.shelf.download_changes(since=since, timeout=0.0)
        except Exception as exc:  # noqa: BLE001
            return since, json.dumps({"full": False, "jobs": [], "error": sentence(exc)})
        tasks = self.extra_status() if self.extra_status is not None else None
        if not jobs and not (tasks and tasks.get("changed")):
            return since, gr.update()
        return revision, self._payload(jobs, full=False, revision=revision)

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


def build_downloads(ctx: UIContext, bridges, extra_status=None) -> dict[str, Any]:
    """Create the Downloads view in the current Blocks; returns what the poll needs."""
    h = DownloadHandlers(ctx, extra_status)
    message = gr.HTML(elem_id="modelshelf_jobs_msg")
    gr.HTML(
        '<div id="modelshelf-jobs" class="modelshelf-jobs" aria-live="polite">'
        '<div class="modelshelf-muted modelshelf-jobs-empty">No downloads yet.</div></div>',
        elem_id="modelshelf_jobs_panel",
    )
    act_arg, act_go = bridges["job"]
    act_go.click(h.action, act_arg, message, api_name=False)
    return {"handlers": h, "message": message}
