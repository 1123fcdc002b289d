"""``modelshelf scan``, ``link`` and ``updates``: the local library on the command line."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from .common import add_json_arg, add_location_args, error_exit, print_json
from .render import plural

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
    scan.set_defaults(
        run=run_scan,
        interrupted="interrupted; run the same scan again to continue (files already hashed "
        "are not read again)",
    )

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


# ---------------------------------------------------------------------------------- scan


def run_scan(args: argparse.Namespace, ctx: Any) -> int:
    bars: dict[str, _Bar] = {}

    def on_progress(stage: str, done: int, total: int | None) -> None:
        if stage not in bars:
            for bar in bars.values():
                bar.__exit__()
            bars[stage] = _Bar(stage, as_bytes=stage == "hashing").__enter__()
        bars[stage](done, total)

    try:
        report = ctx.shelf.scan(
            identify=not args.no_identify,
            enrich=not args.no_enrich,
            workers=args.workers,
            all_autov3=args.all_autov3,
            on_progress=on_progress,
            cancel=threading.Event(),
        )
    finally:
        for bar in bars.values():
            bar.__exit__()
    if ctx.json:
        print_json(
            {
                "scanned": report.scanned,
                "hashed": report.hashed,
                "identified": report.identified,
                "unknown": report.unknown,
                "items": [
                    {
                        "path": str(f.path),
                        "sha256": f.sha256,
                        "model_id": f.model_id,
                        "version_id": f.version_id,
                    }
                    for f in report.items
                ],
            }
        )
    else:
        _print_scan(ctx, report)
    for path, why in report.errors:
        error_exit(f"{path}: {why}", 0)
    if report.failure is not None:
        return error_exit(report.failure, 6)
    return 0


def _print_scan(ctx, report) -> None:
    console = ctx.console()
    identified = report.identify
    console.print(
        f"{plural(report.scanned, 'model file')}: {report.hashed} hashed now, "
        f"{report.scanned - report.hashed} already known; {report.identified} identified, "
        f"{report.unknown} unknown."
    )
    if report.removed:
        gone = report.removed
        console.print(
            f"{plural(gone, 'file')} gone since the last scan {'was' if gone == 1 else 'were'} "
            "forgotten."
        )
    if identified is not None:
        console.print(
            f"Identified now: {identified.by_sha256} by SHA256, {identified.by_autov3} by "
            f"AutoV3, {identified.from_sidecars} from sidecars; {identified.unknown} unknown "
            f"to Civitai ({identified.requests} requests)."
        )
    if 0 < report.unknown <= 50:  # counted in SQL; the list is read only when it is short
        console.print("Not identified (use `modelshelf link FILE REF` if you know them):")
        for f in report.unknown_files(50):
            console.print(f"  {f.path}")


# ---------------------------------------------------------------------------------- link


def run_link(args: argparse.Namespace, ctx: Any) -> int:
    result = ctx.shelf.link(args.file, args.ref)
    if ctx.json:
        print_json(
            {
                "path": str(result.path),
                "sha256": result.sha256,
                "model_id": result.model_id,
                "version_id": result.version_id,
                "file_id": result.file_id,
                "sidecars": [str(p) for p in result.sidecars],
            }
        )
    else:
        console = ctx.console()
        console.print(f"{result.path.name} is now {result.name}, version {result.version_id}.")
        if not result.hash_matches:
            console.print("Its hash is not one Civitai lists for that version; kept as linked.")
    return 0


# ------------------------------------------------------------------------------- updates


def run_updates(args: argparse.Namespace, ctx: Any) -> int:
    with _Bar("checking", as_bytes=False) as bar:
        report = ctx.shelf.updates(
            offline=args.offline, whole_library=ctx.layout is None, on_progress=bar
        )
    updates = report.updates
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
    n = report.identified
    if not n:
        where = " in that folder" if ctx.layout is not None else " in the library"
        console.print(f"No identified models{where} yet; run `modelshelf scan` first.")
    elif not updates:
        console.print(
            f"All {plural(n, 'identified model file')} "
            f"{'is' if n == 1 else 'are'} at {'its' if n == 1 else 'their'} newest version."
        )
        return 0
    for u in updates:
        console.print(
            f"{u.path.name}: {u.model_name or u.model_id} has {u.latest_version_name} "
            f"(version {u.latest_version_id}); "
            f"get it with `modelshelf download {u.model_id}@{u.latest_version_id}`."
        )
    return 0
