"""Fetch one model file into a folder: resumable, verified, placed atomically.

:func:`fetch` is the whole contract of "what a download leaves behind" (DESIGN.md):

1. Under a lock on ``<part>.lock`` (a second caller waits, then finds the file installed).
2. If a file of the same name and SHA256 is already there: ``already_present``, no request.
3. Free space is checked (``shutil.disk_usage`` against the remaining bytes + a margin).
4. Bytes go to ``<name>.<versionId>-<fileId>.part`` beside the target, resuming from what
   it holds (see :mod:`._engine`, :mod:`._transfer`), hashed while written.
5. Size and SHA256 must match the API's; else the ``.part`` is removed and
   :class:`IntegrityError` raised (nothing placed).
6. The name is the server's (``Content-Disposition``, the signed URL's query) or the API's,
   made safe (:mod:`modelshelf.names`). If that name is taken by other content, the file
   becomes ``stem (2).ext`` (never overwritten); if it is taken by the same content the
   ``.part`` is dropped and the result says ``already_present``. Placing is ``os.link``
   (fails if the name appeared meanwhile) + unlink, or ``os.replace`` where links are
   not supported — both atomic in the same folder.

A full disk (before or during) raises :class:`DiskSpaceError`; cancelling raises
:class:`UserCancelledError`. In both cases the ``.part`` stays for a later resume and nothing
is placed.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInputError, DiskSpaceError, IntegrityError
from ..hashing import sha256_file
from ..http import RetryPolicy, build_session
from ..names import (
    candidate_names,
    filename_from_content_disposition,
    filename_from_signed_url,
    inside,
    safe_filename,
)
from ._engine import Downloader
from ._partfile import PartFile, PartState
from ._segments import Progress
from ._transfer import Transfer

if TYPE_CHECKING:
    import requests

    from ..providers.base import DownloadSource

__all__ = ["FetchResult", "Probe", "fetch", "probe", "sha256_file"]

log = logging.getLogger(__name__)

DISK_MARGIN = 16 * 2**20
ProgressFn = Callable[[int, "int | None"], None]


@dataclass
class FetchResult:
    """Where the file is and what was done to get it there."""

    path: Path
    sha256: str  # upper-case hex
    size: int
    already_present: bool
    downloaded_bytes: int  # bytes received over the network in this call
    resumed_from: int  # bytes the .part already held when this call started


@dataclass
class Probe:
    """What a ``--dry-run`` learns from ``GET`` + ``Range: bytes=0-0``."""

    filename: str  # safe name the file would get
    size: int | None
    accepts_ranges: bool
    final_url: str  # redacted (no signature, no key): safe to print


def _fallback_name(source: DownloadSource) -> str:
    ext = os.path.splitext(source.filename or "")[1] or ".safetensors"
    return f"model-{source.version_id or source.file_id or 'download'}{ext}"


def _server_name(source: DownloadSource, disposition: str | None, url: str | None) -> str:
    fallback = safe_filename(source.filename, fallback=_fallback_name(source))
    raw = filename_from_content_disposition(disposition)
    if not raw and url:
        raw = filename_from_signed_url(url)
    return safe_filename(raw, fallback=fallback)


def _same_hash(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.strip().upper() == b.strip().upper()


def _find_present(
    dest_dir: Path, name: str, sha256: str, known_local_sha256: str | None
) -> Path | None:
    """An existing file named ``name`` (or ``name (N)``) whose SHA256 is ``sha256``."""
    for i, candidate in enumerate(candidate_names(name)):
        path = dest_dir / candidate
        if not path.is_file():
            if i > 0:
                return None
            continue
        local = known_local_sha256 if i == 0 and known_local_sha256 else sha256_file(path)
        if _same_hash(local, sha256):
            return path
    return None


def _check_space(dest_dir: Path, needed: int) -> None:
    if needed <= 0:
        return
    free = shutil.disk_usage(dest_dir).free
    if free < needed + DISK_MARGIN:
        mib = 2**20
        raise DiskSpaceError(
            f"Not enough free space in {dest_dir}: the download needs {needed / mib:.0f} MiB "
            f"(plus {DISK_MARGIN // mib} MiB margin) but only {free / mib:.0f} MiB is free; "
            "free some space and try again."
        )


def _place(part: PartFile, dest_dir: Path, name: str, sha256: str) -> tuple[Path, bool]:
    """Move the verified ``.part`` to ``name`` (or a distinct name). ``(path, already)``."""
    for candidate in candidate_names(name):
        target = inside(dest_dir, candidate)
        if target.exists():
            if target.is_file() and _same_hash(sha256_file(target), sha256):
                part.discard()
                return target, True
            continue
        try:
            os.link(part.path, target)
        except FileExistsError:
            continue
        except OSError as exc:  # no hard links here (FAT, some network shares)
            if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
                raise
            if target.exists():
                continue
            os.replace(part.path, target)
        else:
            part.path.unlink()
        with contextlib.suppress(FileNotFoundError):
            part.state_path.unlink()
        return target, False
    raise BadInputError(f"Too many files named like {name!r} in {dest_dir}; clean it up.")


def fetch(
    source: DownloadSource,
    dest_dir: Path,
    *,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
    connections: int = 4,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    known_local_sha256: str | None = None,
    min_parallel_size: int = 32 * 2**20,
    refresh_source: Callable[[], DownloadSource] | None = None,
) -> FetchResult:
    """Download ``source`` into ``dest_dir``, verified, resumable, never half-placed.

    ``on_progress(done, total)`` may be called from worker threads. ``known_local_sha256``
    is the hash of the file already at the API's name (skips hashing it).

    Raises:
        NeedsApiKeyError, EarlyAccessError, DownloadsDisabledError, AccessError,
        NotFoundError: the provider refused (nothing in the folder).
        IntegrityError: size or hash mismatch, or a page instead of the model
            (the ``.part`` is removed).
        RateLimitedError, ServerError, NetworkError: after retries (``.part`` kept).
        DiskSpaceError, UserCancelledError: ``.part`` kept for a later resume.
        BadInputError: the name cannot be placed inside ``dest_dir``.
    """
    dest_dir = Path(dest_dir)
    policy = policy or _default_policy()
    api_name = safe_filename(source.filename, fallback=_fallback_name(source))
    part = PartFile(dest_dir, api_name, source.version_id, source.file_id, source.url)
    inside(dest_dir, part.path.name)
    made = _make_dirs(dest_dir)  # the lock lives there; removed again if nothing arrives
    try:
        return _fetch_locked(
            source,
            dest_dir,
            part,
            api_name=api_name,
            session=session,
            policy=policy,
            connections=connections,
            on_progress=on_progress,
            cancel=cancel,
            known_local_sha256=known_local_sha256,
            min_parallel_size=min_parallel_size,
            refresh_source=refresh_source,
        )
    except BaseException:
        _remove_empty(made)  # a refused download leaves no empty folder behind
        raise


def _make_dirs(dest_dir: Path) -> list[Path]:
    """Create ``dest_dir`` and its missing parents; the ones created, deepest first."""
    missing: list[Path] = []
    d = dest_dir
    while not d.exists() and d != d.parent:
        missing.append(d)
        d = d.parent
    dest_dir.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(dirs: list[Path]) -> None:
    """Remove the folders of ``dirs`` (deepest first) that are empty; keep the rest."""
    for d in dirs:
        try:
            d.rmdir()
        except OSError:
            return  # not empty (a .part to resume, another download): keep it and its parents


def _fetch_locked(
    source: DownloadSource,
    dest_dir: Path,
    part: PartFile,
    *,
    api_name: str,
    session: requests.Session | None,
    policy: RetryPolicy,
    connections: int,
    on_progress: ProgressFn | None,
    cancel: threading.Event | None,
    known_local_sha256: str | None,
    min_parallel_size: int,
    refresh_source: Callable[[], DownloadSource] | None,
) -> FetchResult:
    with part.locked(cancel):
        if source.expected_sha256:
            present = _find_present(dest_dir, api_name, source.expected_sha256, known_local_sha256)
            if present is not None:
                part.discard()
                log.info("%s is already installed", present.name)
                return FetchResult(
                    path=present,
                    sha256=source.expected_sha256.upper(),
                    size=present.stat().st_size,
                    already_present=True,
                    downloaded_bytes=0,
                    resumed_from=0,
                )
        own_session = session is None
        session = session or build_session()
        try:
            return _download(
                source,
                dest_dir,
                part,
                session=session,
                policy=policy,
                connections=connections,
                on_progress=on_progress,
                cancel=cancel,
                min_parallel_size=min_parallel_size,
                refresh_source=refresh_source,
                api_name=api_name,
            )
        finally:
            if own_session:
                session.close()


def _default_policy() -> RetryPolicy:
    """Retries as the settings say (``MODELSHELF_MAX_RETRY_WAIT`` caps every wait)."""
    from ..settings import load_settings

    return RetryPolicy.from_settings(load_settings())


def _load_state(part: PartFile, source: DownloadSource) -> PartState:
    state = part.load_state()
    stale = (
        source.expected_sha256
        and state.expected_sha256
        and not _same_hash(source.expected_sha256, state.expected_sha256)
    ) or (
        source.size_is_exact
        and source.expected_size
        and state.total
        and state.total != source.expected_size
    )
    if stale:
        log.info("the partial file belongs to another version of the file; starting over")
        part.discard()
        state = PartState()
    state.expected_sha256 = source.expected_sha256
    state.expected_size = source.expected_size
    if state.url_expires_at is not None and time.time() > state.url_expires_at - 60:
        state.url, state.url_expires_at = None, None
    return state


def _download(
    source: DownloadSource,
    dest_dir: Path,
    part: PartFile,
    *,
    session: requests.Session,
    policy: RetryPolicy,
    connections: int,
    on_progress: ProgressFn | None,
    cancel: threading.Event | None,
    min_parallel_size: int,
    refresh_source: Callable[[], DownloadSource] | None,
    api_name: str,
) -> FetchResult:
    state = _load_state(part, source)
    have = part.size() if not state.preallocated else 0
    if source.expected_size:
        _check_space(dest_dir, source.expected_size - have)
    space_checked = bool(source.expected_size)
    transfer = Transfer(
        source,
        session,
        policy,
        expected_name=api_name,
        refresh_source=refresh_source,
        signed_url=state.url,
        signed_expires_at=state.url_expires_at,
        cancel=cancel,
    )
    downloader = Downloader(
        part,
        state,
        transfer,
        policy,
        connections=connections,
        min_parallel_size=min_parallel_size,
        progress=Progress(on_progress, 0),
        cancel=cancel,
        check_space=(lambda n: None) if space_checked else (lambda n: _check_space(dest_dir, n)),
    )
    downloader.expected_size = source.expected_size
    downloader.size_is_exact = source.size_is_exact
    try:
        total, sha256 = downloader.run()
    except IntegrityError:
        part.discard()
        raise
    except BaseException:
        if part.size() == 0:  # nothing arrived: leave no trace in the model folder
            part.discard()
        raise
    disposition = downloader.server_disposition or state.server_name
    name = _server_name(source, disposition, transfer.signed_url or state.url)
    size = part.size()
    if size != total or (
        source.expected_size and source.size_is_exact and size != source.expected_size
    ):
        part.discard()
        raise IntegrityError(
            f"The downloaded file has {size} bytes but {source.expected_size or total} were "
            "expected; nothing was saved, try again."
        )
    if source.expected_sha256 and not _same_hash(sha256, source.expected_sha256):
        part.discard()
        raise IntegrityError(
            f"The downloaded file's SHA256 ({sha256[:12]}…) does not match the one the "
            f"provider lists ({source.expected_sha256[:12].upper()}…); nothing was saved, "
            "try again."
        )
    path, already = _place(part, dest_dir, name, sha256)
    return FetchResult(
        path=path,
        sha256=sha256,
        size=size,
        already_present=already,
        downloaded_bytes=downloader.progress.received,
        resumed_from=downloader.resumed_from,
    )


def probe(
    source: DownloadSource,
    *,
    session: requests.Session | None = None,
    policy: RetryPolicy | None = None,
) -> Probe:
    """Ask for byte 0 only (GET, not HEAD: api.md §1.9) to learn name, size and Range support.

    Raises the same access errors as :func:`fetch`. Note that on Civitai this hits the
    download endpoint once (it counts as a download there).
    """
    from ..http import redact_url

    api_name = safe_filename(source.filename, fallback=_fallback_name(source))
    transfer = Transfer(
        source, session or build_session(), policy or _default_policy(), expected_name=api_name
    )
    opened = transfer.open(0, 1)
    try:
        size = opened.total
        accepts = opened.status == 206
        name = _server_name(source, opened.content_disposition, transfer.signed_url)
        return Probe(
            filename=name, size=size, accepts_ranges=accepts, final_url=redact_url(opened.url)
        )
    finally:
        opened.response.close()
