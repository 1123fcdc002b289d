"""A fake Novita ``/v3/model`` server reproducing api.md §2.1.

- Bearer key required: none → 400 ``MISSING_API_KEY``, wrong → 403 ``INVALID_API_KEY``
  (Novita's ``{"code", "reason", "message", "metadata"}`` body).
- ``filter.visibility|source|types|type|is_sdxl|query|is_inpainting`` (``filter.types`` and
  the Python SDK's ``filter.type`` both work, comma-separated lists too);
  ``filter.is_inpainting=true`` keeps only inpainting checkpoints.
- ``pagination.limit`` must be a string integer in (0, 100] (else 400
  ``INVALID_REQUEST_BODY``); cursors are ``c_0``, ``c_<offset>`` or the server's own
  ``c_`` + base64 of ``[offset, "lastId"]``; the last page has ``next_cursor: ""``.
- Loaded with the real page ``novita_v3_model_page.json`` (public models); private models
  added with :meth:`FakeNovita.add_private` carry a ``download_url`` served by this server
  at ``/files/<id>/<sd_name>`` (a signed-looking URL).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from .fixtures import REAL_FIXTURES
from .httpserver import FakeHTTPServer, Recorded, Reply

__all__ = ["NOVITA_KEY", "FakeNovita", "fake_novita", "make_novita_model"]

NOVITA_KEY = "nv-test-key-0123456789"
REAL_PAGE = REAL_FIXTURES / "novita_v3_model_page.json"
DEFAULT_LIMIT = 10


def _error(code: int, reason: str, message: str) -> Reply:
    return Reply(code, {"code": code, "reason": reason, "message": message, "metadata": {}})


def encode_cursor(offset: int, last_id: str) -> str:
    return "c_" + base64.b64encode(json.dumps([offset, last_id]).encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    """The offset a cursor stands for, or None when it is not one of ours."""
    if not cursor.startswith("c_"):
        return None
    body = cursor[2:]
    if body.isdigit():
        return int(body)
    try:
        value = json.loads(base64.b64decode(body, validate=True))
    except (ValueError, TypeError):
        return None
    if isinstance(value, list) and value and isinstance(value[0], int) and value[0] >= 0:
        return value[0]
    return None


def make_novita_model(
    model_id: int,
    stem: str,
    *,
    civitai_version_id: int | None = None,
    type_name: str = "lora",
    base_model: str = "SD 1.5",
    tags: list[str] | None = None,
    is_sdxl: bool = False,
    ext: str = ".safetensors",
    content: bytes | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A public-looking Novita model dict; ``hash_sha256`` is the AutoV2 of ``content``."""
    vid = f"_{civitai_version_id}" if civitai_version_id else ""
    content = content if content is not None else f"model {model_id}".encode()
    data: dict[str, Any] = {
        "id": model_id,
        "name": more.pop("name", f"v{model_id % 7}"),
        "hash_sha256": hashlib.sha256(content).hexdigest()[:10].upper(),
        "sd_name": f"{stem}{vid}{ext}",
        "type": {"name": type_name, "display_name": type_name.capitalize()},
        "categories": [],
        "status": 1,
        "tags": tags if tags is not None else ["style"],
        "cover_url": f"https://next-app-static.s3.amazonaws.com/images/{model_id}.jpeg",
        "source": "civitai",
        "base_model": base_model,
        "base_model_type": "Standard",
        "download_url_ttl": 2592000,
        "sd_name_in_api": f"{stem}{vid}" if type_name == "lora" else f"{stem}{vid}{ext}",
        "is_sdxl": is_sdxl,
    }
    data.update(more)
    return data


