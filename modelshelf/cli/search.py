"""``modelshelf search [QUERY]``: one page of a catalogue, as a table or JSON."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError
from ..providers import PROVIDERS
from ..providers.civitai_wire import COMMERCIAL_USE, PERIODS, SORTS
from .common import add_json_arg, make_provider, print_json

if TYPE_CHECKING:
    from ..types import Page
    from .common import Context

__all__ = ["build_query", "page_footer", "register", "run_search"]

DEFAULT_LIMIT = 20


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} is outside 1 to 100")
    return value


def _exact(value: str | None, known: tuple[str, ...]) -> str | None:
    """``value`` spelled as the API wants (case and spaces ignored), else as given."""
    if value is None:
        return None
    squeeze = "".join(value.split()).lower()
    for name in known:
        if "".join(name.split()).lower() == squeeze:
            return name
    return value


def _params(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--param wants KEY=VALUE, not {item!r}.")
        out[key.strip()] = value
    return out


def register(subparsers: Any) -> None:
    """Add the ``search`` subcommand."""
    parser = subparsers.add_parser(
        "search",
        help="search Civitai or Novita for models",
        description="Search a model catalogue and show one page of results "
        "(use --cursor with the printed cursor for the next page).",
    )
    parser.add_argument("query", nargs="?", metavar="QUERY", help="words to search for")
    parser.add_argument("--provider", choices=PROVIDERS, default="civitai")
    parser.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        metavar="T",
        help="model type, repeatable (Checkpoint, LORA, LoCon, TextualInversion, ...)",
    )
    parser.add_argument(
        "--base-model",
        dest="base_models",
        action="append",
        default=[],
        metavar="B",
        help="base model, repeatable ('SDXL 1.0', 'Pony', 'Flux.1 D', ...)",
    )
    parser.add_argument("--sort", metavar="S", help="Civitai: " + ", ".join(SORTS))
    parser.add_argument("--period", metavar="P", help="Civitai: " + ", ".join(PERIODS))
    parser.add_argument("--tag", metavar="T", help="only models with this tag")
    parser.add_argument("--user", metavar="U", help="Civitai: only this creator's models")
    parser.add_argument(
        "--nsfw", action="store_true", default=None, help="include NSFW models and previews"
    )
    parser.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"results per page, 1 to 100 (default {DEFAULT_LIMIT})",
    )
    parser.add_argument("--cursor", metavar="C", help="start at this cursor (from a previous page)")
    civitai = parser.add_argument_group("Civitai filters")
    for flag, dest, text in (
        ("--primary-file-only", "primary_file_only", "list only each version's primary file"),
        ("--supports-generation", "supports_generation", "only models Civitai can generate with"),
        ("--allow-no-credit", "allow_no_credit", "only models usable without credit"),
        ("--allow-derivatives", "allow_derivatives", "only models allowing derivatives"),
        ("--allow-different-licenses", "allow_different_licenses", "allowing other licenses"),
        ("--favorites", "favorites", "only your favourites (needs CIVITAI_API_TOKEN)"),
        ("--hidden", "hidden", "only models you hid (needs CIVITAI_API_TOKEN)"),
    ):
        civitai.add_argument(flag, dest=dest, action="store_true", default=None, help=text)
    civitai.add_argument(
        "--commercial-use",
        metavar="USE",
        help="allowed commercial use: " + ", ".join(COMMERCIAL_USE),
    )
    civitai.add_argument("--rating", type=int, metavar="N", help="minimum rating")
    civitai.add_argument("--ids", metavar="ID,ID", help="only these model ids (ignored with QUERY)")
    civitai.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other API parameter, repeatable",
    )
    novita = parser.add_argument_group("Novita filters")
    novita.add_argument("--visibility", choices=("public", "private"))
    novita.add_argument("--source", choices=("civitai", "training", "uploading"))
    novita.add_argument(
        "--sdxl",
        dest="is_sdxl",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only (or, with --no-sdxl, no) SDXL models",
    )
    novita.add_argument(
        "--inpainting",
        dest="is_inpainting",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only (or no) inpainting checkpoints",
    )
    add_json_arg(parser)
    parser.set_defaults(run=run_search)


def build_query(args: argparse.Namespace):
    """The :class:`SearchQuery` for parsed ``search`` arguments."""
    from ..types import SearchQuery

    ids: list[int] = []
    if args.ids:
        try:
            ids = [int(part) for part in args.ids.split(",") if part.strip()]
        except ValueError:
            raise BadInputError(
                f"--ids wants numbers separated by commas, not {args.ids!r}."
            ) from None
    return SearchQuery(
        query=args.query.strip() if args.query and args.query.strip() else None,
        types=[t for t in args.types if t.strip()],
        base_models=[b for b in args.base_models if b.strip()],
        sort=_exact(args.sort, SORTS),
        period=_exact(args.period, PERIODS),
        tag=args.tag,
        username=args.user,
        nsfw=args.nsfw,
        limit=args.limit,
        rating=args.rating,
        favorites=args.favorites,
        hidden=args.hidden,
        primary_file_only=args.primary_file_only,
        allow_no_credit=args.allow_no_credit,
        allow_derivatives=args.allow_derivatives,
        allow_different_licenses=args.allow_different_licenses,
        allow_commercial_use=_exact(args.commercial_use, COMMERCIAL_USE),
        supports_generation=args.supports_generation,
        ids=ids,
        visibility=args.visibility,
        source=args.source,
        is_sdxl=args.is_sdxl,
        is_inpainting=args.is_inpainting,
        extra_params=_params(args.param),
    )


def page_footer(page: Page, provider: str) -> str | None:
    """The line under a results table: where to go on (the cursor shell-quoted), or why
    an empty page is empty."""
    cursor = shlex.quote(page.next_cursor) if page.next_cursor else None
    if not page.items:
        if not cursor:
            return f"No models found on {provider}."
        read = f"{page.scanned} results" if page.scanned else f"{page.requests} pages"
        return f"No models matched in the first {read}; more may match: --cursor {cursor}"
    if not cursor:
        return None
    if page.bound_reached:
        return f"Stopped after {page.requests} requests; more may match: --cursor {cursor}"
    return f"More results: --cursor {cursor}"


def run_search(args: argparse.Namespace, ctx: Context) -> int:
    """Fetch one page and print it."""
    query = build_query(args)
    provider = make_provider(ctx, args.provider)
    page = provider.search_page(query, args.cursor or None)
    from .render import page_to_json, print_search_table

    if ctx.json:
        print_json(page_to_json(page, provider.name))
        return 0
    console = ctx.console()
    if page.items:  # the table alone; the footer below says where to go on
        print_search_table(dataclasses.replace(page, next_cursor=None), console, provider.name)
    footer = page_footer(page, provider.name)
    if footer:
        console.print(footer, markup=False, highlight=False)
    return 0
