"""A1111 user metadata (``<stem>.json``) and ``.civitai.info`` content, written atomically.

``preferred weight`` is written as 0, which A1111 reads as "use the global default
weight". ``sd version`` comes from :data:`SD_VERSION_BY_BASE_MODEL`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import secrets
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from .http import SECRET_PARAMS
from .types import Model, ModelVersion

__all__ = [
    "SD_VERSION_BY_BASE_MODEL",
    "atomic_write_bytes",
    "civitai_info",
    "merge_user_metadata",
    "plain_text",
    "sd_version",
    "strip_secrets",
    "user_metadata",
    "version_json_of",
]

log = logging.getLogger(__name__)

DESCRIPTION_CHARS = 1000
PREFERRED_WEIGHT = 0  # A1111: 0 = use the global default
REFRESHED_KEYS = frozenset({"modelId", "modelVersionId", "sha256"})

# Civitai base model → A1111's "sd version" dropdown (SD1, SD2, SDXL, SD3, Unknown).
SD_VERSION_BY_BASE_MODEL: dict[str, str] = {
    "SD 1.4": "SD1",
    "SD 1.5": "SD1",
    "SD 1.5 LCM": "SD1",
    "SD 1.5 Hyper": "SD1",
    "SD 2.0": "SD2",
    "SD 2.0 768": "SD2",
    "SD 2.1": "SD2",
    "SD 2.1 768": "SD2",
    "SD 2.1 Unclip": "SD2",
    "SDXL 0.9": "SDXL",
    "SDXL 1.0": "SDXL",
    "SDXL 1.0 LCM": "SDXL",
    "SDXL Lightning": "SDXL",
    "SDXL Hyper": "SDXL",
    "SDXL Turbo": "SDXL",
    "SDXL Distilled": "SDXL",
    "Pony": "SDXL",
    "Pony V7": "Unknown",  # AuraFlow-based, not SDXL
    "Illustrious": "SDXL",
    "NoobAI": "SDXL",
    "SD 3": "SD3",
    "SD 3.5": "SD3",
    "SD 3.5 Large": "SD3",
    "SD 3.5 Large Turbo": "SD3",
    "SD 3.5 Medium": "SD3",
}
# For base models newer than the table: the first matching prefix wins.
_SD_VERSION_PREFIXES = (
    ("SDXL", "SDXL"),
    ("SD 1", "SD1"),
    ("SD 2", "SD2"),
    ("SD 3", "SD3"),
    ("Illustrious", "SDXL"),
    ("NoobAI", "SDXL"),
)


def sd_version(base_model: str | None) -> str:
    """A1111's ``sd version`` for a Civitai base model name."""
    if not base_model:
        return "Unknown"
    name = base_model.strip()
    if name in SD_VERSION_BY_BASE_MODEL:
        return SD_VERSION_BY_BASE_MODEL[name]
    for prefix, value in _SD_VERSION_PREFIXES:
        if name.lower().startswith(prefix.lower()):
            return value
    return "Unknown"


# ---------------------------------------------------------------- user metadata


class _TextOfHtml(HTMLParser):
    _BREAKS = frozenset({"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BREAKS:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def plain_text(html: str | None, limit: int = DESCRIPTION_CHARS) -> str:
    """``html`` as plain text: tags dropped, entities decoded, at most ``limit`` chars."""
    if not html:
        return ""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parser.out).split("\n"))
    text = "\n".join(line for line in lines if line)
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip() + "…"
    return text


def user_metadata(version: ModelVersion, model: Model | None, sha256: str | None) -> dict:
    """A1111 user metadata for ``version``; keys with no value are left out."""
    model_id = version.model_id if version.model_id is not None else (model and model.id)
    words = [w.strip() for w in version.trained_words if w and w.strip()]
    name = version.model_name or (model.name if model else None)
    notes = [f"{name} ({version.name})" if name else version.name]
    if version.provider == "civitai" and model_id is not None:
        notes.append(f"https://civitai.com/models/{model_id}?modelVersionId={version.id}")
    data: dict[str, Any] = {
        "description": plain_text((model.description if model else None) or version.description),
        "sd version": sd_version(version.base_model),
        "activation text": ", ".join(words),
        "preferred weight": PREFERRED_WEIGHT,
        "notes": "\n".join(n for n in notes if n),
        "modelId": model_id,
        "modelVersionId": version.id,
        "sha256": sha256.upper() if sha256 else None,
    }
    return {k: v for k, v in data.items() if v is not None and v != ""}


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict)) and not value)


