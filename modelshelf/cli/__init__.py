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

__all__ = ["EXIT_STATUSES", "MODULES", "build_parser", "main"]

MODULES = ("search", "show", "download", "library", "resolve", "config", "ui")


EXIT_STATUSES = (
    (0, "done"),
    (1, "anything else (disk full, ...)"),
    (2, "bad usage or bad input (a REF, a flag, a setting)"),
    (3, "not found (model, version, file; archived)"),
    (4, "needs an API key, or no access (early access, downloads disabled, login)"),
    (5, "integrity: size or SHA256 mismatch, nothing was placed"),
    (6, "network or server failure after retries"),
    (130, "interrupted (Ctrl-C); running the command again resumes"),
)


def _epilog() -> str:
    """Environment variables (from the settings table) and exit statuses, for --help."""
    import textwrap

    from ..settings_keys import KEYS

    env = [("MODELSHELF_HOME", "where settings.json, the cache and the library live")]
    env += [(" or ".join(k.env), f"setting {k.name}: {k.description}") for k in KEYS if k.env]
    lines = ["environment variables (they win over settings.json; see `modelshelf config`):"]
    for name, text in env:
        lines += [
            "  " + name,
            textwrap.fill(text, 78, initial_indent=" " * 6, subsequent_indent=" " * 6),
        ]
    lines += ["", "exit statuses:"]
    lines += [f"  {code:<3}  {text}" for code, text in EXIT_STATUSES]
    return "\n".join(lines)


def build_parser():
    """The argparse parser with every available command registered."""
    import argparse
    import importlib
    import importlib.util

    from .common import ArgumentParser, add_command_common_args, add_global_args

    parser = ArgumentParser(
        prog="modelshelf",
        description="Browse Civitai and Novita AI model catalogues and download models "
        "into A1111, Forge, SD.Next or ComfyUI folders, verified.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_global_args(parser)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
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
        parser = build_parser()
        if not [a for a in args_list if a not in ("--debug", "-v", "--verbose", "--no-cache")]:
            parser.print_help()  # `modelshelf` alone: what it can do, not an error
            return 0
        return run_command(parser, args_list)
    except SystemExit as exc:  # --help, --version, or a command that exits itself
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the one place that turns errors into lines
        if debug and not isinstance(exc, KeyboardInterrupt):
            import traceback

            traceback.print_exc()
        message, code = describe_error(exc)
        return error_exit(message, code)
