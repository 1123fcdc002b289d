"""The Library view: scan the local models, counts, updates with "Update", "Link" by hand.

A scan or an update check runs on a thread of its own (:class:`BackgroundTask`); the
same poll that follows the download queue carries its progress, and the page asks for
the Library HTML again once the task has finished. Buttons name rows by their index in
the last result, never by a path sent from the page.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import gradio as gr

from . import render
from .context import UIContext, sentence

__all__ = ["BackgroundTask", "LibraryHandlers", "build_library"]


class BackgroundTask:
    """One long call at a time, off Gradio's event threads, with progress for the poll."""

    def __init__(self, name: str):
        self.name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.cancel = threading.Event()
        self.state = "idle"  # idle, running, done, failed, cancelled
        self.stage = ""
        self.done = 0
        self.total: int | None = None
        self.result: Any = None
        self.error: str | None = None
        self.revision = 0

    def start(self, work: Callable[[Callable[..., None], threading.Event], Any]) -> bool:
        """Run ``work(on_progress, cancel)`` in a thread; False when one is running already."""
        with self._lock:
            if self.state == "running":
                return False
            self.cancel = threading.Event()
            self.state, self.done, self.total, self.error = "running", 0, None, None
            self.revision += 1
            self._thread = threading.Thread(
                target=self._run, args=(work,), name=f"modelshelf-{self.name}", daemon=True
            )
            self._thread.start()
        return True

    def _progress(self, *args: Any) -> None:
        """``(done, total)`` or the scan's ``(stage, done, total)``."""
        if args and isinstance(args[0], str):
            self.stage, args = args[0], args[1:]
        done, total = (list(args) + [None, None])[:2]
        if isinstance(done, (int, float)):
            self.done = int(done)
        if isinstance(total, (int, float)):
            self.total = int(total)
        self.revision += 1

    def _run(self, work) -> None:
        try:
            result = work(self._progress, self.cancel)
        except Exception as exc:  # noqa: BLE001 - a sentence for the page
            with self._lock:
                self.state, self.error = "failed", sentence(exc)
                self.revision += 1
            return
        with self._lock:
            self.result = result
            self.state = "cancelled" if self.cancel.is_set() else "done"
            self.revision += 1

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        total = self.total
        if self.stage == "hashing":
            text = f"hashing {self.done * 100 // total if total else 0}%"
        else:
            text = f"{self.stage or 'working'} {self.done}" + (f" of {total}" if total else "")
        return {
            "state": self.state,
            "done": self.done,
            "total": total,
            "text": text,
            "error": self.error,
            "revision": self.revision,
        }


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


