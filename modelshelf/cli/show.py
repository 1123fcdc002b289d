"""``modelshelf show REF``: a model's versions, trained words, files and preview images."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import add_json_arg, make_provider, print_json

if TYPE_CHECKING:
    import argparse

    from .common import Context

__all__ = ["register", "run_show"]

REF_HELP = (
    "12345, 12345@67890, a Civitai model or download URL, an AIR "
    "(urn:air:sdxl:lora:civitai:12345@67890) or novita:ID"
)


def register(subparsers: Any) -> None:
    """Add the ``show`` subcommand."""
    parser = subparsers.add_parser(
        "show",
        help="show a model's versions, files and trained words",
        description="Show every version of the model REF names, with its trained words, "
        "what limits downloading it (early access, login, downloads disabled, archived), "
        "files (type, size, format, precision, scans, SHA256) and preview image URLs "
        "(NSFW ones only with --nsfw). With --json: "
        '{"provider", "item": {...as in search...}, "selected_version_id"}.',
    )
    parser.add_argument("ref", metavar="REF", help=REF_HELP)
    parser.add_argument(
        "--nsfw",
        action="store_true",
        default=None,
        help="also list NSFW preview images (default: the nsfw setting)",
    )
    add_json_arg(parser)
    parser.set_defaults(run=run_show)


def run_show(args: argparse.Namespace, ctx: Context) -> int:
    """Resolve REF and print the model."""
    from ..types import Model
    from .render import model_to_json, print_model_detail

    model, version = ctx.shelf.lookup(args.ref)
    provider = make_provider(ctx, version.provider)
    if model is None:  # a version whose model could not be fetched: show what we have
        model = Model(
            id=version.model_id or 0,
            name=version.model_name or version.name,
            type=version.model_type or "Other",
            nsfw=bool(version.model_nsfw),
            versions=[version],
            provider=provider.name,
        )
    selected = version.id  # the version `download REF` would fetch
    nsfw = ctx.settings.nsfw if args.nsfw is None else args.nsfw
    if ctx.json:
        item = model_to_json(model, nsfw=nsfw)
        print_json({"provider": provider.name, "item": item, "selected_version_id": selected})
    else:
        print_model_detail(model, ctx.console(), selected_version_id=selected, nsfw=nsfw)
    return 0