class FakeNovita(FakeHTTPServer):
    """The fake Novita API (see the module docstring)."""

    def __init__(self, key: str = NOVITA_KEY, *, load_real: bool = True, **kw: Any):
        super().__init__(**kw)
        self.key = key
        self.models: list[dict[str, Any]] = []
        self.files: dict[str, bytes] = {}
        if load_real:
            for model in json.loads(REAL_PAGE.read_text("utf-8"))["models"]:
                self.add_model(model)
        self.add_builtin_route("GET", r"/v3/model", self._list)
        self.add_builtin_route("GET", r"/files/(\d+)/([^/]+)", self._file)

    # -- content ------------------------------------------------------------------------
    def add_model(self, data: dict[str, Any], *, visibility: str = "public") -> dict[str, Any]:
        """Add a model dict (``_visibility`` is ours and never sent)."""
        data = dict(data)
        data["_visibility"] = visibility
        self.models.append(data)
        return data

    def add_private(self, model_id: int, stem: str, content: bytes, **more: Any) -> dict[str, Any]:
        """A private (trained/uploaded) model with a signed ``download_url`` on this server."""
        data = make_novita_model(model_id, stem, content=content, source="training", **more)
        self.files[str(model_id)] = content
        data["download_url"] = (
            f"{self.url}/files/{model_id}/{data['sd_name']}?X-Amz-Expires=86400&X-Amz-Signature=ab"
        )
        data["download_url_ttl"] = 86400
        return self.add_model(data, visibility="private")

    def add_synthetic(self, count: int, start_id: int = 500000) -> None:
        types = ("lora", "checkpoint", "locon", "vae", "textualinversion")
        for i in range(count):
            self.add_model(
                make_novita_model(
                    start_id + i,
                    f"synthetic-{i:04d}",
                    civitai_version_id=900000 + i,
                    type_name=types[i % len(types)],
                    base_model="SDXL 1.0" if i % 3 == 0 else "SD 1.5",
                    is_sdxl=i % 3 == 0,
                    tags=["style", f"group{i % 4}"],
                    name=f"v{i}",
                )
            )

    # -- routes -------------------------------------------------------------------------
    def _authorised(self, request: Recorded) -> Reply | None:
        auth = request.headers.get("Authorization")
        if not auth:
            return _error(400, "MISSING_API_KEY", "missing api key")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.key:
            return _error(403, "INVALID_API_KEY", "invalid api-key")
        return None

    def _list(self, request: Recorded, match: Any) -> Reply:
        refused = self._authorised(request)
        if refused:
            return refused
        raw_limit = request.param("pagination.limit", str(DEFAULT_LIMIT)) or ""
        if not raw_limit.isdigit() or not 0 < int(raw_limit) <= 100:
            return _error(400, "INVALID_REQUEST_BODY", "pagination.limit must be in (0, 100]")
        limit = int(raw_limit)
        cursor = request.param("pagination.cursor") or "c_0"
        offset = decode_cursor(cursor)
        if offset is None:
            return _error(400, "INVALID_REQUEST_BODY", "invalid pagination.cursor")
        matching = list(self._filtered(request))
        chunk = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        next_cursor = encode_cursor(offset + limit, str(chunk[-1]["id"])) if more and chunk else ""
        models = [{k: v for k, v in m.items() if not k.startswith("_")} for m in chunk]
        return Reply(200, {"models": models, "pagination": {"next_cursor": next_cursor}})

    def _filtered(self, request: Recorded) -> Iterator[dict[str, Any]]:
        visibility = request.param("filter.visibility")
        source = request.param("filter.source")
        types_raw = request.params("filter.types") + request.params("filter.type")
        types = {t.strip().lower() for raw in types_raw for t in raw.split(",") if t.strip()}
        is_sdxl = request.param("filter.is_sdxl")
        query = (request.param("filter.query") or "").lower()
        inpainting = request.param("filter.is_inpainting") == "true"
        for model in self.models:
            if visibility and model["_visibility"] != visibility:
                continue
            if source and model.get("source", "civitai") != source:
                continue
            if types and model["type"]["name"] not in types:
                continue
            if is_sdxl is not None and bool(model.get("is_sdxl")) != (is_sdxl == "true"):
                continue
            if inpainting and model.get("base_model_type") != "Inpainting":
                continue
            if query:
                hay = [model.get("sd_name", ""), model.get("name", ""), *model.get("tags", [])]
                if not any(query in str(h).lower() for h in hay):
                    continue
            yield model

    def _file(self, request: Recorded, match: Any) -> Reply:
        if request.headers.get("Authorization"):  # a signed URL never wants the key
            return Reply(400, "Authorization header sent to storage")
        content = self.files.get(match[1])
        if content is None:
            return Reply(404, "no such file")
        return Reply(200, content, {"Content-Type": "application/octet-stream"})


@pytest.fixture
def fake_novita(monkeypatch) -> Iterator[FakeNovita]:
    """A running FakeNovita; MODELSHELF_NOVITA_URL and NOVITA_API_KEY point at it."""
    server = FakeNovita()
    server.start()
    monkeypatch.setenv("MODELSHELF_NOVITA_URL", server.url)
    monkeypatch.setenv("NOVITA_API_KEY", server.key)
    try:
        yield server
    finally:
        server.stop()