def merge_user_metadata(json_path: Path, ours: dict) -> bool:
    """Merge ``ours`` into ``json_path``; True when the file was written.

    Only missing or empty keys are filled (ids and sha256 are refreshed); the person's
    values and unknown keys stay. An unreadable or invalid file is left untouched.
    """
    json_path = Path(json_path)
    existing: dict[str, Any] = {}
    if json_path.exists():
        try:
            loaded = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            log.warning("leaving %s alone: it is not readable JSON (%s)", json_path, exc)
            return False
        if not isinstance(loaded, dict):
            log.warning("leaving %s alone: it is not a JSON object", json_path)
            return False
        existing = loaded
    merged = dict(existing)
    for key, value in ours.items():
        if value is None:
            continue
        if key in REFRESHED_KEYS or _empty(merged.get(key)):
            merged[key] = value
    if json_path.exists() and merged == existing:
        return False
    text = json.dumps(merged, ensure_ascii=False, indent=4) + "\n"
    atomic_write_bytes(json_path, text.encode("utf-8"))
    return True


# ---------------------------------------------------------------- civitai.info

_SECRET_NAMES = "|".join(sorted((re.escape(n) for n in SECRET_PARAMS), key=len, reverse=True))
_SECRET_QUERY = re.compile(
    rf"([?&]|&amp;)(?:{_SECRET_NAMES})=[^&#\s\"'<>]*(&(?:amp;)?)?", re.IGNORECASE
)
_SECRET_KEYS = frozenset({"token", "apikey", "api_key", "authorization", "password", "secret"})


def strip_secrets(text: str) -> str:
    """``text`` with every secret query parameter (``token=`` ...) removed."""
    if "=" not in text:
        return text
    while True:  # adjacent secrets: each removal exposes the next one's separator
        cleaned = _SECRET_QUERY.sub(lambda m: m.group(1) if m.group(2) else "", text)
        if cleaned == text:
            return cleaned
        text = cleaned


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return strip_secrets(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if str(k).lower() not in _SECRET_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def civitai_info(version_json: dict) -> dict:
    """The ``.civitai.info`` content: the version JSON with no secret anywhere."""
    return _scrub(copy.deepcopy(version_json))


def version_json_of(version: ModelVersion, model: Model | None) -> dict:
    """A Civitai-shaped version JSON built from our types (when the raw one is missing)."""
    return {
        "id": version.id,
        "modelId": version.model_id,
        "name": version.name,
        "baseModel": version.base_model,
        "trainedWords": list(version.trained_words),
        "description": version.description,
        "model": {
            "name": version.model_name or (model.name if model else None),
            "type": version.model_type or (model.type if model else None),
            "nsfw": version.model_nsfw
            if version.model_nsfw is not None
            else bool(model and model.nsfw),
        },
        "files": [
            {
                "id": f.id,
                "name": f.name,
                "type": f.type,
                "sizeKB": f.size_kb,
                "primary": f.primary,
                "hashes": {
                    k.upper() if k != "autov1" else "AutoV1": v
                    for k, v in vars(f.hashes).items()
                    if isinstance(v, str)
                },
                "downloadUrl": f.download_url,
            }
            for f in version.files
        ],
        "images": [
            {
                "url": i.url,
                "nsfwLevel": i.nsfw_level,
                "width": i.width,
                "height": i.height,
                "type": i.type,
            }
            for i in version.images
        ],
        "downloadUrl": version.download_url,
    }


def atomic_write_bytes(path: Path, data: bytes, *, mode: int = 0o666) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``.

    The file gets ``mode`` less the umask, as any new file does (0644 under umask 022):
    the temp file is created with ``os.open(..., mode)``, not ``mkstemp``'s 0600.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, flags, mode)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 random names all taken
        raise FileExistsError(f"no free temporary name beside {path}")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
