"""A fake Civitai (REST API v1 + download endpoint) that reproduces the real quirks.

See ``docs/research/api.md`` §1.3–1.9. Highlights: ``limit`` > 100 → 400; ``page`` with
``query`` → 400; ``page*limit`` > 1000 → 429; ``types`` exact-case and repeated (a comma →
Zod 400); ``baseModels`` repeated (drops other versions); ``nsfw`` absent/false → PG only;
``favorites``/``hidden`` without a valid token → 401; opaque cursors; no totals; the end
is the absence of ``nextCursor``. As civitai/civitai's ``getAllModelsSchema`` and
``model-search.service.ts``: ``allowNoCredit``/``allowDerivatives``/``allowDifferentLicense``
(``z.boolean()``) → Zod 400 whatever the value; unknown keys are dropped; with ``query`` only
the text, ``types`` and the NSFW level pick a window of ``limit`` hits (relevance order, the
cursor a numeric offset) and every other filter thins that window afterwards, so a page can
be short or empty while ``nextCursor`` goes on; a ``tag`` no model has adds no filter; an
unknown ``username`` (slugified) is 404 ``{"message": "User not found"}``. Downloads follow
the check order of §1.9 and, on success, answer **307** to
``fake.download_target(version_id, file)``.

Data: :meth:`FakeCivitai.add_model` (raw ``/models/{id}`` dicts, e.g. from
``fakes.factory``), :meth:`FakeCivitai.load_real_fixtures`. Faults: ``fail_next`` (e.g.
``fake.fail_next("/api/v1/models", 503, {"error": "..."}, {"Retry-After": "2"})``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import pytest

from .civitai_download import DownloadMixin
from .fixtures import REAL_FIXTURES
from .httpserver import FakeHTTPServer, Recorded, Reply

__all__ = ["MODEL_TYPES", "FakeCivitai", "fake_civitai", "zod_error"]

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
BROWSER_UA = re.compile(r"mozilla|chrome|safari|firefox|opera|edge", re.IGNORECASE)
MAX_INT = 2147483647


def zod_error(path: str, message: str, code: str = "custom", **more: Any) -> dict[str, Any]:
    """A Zod failure body as ``/models`` sends it: ``{"error": {...issues...}}``."""
    issue = {"code": code, "path": [path], "message": message, **more}
    return {"error": {"issues": [issue], "name": "ZodError"}}


class FakeCivitai(DownloadMixin, FakeHTTPServer):
    """Civitai's API on loopback. ``requests`` is the log of every request."""

    valid_token = "test-token"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.models: dict[int, dict[str, Any]] = {}
        self.version_details: dict[int, dict[str, Any]] = {}  # /model-versions overrides
        self.favorites: set[int] = set()
        self.hidden: set[int] = set()
        self.numeric_cursor = False  # send nextCursor as a JSON number
        self.download_rules: dict[int, dict[str, Any]] = {}
        self.download_target: Callable[[int, dict[str, Any]], str] | None = None
        self.add_builtin_route("GET", r"/api/v1/models", self._list_models)
        self.add_builtin_route("GET", r"/api/v1/models/([^/]*)", self._one_model)
        self.add_builtin_route("GET", r"/api/v1/model-versions/by-hash/([^/]*)", self._by_hash)
        self.add_builtin_route("POST", r"/api/v1/model-versions/by-hash", self._bulk_by_hash)
        self.add_builtin_route("GET", r"/api/v1/model-versions/([^/]*)", self._one_version)
        self.add_builtin_route("GET", r"/api/v1/enums", self._enums)
        self.add_builtin_route("GET", r"/api/download/models/([^/]*)", self._download)

    # -- data -----------------------------------------------------------------------
    def add_model(self, raw: dict[str, Any]) -> None:
        """Add (or replace) a model given as ``/models/{id}`` returns it."""
        self.models[int(raw["id"])] = copy.deepcopy(raw)

    def add_version_detail(self, raw: dict[str, Any]) -> None:
        """A ``/model-versions/{id}`` answer; creates its model from ``model{}`` if needed."""
        raw = copy.deepcopy(raw)
        self.version_details[int(raw["id"])] = raw
        model_id = int(raw["modelId"])
        if model_id not in self.models:
            info = raw.get("model") or {}
            version = {k: v for k, v in raw.items() if k not in ("model", "modelId", "creator")}
            self.add_model(
                {
                    "id": model_id,
                    "name": info.get("name", f"model {model_id}"),
                    "type": info.get("type", "Other"),
                    "nsfw": bool(info.get("nsfw")),
                    "nsfwLevel": raw.get("nsfwLevel") or 1,
                    "poi": bool(info.get("poi")),
                    "tags": [],
                    "creator": raw.get("creator") or {"username": "unknown", "image": None},
                    "stats": {},
                    "modelVersions": [version],
                }
            )

    def load_real_fixtures(self) -> None:
        """Every JSON in tests/data/real that is a model, a version or a ``/models`` page."""
        for path in sorted(REAL_FIXTURES.glob("*.json")):
            data = json.loads(path.read_text("utf-8"))
            if not isinstance(data, dict):
                continue
            if "modelVersions" in data:
                self.add_model(data)
            elif isinstance(data.get("items"), list):
                for item in data["items"]:
                    if isinstance(item, dict) and "modelVersions" in item:
                        self.add_model(item)
        for path in sorted(REAL_FIXTURES.glob("*.json")):
            data = json.loads(path.read_text("utf-8"))
            if isinstance(data, dict) and "modelId" in data and "files" in data:
                self.add_version_detail(data)

    def iter_versions(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        for model in list(self.models.values()):
            for version in model.get("modelVersions") or []:
                yield model, version

    def find_version(self, version_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for model, version in self.iter_versions():
            if version.get("id") == version_id:
                return model, version
        return None

    # -- helpers --------------------------------------------------------------------
    def token_of(self, req: Recorded) -> str | None:
        """The token the real server would use: Bearer header, else ``?token=``."""
        auth = req.headers.get("Authorization")
        if auth:
            parts = auth.split()
            return parts[1] if len(parts) > 1 else None
        return req.param("token")

    def is_authed(self, req: Recorded) -> bool:
        return self.token_of(req) == self.valid_token

    @staticmethod
    def is_browser(req: Recorded) -> bool:
        return bool(BROWSER_UA.search(req.headers.get("User-Agent", "")))

    def base_url(self, req: Recorded) -> str:
        return f"http://{req.headers.get('Host') or f'{self.host}:{self.port}'}"

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
        item = _public_model(model)
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

    # -- /models/{id} ---------------------------------------------------------------
    def _one_model(self, req: Recorded, m: re.Match[str]) -> Reply:
        model_id = _int_id(m[1])
        if model_id is None:
            return Reply(400, zod_error("id", "Expected number, received nan", "invalid_type"))
        model = self.models.get(model_id)
        if model is None:
            return Reply(404, {"error": f"No model with id {model_id}"})
        return Reply(200, _public_model(model))

    # -- /model-versions ------------------------------------------------------------
    def version_json(self, model: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
        """The ``/model-versions/{id}`` (and by-hash) shape of ``version``."""
        detail = self.version_details.get(int(version["id"]))
        if detail is not None:
            out = copy.deepcopy(detail)
        else:
            out = copy.deepcopy(version)
            out.pop("index", None)
            out["modelId"] = model["id"]
            out.setdefault("air", f"urn:air:other:unknown:civitai:{model['id']}@{version['id']}")
            out["model"] = {
                "name": model.get("name"),
                "type": model.get("type"),
                "nsfw": bool(model.get("nsfw")),
                "poi": bool(model.get("poi")),
            }
            for f in out.get("files") or []:
                f["primary"] = bool(f.get("primary"))
        if model.get("mode"):
            out["model"]["mode"] = model["mode"]
            if model["mode"] == "Archived":
                out["files"] = []
                out.pop("downloadUrl", None)
            elif model["mode"] == "TakenDown":
                out["images"] = []
        return out

    def _one_version(self, req: Recorded, m: re.Match[str]) -> Reply:
        version_id = _int_id(m[1])
        if version_id is None:
            return Reply(400, zod_error("id", "Expected number, received nan", "invalid_type"))
        found = self.find_version(version_id)
        if found is None or int(found[1].get("nsfwLevel") or 0) == 0:
            return Reply(404, {"error": f"No model version with id {version_id}"})
        return Reply(200, self.version_json(*found))

    def _by_hash(self, req: Recorded, m: re.Match[str]) -> Reply:
        found = self._find_by_hash(m[1])
        if found is None:
            return Reply(404, {"error": "Model not found"})
        return Reply(200, self.version_json(*found))

    def _find_by_hash(self, value: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        wanted = value.strip().upper()
        hits = []
        for model, version in self.iter_versions():
            if version.get("status", "Published") != "Published":
                continue
            for f in version.get("files") or []:
                if wanted in {str(h).upper() for h in (f.get("hashes") or {}).values()}:
                    hits.append((str(version.get("publishedAt") or ""), model, version))
                    break
        if not hits:
            return None
        hits.sort(key=lambda h: h[0])
        return hits[0][1], hits[0][2]

    def _bulk_by_hash(self, req: Recorded, _m: re.Match[str]) -> Reply:
        error = {
            "error": "Request must include an array of SHA256 Hashes. "
            "Each hash must be 64 characters and at most 100 hashes may be sent."
        }
        try:
            hashes = req.json()
        except ValueError:
            return Reply(400, error)
        if not isinstance(hashes, list) or not hashes or len(hashes) > 100:
            return Reply(400, error)
        if not all(isinstance(h, str) and re.fullmatch(r"[0-9a-fA-F]{64}", h) for h in hashes):
            return Reply(400, error)
        out, seen = [], set()
        for h in hashes:
            found = self._find_by_hash(h)
            if found is not None and found[1]["id"] not in seen:
                seen.add(found[1]["id"])
                out.append(self.version_json(*found))
        return Reply(200, out)

    def _enums(self, req: Recorded, _m: re.Match[str]) -> Reply:
        data = json.loads((REAL_FIXTURES / "civitai_enums.json").read_text("utf-8"))
        data["ModelType"] = list(MODEL_TYPES)
        return Reply(200, data)


def _int_id(text: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    return value if 1 <= value <= MAX_INT else None


def _slugify(text: str) -> str:
    """civitai's postgresSlugify: the first space to ``_``, other non-word characters
    dropped, lower case (the creator lookup then matches case-insensitively)."""
    return re.sub(r"[^a-zA-Z0-9_]", "", text.replace(" ", "_", 1)).lower()


def _commercial_list(model: dict[str, Any]) -> list[str]:
    value = model.get("allowCommercialUse")
    if isinstance(value, list):
        return [str(v) for v in value]
    return [p for p in str(value or "").strip("{}").split(",") if p]


def _public_model(model: dict[str, Any]) -> dict[str, Any]:
    """A deep copy as ``/models/{id}`` shows it (Archived: no files; TakenDown: no images)."""
    out = copy.deepcopy(model)
    for version in out.get("modelVersions") or []:
        if out.get("mode") == "Archived":
            version["files"] = []
            version.pop("downloadUrl", None)
        elif out.get("mode") == "TakenDown":
            version["images"] = []
    return out


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


@pytest.fixture
def fake_civitai(monkeypatch) -> Iterator[FakeCivitai]:
    """A started :class:`FakeCivitai` with the real fixtures; ``MODELSHELF_CIVITAI_URL`` set."""
    fake = FakeCivitai()
    fake.load_real_fixtures()
    fake.start()
    monkeypatch.setenv("MODELSHELF_CIVITAI_URL", fake.url)
    try:
        yield fake
    finally:
        fake.stop()
