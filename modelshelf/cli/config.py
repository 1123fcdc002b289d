"""``modelshelf config list | get KEY | set KEY VALUE | unset KEY``: the settings file.

``set`` checks the value against the key's type and limits (:mod:`modelshelf.settings_keys`)
and writes ``<MODELSHELF_HOME>/settings.json`` with mode 0600. API keys are never shown:
``list`` and ``get`` say only whether one is set. ``list --json`` gives
``{"file", "settings": [{"key", "value", "source", "secret", "description"}]}`` where
``value`` is null for a secret and ``source`` is ``default``, ``file`` or the environment
variable that set it. These commands read the file without checking the other keys, so
they can repair a file every other command refuses.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import BadInputError
from .common import add_json_arg, print_json

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add ``config`` with its ``list``, ``get``, ``set`` and ``unset`` actions."""
    from ..settings_keys import KEYS

    names = ", ".join(k.name for k in KEYS)
    parser = subparsers.add_parser(
        "config",
        help="show or change the settings (settings.json)",
        description="Show or change the settings kept in $MODELSHELF_HOME/settings.json "
        f"(mode 0600). Keys: {names}. API keys are never shown.",
    )
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every setting, its value and where it comes from")
    add_json_arg(listing)
    listing.set_defaults(run=run_list)
    get = actions.add_parser("get", help="one setting's value")
    get.add_argument("key", metavar="KEY")
    get.set_defaults(run=run_get)
    put = actions.add_parser("set", help="check a value and save it in the settings file")
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE", help="the value; - reads it from stdin (for keys)")
    put.set_defaults(run=run_set)
    unset = actions.add_parser("unset", help="remove a setting from the file (its default returns)")
    unset.add_argument("key", metavar="KEY")
    unset.set_defaults(run=run_unset)


def _key(name: str):
    from ..settings_keys import KEYS, KEYS_BY_NAME

    key = KEYS_BY_NAME.get(name.strip().lower().replace("-", "_"))
    if key is None:
        raise BadInputError(
            f"{name!r} is not a setting; the settings are {', '.join(k.name for k in KEYS)}."
        )
    return key


def _sources():
    from ..settings import settings_sources

    return settings_sources()


def run_list(args: argparse.Namespace, ctx: Any) -> int:
    from ..settings import SETTINGS_FILE
    from ..settings_keys import KEYS, show_value

    home, values = _sources()
    if ctx.json:
        rows = []
        for key in KEYS:
            value, source = values[key.name]
            shown = None if key.secret or value is None else value
            rows.append(
                {
                    "key": key.name,
                    "value": str(shown) if shown is not None and key.type == "path" else shown,
                    "is_set": value is not None,
                    "source": source,
                    "secret": key.secret,
                    "description": key.description,
                }
            )
        print_json({"file": str(home / SETTINGS_FILE), "settings": rows})
        return 0
    from rich import box
    from rich.table import Table

    from .render import add_wrapped_column

    console = ctx.console()
    console.print(f"Settings file: {home / SETTINGS_FILE}")
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Key", no_wrap=True)
    add_wrapped_column(table, "Value", min_width=10)
    add_wrapped_column(table, "From", max_width=18)
    add_wrapped_column(table, "Meaning", min_width=16)
    for key in KEYS:
        value, source = values[key.name]
        table.add_row(key.name, show_value(key, value), source, key.description)
    console.print(table, soft_wrap=False)
    return 0


def run_get(args: argparse.Namespace, ctx: Any) -> int:
    from ..settings_keys import show_value

    key = _key(args.key)
    _home, values = _sources()
    print(show_value(key, values[key.name][0]))
    return 0


def _shadowing_env(key) -> str | None:
    import os

    return next((var for var in key.env if os.environ.get(var)), None)


def run_set(args: argparse.Namespace, ctx: Any) -> int:
    import os
    import sys

    from ..settings import default_home, save_settings_file
    from ..settings_keys import parse_value, show_value

    key = _key(args.key)
    value = args.value
    if value == "-":  # read from stdin: an API key stays out of the shell's history
        value = sys.stdin.readline().strip()
    if key.type == "path" and value.strip():  # relative to where the command runs, kept absolute
        value = os.path.abspath(os.path.expandvars(os.path.expanduser(value.strip())))
    checked = parse_value(key, value, f"The value of {key.name}")
    path = save_settings_file(default_home(), {key.name: checked})
    shown = show_value(key, checked)
    print(f"{key.name} = {shown} (saved in {path}).")
    _warn_if_shadowed(key)
    return 0


def run_unset(args: argparse.Namespace, ctx: Any) -> int:
    from ..settings import default_home, save_settings_file

    key = _key(args.key)
    path = save_settings_file(default_home(), {key.name: None})
    print(f"{key.name} is back to its default (removed from {path}).")
    _warn_if_shadowed(key)
    return 0


def _warn_if_shadowed(key) -> None:
    import sys

    var = _shadowing_env(key)
    if var:
        print(
            f"warning: {var} is set in the environment and wins over the settings file.",
            file=sys.stderr,
        )
