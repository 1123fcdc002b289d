"""What every command shares: the context, common flags, JSON output, error → exit status.

A command module uses it like this::

    from .common import add_json_arg, make_provider, print_json

    def register(subparsers) -> None:
        parser = subparsers.add_parser("thing", help="...")
        add_json_arg(parser)
        parser.set_defaults(run=run_thing)

    def run_thing(args, ctx) -> int:
        provider = make_provider(ctx, "civitai")
        ...
        print_json({...}) if ctx.json else ...
        return 0

Raise :mod:`modelshelf.errors` exceptions for failures: :func:`describe_error` (the one
mapping) turns them into ``modelshelf: <sentence>`` on stderr and the exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .. import __version__
from ..errors import UsageError, error_for_exception, exit_status, sentence_for
from ..http import add_retry_listener

if TYPE_CHECKING:
    from rich.console import Console

    from ..layout import HostLayout
    from ..providers.base import Provider
    from ..settings import Settings
    from ..shelf import Shelf

__all__ = [
    "LAYOUTS",
    "ArgumentParser",
    "Context",
    "UsageError",
    "add_command_common_args",
    "add_global_args",
    "add_json_arg",
    "add_location_args",
    "context_from_args",
    "describe_error",
    "error_exit",
    "make_console",
    "make_provider",
    "print_json",
    "run_command",
]

PROG = "modelshelf"
LAYOUTS = ("a1111", "forge", "sdnext", "comfyui")
EXIT_INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one sentence (exit 2) instead of usage text."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help').")


@dataclass
class Context:
    """What a command needs besides its own arguments; ``shelf`` is the core's API.

    ``settings`` is read (and checked) when a command first asks for it, so that
    ``modelshelf config`` can repair a settings file that every other command refuses.
    """

    overrides: dict[str, Any] = field(default_factory=dict)
    json: bool = False
    debug: bool = False
    verbose: bool = False
    layout: HostLayout | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _shelf: Shelf | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from ..settings import load_settings

            self._settings = load_settings(self.overrides)
        return self._settings

    @property
    def use_cache(self) -> bool:
        return self.settings.use_cache

    @property
    def shelf(self) -> Shelf:
        """The one :class:`~modelshelf.shelf.Shelf` of this command (closed at its end)."""
        if self._shelf is None:
            from ..shelf import Shelf

            self._shelf = Shelf(self.settings, self.layout, use_cache=self.use_cache)
        return self._shelf

    def close(self) -> None:
        if self._shelf is not None:
            self._shelf.close()
            self._shelf = None

    def console(self, *, stderr: bool = False) -> Console:
        """A rich console for tables (80 columns and soft wrap when not a terminal)."""
        return make_console(stderr=stderr)


def add_global_args(parser: argparse.ArgumentParser) -> None:
    """Flags accepted before the command."""
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logs on stderr"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress on stderr")
    parser.add_argument(
        "--no-cache", action="store_true", help="ask the servers, ignore cached API answers"
    )


def add_command_common_args(parser: argparse.ArgumentParser) -> None:
    """``--no-cache``, ``--debug`` and ``-v`` after the command too (the global stays)."""
    for flags, text in (
        (("--no-cache",), "ask the servers, ignore cached API answers"),
        (("--debug",), "show tracebacks and debug logs on stderr"),
        (("-v", "--verbose"), "log progress on stderr"),
    ):
        try:
            parser.add_argument(*flags, action="store_true", default=argparse.SUPPRESS, help=text)
        except argparse.ArgumentError:
            pass  # the command defines it already


def add_json_arg(parser: argparse.ArgumentParser) -> None:
    """``--json``: one JSON document on stdout and nothing else there."""
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document on stdout, nothing else"
    )


def add_location_args(parser: argparse.ArgumentParser) -> None:
    """``--models-dir DIR | --host-dir DIR`` and ``--layout`` (default: the settings')."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--models-dir",
        type=Path,
        metavar="DIR",
        help="a plain models folder (see --layout); default: the models_dir setting",
    )
    where.add_argument(
        "--host-dir",
        type=Path,
        metavar="DIR",
        help="an A1111/Forge/SD.Next or ComfyUI install; its layout is detected "
        "(default: the host_dir setting)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        help="folder layout of --models-dir (default comfyui); overrides detection",
    )


