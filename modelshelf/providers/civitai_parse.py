"""Pure functions turning Civitai API JSON into the typed results of ``modelshelf.types``.

Tolerant by design (api.md §1.5, §4): any field may be missing or null and gets a safe
default; enum-like values stay free strings; ``allowCommercialUse`` may be a string
(``"Sell"``, ``"{Image,RentCivit}"``) or an array; ``nextCursor`` may be a number;
``primary`` may be absent. Keys a parser does not know are kept in ``extra``.
"""

from __future__ import annotations

from typing import Any

from ..types import Creator, FileHashes, Image, Model, ModelFile, ModelVersion, Page, Stats

__all__ = [
    "parse_commercial_use",
    "parse_file",
    "parse_hashes",
    "parse_image",
    "parse_model",
    "parse_page",
    "parse_stats",
    "parse_version",
]

_IMAGE_LEVELS = {"none": 1, "soft": 2, "mature": 4, "x": 8}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int):
        return bool(value)
    return None


def _extra(d: dict[str, Any], known: set[str]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in known}


def parse_commercial_use(value: Any) -> list[str]:
    """``["Image", "RentCivit"]`` from an array, ``"{Image,RentCivit}"`` or ``"Sell"``."""
    if isinstance(value, list):
        items = [str(v).strip() for v in value if v is not None]
    elif isinstance(value, str):
        items = [p.strip().strip('"') for p in value.strip().strip("{}[]").split(",")]
    else:
        return []
    return [i for i in items if i and i != "None"]


_STATS_KEYS = {
    "downloadCount": "download_count",
    "thumbsUpCount": "thumbs_up_count",
    "thumbsDownCount": "thumbs_down_count",
    "commentCount": "comment_count",
    "favoriteCount": "favorite_count",
    "ratingCount": "rating_count",
    "tippedAmountCount": "tipped_amount_count",
}


def parse_stats(d: Any) -> Stats:
    """Counters (any may be null or missing)."""
    d = _dict(d)
    stats = Stats(extra=_extra(d, {*_STATS_KEYS, "rating"}))
    for key, attr in _STATS_KEYS.items():
        setattr(stats, attr, _int(d.get(key)))
    stats.rating = _float(d.get("rating"))
    return stats


_HASH_KEYS = {
    "sha256": "sha256",
    "autov1": "autov1",
    "autov2": "autov2",
    "autov3": "autov3",
    "crc32": "crc32",
    "blake3": "blake3",
}


def parse_hashes(d: Any) -> FileHashes:
    """The ``hashes`` object; values upper-cased, unknown kinds in ``extra``."""
    hashes = FileHashes()
    for key, value in _dict(d).items():
        if not value or not isinstance(value, str):
            continue
        attr = _HASH_KEYS.get(str(key).lower())
        if attr:
            setattr(hashes, attr, value.strip().upper())
        else:
            hashes.extra[str(key)] = value.strip().upper()
    return hashes


_FILE_KEYS = {
    "id",
    "sizeKB",
    "name",
    "type",
    "primary",
    "metadata",
    "pickleScanResult",
    "pickleScanMessage",
    "virusScanResult",
    "virusScanMessage",
    "scannedAt",
    "hashes",
    "downloadUrl",
}


def parse_file(d: Any) -> ModelFile:
    """One ``files[]`` entry."""
    d = _dict(d)
    meta = _dict(d.get("metadata"))
    return ModelFile(
        id=_int(d.get("id")),
        name=_str(d.get("name")) or _str(d.get("overrideName")) or f"file-{d.get('id')}",
        size_kb=_float(d.get("sizeKB", d.get("sizeKb"))),
        type=_str(d.get("type")) or "Model",
        primary=_bool(d.get("primary")) is True,
        format=_str(meta.get("format")),
        fp=_str(meta.get("fp")),
        size=_str(meta.get("size")),
        quant_type=_str(meta.get("quantType")),
        pickle_scan=_str(d.get("pickleScanResult")),
        pickle_scan_message=_str(d.get("pickleScanMessage")),
        virus_scan=_str(d.get("virusScanResult")),
        virus_scan_message=_str(d.get("virusScanMessage")),
        scanned_at=_str(d.get("scannedAt")),
        hashes=parse_hashes(d.get("hashes")),
        download_url=_str(d.get("downloadUrl")),
        metadata=meta,
        extra=_extra(d, _FILE_KEYS),
    )


_IMAGE_KEYS = {"id", "url", "nsfwLevel", "nsfw", "width", "height", "hash", "type", "meta"}


def parse_image(d: Any) -> Image:
    """One preview image; ``nsfwLevel`` as a bitmask int or the ``/images`` word."""
    d = _dict(d)
    level: Any = d.get("nsfwLevel")
    if isinstance(level, str) and not level.isdigit():
        level = _IMAGE_LEVELS.get(level.lower())
    return Image(
        url=_str(d.get("url")) or "",
        id=_int(d.get("id")),
        nsfw_level=_int(level),
        nsfw=d.get("nsfw"),
        width=_int(d.get("width")),
        height=_int(d.get("height")),
        blurhash=_str(d.get("hash")),
        type=_str(d.get("type")) or "image",
        meta=d.get("meta") if isinstance(d.get("meta"), dict) else None,
        extra=_extra(d, _IMAGE_KEYS),
    )


