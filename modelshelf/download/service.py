"""``download REF``: plan it (:mod:`.plan`), fetch it, write its sidecars, record it.

:func:`download` runs a :class:`~.plan.DownloadPlan`: it fetches the bytes (verified,
through a ``.part``; see :mod:`.fetch`), writes the sidecars and records the file in the
library database. With ``dry_run`` or when the same file is already there it stops after
the plan.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, ModelShelfError
from .plan import DownloadPlan, DownloadResult, existing_sidecars, plan

if TYPE_CHECKING:
    from ..layout import HostLayout
    from ..refs import Ref
    from ..settings import Settings
    from .choose import FilePreference

__all__ = ["DownloadPlan", "DownloadResult", "download", "plan", "run_plan"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, "int | None"], None]
WarnFn = Callable[[str], None]


def download(
    ref_or_text: Ref | str,
    *,
    settings: Settings,
    layout: HostLayout,
    file_id: int | str | None = None,
    prefer: FilePreference | None = None,
    allow_unsafe: bool = False,
    dry_run: bool = False,
    nsfw: bool | None = None,
    sidecars: bool = True,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    warn: WarnFn | None = None,
    connections: int | None = None,
    on_plan: Callable[[DownloadPlan], None] | None = None,
    providers: Callable[[str], Any] | None = None,
) -> DownloadResult:
    """Download the file ``ref_or_text`` names into ``layout``; see the module docstring.

    Same name and same hash already there: nothing is downloaded (``already_installed``).
    ``on_plan`` is told what was decided (target path, file) before any byte is fetched.
    """
    from ..cancel import cancel_scope

    with cancel_scope(cancel):
        the_plan = plan(
            ref_or_text,
            settings=settings,
            layout=layout,
            file_id=file_id,
            prefer=prefer,
            allow_unsafe=allow_unsafe,
            warn=warn,
            providers=providers,
        )
    if on_plan is not None:
        on_plan(the_plan)
    if dry_run:
        return the_plan.result(dry_run=True)
    if the_plan.already_installed:
        result = the_plan.result(dry_run=False)
        _record(the_plan, the_plan.path, result.sha256, result.size, settings)
        return result
    return run_plan(
        the_plan,
        settings=settings,
        nsfw=nsfw,
        sidecars=sidecars,
        on_progress=on_progress,
        cancel=cancel,
        warn=warn,
        connections=connections,
    )


def run_plan(
    the_plan: DownloadPlan,
    *,
    settings: Settings,
    nsfw: bool | None = None,
    sidecars: bool = True,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    warn: WarnFn | None = None,
    connections: int | None = None,
) -> DownloadResult:
    """Fetch, verify and place the planned file, then its sidecars and library record."""
    from ..http import RetryPolicy
    from .fetch import fetch

    source = the_plan.source_factory()
    fetched = fetch(
        source,
        the_plan.target_dir,
        policy=RetryPolicy.from_settings(settings),
        connections=connections or settings.connections,
        on_progress=on_progress,
        cancel=cancel,
        known_local_sha256=the_plan.local_sha256,
        refresh_source=the_plan.source_factory,
    )
    if not source.expected_sha256:
        _check_short_hash(the_plan, fetched)
    path = Path(fetched.path)
    sha256 = (fetched.sha256 or "").upper() or None
    written: list[Path] = []
    if sidecars:
        written = _write_sidecars(the_plan, path, sha256, settings, nsfw, warn)
    _record(the_plan, path, sha256, fetched.size, settings)
    result = the_plan.result(dry_run=False)
    result.path, result.sha256, result.size = path, sha256, fetched.size
    result.sidecars = written
    result.already_installed = bool(getattr(fetched, "already_present", False))
    return result


def _check_short_hash(the_plan: DownloadPlan, fetched: Any) -> None:
    """Check a download that only has an AutoV2 to match (Novita); remove it if it differs."""
    want = (the_plan.file.hashes.autov2 or "").upper()
    if not want or fetched.sha256.upper().startswith(want):
        return
    if not fetched.already_present:
        Path(fetched.path).unlink(missing_ok=True)
    raise IntegrityError(
        f"The downloaded file's hash ({fetched.sha256[:10]}) does not match the one the "
        f"provider lists ({want}); nothing was saved, try again."
    )


def _write_sidecars(
    the_plan: DownloadPlan,
    path: Path,
    sha256: str | None,
    settings: Settings,
    nsfw: bool | None,
    warn: WarnFn | None,
) -> list[Path]:
    """Write the sidecars; a failure here is a warning (the model itself is in place)."""
    from ..http import RetryPolicy, build_session
    from ..sidecars import http_image_fetcher, write_sidecars

    version_json = None
    raw = getattr(the_plan.source_provider, "raw_version_json", None)
    if the_plan.provider == "civitai" and raw is not None:
        try:
            version_json = raw(the_plan.version.id)
        except ModelShelfError as exc:
            log.warning("no version JSON for %s: %s", the_plan.version.id, exc)
    session = build_session()
    fetcher = http_image_fetcher(session, policy=RetryPolicy.from_settings(settings, max_retries=2))
    preview_errors: list[ModelShelfError] = []

    def fetch_image(url: str) -> tuple[bytes, str | None]:
        try:
            return fetcher(url)
        except ModelShelfError as exc:
            preview_errors.append(exc)
            raise

    try:
        written = list(
            write_sidecars(
                path,
                the_plan.version,
                model=the_plan.model,
                version_json=version_json,
                sha256=sha256,
                nsfw=settings.nsfw if nsfw is None else nsfw,
                fetch_image=fetch_image,
            )
        )
        if preview_errors and warn and not any(".preview." in p.name for p in written):
            warn(f"No preview image was saved: {str(preview_errors[-1]).rstrip('.')}.")
        return written
    except (ModelShelfError, OSError) as exc:
        message = f"The model is in place but its sidecar files could not be written: {exc}"
        log.warning(message)
        if warn:
            warn(message)
        return existing_sidecars(path)
    finally:
        session.close()


def _record(
    the_plan: DownloadPlan, path: Path, sha256: str | None, size: int | None, settings: Settings
) -> None:
    """Record the placed file in the library database (skipped if that fails)."""
    try:
        from ..library.db import LibraryDB
    except ImportError:
        return
    try:
        st = os.stat(path)
        with LibraryDB(settings.library_path) as db:
            db.upsert_file(
                path,
                size=st.st_size if size is None else size,
                mtime=st.st_mtime_ns,
                sha256=sha256,
                autov3=the_plan.file.hashes.autov3,
                model_id=the_plan.model_id if isinstance(the_plan.model_id, int) else None,
                version_id=the_plan.version.id if the_plan.provider == "civitai" else None,
                file_id=the_plan.file.id,
                source="download",
                folder=the_plan.folder,
            )
    except Exception as exc:  # the library is a record, never a reason to fail a download
        log.warning("could not record %s in the library: %s", path, exc)
