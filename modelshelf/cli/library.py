"""``modelshelf scan``, ``link`` and ``updates``: the local library on the command line."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import BadInputError, ModelShelfError, NotFoundError
from .common import add_json_arg, add_location_args, error_exit, print_json

__all__ = ["register"]


def register(subparsers) -> None:
    scan = subparsers.add_parser(
        "scan",
        help="find, hash and identify the model files already on disk",
        description="Record every model file of the layout in the library database, hash "
        "the new or changed ones, identify them on Civitai and fill in missing previews "
        "and metadata. Unchanged files are never read twice.",
    )
    add_location_args(scan)
    add_json_arg(scan)
    scan.add_argument(
        "--no-identify", action="store_true", help="only hash; do not ask Civitai (offline)"
    )
    scan.add_argument(
        "--no-enrich", action="store_true", help="identify, but write no previews or sidecars"
    )
    scan.add_argument(
        "--all-autov3",
        action="store_true",
        help="also compute AutoV3 for safetensors outside LoRA/embedding folders (slower)",
    )
    scan.add_argument("--workers", type=int, metavar="N", help="files hashed at once (cores)")
    scan.set_defaults(run=run_scan)

    link = subparsers.add_parser(
        "link",
        help="say by hand which Civitai version a file is",
        description="For files Civitai knows under another hash: record the version REF "
        "names for FILE and write its sidecars.",
    )
    link.add_argument("file", type=Path, metavar="FILE")
    link.add_argument("ref", metavar="REF", help="12345@67890, a Civitai URL or an AIR")
    add_json_arg(link)
    link.set_defaults(run=run_link)

    updates = subparsers.add_parser(
        "updates",
        help="list installed models that have a newer version",
        description="Ask Civitai for the newest version of every identified model and list "
        "those newer than the one on disk (run `scan` first).",
    )
    add_location_args(updates)
    add_json_arg(updates)
    updates.add_argument(
        "--offline", action="store_true", help="use what the last check learnt; no network"
    )
    updates.set_defaults(run=run_updates)


# ------------------------------------------------------------------------------- helpers


class _Bar:
    """A rich progress bar on stderr when it is a terminal; otherwise nothing."""

    def __init__(self, label: str, *, as_bytes: bool):
        self.progress = None
        if not sys.stderr.isatty():
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        columns = [DownloadColumn(), TransferSpeedColumn()] if as_bytes else [MofNCompleteColumn()]
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            *columns,
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task(label, total=None)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, done: int, total: int | None) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total)


def _layout(args: argparse.Namespace):
    from ..layout import resolve_layout

    return resolve_layout(
        models_dir=args.models_dir, host_dir=args.host_dir, layout=getattr(args, "layout", None)
    )


def _civitai(ctx):
    from ..providers.civitai import CivitaiProvider

    return CivitaiProvider(ctx.settings)


def _under(path: Path, roots: list[Path]) -> bool:
    text = os.fspath(path)
    return any(text.startswith(os.path.join(os.fspath(r), "")) for r in roots)


# ---------------------------------------------------------------------------------- scan


def run_scan(args: argparse.Namespace, ctx: Any) -> int:
    from ..library.db import LibraryDB
    from ..library.scan import AUTOV3_FOLDERS, scan_layout

    if args.workers is not None and args.workers < 1:
        raise BadInputError("--workers must be 1 or more.")
    layout = _layout(args)
    cancel = threading.Event()
    with LibraryDB(ctx.settings.library_path) as db:
        with _Bar("hashing", as_bytes=True) as bar:
            result = scan_layout(
                db,
                layout,
                workers=args.workers,
                on_progress=bar,
                cancel=cancel,
                autov3_folders=None if args.all_autov3 else AUTOV3_FOLDERS,
            )
        failure: ModelShelfError | None = None
        identified = None
        if not args.no_identify:
            try:
                identified = _identify_and_enrich(db, ctx, result.items, enrich=not args.no_enrich)
            except ModelShelfError as exc:
                failure = exc  # the hashes are kept; the next scan asks again
        rows = {str(f.path): f for f in db.all_files()}
        items = [rows.get(str(f.path), f) for f in result.items]
    known = sum(1 for f in items if f.version_id is not None)
    if ctx.json:
        print_json(
            {
                "scanned": len(items),
                "hashed": result.hashed,
                "identified": known,
                "unknown": len(items) - known,
                "items": [
                    {
                        "path": str(f.path),
                        "sha256": f.sha256,
                        "model_id": f.model_id,
                        "version_id": f.version_id,
                    }
                    for f in items
                ],
            }
        )
    else:
        _print_scan(ctx, result, items, identified, known)
    for path, why in result.errors:
        error_exit(f"{path}: {why}", 0)
    if failure is not None:
        return error_exit(failure)
    return 0


def _identify_and_enrich(db, ctx, items, *, enrich: bool):
    from ..library.enrich import enrich_files
    from ..library.identify import due_for_lookup, identify_files

    due = due_for_lookup(items)
    if not due:
        return None
    provider = _civitai(ctx)
    with _Bar("identifying", as_bytes=False) as bar:
        found = identify_files(db, provider, due, on_progress=bar)
    if enrich and found.versions:
        from ..sidecars import http_image_fetcher

        with _Bar("previews", as_bytes=False) as bar:
            enrich_files(
                db,
                found.versions,
                nsfw=ctx.settings.nsfw,
                fetch_image=http_image_fetcher(provider.session),
                on_progress=bar,
            )
    return found


def _print_scan(ctx, result, items, identified, known: int) -> None:
    console = ctx.console()
    console.print(
        f"{len(items)} model files: {result.hashed} hashed now, "
        f"{len(items) - result.hashed} already known; {known} identified, "
        f"{len(items) - known} unknown."
    )
    if result.removed:
        console.print(f"{len(result.removed)} files gone since the last scan were forgotten.")
    if identified is not None:
        console.print(
            f"Identified now: {identified.by_sha256} by SHA256, {identified.by_autov3} by "
            f"AutoV3, {identified.from_sidecars} from sidecars; {identified.unknown} unknown "
            f"to Civitai ({identified.requests} requests)."
        )
    unknown = [f for f in items if f.version_id is None]
    if unknown and len(unknown) <= 50:
        console.print("Not identified (use `modelshelf link FILE REF` if you know them):")
        for f in unknown:
            console.print(f"  {f.path}")


# ---------------------------------------------------------------------------------- link


def run_link(args: argparse.Namespace, ctx: Any) -> int:
    from ..hashing import hash_file
    from ..library.db import LibraryDB
    from ..refs import parse_ref, resolve_version
    from ..sidecars import http_image_fetcher, write_sidecars

    path = Path(os.path.abspath(args.file))
    if not path.is_file():
        raise NotFoundError(f"{args.file} is not a file; give the path of a model file.")
    ref = parse_ref(args.ref, ctx.settings.civitai_url)
    if ref.provider != "civitai":
        raise BadInputError("`link` takes a Civitai reference such as 12345@67890.")
    provider = _civitai(ctx)
    model, version = resolve_version(ref, provider)
    with LibraryDB(ctx.settings.library_path) as db:
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
        match = next(
            (f for f in version.files if (f.hashes.sha256 or "").upper() == row.sha256), None
        )
        model_id = version.model_id or (model.id if model and isinstance(model.id, int) else None)
        file_id = match.id if match else ref.file_id
        db.set_ids(path, model_id, version.id, file_id, source="link")
        sidecars = write_sidecars(
            path,
            version,
            model=model,
            sha256=row.sha256,
            nsfw=ctx.settings.nsfw,
            fetch_image=http_image_fetcher(provider.session),
        )
        db.mark_enriched(path)
    if ctx.json:
        print_json(
            {
                "path": str(path),
                "sha256": row.sha256,
                "model_id": model_id,
                "version_id": version.id,
                "file_id": file_id,
                "sidecars": [str(p) for p in sidecars],
            }
        )
    else:
        name = version.model_name or (model.name if model else None) or f"model {model_id}"
        ctx.console().print(f"{path.name} is now {name} ({version.name}, version {version.id}).")
        if match is None:
            ctx.console().print(
                "Its hash is not one Civitai lists for that version; kept as linked."
            )
    return 0


# ------------------------------------------------------------------------------- updates


def run_updates(args: argparse.Namespace, ctx: Any) -> int:
    from ..library.db import LibraryDB
    from ..library.updates import check_updates

    roots = None
    if args.models_dir or args.host_dir:
        roots = [d for _, d in _layout(args).scan_dirs()]
    with LibraryDB(ctx.settings.library_path) as db:
        updates = db.updates() if args.offline else check_updates(db, _civitai(ctx)).updates
        identified = len(db.identified())
    if roots is not None:
        updates = [u for u in updates if _under(u.path, roots)]
    if ctx.json:
        print_json(
            {
                "updates": [
                    {
                        "path": str(u.path),
                        "model_id": u.model_id,
                        "installed_version_id": u.installed_version_id,
                        "latest_version_id": u.latest_version_id,
                        "latest_version_name": u.latest_version_name,
                    }
                    for u in updates
                ]
            }
        )
        return 0
    console = ctx.console()
    if not identified:
        console.print("No identified models in the library yet; run `modelshelf scan` first.")
    elif not updates:
        console.print(f"All {identified} identified model files are at their newest version.")
        return 0
    for u in updates:
        console.print(
            f"{u.path.name}: {u.model_name or u.model_id} has {u.latest_version_name} "
            f"(version {u.latest_version_id}); "
            f"get it with `modelshelf download {u.model_id}@{u.latest_version_id}`."
        )
    return 0
