"""``modelshelf resolve FILE...``: what an image or a workflow needs, and ``--download`` it.

One line per resource on stdout (kind, name, weight, how it was identified, and
"installed at PATH" / "will download (SIZE) to FOLDER" / "not found: why"), then a
summary. ``--json`` prints one document instead (shape in docs/DESIGN.md "Resolve").
``FILE`` may be ``-`` for text (pasted parameters or a workflow) on stdin.

Exit status: 0 when everything is installed (or, without ``--download``, identified
exactly); 3 when something was not found or is only a guess; 6 when a look-up failed on
the network; with ``--download`` a failed download's own status; 2 when a file cannot be
read.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import add_json_arg, add_location_args, print_json

if TYPE_CHECKING:
    import argparse

    from ..resolve.plan import ResolvePlan

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``resolve`` subcommand."""
    parser = subparsers.add_parser(
        "resolve",
        help="list (and download) the models an image or a workflow was made with",
        description=(
            "Read the generation data of images (PNG, JPEG, WebP), ComfyUI workflows "
            "(.json) or pasted A1111 parameters, identify every checkpoint, LoRA, "
            "embedding, VAE, ... they name on Civitai, and say which are installed."
        ),
    )
    parser.add_argument(
        "files", nargs="+", metavar="FILE", help="an image, a workflow .json, a text file, or -"
    )
    parser.add_argument(
        "--download", action="store_true", help="download every missing model (verified)"
    )
    parser.add_argument(
        "--accept-guesses",
        action="store_true",
        help="with --download, also download models matched only by a name search",
    )
    add_location_args(parser)
    add_json_arg(parser)
    parser.set_defaults(run=run)


def _sources(files: list[str]) -> list[Any]:
    out: list[Any] = []
    for name in files:
        if name == "-":
            out.append(sys.stdin.read())
        else:
            out.append(Path(name))
    return out


def _exit_status(plan: ResolvePlan, downloaded: bool, outcomes: list[Any]) -> int:
    for outcome in outcomes:
        if outcome.error is not None:
            return outcome.error.exit_code
    states = {i.state for i in plan.items}
    if "error" in states:
        return 6
    if states & {"not-found", "guess", "unsupported"}:
        return 3
    if downloaded and "download" in states:
        return 3
    return 2 if plan.errors else 0


def run(args: argparse.Namespace, ctx: Any) -> int:
    """Run ``resolve``; expected errors propagate to the framework's exit mapping."""
    from ..layout import resolve_layout

    settings = ctx.settings
    layout = None
    if args.download or args.models_dir or args.host_dir:
        layout = resolve_layout(
            models_dir=args.models_dir, host_dir=args.host_dir, layout=args.layout
        )
    from ..shelf import Shelf

    with Shelf(settings, layout) as shelf:
        return _run(args, ctx, shelf, layout)


def _run(args: argparse.Namespace, ctx: Any, shelf: Any, layout: Any) -> int:
    from ..errors import BadInputError
    from ..resolve import plan_for_files

    plan = plan_for_files(
        _sources(args.files),
        settings=shelf.settings,
        layout=layout,
        provider=shelf.provider("civitai"),
        library=shelf.library,
    )
    if plan.errors and all(s["kind"] is None for s in plan.sources):
        raise BadInputError(plan.errors[0] if len(plan.errors) == 1 else " ".join(plan.errors))
    for message in plan.errors:
        print(f"modelshelf: {message}", file=sys.stderr)
    want_json = bool(getattr(args, "json", False) or getattr(ctx, "json", False))
    if not want_json:
        _print_plan(plan)

    outcomes: list[Any] = []
    if args.download and plan.to_download(accept_guesses=args.accept_guesses):
        cancel = threading.Event()
        try:
            outcomes = _run_downloads(plan, shelf.download, cancel, args.accept_guesses, want_json)
        except KeyboardInterrupt:
            cancel.set()
            raise
    status = _exit_status(plan, args.download, outcomes)
    if want_json:
        doc = plan.to_json()
        if args.download:
            doc["downloads"] = [_outcome_json(o) for o in outcomes]
        print_json(doc)
    else:
        _print_summary(plan, outcomes, args.download)
    return status


def _run_downloads(plan, download, cancel, accept_guesses: bool, quiet: bool) -> list[Any]:
    from ..resolve import download_missing

    todo = plan.to_download(accept_guesses=accept_guesses)
    if not (sys.stderr.isatty() and not quiet):
        return download_missing(plan, download, accept_guesses=accept_guesses, cancel=cancel)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task(f"0/{len(todo)}", total=None)
    count = {"n": 0}

    def on_item(item: Any) -> None:
        count["n"] += 1
        name = item.resolved.resource.display_name
        label = f"{count['n']}/{len(todo)} {name}"
        progress.update(task, description=label if len(label) <= 40 else label[:39] + "…")

    with progress:
        return download_missing(
            plan,
            download,
            accept_guesses=accept_guesses,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            on_item=on_item,
            cancel=cancel,
        )


def _print_plan(plan: ResolvePlan) -> None:
    if not plan.items:
        print("These files name no models.")
        return
    for item in plan.items:
        print(item.line())


def _print_summary(plan: ResolvePlan, outcomes: list[Any], downloaded: bool) -> None:
    if not plan.items:
        return
    for outcome in outcomes:
        item = outcome.item
        name = item.resolved.resource.display_name
        if outcome.error is None:
            print(f"downloaded  {name}  to {outcome.result.path}")
        else:
            print(f"failed      {name}: {outcome.error}")
    states = [i.state for i in plan.items]
    have = sum(s in ("installed", "downloaded") for s in states)
    parts = [f"{have} of {len(states)} installed"]
    if not downloaded and "download" in states:
        todo = [i for i in plan.items if i.state == "download"]
        from ..units import size_text as human_size

        size = sum(i.size or 0 for i in todo)
        parts.append(f"{len(todo)} to download ({human_size(size)}; run again with --download)")
    missing = plan.missing()
    if downloaded and missing:
        names = ", ".join(i.resolved.resource.display_name for i in missing)
        parts.append(f"missing: {names}")
    else:
        lost = [i for i in missing if i.state not in ("download",)]
        if lost:
            names = ", ".join(i.resolved.resource.display_name for i in lost)
            parts.append(f"not resolved: {names}")
    print("; ".join(parts) + ".")


def _outcome_json(outcome: Any) -> dict[str, Any]:
    item = outcome.item
    out: dict[str, Any] = {
        "name": item.resolved.resource.display_name,
        "ref": item.ref,
        "file_id": item.file_id,
        "ok": outcome.error is None,
        "error": str(outcome.error) if outcome.error is not None else None,
    }
    if outcome.result is not None:
        out.update(outcome.result.to_json())
    return out