class LibraryHandlers:
    """Scan, updates, Update and Link."""

    def __init__(self, ctx: UIContext):
        self.ctx = ctx
        self.scan_task = BackgroundTask("scan")
        self.update_task = BackgroundTask("updates")
        self._linked: set[str] = set()  # paths linked by hand since the last scan
        self._unknown_of: Any = None  # the scan report _unknown_files were read for
        self._unknown_files: list[Any] = []

    def tasks_status(self) -> dict[str, Any]:
        """Both tasks for the poll; each page follows their ``revision``."""
        return {"scan": self.scan_task.status(), "updates": self.update_task.status()}

    def scan(self) -> str:
        started = self.scan_task.start(
            lambda progress, cancel: self.ctx.shelf.scan(on_progress=progress, cancel=cancel)
        )
        if started:
            self._linked.clear()
        text = "Scanning the models folders…" if started else "A scan is already running."
        return render.message_html(text)

    def check_updates(self) -> str:
        started = self.update_task.start(
            lambda progress, cancel: self.ctx.shelf.updates(
                on_progress=lambda done, total: progress("checking", done, total), cancel=cancel
            )
        )
        text = "Checking Civitai for newer versions…" if started else "Already checking."
        return render.message_html(text)

    def _unknown(self) -> list[Any]:
        """The last scan's files Civitai does not know (read from the library, not a list
        of every file), less those linked by hand since."""
        report = self.scan_task.result
        if report is None:
            return []
        if report is not self._unknown_of:  # once per scan: the rows keep their indexes
            self._unknown_of, self._unknown_files = report, report.unknown_files()
        return [i for i in self._unknown_files if str(i.path) not in self._linked]

    def _updates(self) -> list[Any]:
        result = self.update_task.result
        return list(getattr(result, "updates", result) or [])

    def render(self) -> str:
        """Counts, the files Civitai does not know (with Link) and the updates (with Update)."""
        parts: list[str] = []
        report = self.scan_task.result
        if self.scan_task.error:
            parts.append(render.message_html(self.scan_task.error, kind="error"))
        if report is not None:
            parts.append(self._scan_html(report))
        if self.update_task.error:
            parts.append(render.message_html(self.update_task.error, kind="error"))
        updates = self._updates()
        if self.update_task.state == "done" and not updates:
            parts.append(render.message_html("Every identified model is up to date."))
        if updates:
            primary = "modelshelf-btn primary"
            rows = (
                f"<tr><td>{_e(u.model_name or u.path)}</td><td>{_e(u.latest_version_name)}</td>"
                f"<td>{render.button('Update', 'update', i, cls=primary)}</td></tr>"
                for i, u in enumerate(updates)
            )
            parts.append(render.table_html(["Model", "New version", ""], rows))
        return "".join(parts) or render.message_html("Scan to see the models you have.")

    def _scan_html(self, report: Any) -> str:
        unknown = self._unknown()
        known = report.scanned - len(unknown)
        parts = [
            f'<div class="modelshelf-counts"><b>{report.scanned}</b> files · <b>{known}</b> '
            f"identified · <b>{len(unknown)}</b> unknown</div>"
        ]
        if getattr(report, "failure", None):
            parts.append(render.message_html(report.failure, kind="warn"))
        if unknown:
            rows = (
                f'<tr><td class="modelshelf-fname">{_e(item.path)}</td><td>'
                '<input type="text" class="modelshelf-ref" placeholder="REF: 12345@67890"'
                f' aria-label="REF for {_e(item.path)}">'
                f"{render.button('Link', 'link', i)}</td></tr>"
                for i, item in enumerate(unknown)
            )
            parts.append(render.table_html(["Unknown file", "Civitai REF"], rows))
        return "".join(parts)

    def update(self, index: Any) -> str:
        """Download the newer version beside the old one."""
        try:
            u = self._updates()[int(index)]
            job = self.ctx.shelf.start_download(f"{u.model_id}@{u.latest_version_id}")
        except (IndexError, ValueError):
            return render.message_html(
                "That list is out of date; check for updates again.", kind="error"
            )
        except Exception as exc:  # noqa: BLE001
            return render.message_html(sentence(exc), kind="error")
        name = self.ctx.job_view(job).get("name") or "the new version"
        return render.message_html(f"Queued {name}: follow it under Downloads.")

    def link(self, arg: str) -> tuple[str, str]:
        """``INDEX|REF``: record which Civitai version an unknown file is."""
        index, _, ref = (arg or "").partition("|")
        try:
            item = self._unknown()[int(index)]
        except (IndexError, ValueError):
            return gr.update(), render.message_html(
                "That list is out of date; scan again.", kind="error"
            )
        try:
            self.ctx.shelf.link(item.path, ref.strip())
        except Exception as exc:  # noqa: BLE001
            return gr.update(), render.message_html(sentence(exc), kind="error")
        self._linked.add(str(item.path))
        return self.render(), render.message_html(f"Linked {item.path}.")


def build_library(ctx: UIContext, actions: dict[str, Any]) -> LibraryHandlers:
    """Create the Library view in the current Blocks and wire it (``actions``: app.BRIDGE)."""
    h = LibraryHandlers(ctx)
    with gr.Row():
        scan = gr.Button("Scan", variant="primary", elem_id="modelshelf_scan")
        check = gr.Button("Check for updates", elem_id="modelshelf_check_updates")
    gr.HTML('<div id="modelshelf-task" class="modelshelf-muted" aria-live="polite"></div>')
    message = gr.HTML(elem_id="modelshelf_library_msg")
    body = gr.HTML(h.render(), elem_id="modelshelf_library")
    scan.click(h.scan, None, message, api_name=False, queue=False)
    check.click(h.check_updates, None, message, api_name=False, queue=False)
    actions["library"] = (lambda _arg: h.render(), [], [body])
    actions["update"] = (h.update, [], [message])
    actions["link"] = (h.link, [], [body, message])
    return h
