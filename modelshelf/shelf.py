"""The one front-end API of the core: :class:`Shelf`.

Every front end (the command line, the Gradio tab and app, the ComfyUI nodes and routes)
talks to the core through one ``Shelf``. It owns one provider (HTTP session and response
cache) per catalogue, the library database and the download queue, and closes them in
:meth:`Shelf.close`. The layout is given by the front end that knows its folders (A1111's
``cmd_opts``, ComfyUI's ``folder_paths``) or comes from the settings; the queue uses
exactly that layout.

    with Shelf(load_settings(), layout) as shelf:
        page = shelf.search(SearchQuery(query="detail", types=["LORA"]))
        job = shelf.start_download(f"{page.items[0].id}")
        revision, changed = shelf.download_changes(0, timeout=25)

Failures are :mod:`modelshelf.errors` exceptions; ``errors.sentence_for(exc)`` is what a
person reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import BadInputError

if TYPE_CHECKING:
    from .download.jobs import Job
    from .download.manager import DownloadManager
    from .download.plan import DownloadPlan, DownloadResult
    from .layout import HostLayout
    from .library.db import LibraryDB, ModelUpdate
    from .library.operations import LinkResult, ScanReport, UpdatesReport
    from .providers.base import Provider
    from .providers.civitai import CivitaiProvider
    from .resolve import ResolvePlan
    from .settings import Settings
    from .types import Model, ModelVersion, Page, SearchQuery

__all__ = ["STATE_LABELS", "Shelf"]

#: The visible name of each job state, the same in every front end.
STATE_LABELS = {
    "queued": "Queued",
    "running": "Downloading",
    "done": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "interrupted": "Interrupted",
}

ProgressFn = Callable[[int, "int | None"], None]


class Shelf:
    """Search, detail, downloads and the local library for one front end."""

    def __init__(
        self,
        settings: Settings | None = None,
        layout: HostLayout | None = None,
        *,
        max_concurrent: int = 2,
        use_cache: bool | None = None,
    ):
        from .settings import load_settings

        self.settings = settings if settings is not None else load_settings()
        self._layout = layout
        self._use_cache = use_cache
        self._lock = threading.RLock()
        self._providers: dict[str, Provider] = {}
        self._db: LibraryDB | None = None
        self._manager: DownloadManager | None = None
        self._max_concurrent = max_concurrent
        self._closed = False

    # lifecycle ----------------------------------------------------------------------
    def __enter__(self) -> Shelf:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, *, timeout: float = 30.0) -> None:
        """Stop the download workers (running jobs are recorded as interrupted), close all."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            manager, db, providers = self._manager, self._db, list(self._providers.values())
            self._manager, self._db, self._providers = None, None, {}
        if manager is not None:
            manager.shutdown(wait=True, timeout=timeout)
        for provider in providers:
            session = getattr(provider, "_session", None)
            if session is not None:
                session.close()
        if db is not None:
            db.close()

    # what it owns -------------------------------------------------------------------
    @property
    def layout(self) -> HostLayout:
        """The host's folders: as given, else from the settings (``models_dir``/``host_dir``)."""
        with self._lock:
            if self._layout is None:
                from .layout import resolve_layout

                self._layout = resolve_layout(settings=self.settings)
            return self._layout

    def provider(self, name: str, *, fresh: bool = False) -> Provider:
        """The long-lived provider ``name`` (``civitai`` or ``novita``).

        ``fresh``: one that never answers from the response cache (identification and
        update checks must see the catalogue as it is now).
        """
        key = f"{name}:fresh" if fresh else name
        with self._lock:
            self._check_open()
            if key not in self._providers:
                from .providers import get_provider

                use_cache = False if fresh else self._use_cache
                self._providers[key] = get_provider(name, self.settings, use_cache=use_cache)
            return self._providers[key]

    def _civitai(self) -> CivitaiProvider:
        return self.provider("civitai", fresh=True)  # type: ignore[return-value]

    @property
    def library(self) -> LibraryDB:
        """The library database (opened on first use)."""
        with self._lock:
            self._check_open()
            if self._db is None:
                from .library.db import LibraryDB

                self._db = LibraryDB(self.settings.library_path)
            return self._db

    @property
    def _downloads(self) -> DownloadManager:
        with self._lock:
            self._check_open()
            if self._manager is None:
                from .download.manager import DownloadManager

                self._manager = DownloadManager(
                    self.settings, max_concurrent=self._max_concurrent, runner=self._run_job
                )
            return self._manager

    def _check_open(self) -> None:
        if self._closed:
            from .errors import ModelShelfError

            raise ModelShelfError("Model Shelf has been closed; start it again.")

    # browse -------------------------------------------------------------------------
    def search(
        self, query: SearchQuery, *, provider: str = "civitai", cursor: str | None = None
    ) -> Page:
        """One page of results (``page.next_cursor`` continues it)."""
        return self.provider(provider).search_page(query, cursor)

    def model(self, model_id: int | str, *, provider: str = "civitai") -> Model:
        """A model with its versions, files and images."""
        return self.provider(provider).get_model(model_id)

    def version(self, version_id: int | str) -> ModelVersion:
        """A Civitai model version."""
        return self.provider("civitai").get_version(version_id)

    def lookup(self, ref_text: str) -> tuple[Model | None, ModelVersion]:
        """The model and version any REF names (id, id@version, URL, AIR, ``novita:ID``)."""
        from .refs import parse_ref, resolve_version

        ref = parse_ref(ref_text, self.settings.civitai_url)
        return resolve_version(ref, self.provider(ref.provider))

    def installed(self, version_id: int) -> list[Path]:
        """Where the files of a Civitai version are on disk (empty: not installed)."""
        return self.library.installed_versions(version_id)

    def badges(self, models: Iterable[Model]) -> dict[int | str, str]:
        """``installed`` (newest version on disk) or ``update`` (an older one) per model id."""
        models = [m for m in models if isinstance(m.id, int) and m.provider == "civitai"]
        have = self.library.versions_by_model(int(m.id) for m in models)
        out: dict[int | str, str] = {}
        for m in models:
            on_disk = have.get(int(m.id))
            if not on_disk:
                continue
            newest = m.versions[0].id if m.versions else None
            out[m.id] = "installed" if newest is None or newest in on_disk else "update"
        return out

    # downloads ----------------------------------------------------------------------
    def plan_download(
        self,
        ref: str,
        *,
        file_id: int | None = None,
        cancel: threading.Event | None = None,
        allow_unsafe: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> DownloadPlan:
        """What a download of ``ref`` would do (target folder, file); writes nothing."""
        from .cancel import cancel_scope
        from .download.plan import plan

        with cancel_scope(cancel):
            return plan(
                ref,
                settings=self.settings,
                layout=self.layout,
                file_id=file_id,
                allow_unsafe=allow_unsafe,
                warn=warn,
                providers=self.provider,
            )

    def download(
        self,
        ref: str,
        *,
        file_id: int | None = None,
        on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        dry_run: bool = False,
        warn: Callable[[str], None] | None = None,
        on_plan: Callable[[DownloadPlan], None] | None = None,
        **options: Any,
    ) -> DownloadResult:
        """Download ``ref`` now, in this thread (the CLI and ComfyUI's nodes use this).

        ``options``: ``allow_unsafe``, ``nsfw``, ``sidecars``, ``prefer`` (FilePreference),
        ``connections``.
        """
        from .download.service import download

        return download(
            ref,
            settings=self.settings,
            layout=self.layout,
            file_id=file_id,
            on_progress=on_progress,
            cancel=cancel,
            dry_run=dry_run,
            warn=warn,
            on_plan=on_plan,
            providers=self.provider,
            **options,
        )

    def start_download(self, ref: str, *, file_id: int | None = None) -> Job:
        """Queue a download of ``ref``; follow it with :meth:`download_changes`."""
        from .download.jobs import DownloadRequest

        if not ref or not str(ref).strip():
            raise BadInputError("Say what to download: a model id, a Civitai URL or an AIR.")
        self.layout  # noqa: B018 - a layout problem is said now, not as a failed job
        manager = self._downloads
        return manager.job(manager.submit(DownloadRequest(ref=str(ref).strip(), file_id=file_id)))

    def cancel_download(self, job_id: str) -> Job:
        return self._downloads.cancel(job_id)

    def retry_download(self, job_id: str) -> Job:
        return self._downloads.retry(job_id)

    def forget_download(self, job_id: str) -> None:
        self._downloads.forget(job_id)

    def downloads(self) -> list[Job]:
        """Every job, oldest first (including those from before a restart)."""
        return self._downloads.jobs()

    def download_changes(self, since: int = 0, timeout: float = 0.0) -> tuple[int, list[Job]]:
        """(revision, jobs changed after revision ``since``); waits up to ``timeout`` s."""
        return self._downloads.changes(since, timeout)

    def on_download_change(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Call ``callback(job)`` (on a dispatcher thread) at every change; returns unsubscribe."""
        return self._downloads.subscribe(callback)

    def wait_for_download(self, job_id: str, timeout: float | None = None) -> Job:
        return self._downloads.wait(job_id, timeout)

    def _run_job(self, request: Any, on_progress: ProgressFn, cancel: threading.Event) -> Any:
        from .download.choose import FilePreference

        prefer = FilePreference(
            format=request.prefer_format or self.settings.prefer_format,
            fp=request.prefer_fp or self.settings.prefer_fp,
            size=request.prefer_size or self.settings.prefer_size,
        )
        describe = getattr(on_progress, "describe", None)

        def on_plan(the_plan: DownloadPlan) -> None:
            if describe is not None:
                describe(name=the_plan.path.name, target_dir=str(the_plan.target_dir))

        return self.download(
            request.ref,
            file_id=request.file_id,
            on_progress=on_progress,
            cancel=cancel,
            on_plan=on_plan,
            prefer=prefer,
            allow_unsafe=request.allow_unsafe,
            nsfw=request.nsfw,
            sidecars=request.sidecars,
            connections=request.connections,
        )

    # library ------------------------------------------------------------------------
    def scan(
        self,
        *,
        identify: bool = True,
        enrich: bool = True,
        workers: int | None = None,
        all_autov3: bool = False,
        on_progress: Callable[[str, int, int | None], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ScanReport:
        """Hash new files, identify them on Civitai, fill in missing sidecars."""
        from .library.operations import scan_and_identify

        return scan_and_identify(
            self.library,
            self.layout,
            self._civitai,
            settings=self.settings,
            identify=identify,
            enrich=enrich,
            workers=workers,
            all_autov3=all_autov3,
            on_progress=on_progress,
            cancel=cancel,
        )

    def link(self, path: Path | str, ref: str) -> LinkResult:
        """Record by hand which Civitai version a file is, and write its sidecars."""
        from .library.operations import link_file

        return link_file(self.library, self._civitai(), path, ref, settings=self.settings)

    def updates(
        self,
        *,
        offline: bool = False,
        whole_library: bool = False,
        on_progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> UpdatesReport:
        """Installed models (in this layout's folders) that have a newer version."""
        from .library.operations import updates_in

        layout = None if whole_library else self.layout
        return updates_in(
            self.library,
            self._civitai,
            layout,
            offline=offline,
            on_progress=on_progress,
            cancel=cancel,
        )

    def update_list(self, *, offline: bool = True) -> list[ModelUpdate]:
        """The models with updates, from the last check (no network by default)."""
        return self.updates(offline=offline).updates

    # what a picture or a workflow needs ----------------------------------------------
    def resolve_resources(self, sources: Iterable[Any], *, with_layout: bool = True) -> ResolvePlan:
        """The models an image, infotext or workflow names, each resolved and checked.

        ``sources``: paths, bytes (a dropped file), text (pasted infotext) or a workflow
        dict. Each item says how it was identified and whether it is installed.
        """
        from .resolve import plan_for_files

        return plan_for_files(
            list(sources),
            settings=self.settings,
            layout=self.layout if with_layout else None,
            provider=self.provider("civitai"),
            library=self.library,
        )

    def download_resolved(self, plan: ResolvePlan, **options: Any) -> list[Any]:
        """Download every missing item of ``plan`` (``accept_guesses``, ``on_progress``,
        ``on_item``, ``cancel``); returns one outcome per item."""
        from .resolve import download_missing

        return download_missing(plan, self.download, **options)

    def trained_words(self, path: Path | str) -> list[str]:
        """A local file's trained words: its sidecars, else Civitai by hash once."""
        from .library.operations import trained_words_for

        return trained_words_for(self.library, self._civitai, path, settings=self.settings)
