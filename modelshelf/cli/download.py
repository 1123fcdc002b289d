"""``modelshelf download REF``: one model file into the right folder, verified.

Progress is a rich bar on stderr when stderr is a terminal, nothing otherwise. stdout
holds the result: one line for a person, or with ``--json`` one JSON document::

    {"path", "sha256", "size", "model_id", "version_id", "file_id", "sidecars": [...],
     "already_installed", "dry_run"}

``--dry-run`` prints the same keys for what would happen (``size`` and ``sha256`` from
the API, ``sidecars`` empty) without downloading or writing anything.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any

from .common import add_json_arg, add_location_args, print_json
from .render import human_size

if TYPE_CHECKING:
    import argparse

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``download`` subcommand."""
    parser = subparsers.add_parser(
        "download",
        help="download a model file into your models folder",
        description=(
            "Download the file REF names (the version's primary file unless --file says "
            "otherwise) into the folder your host reads, verify its SHA256 and write its "
            "preview and metadata beside it."
        ),
    )
    parser.add_argument(
        "ref",
        metavar="REF",
        help="12345, 12345@67890, a Civitai URL, an AIR (urn:air:...:civitai:12345@67890) "
        "or novita:ID",
    )
    parser.add_argument(
        "--file",
        dest="file_id",
        metavar="FILE_ID",
        type=int,
        default=None,
        help="download this file of the version instead of the primary one",
    )
    add_location_args(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show the target path, size and hash; download nothing",
    )
    add_json_arg(parser)
    parser.add_argument(
        "--allow-unsafe",
        action="store_true",
        help="download a file even if Civitai's scan flagged it as dangerous",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=None,
        metavar="N",
        help="parallel connections for one file (default: the settings')",
    )
    parser.add_argument(
        "--nsfw", action="store_true", default=None, help="allow an NSFW preview image"
    )
    parser.add_argument(
        "--no-sidecars",
        dest="sidecars",
        action="store_false",
        help="write no preview, .json or .civitai.info",
    )
    parser.set_defaults(
        run=run,
        interrupted="interrupted; run the same command again to resume the download "
        "(the part already fetched is kept)",
    )


class _Bar:
    """A rich progress bar on stderr (only when stderr is a terminal)."""

    def __init__(self, label: str):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task = self.progress.add_task(label[:40], total=None)

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, done: int, total: int | None) -> None:
        self.progress.update(self.task, completed=done, total=total)

    def describe(self, label: str) -> None:
        """Show ``label`` (the file's name, once it is known) before the bar."""
        self.progress.update(self.task, description=label if len(label) <= 40 else label[:39] + "…")


def run(args: argparse.Namespace, ctx: Any) -> int:
    """Run ``download``; errors propagate to the framework's exception→exit mapping."""
    from ..download.choose import FilePreference

    settings = ctx.settings
    if args.connections is not None and not 1 <= args.connections <= 16:
        from ..errors import BadInputError

        raise BadInputError("--connections must be between 1 and 16.")

    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    cancel = threading.Event()
    show_bar = not args.dry_run and sys.stderr.isatty()
    bar = _Bar(args.ref) if show_bar else None

    def go(on_progress: Any = None) -> Any:
        return ctx.shelf.download(
            args.ref,
            file_id=args.file_id,
            prefer=FilePreference.from_settings(settings),
            allow_unsafe=args.allow_unsafe,
            dry_run=args.dry_run,
            nsfw=args.nsfw,
            sidecars=args.sidecars,
            on_progress=on_progress,
            cancel=cancel,
            warn=warn,
            connections=args.connections,
            on_plan=(lambda p: bar.describe(p.path.name)) if bar is not None else None,
        )

    try:
        if bar is not None:
            with bar:
                result = go(bar)
        else:
            result = go()
    except KeyboardInterrupt:
        cancel.set()
        raise
    if getattr(args, "json", False) or getattr(ctx, "json", False):
        print_json(result.to_json())
        return 0
    size = human_size(result.size)
    if result.dry_run:
        state = "already installed" if result.already_installed else "not installed"
        print(
            f"Would download {result.path} ({size}, SHA256 {result.sha256 or 'unknown'}; {state})."
        )
    elif result.already_installed:
        print(f"Already installed: {result.path}")
    else:
        print(f"Downloaded {result.path} ({size}, SHA256 {result.sha256}).")
        for sidecar in result.sidecars:
            print(f"  + {sidecar.name}")
    return 0
