"""``modelshelf ui``: the Model Shelf web app on its own (Gradio 4, the ``[ui]`` extra).

It binds 127.0.0.1 unless told otherwise and refuses any other address without
``--auth`` / ``--auth-file``: the app spends the person's API key and writes to their
disk, so it is never open to a network by accident. Gradio is imported only here.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading
from pathlib import Path

from ..errors import BadInputError, ModelShelfError, UsageError
from .common import add_location_args

__all__ = ["register", "run_ui"]

DEFAULT_PORT = 7870
MISSING_EXTRA = (
    "The web app needs Gradio, which is not installed; install it with "
    "pip install 'modelshelf[ui]'."
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="serve the Model Shelf web app (browse, download, library) on this computer",
        description="Serve the Model Shelf web app. It listens on 127.0.0.1 unless --host "
        "says otherwise; any other address needs --auth or --auth-file.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port ({DEFAULT_PORT})")
    add_location_args(parser)
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--auth", metavar="USER:PASSWORD", help="require this login")
    auth.add_argument("--auth-file", type=Path, metavar="F", help="a file of USER:PASSWORD lines")
    parser.set_defaults(run=run_ui)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_auth(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The logins of ``--auth`` or ``--auth-file`` (empty when neither is given)."""
    lines: list[str] = []
    if args.auth:
        lines = [args.auth]
    elif args.auth_file:
        try:
            lines = args.auth_file.read_text("utf-8").splitlines()
        except OSError as exc:
            raise BadInputError(
                f"Cannot read --auth-file {args.auth_file}: {exc.strerror}."
            ) from None
    logins = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not user or not password:
            raise BadInputError("A login must be USER:PASSWORD, both parts non-empty.")
        logins.append((user, password))
    if (args.auth or args.auth_file) and not logins:
        raise BadInputError(f"--auth-file {args.auth_file} holds no USER:PASSWORD line.")
    return logins


def run_ui(args: argparse.Namespace, ctx) -> int:
    """Serve until Ctrl-C; the download queue is recorded and its workers stopped."""
    logins = read_auth(args)
    if not is_loopback(args.host) and not logins:
        raise UsageError(
            f"Refusing to listen on {args.host} without a login: the app spends your API key "
            "and writes to your disk; add --auth USER:PASSWORD (or --auth-file F), "
            "or use 127.0.0.1."
        )
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be between 1 and 65535, not {args.port}.")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ModelShelfError(MISSING_EXTRA) from None

    from ..layout import resolve_layout
    from ..shelf import Shelf

    layout = None
    if args.models_dir or args.host_dir:
        layout = resolve_layout(args.models_dir, args.host_dir, args.layout)
    shelf = Shelf(ctx.settings, layout)
    try:
        shelf.layout  # noqa: B018 - a missing models folder is said before serving
        from ..gradio_ui import UIContext, standalone_blocks

        demo = standalone_blocks(UIContext(shelf=shelf, in_webui=False))
        demo.queue()
        _, url, _ = demo.launch(
            server_name=args.host,
            server_port=args.port,
            auth=logins or None,
            prevent_thread_lock=True,
            quiet=True,
            show_api=False,
            inbrowser=False,
        )
        shown = url or f"http://{args.host}:{args.port}/"
        sys.stdout.write(f"Model Shelf is running at {shown} (Ctrl-C stops it)\n")
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            sys.stderr.write("Stopping Model Shelf…\n")
        finally:
            demo.close()
    finally:
        shelf.close()
    return 0