def context_from_args(args: argparse.Namespace) -> Context:
    """The :class:`Context` for parsed arguments (settings from file, env and flags)."""
    no_cache = bool(getattr(args, "no_cache", False))
    layout = None
    if getattr(args, "models_dir", None) or getattr(args, "host_dir", None):
        from ..layout import resolve_layout

        layout = resolve_layout(
            models_dir=args.models_dir, host_dir=args.host_dir, layout=getattr(args, "layout", None)
        )
    return Context(
        overrides={"use_cache": False} if no_cache else {},
        json=bool(getattr(args, "json", False)),
        debug=bool(getattr(args, "debug", False)),
        verbose=bool(getattr(args, "verbose", False)),
        layout=layout,
    )


def make_provider(ctx: Context, name: str) -> Provider:
    """The provider ``name`` (civitai, novita) of the command's Shelf."""
    return ctx.shelf.provider(name)


def make_console(*, stderr: bool = False) -> Console:
    """A rich Console; in a pipe: no colour, soft wrap, COLUMNS or 80 columns."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    is_tty = stream.isatty()
    return Console(
        file=stream,
        soft_wrap=not is_tty,
        highlight=False,
        emoji=False,
        markup=False,
    )


def print_json(obj: Any) -> None:
    """Write ``obj`` as one JSON document (and a newline) on stdout."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "failed."


def error_exit(message: str | BaseException, code: int | None = None) -> int:
    """Print ``modelshelf: <sentence>`` on stderr; returns the exit status to use."""
    if isinstance(message, BaseException):
        text, mapped = describe_error(message)
        code = mapped if code is None else code
    else:
        text = message
    if text:
        sys.stderr.write(f"{PROG}: {_one_line(text)}\n")
        sys.stderr.flush()
    return 1 if code is None else code


def describe_error(exc: BaseException) -> tuple[str, int]:
    """The one sentence and exit status for ``exc`` (:func:`modelshelf.errors.sentence_for`)."""
    if isinstance(exc, BrokenPipeError):
        return "", 1
    if error_for_exception(exc) is None:  # a bug: the traceback is one flag away
        return f"Unexpected {type(exc).__name__}; run with --debug for the traceback.", 1
    return sentence_for(exc), exit_status(exc)


def _setup_logging(debug: bool, verbose: bool) -> Callable[[], None]:
    """Log to stderr for this command; returns the function that undoes it."""
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    if debug or verbose:
        root.setLevel(min(level, old_level) if old_level else level)

    def restore() -> None:
        root.removeHandler(handler)
        root.setLevel(old_level)

    return restore


def run_command(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """Parse ``argv`` and run the chosen command; errors propagate to ``main``."""
    args = parser.parse_args(argv)
    restore = _setup_logging(
        bool(getattr(args, "debug", False)), bool(getattr(args, "verbose", False))
    )
    stop_notices = add_retry_listener(_print_retry_notice)
    try:
        ctx = context_from_args(args)
        run = getattr(args, "run", None)
        if run is None:
            raise UsageError(f"choose a command (see '{PROG} --help').")
        try:
            code = run(args, ctx)
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
            return 1
        except KeyboardInterrupt:
            hint = getattr(args, "interrupted", None)  # what running it again does
            if not hint:
                raise
            return error_exit(f"{hint}.", EXIT_INTERRUPTED)
        finally:
            ctx.close()
        return 0 if code is None else int(code)
    finally:
        stop_notices()
        restore()


def _print_retry_notice(notice: object) -> None:
    """A retry is one line on stderr, with or without ``-v``."""
    sys.stderr.write(f"{PROG}: {notice}\n")
    sys.stderr.flush()


def _silence_stdout() -> None:
    """After a closed pipe (``| head``), stop Python complaining at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
