"""The ``modelshelf`` command line.

Framework contract: :func:`main` builds an argparse parser whose subcommands come from
the modules named in :data:`MODULES` (in that order) of this package, skipping any that
does not exist. Each module defines ``register(subparsers) -> None``, which adds one or
more subcommands and sets ``parser.set_defaults(run=<callable(args, ctx) -> int>)``.
Helpers for those modules (Context, JSON output, errors, providers) are in
:mod:`.common`. Imports here stay light so ``modelshelf --help`` is fast.
"""

from __future__ import annotations

import sys

__all__ = ["MODULES", "build_parser", "main"]

MODULES = ("search", "show", "download", "library", "resolve", "config")


def build_parser():
    """The argparse parser with every available command registered."""
    import importlib
    import importlib.util

    from .common import ArgumentParser, add_command_common_args, add_global_args

    parser = ArgumentParser(
        prog="modelshelf",
        description="Browse Civitai and Novita AI model catalogues and download models "
        "into A1111, Forge, SD.Next or ComfyUI folders, verified.",
    )
    add_global_args(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in MODULES:
        module_name = f"{__name__}.{name}"
        if importlib.util.find_spec(module_name) is None:
            continue
        importlib.import_module(module_name).register(subparsers)
    for command in {id(p): p for p in subparsers.choices.values()}.values():
        add_command_common_args(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status of DESIGN.md (never raises for errors)."""
    from .common import describe_error, error_exit, run_command

    args_list = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args_list
    try:
        return run_command(build_parser(), args_list)
    except SystemExit as exc:  # --help, --version, or a command that exits itself
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the one place that turns errors into lines
        if debug and not isinstance(exc, KeyboardInterrupt):
            import traceback

            traceback.print_exc()
        message, code = describe_error(exc)
        return error_exit(message, code)