_VERSION_KEYS = {
    "id",
    "index",
    "name",
    "modelId",
    "description",
    "baseModel",
    "baseModelType",
    "createdAt",
    "updatedAt",
    "publishedAt",
    "status",
    "availability",
    "nsfwLevel",
    "trainedWords",
    "files",
    "images",
    "downloadUrl",
    "stats",
    "air",
    "earlyAccessDeadline",
    "model",
}


def parse_version(d: Any, model: Model | None = None) -> ModelVersion:
    """A version, from a model's ``modelVersions[]`` or ``/model-versions/{id}``."""
    d = _dict(d)
    info = _dict(d.get("model"))
    words = [w.strip() for w in _list(d.get("trainedWords")) if isinstance(w, str) and w.strip()]
    early = d.get("earlyAccessDeadline") or d.get("earlyAccessEndsAt")
    model_id = _int(d.get("modelId"))
    if model_id is None and model is not None and isinstance(model.id, int):
        model_id = model.id
    return ModelVersion(
        id=_int(d.get("id")) or 0,
        name=_str(d.get("name")) or "",
        model_id=model_id,
        description=_str(d.get("description")),
        base_model=_str(d.get("baseModel")),
        base_model_type=_str(d.get("baseModelType")),
        created_at=_str(d.get("createdAt")),
        updated_at=_str(d.get("updatedAt")),
        published_at=_str(d.get("publishedAt")),
        status=_str(d.get("status")),
        availability=_str(d.get("availability")),
        nsfw_level=_int(d.get("nsfwLevel")),
        trained_words=words,
        files=[parse_file(f) for f in _list(d.get("files")) if isinstance(f, dict)],
        images=[parse_image(i) for i in _list(d.get("images")) if isinstance(i, dict)],
        download_url=_str(d.get("downloadUrl")),
        stats=parse_stats(d.get("stats")),
        air=_str(d.get("air")),
        early_access_deadline=_str(early) if early else None,
        model_name=_str(info.get("name")) or (model.name if model else None),
        model_type=_str(info.get("type")) or (model.type if model else None),
        model_nsfw=_bool(info.get("nsfw")) if "nsfw" in info else (model.nsfw if model else None),
        model_mode=_str(info.get("mode")) or (model.mode if model else None),
        index=_int(d.get("index")),
        extra=_extra(d, _VERSION_KEYS),
    )


_MODEL_KEYS = {
    "id",
    "name",
    "type",
    "description",
    "nsfw",
    "nsfwLevel",
    "tags",
    "mode",
    "creator",
    "stats",
    "modelVersions",
    "allowCommercialUse",
    "allowNoCredit",
    "allowDerivatives",
    "allowDifferentLicense",
    "poi",
    "minor",
    "availability",
    "supportsGeneration",
    "userId",
    "baseModels",
}


def _tags(value: Any) -> list[str]:
    out = []
    for tag in _list(value):
        name = tag.get("name") if isinstance(tag, dict) else tag
        if isinstance(name, str) and name:
            out.append(name)
    return out


def parse_model(d: Any) -> Model:
    """A model, from ``/models`` items or ``/models/{id}``."""
    d = _dict(d)
    creator = _dict(d.get("creator"))
    model = Model(
        id=_int(d.get("id")) or 0,
        name=_str(d.get("name")) or "",
        type=_str(d.get("type")) or "Other",
        description=_str(d.get("description")),
        nsfw=_bool(d.get("nsfw")) is True,
        nsfw_level=_int(d.get("nsfwLevel")),
        tags=_tags(d.get("tags")),
        mode=_str(d.get("mode")),
        creator=Creator(username=_str(creator.get("username")), image=_str(creator.get("image"))),
        stats=parse_stats(d.get("stats")),
        allow_commercial_use=parse_commercial_use(d.get("allowCommercialUse")),
        allow_no_credit=_bool(d.get("allowNoCredit")),
        allow_derivatives=_bool(d.get("allowDerivatives")),
        allow_different_license=_bool(d.get("allowDifferentLicense")),
        poi=_bool(d.get("poi")),
        minor=_bool(d.get("minor")),
        availability=_str(d.get("availability")),
        supports_generation=_bool(d.get("supportsGeneration")),
        user_id=_int(d.get("userId")),
        base_models=[str(b) for b in _list(d.get("baseModels")) if b],
        extra=_extra(d, _MODEL_KEYS),
    )
    model.versions = [
        parse_version(v, model) for v in _list(d.get("modelVersions")) if isinstance(v, dict)
    ]
    if not model.base_models:
        model.base_models = list(
            dict.fromkeys(v.base_model for v in model.versions if v.base_model)
        )
    return model


def parse_page(d: Any) -> Page:
    """A ``/models`` answer: items and ``metadata`` (numeric ``nextCursor`` → string)."""
    d = _dict(d)
    meta = _dict(d.get("metadata"))
    cursor = meta.get("nextCursor")
    return Page(
        items=[parse_model(i) for i in _list(d.get("items")) if isinstance(i, dict)],
        next_cursor=None if cursor is None or cursor == "" else str(cursor),
        next_page=_str(meta.get("nextPage")) or None,
        current_page=_int(meta.get("currentPage")),
        page_size=_int(meta.get("pageSize")),
        extra={
            **_extra(meta, {"nextCursor", "nextPage", "currentPage", "pageSize"}),
            **_extra(d, {"items", "metadata"}),
        },
    )
