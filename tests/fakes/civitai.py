"""A fake Civitai (REST API v1 + download endpoint) that reproduces the real quirks.

See ``docs/research/api.md`` §1.3–1.9. ``GET /api/v1/models`` (its validation, query windows,
tags, creators, cursors) is in :mod:`fakes.civitai_list`; the download endpoint, in
:mod:`fakes.civitai_download`, follows the check order of §1.9 and, on success, answers
**307** to ``fake.download_target(version_id, file)``.

Data: :meth:`FakeCivitai.add_model` (raw ``/models/{id}`` dicts, e.g. from
``fakes.factory``), :meth:`FakeCivitai.load_real_fixtures`. Faults: ``fail_next`` (e.g.
``fake.fail_next("/api/v1/models", 503, {"error": "..."}, {"Retry-After": "2"})``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .civitai_download import DownloadMixin
from .civitai_list import MODEL_TYPES, ListModelsMixin, public_model, zod_error
from .fixtures import REAL_FIXTURES
from .httpserver import FakeHTTPServer, Recorded, Reply

__all__ = ["MODEL_TYPES", "FakeCivitai", "fake_civitai", "zod_error"]

BROWSER_UA = re.compile(r"mozilla|chrome|safari|firefox|opera|edge", re.IGNORECASE)
MAX_INT = 2147483647


class FakeCivitai(ListModelsMixin, DownloadMixin, FakeHTTPServer):
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

    # -- /models/{id} ---------------------------------------------------------------
    def _one_model(self, req: Recorded, m: re.Match[str]) -> Reply:
        model_id = _int_id(m[1])
        if model_id is None:
            return Reply(400, zod_error("id", "Expected number, received nan", "invalid_type"))
        model = self.models.get(model_id)
        if model is None:
            return Reply(404, {"error": f"No model with id {model_id}"})
        return Reply(200, public_model(model))

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
