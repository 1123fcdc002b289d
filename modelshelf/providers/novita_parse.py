"""Turn Novita ``/v3/model`` JSON into our typed results (no I/O here).

A Novita model is one file, so it maps onto one :class:`Model` with one
:class:`ModelVersion` (same id) holding one :class:`ModelFile`:

- ``Model.name`` is the file stem of ``sd_name`` without the ``_<civitaiVersionId>``
  suffix (``GoodHands-beta2``); Novita's own ``name`` (usually the Civitai version name,
  ``beta2``) is the version name. ``Model.type`` is Novita's type name as given
  (``checkpoint``, ``lora``, ``locon``, anything new).
- ``hash_sha256`` is a Civitai AutoV2 (10 hex) and goes to ``FileHashes.autov2``.
- The Civitai version id parsed from ``sd_name`` is kept in
  ``extra["civitai_version_id"]`` of the model, the version and the file.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..types import FileHashes, Image, Model, ModelFile, ModelVersion, Page

__all__ = ["civitai_version_id_from_sd_name", "parse_model", "parse_page"]

_SD_NAME = re.compile(r"^(?P<stem>.*?)_(?P<vid>[0-9]{1,10})(?P<ext>\.[A-Za-z0-9]{1,12})?$")
_FORMATS = {
    ".safetensors": "SafeTensor",
    ".ckpt": "PickleTensor",
    ".pt": "PickleTensor",
    ".pth": "PickleTensor",
    ".bin": "PickleTensor",
    ".gguf": "GGUF",
    ".zip": "Other",
}
_KNOWN = {
    "id",
    "name",
    "hash_sha256",
    "sd_name",
    "type",
    "categories",
    "status",
    "download_url",
    "tags",
    "cover_url",
    "source",
    "base_model",
    "base_model_type",
    "download_url_ttl",
    "sd_name_in_api",
    "is_sdxl",
    "is_nsfw",
}


def civitai_version_id_from_sd_name(sd_name: str | None) -> int | None:
    """The Civitai version id at the end of ``sd_name`` (``x_81543.safetensors``, ``x_81543``)."""
    if not sd_name:
        return None
    match = _SD_NAME.match(sd_name.strip())
    if not match:
        return None
    value = int(match["vid"])
    return value if 1 <= value <= 2147483647 else None


def _stem(sd_name: str) -> str:
    match = _SD_NAME.match(sd_name)
    if match and match["stem"]:
        return match["stem"]
    return sd_name.rsplit(".", 1)[0] if "." in sd_name else sd_name


def _ext(sd_name: str) -> str:
    dot = sd_name.rfind(".")
    return sd_name[dot:].lower() if dot > 0 else ""


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(v) for v in value if v is not None]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_model(data: dict[str, Any], *, fetched_at: float | None = None) -> Model:
    """One Novita model dict → :class:`Model` with one version and one file."""
    fetched_at = time.time() if fetched_at is None else fetched_at
    raw_id = data.get("id")
    number = _int(raw_id)
    model_id: int | str = number if number is not None else str(raw_id)
    sd_name = str(data.get("sd_name") or data.get("sd_name_in_api") or data.get("name") or "")
    type_info = data.get("type")
    if isinstance(type_info, dict):
        type_name = str(type_info.get("name") or "other")
        type_display = type_info.get("display_name")
    else:
        type_name, type_display = str(type_info or "other"), None
    civitai_vid = civitai_version_id_from_sd_name(data.get("sd_name") or data.get("sd_name_in_api"))
    status = _int(data.get("status"))
    ttl = _int(data.get("download_url_ttl"))
    download_url = data.get("download_url") or None
    hash10 = str(data["hash_sha256"]).upper() if data.get("hash_sha256") else None
    common = {
        "civitai_version_id": civitai_vid,
        "sd_name": data.get("sd_name"),
        "sd_name_in_api": data.get("sd_name_in_api"),
        "source": data.get("source"),
        "status": status,
        "is_sdxl": data.get("is_sdxl"),
        "is_nsfw": data.get("is_nsfw"),
        "categories": _str_list(data.get("categories")),
        "type_display_name": type_display,
        "download_url_ttl": ttl,
        "fetched_at": fetched_at,
        "expires_at": fetched_at + ttl if download_url and ttl else None,
    }
    unknown = {k: v for k, v in data.items() if k not in _KNOWN}
    file = ModelFile(
        id=None,
        name=sd_name,
        type="Model",
        primary=True,
        format=_FORMATS.get(_ext(sd_name)),
        hashes=FileHashes(autov2=hash10),
        download_url=download_url,
        extra={"civitai_version_id": civitai_vid},
    )
    images = []
    if data.get("cover_url"):
        nsfw = bool(data.get("is_nsfw"))
        images.append(Image(url=str(data["cover_url"]), nsfw=nsfw, type="image"))
    base_model = data.get("base_model") or None
    name = _stem(sd_name) if sd_name else str(data.get("name") or model_id)
    version = ModelVersion(
        id=model_id if isinstance(model_id, int) else 0,
        name=str(data.get("name") or name),
        model_id=model_id if isinstance(model_id, int) else None,
        base_model=base_model,
        base_model_type=data.get("base_model_type") or None,
        status=None if status is None else ("available" if status == 1 else "unavailable"),
        files=[file],
        images=images,
        download_url=download_url,
        model_name=name,
        model_type=type_name,
        model_nsfw=bool(data.get("is_nsfw")),
        provider="novita",
        extra=dict(common),
    )
    return Model(
        id=model_id,
        name=name,
        type=type_name,
        nsfw=bool(data.get("is_nsfw")),
        tags=_str_list(data.get("tags")),
        versions=[version],
        base_models=[base_model] if base_model else [],
        provider="novita",
        extra={**common, **unknown, "novita_name": data.get("name")},
    )


def parse_page(data: Any, *, limit: int, fetched_at: float | None = None) -> Page:
    """A ``/v3/model`` answer → :class:`Page`; no next cursor after a short page."""
    models = data.get("models") if isinstance(data, dict) else None
    models = models if isinstance(models, list) else []
    pagination = data.get("pagination") if isinstance(data, dict) else None
    cursor = pagination.get("next_cursor") if isinstance(pagination, dict) else None
    items = [parse_model(m, fetched_at=fetched_at) for m in models if isinstance(m, dict)]
    next_cursor = str(cursor) if cursor not in (None, "") else None
    if len(models) < limit:
        next_cursor = None
    return Page(items=items, next_cursor=next_cursor, page_size=limit, provider="novita")
