"""A :class:`SearchQuery` as Civitai's ``GET /api/v1/models`` takes it, and what we filter.

What the server does with each parameter (``getAllModelsSchema`` in civitai/civitai
``src/server/schema/model.schema.ts``, ``src/pages/api/v1/models/index.ts``,
``model-search.service.ts``, ``model.service.ts``; see docs/DESIGN.md, Providers):

- ``allowNoCredit``, ``allowDerivatives``, ``allowDifferentLicense`` are plain
  ``z.boolean()``: any query-string value is a 400, so they are never sent and
  :func:`client_filter` applies them to each model's own fields.
- ``tag``: a tag the server does not know adds no filter at all, so every item's own tags
  are checked here too (case-insensitively).
- ``rating`` is accepted and then ignored by the server (sent for older servers).
- Everything else is sent as the schema wants it: repeated ``types``/``baseModels``,
  ``true``/``false`` booleans, comma-joined ``ids`` (not with ``query``).
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import BadInputError, NeedsApiKeyError
from ..types import Model, SearchQuery
from .civitai_wire import TYPE_ALIASES, split_all

__all__ = ["DEFAULT_LIMIT", "client_filter", "search_params"]

DEFAULT_LIMIT = 100  # the server's page size when ``limit`` is absent
_LICENCE = (  # (SearchQuery field, Model field)
    ("allow_no_credit", "allow_no_credit"),
    ("allow_derivatives", "allow_derivatives"),
    ("allow_different_licenses", "allow_different_license"),
)


def _field_is(model_field: str, wanted: bool) -> Callable[[Model], bool]:
    return lambda model: getattr(model, model_field) is wanted


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def search_params(
    query: SearchQuery, cursor: str | None = None, *, has_token: bool, nsfw_setting: bool
) -> list[tuple[str, str]]:
    """The query string for ``GET /models`` (repeated keys; never ``page`` or a token)."""
    params: list[tuple[str, str]] = []
    if query.limit is not None:
        if not 1 <= int(query.limit) <= 100:
            raise BadInputError(f"Civitai returns 1 to 100 results per page, not {query.limit}.")
        params.append(("limit", str(int(query.limit))))
    text = (query.query or "").strip()
    if text:
        params.append(("query", text))
    for key, value in (("tag", query.tag), ("username", query.username)):
        if value and value.strip():
            params.append((key, value.strip()))
    for value in split_all(query.types):
        params.append(("types", TYPE_ALIASES.get(value.lower(), value)))
    for value in split_all(query.base_models):
        params.append(("baseModels", value))
    for key, value in (("sort", query.sort), ("period", query.period)):
        if value:
            params.append((key, value))
    if query.rating is not None:
        params.append(("rating", str(int(query.rating))))
    for key, flag in (("favorites", query.favorites), ("hidden", query.hidden)):
        if flag is None:
            continue
        if not has_token:
            if flag:
                raise NeedsApiKeyError(
                    f"Filtering by {key} needs a Civitai API key; set CIVITAI_API_TOKEN.",
                    provider="civitai",
                )
            continue
        params.append((key, _bool_text(flag)))
    nsfw = query.nsfw if query.nsfw is not None else (True if nsfw_setting else None)
    for key, flag in (
        ("primaryFileOnly", query.primary_file_only),
        ("nsfw", nsfw),
        ("supportsGeneration", query.supports_generation),
    ):
        if flag is not None:
            params.append((key, _bool_text(bool(flag))))
    if query.allow_commercial_use:
        params.append(("allowCommercialUse", query.allow_commercial_use))
    if query.ids and not text:
        params.append(("ids", ",".join(str(int(i)) for i in query.ids)))
    for key, value in query.extra_params.items():
        if key.lower() not in ("token", "page", "cursor") and value is not None:
            params.append((key, str(value)))
    if cursor:
        params.append(("cursor", str(cursor)))
    return params


def client_filter(query: SearchQuery) -> Callable[[Model], bool] | None:
    """What we check on each returned model (None: nothing), see the module docstring."""
    checks: list[Callable[[Model], bool]] = []
    tag = (query.tag or "").strip().lower()
    if tag:
        checks.append(lambda m: tag in {t.lower() for t in m.tags})
    for wanted_field, model_field in _LICENCE:
        wanted = getattr(query, wanted_field)
        if wanted is not None:
            checks.append(_field_is(model_field, bool(wanted)))
    if not checks:
        return None
    return lambda model: all(check(model) for check in checks)
