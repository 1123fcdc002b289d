"""The records of the download queue: requests, jobs and the runner that does one job.

Plain values only (no open files, no sessions), so a job survives a restart as JSON.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = [
    "CANCELLED",
    "DONE",
    "FAILED",
    "INTERRUPTED",
    "QUEUED",
    "RETRYABLE_STATES",
    "RUNNING",
    "TERMINAL_STATES",
    "DownloadRequest",
    "Job",
    "Runner",
    "default_runner",
    "result_dict",
]

QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = (
    "queued",
    "running",
    "done",
    "failed",
    "cancelled",
    "interrupted",
)
TERMINAL_STATES = frozenset({DONE, FAILED, CANCELLED, INTERRUPTED})
RETRYABLE_STATES = frozenset({FAILED, CANCELLED, INTERRUPTED})


@dataclass
class DownloadRequest:
    """What to download and where (plain values, so it can be saved)."""

    ref: str
    file_id: int | None = None
    models_dir: str | None = None
    host_dir: str | None = None
    layout: str | None = None
    allow_unsafe: bool = False
    nsfw: bool | None = None
    sidecars: bool = True
    prefer_format: str | None = None
    prefer_fp: str | None = None
    prefer_size: str | None = None
    connections: int | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DownloadRequest:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Job:
    """One download's state; listeners receive copies."""

    id: str
    request: DownloadRequest
    state: str = QUEUED
    bytes_done: int = 0
    bytes_total: int | None = None
    speed: float | None = None  # bytes per second over the last few seconds
    eta: float | None = None  # seconds left
    error: str | None = None  # one sentence for a person
    exit_code: int | None = None  # the CLI status the error maps to
    result: dict[str, Any] | None = None  # DownloadResult fields once done
    attempts: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    name: str | None = None  # the file's name, once the plan is made
    target_dir: str | None = None  # the folder it goes to, once the plan is made
    revision: int = 0  # the manager's change counter at this job's last change; only grows
    owner: str | None = None  # the manager (host:pid:nonce) that runs it; see job_store

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)} - {"request"}
        values = {k: v for k, v in data.items() if k in known}
        return cls(request=DownloadRequest.from_dict(data.get("request") or {}), **values)


# runner(request, on_progress, cancel) -> a result object (dataclass) or dict
Runner = Callable[[DownloadRequest, Callable[[int, "int | None"], None], threading.Event], Any]


def default_runner(settings: Settings) -> Runner:
    """A runner that calls :func:`modelshelf.download.service.download`."""

    def run(request: DownloadRequest, on_progress, cancel: threading.Event):
        from ..layout import resolve_layout
        from .choose import FilePreference
        from .service import download

        prefer = FilePreference(
            format=request.prefer_format or settings.prefer_format,
            fp=request.prefer_fp or settings.prefer_fp,
            size=request.prefer_size or settings.prefer_size,
        )
        layout = resolve_layout(
            models_dir=request.models_dir, host_dir=request.host_dir, layout=request.layout
        )
        return download(
            request.ref,
            settings=settings,
            layout=layout,
            file_id=request.file_id,
            prefer=prefer,
            allow_unsafe=request.allow_unsafe,
            nsfw=request.nsfw,
            sidecars=request.sidecars,
            on_progress=on_progress,
            cancel=cancel,
            connections=request.connections,
        )

    return run


def result_dict(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    if isinstance(result, dict):
        data = dict(result)
    elif hasattr(result, "__dataclass_fields__"):
        data = asdict(result)
    else:
        return {"value": str(result)}
    return json.loads(json.dumps(data, default=str))
