"""The fake Civitai ``GET /api/v1/models`` (api.md §1.3-1.4, civitai/civitai's
``getAllModelsSchema``, ``model-search.service.ts`` and ``model.service.ts``).

``limit`` > 100 → 400; ``page`` with ``query`` → 400; ``page*limit`` > 1000 → 429; ``types``
exact-case and repeated (a comma → Zod 400); ``baseModels`` repeated (drops other versions);
``nsfw`` absent/false → PG only; ``favorites``/``hidden`` without a valid token → 401;
``allowNoCredit``/``allowDerivatives``/``allowDifferentLicense`` (``z.boolean()``) → Zod 400
whatever the value; unknown keys are dropped. With ``query`` only the text, ``types`` and the
NSFW level pick a window of ``limit`` hits (relevance order, the cursor a numeric offset) and
every other filter thins that window afterwards, so a page can be short or empty while
``nextCursor`` goes on. A ``tag`` no model has adds no filter; an unknown ``username``
(slugified) is 404 ``{"message": "User not found"}``. Opaque cursors, no totals; the end is
the absence of ``nextCursor``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from .httpserver import Recorded, Reply

__all__ = ["MODEL_TYPES", "ListModelsMixin", "public_model", "zod_error"]

MODEL_TYPES = [
    "Checkpoint",
    "TextualInversion",
    "Hypernetwork",
    "AestheticGradient",
    "LORA",
    "LoCon",
    "DoRA",
    "Controlnet",
    "Upscaler",
    "MotionModule",
    "VAE",
    "TextEncoder",
    "UNet",
    "CLIPVision",
    "Poses",
    "Wildcards",
    "Workflows",
    "ComfyWorkflows",
    "Detection",
    "VisionLanguage",
    "CLIP",
    "LLM",
    "Other",
]
SORTS = (
    "Highest Rated",
    "Most Downloaded",
    "Most Liked",
    "Most Discussed",
    "Most Collected",
    "Most Images",
    "Newest",
    "Oldest",
)
PERIODS = ("AllTime", "Year", "Month", "Week", "Day")
BOOL_PARAMS = [  # booleanString(): "true" / "false"
    "favorites",
    "hidden",
    "primaryFileOnly",
    "nsfw",
    "supportsGeneration",
]
# plain z.boolean() in getAllModelsSchema: a query string is never a boolean, so any value is a
# 400 (the plural ``allowDifferentLicenses`` is an unknown key and is dropped silently)
STRICT_BOOLEANS = ["allowNoCredit", "allowDerivatives", "allowDifferentLicense"]
PERIOD_DAYS = {"Day": 1, "Week": 7, "Month": 30, "Year": 365}


def zod_error(path: str, message: str, code: str = "custom", **more: Any) -> dict[str, Any]:
    """A Zod failure body as ``/models`` sends it: ``{"error": {...issues...}}``."""
    issue = {"code": code, "path": [path], "message": message, **more}
    return {"error": {"issues": [issue], "name": "ZodError"}}


class ListModelsMixin:
    """``GET /api/v1/models`` for :class:`~fakes.civitai.FakeCivitai` (it reads the host's
    ``models``, ``favorites``, ``hidden``, ``numeric_cursor``, ``is_authed``, ``base_url``)."""

    # -- /models --------------------------------------------------------------------
    def _list_models(self, req: Recorded, _m: re.Match[str]) -> Reply:
        bad = self._check_list_params(req)
        if bad is not None:
            return bad
        username = _slugify(req.param("username") or "")
        creators = {
            str((m.get("creator") or {}).get("username") or "").lower()
            for m in self.models.values()
        }
        if username and username not in creators:
            return Reply(404, {"message": "User not found"})  # a TRPCError's plain message
        query = req.param("query")
        limit = int(req.param("limit") or 100)
        nsfw = req.param("nsfw") == "true"
        cursor = req.param("cursor")
        if query:
            page_items, next_cursor = self._query_window(req, query, limit, nsfw)
        else:
            offset = 0
            if cursor:
                offset_or_error = self._cursor_offset(cursor)
                if isinstance(offset_or_error, Reply):
                    return offset_or_error
                offset = offset_or_error
            elif req.param("page"):
                offset = (int(req.param("page") or 1) - 1) * limit
            models = [m for m in self._hits(req, nsfw) if self._passes_db_filters(m, req)]
            models = _sorted(models, req.param("sort") or "Highest Rated")
            page_items = models[offset : offset + limit]
            next_cursor = None
            if offset + limit < len(models):
                nxt = offset + limit
                next_cursor = f"{nxt * 13 + 7}|{models[nxt]['id']}|{nxt}"
                if self.numeric_cursor:
                    next_cursor = nxt
        items = [self._list_item(m, req, nsfw) for m in page_items]
        metadata: dict[str, Any] = {}
        if next_cursor is not None:
            metadata["nextCursor"] = next_cursor
            params = [(k, v) for k, v in req.query if k != "cursor"]
            params.append(("cursor", str(next_cursor)))
            metadata["nextPage"] = f"{self.base_url(req)}/api/v1/models?{urlencode(params)}"
        if req.param("page") and not cursor:
            metadata["currentPage"] = int(req.param("page") or 1)
            metadata["pageSize"] = limit
        return Reply(200, {"items": items, "metadata": metadata})

    def _query_window(
        self, req: Recorded, query: str, limit: int, nsfw: bool
    ) -> tuple[list[dict[str, Any]], Any]:
        """resolveModelSearchIds + runModelSearch: a window of ``limit`` hits, then filters."""
        cursor = req.param("cursor") or ""
        offset = int(cursor) if cursor.isdigit() else 0  # Number(cursor), else 0
        hits = [m for m in self._hits(req, nsfw) if query.lower() in str(m.get("name", "")).lower()]
        hits = _sorted(hits, "Highest Rated")  # stands in for relevance; ``sort`` is ignored
        window = hits[offset : offset + limit + 1]
        more = len(window) > limit
        kept = [m for m in window[:limit] if self._passes_db_filters(m, req, with_query=True)]
        next_cursor: Any = None
        if more:
            next_cursor = offset + limit if self.numeric_cursor else str(offset + limit)
        return kept, next_cursor

    def _check_list_params(self, req: Recorded) -> Reply | None:
        keys = set(req.query_keys)
        if ("favorites" in keys or "hidden" in keys) and not self.is_authed(req):
            return Reply(401, {"error": "Unauthorized"})
        limit = req.param("limit")
        if limit is not None and (not limit.isdigit() or int(limit) > 100):
            return Reply(
                400, zod_error("limit", "Number must be less than or equal to 100", "too_big")
            )
        page = req.param("page")
        if page is not None:
            if req.param("query"):
                return Reply(
                    400,
                    {
                        "error": "Cannot use page param with query search. "
                        "Use cursor-based pagination."
                    },
                )
            if not page.isdigit() or int(page) < 1:
                return Reply(400, zod_error("page", "Number must be greater than 0", "too_small"))
            if not req.param("cursor") and int(page) * int(limit or 100) > 1000:
                return Reply(
                    429, {"error": "You've requested too many pages, please use cursors instead"}
                )
        for value in req.params("types"):
            if value not in MODEL_TYPES:
                options = " | ".join(f"'{t}'" for t in MODEL_TYPES)
                message = f"Invalid enum value. Expected {options}, received '{value}'"
                return Reply(
                    400,
                    zod_error(
                        "types", message, "invalid_enum_value", received=value, options=MODEL_TYPES
                    ),
                )
        for name, allowed in (("sort", SORTS), ("period", PERIODS)):
            value = req.param(name)
            if value is not None and value not in allowed:
                return Reply(400, zod_error(name, f"Invalid enum value '{value}'", "invalid_enum"))
        for name in STRICT_BOOLEANS:
            if req.param(name) is not None:
                message = "Invalid input: expected boolean, received string"
                issue = zod_error(name, message, "invalid_type", expected="boolean")
                return Reply(400, issue)
        for name in BOOL_PARAMS:
            value = req.param(name)
            if value is not None and value not in ("true", "false"):
                return Reply(
                    400, zod_error(name, "Expected boolean, received string", "invalid_type")
                )
        ids = req.param("ids")
        if ids and not all(p.strip().isdigit() for p in ids.split(",")):
            return Reply(400, zod_error("ids", "Expected number, received nan", "invalid_type"))
        return None

    def _cursor_offset(self, cursor: str) -> int | Reply:
        if self.numeric_cursor and cursor.isdigit():
            return int(cursor)
        parts = cursor.split("|")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            return int(parts[2])
        return Reply(400, zod_error("cursor", f"Invalid cursor '{cursor}'", "invalid_string"))

    def _hits(self, req: Recorded, nsfw: bool) -> list[dict[str, Any]]:
        """Models within the browsing level and ``types`` (what Meilisearch filters by)."""
        types = set(req.params("types"))
        out = []
        for model in self.models.values():
            if types and model.get("type") not in types:
                continue
            if not nsfw and not (int(model.get("nsfwLevel") or 0) & 1):
                continue
            out.append(model)
        return out

    def _passes_db_filters(
        self, model: dict[str, Any], req: Recorded, *, with_query: bool = False
    ) -> bool:
        """getModelsRaw's filters (the window's ids stand in for ``ids`` with a query)."""
        known_tags = {str(t).lower() for m in self.models.values() for t in m.get("tags") or []}
        tag = (req.param("tag") or "").lower()
        username = _slugify(req.param("username") or "")
        base_models = set(req.params("baseModels"))
        ids = {int(p) for p in (req.param("ids") or "").split(",") if p.strip()}
        commercial = req.params("allowCommercialUse")
        if ids and not with_query and int(model["id"]) not in ids:
            return False
        if tag in known_tags and tag not in [str(t).lower() for t in model.get("tags") or []]:
            return False
        creator = str((model.get("creator") or {}).get("username") or "")
        if username and creator.lower() != username:
            return False
        versions = model.get("modelVersions") or []
        if base_models and not any(v.get("baseModel") in base_models for v in versions):
            return False
        if req.param("favorites") == "true" and int(model["id"]) not in self.favorites:
            return False
        if req.param("hidden") == "true" and int(model["id"]) not in self.hidden:
            return False
        if req.param("supportsGeneration") == "true" and not model.get("supportsGeneration"):
            return False
        if commercial and not set(commercial) & set(_commercial_list(model)):
            return False
        days = PERIOD_DAYS.get(req.param("period") or "")
        if days:
            since = (datetime.now(timezone.utc) - timedelta(days=days)).isoformat()
            newest = max((str(v.get("publishedAt") or "") for v in versions), default="")
            if newest < since[:19]:
                return False
        return True

    def _list_item(self, model: dict[str, Any], req: Recorded, nsfw: bool) -> dict[str, Any]:
        item = public_model(model)
        base_models = set(req.params("baseModels"))
        versions = []
        for version in item["modelVersions"]:
            if base_models and version.get("baseModel") not in base_models:
                continue
            files = version.get("files") or []
            if req.param("primaryFileOnly") == "true":
                files = [f for f in files if f.get("primary")][:1]
            version["files"] = [
                {k: v for k, v in f.items() if f.get("primary") or k != "primary"} for f in files
            ]
            if not nsfw:
                version["images"] = [
                    i for i in version.get("images") or [] if i.get("nsfwLevel") == 1
                ]
            versions.append(version)
        item["modelVersions"] = versions
        return item


def _slugify(text: str) -> str:
    """civitai's postgresSlugify: the first space to ``_``, other non-word characters
    dropped, lower case (the creator lookup then matches case-insensitively)."""
    return re.sub(r"[^a-zA-Z0-9_]", "", text.replace(" ", "_", 1)).lower()


def _commercial_list(model: dict[str, Any]) -> list[str]:
    value = model.get("allowCommercialUse")
    if isinstance(value, list):
        return [str(v) for v in value]
    return [p for p in str(value or "").strip("{}").split(",") if p]


def _sorted(models: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    def stat(model: dict[str, Any], key: str) -> int:
        return int((model.get("stats") or {}).get(key) or 0)

    def newest(model: dict[str, Any]) -> str:
        dates = [str(v.get("publishedAt") or "") for v in model.get("modelVersions") or []]
        return max(dates, default="")

    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "Most Downloaded": lambda m: -stat(m, "downloadCount"),
        "Most Liked": lambda m: -stat(m, "thumbsUpCount"),
        "Most Discussed": lambda m: -stat(m, "commentCount"),
        "Newest": lambda m: "".join(chr(0x10FFFF - ord(c)) for c in newest(m)),
        "Oldest": newest,
    }
    key = keys.get(sort, lambda m: -stat(m, "thumbsUpCount"))
    return sorted(models, key=lambda m: (key(m), -int(m["id"])))


def public_model(model: dict[str, Any]) -> dict[str, Any]:
    """A deep copy as ``/models/{id}`` shows it (Archived: no files; TakenDown: no images)."""
    out = copy.deepcopy(model)
    for version in out.get("modelVersions") or []:
        if out.get("mode") == "Archived":
            version["files"] = []
            version.pop("downloadUrl", None)
        elif out.get("mode") == "TakenDown":
            version["images"] = []
    return out
