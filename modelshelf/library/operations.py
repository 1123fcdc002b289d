"""The library's use cases as the front ends run them: scan, link, updates, trained words.

Each takes what it needs (the database, a Civitai provider, the layout) and returns a
typed report; :class:`modelshelf.shelf.Shelf` owns those and calls these.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BadInputError, ModelShelfError, NotFoundError
from .db import LibraryDB, LibraryFile, ModelUpdate

if TYPE_CHECKING:
    from ..layout import HostLayout
    from ..providers.civitai import CivitaiProvider
    from ..settings import Settings
    from .identify import IdentifyResult

__all__ = [
    "LinkResult",
    "ScanReport",
    "UpdatesReport",
    "link_file",
    "scan_and_identify",
    "trained_words_for",
    "updates_in",
]

ProgressFn = Callable[[int, "int | None"], None]
StageProgressFn = Callable[[str, int, "int | None"], None]


@dataclass
class ScanReport:
    """What a scan found: counts, the files, and what identification learnt.

    ``items`` streams the files under the scanned folders from the database (in path
    order; ``len()`` counts them): no list of the library is held. ``scanned`` and
    ``identified`` are counted in SQL when the scan ends.
    """

    items: Sequence[LibraryFile]
    hashed: int
    removed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    identify: IdentifyResult | None = None
    failure: str | None = None  # why identification stopped (the hashes are kept)
    scanned: int = 0
    identified: int = 0

    @property
    def unknown(self) -> int:
        return self.scanned - self.identified

    def unknown_files(self, limit: int | None = None) -> list[LibraryFile]:
        """The files under the scanned folders with no known version (as the database is
        now), in path order; at most ``limit``."""
        stream = getattr(self.items, "unidentified", None)
        rows = stream() if stream is not None else (f for f in self.items if not f.identified)
        return list(itertools.islice(rows, limit))


@dataclass
class LinkResult:
    """A file tied by hand to a Civitai version."""

    path: Path
    sha256: str | None
    model_id: int | None
    version_id: int
    file_id: int | None
    sidecars: list[Path]
    hash_matches: bool
    name: str


@dataclass
class UpdatesReport:
    """Installed models with a newer version, and how many identified files were checked."""

    updates: list[ModelUpdate]
    identified: int


def _roots(layout: HostLayout | None) -> list[str] | None:
    if layout is None:
        return None
    return [os.path.join(os.path.abspath(d), "") for _, d in layout.scan_dirs()]


def _under(path: Path | str, roots: list[str] | None) -> bool:
    return roots is None or os.fspath(path).startswith(tuple(roots))


def scan_and_identify(
    db: LibraryDB,
    layout: HostLayout,
    civitai: Callable[[], CivitaiProvider],
    *,
    settings: Settings,
    identify: bool = True,
    enrich: bool = True,
    workers: int | None = None,
    all_autov3: bool = False,
    on_progress: StageProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> ScanReport:
    """Hash what is new in ``layout``, identify it on Civitai, write missing sidecars.

    ``on_progress(stage, done, total)`` with stage ``hashing`` (bytes), ``identifying`` and
    ``previews`` (files). A failure while identifying is kept in ``failure``: the hashes
    are recorded and the next scan asks again.
    """
    from .identify import due_for_lookup, identify_files
    from .scan import AUTOV3_FOLDERS, scan_layout

    if workers is not None and workers < 1:
        raise BadInputError("The number of workers must be 1 or more.")
    for _, folder in layout.scan_dirs():
        if not Path(folder).is_dir():
            continue
        break
    else:
        raise BadInputError(
            "None of the model folders exists: "
            + ", ".join(str(d) for _, d in layout.scan_dirs()[:4])
            + "; check the path you gave."
        )

    def stage(name: str) -> ProgressFn | None:
        if on_progress is None:
            return None
        return lambda done, total: on_progress(name, done, total)

    result = scan_layout(
        db,
        layout,
        workers=workers,
        on_progress=stage("hashing"),
        cancel=cancel or threading.Event(),
        autov3_folders=None if all_autov3 else AUTOV3_FOLDERS,
    )
    report = ScanReport(
        items=result.items,
        hashed=result.hashed,
        removed=len(result.removed),
        errors=[(str(p), str(why)) for p, why in result.errors],
    )
    if identify:
        due = due_for_lookup(result.items)  # an indexed query: no row built for known files
        if due:
            try:
                provider = civitai()
                report.identify = identify_files(
                    db, provider, due, on_progress=stage("identifying")
                )
                if enrich and report.identify.versions:
                    from ..sidecars import http_image_fetcher
                    from .enrich import enrich_files

                    enrich_files(
                        db,
                        report.identify.versions,
                        nsfw=settings.nsfw,
                        fetch_image=http_image_fetcher(provider.session),
                        on_progress=stage("previews"),
                    )
            except ModelShelfError as exc:
                report.failure = str(exc)
    # counted now, with the ids identification learnt (two indexed counts, no rows built)
    report.scanned = result.items.count_files()
    report.identified = result.items.count_files(identified=True)
    return report


MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".onnx")


def link_file(
    db: LibraryDB, provider: CivitaiProvider, path: Path | str, ref_text: str, *, settings: Settings
) -> LinkResult:
    """Record that ``path`` is the Civitai version ``ref_text`` names; write its sidecars."""
    from ..hashing import hash_file
    from ..refs import parse_ref, resolve_version
    from ..sidecars import http_image_fetcher, write_sidecars

    path = Path(os.path.abspath(path))
    if not path.is_file():
        raise NotFoundError(f"{path} is not a file; give the path of a model file.")
    if not path.name.lower().endswith(MODEL_SUFFIXES):
        raise BadInputError(
            f"{path.name} is not a model file (expected one of {', '.join(MODEL_SUFFIXES)}); "
            "nothing was written."
        )
    ref = parse_ref(ref_text, settings.civitai_url)
    if ref.provider != "civitai":
        raise BadInputError("Link takes a Civitai reference such as 12345@67890.")
    model, version = resolve_version(ref, provider)
    row = db.get(path)
    st = path.stat()
    if row is None or row.size != st.st_size or row.mtime_ns != st.st_mtime_ns:
        hashes = hash_file(path)
        row = db.upsert_file(
            path,
            size=hashes.size,
            mtime=st.st_mtime_ns,
            sha256=hashes.sha256,
            autov1=hashes.autov1,
            autov3=hashes.autov3,
            folder=row.folder if row else None,
            dev=st.st_dev,
            ino=st.st_ino,
        )
    match = next((f for f in version.files if (f.hashes.sha256 or "").upper() == row.sha256), None)
    model_id = version.model_id or (model.id if model and isinstance(model.id, int) else None)
    file_id = match.id if match else ref.file_id
    db.set_ids(path, model_id, version.id, file_id, source="link")
    sidecars = write_sidecars(
        path,
        version,
        model=model,
        sha256=row.sha256,
        nsfw=settings.nsfw,
        fetch_image=http_image_fetcher(provider.session),
    )
    db.mark_enriched(path)
    name = version.model_name or (model.name if model else None) or f"model {model_id}"
    return LinkResult(
        path=path,
        sha256=row.sha256,
        model_id=model_id,
        version_id=version.id,
        file_id=file_id,
        sidecars=list(sidecars),
        hash_matches=match is not None,
        name=f"{name} ({version.name})",
    )


def updates_in(
    db: LibraryDB,
    civitai: Callable[[], CivitaiProvider],
    layout: HostLayout | None,
    *,
    offline: bool = False,
    on_progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> UpdatesReport:
    """Models in ``layout`` (all when None) whose newest version is not the installed one.

    ``on_progress(models_checked, models)`` after each batch of 100 models asked.
    """
    from .updates import check_updates

    roots = _roots(layout)
    if layout is not None and not any(Path(d).is_dir() for _, d in layout.scan_dirs()):
        raise BadInputError(
            "None of the model folders exists: "
            + ", ".join(str(d) for _, d in layout.scan_dirs()[:4])
            + "; check the path you gave."
        )
    if offline:
        updates = db.updates()
    else:
        updates = check_updates(db, civitai(), on_progress=on_progress, cancel=cancel).updates
    identified = db.count_files(roots, where="version_id IS NOT NULL")  # counted in SQL
    return UpdatesReport(
        updates=[u for u in updates if _under(u.path, roots)], identified=identified
    )


def _sidecar_words(path: Path) -> list[str] | None:
    """Trained words from ``<stem>.json`` (A1111's ``activation text``) or ``.civitai.info``."""
    stem = path.with_suffix("")
    try:
        data = json.loads(stem.with_name(stem.name + ".json").read_text("utf-8"))
        text = data.get("activation text") if isinstance(data, dict) else None
        if isinstance(text, str) and text.strip():
            return [w.strip() for w in text.split(",") if w.strip()]
    except (OSError, ValueError):
        pass
    try:
        info = json.loads(stem.with_name(stem.name + ".civitai.info").read_text("utf-8"))
        words = info.get("trainedWords") if isinstance(info, dict) else None
        if isinstance(words, list):
            return [str(w).strip() for w in words if str(w).strip()]
    except (OSError, ValueError):
        pass
    return None


RETRY_FAILED_LOOKUP_AFTER = 600.0  # seconds before a failed by-hash look-up is tried again
_LOOKUP_FAILURES: dict[str, float] = {}  # SHA256 -> when its look-up last failed (monotonic)


def trained_words_for(
    db: LibraryDB, provider: Callable[[], CivitaiProvider], path: Path | str, *, settings: Settings
) -> list[str]:
    """The trained words of a local model file: its sidecars, else Civitai by hash (once).

    A file Civitai knows gets its sidecars written, so the next call reads them.
    """
    from ..hashing import hash_file
    from ..sidecars import write_sidecars

    path = Path(os.path.abspath(path))
    words = _sidecar_words(path)
    if words is not None:
        return words
    if not path.is_file():
        raise NotFoundError(f"{path.name} is not in the model folder any more.")
    row = db.get(path)
    st = path.stat()
    if row is None or row.size != st.st_size or row.mtime_ns != st.st_mtime_ns or not row.sha256:
        hashes = hash_file(path)
        row = db.upsert_file(
            path, size=hashes.size, mtime=st.st_mtime_ns, sha256=hashes.sha256,
            autov1=hashes.autov1, autov3=hashes.autov3, dev=st.st_dev, ino=st.st_ino,
        )  # fmt: skip
    if row.lookup == "unknown" or row.sha256 is None:
        return []
    failed_at = _LOOKUP_FAILURES.get(row.sha256)
    if failed_at is not None and time.monotonic() - failed_at < RETRY_FAILED_LOOKUP_AFTER:
        return []  # Civitai failed for this file a moment ago: do not ask on every call
    civitai = provider()
    try:
        version = civitai.get_version_by_hash(row.sha256)
    except NotFoundError:
        db.mark_unknown([path])
        return []
    except ModelShelfError:
        _LOOKUP_FAILURES[row.sha256] = time.monotonic()
        raise
    db.set_ids(path, version.model_id, version.id, None, source="civitai-sha256")
    try:
        write_sidecars(path, version, sha256=row.sha256, nsfw=settings.nsfw, fetch_image=None)
    except (ModelShelfError, OSError):
        pass  # the words are still answered; the next call asks again
    return list(version.trained_words)
