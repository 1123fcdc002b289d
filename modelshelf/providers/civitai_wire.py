"""What Civitai puts on the wire besides models: its hosts, type names, URLs, error bodies."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import ModelShelfError, error_for_status

__all__ = [
    "CIVITAI_HOSTS",
    "MODEL_TYPES",
    "TYPE_ALIASES",
    "civitai_error",
    "rebase_url",
    "server_message",
    "split_all",
    "without_token",
]

CIVITAI_HOSTS = frozenset(
    {"civitai.com", "www.civitai.com", "api.civitai.com", "civitai.red", "www.civitai.red"}
)
MODEL_TYPES = (  # api.md §1.6; the server may know newer ones
    *("Checkpoint", "TextualInversion", "Hypernetwork", "AestheticGradient", "LORA", "LoCon"),
    *("DoRA", "Controlnet", "Upscaler", "MotionModule", "VAE", "TextEncoder", "UNet"),
    *("CLIPVision", "Poses", "Wildcards", "Workflows", "ComfyWorkflows", "Detection"),
    *("VisionLanguage", "CLIP", "LLM", "Other"),
)
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
COMMERCIAL_USE = ("None", "Image", "RentCivit", "Rent", "Sell")
BASE_MODELS = (  # the server's ActiveBaseModel enum (tests/data/real/civitai_enums.json)
    "Anima",
    "AuraFlow",
    "Chroma",
    "CogVideoX",
    "Flux.1 S",
    "Flux.1 D",
    "Flux.1 Krea",
    "Flux.1 Kontext",
    "Flux.2 D",
    "Flux.2 Klein 9B",
    "Flux.2 Klein 9B-base",
    "Flux.2 Klein 4B",
    "Flux.2 Klein 4B-base",
    "HiDream",
    "Hunyuan 1",
    "Hunyuan Video",
    "Illustrious",
    "Kolors",
    "LTXV",
    "LTXV2",
    "LTXV 2.3",
    "Lumina",
    "Mochi",
    "NoobAI",
    "Other",
    "PixArt a",
    "PixArt E",
    "Pony",
    "Pony V7",
    "Qwen",
    "SD 1.4",
    "SD 1.5",
    "SD 1.5 LCM",
    "SD 1.5 Hyper",
    "SD 2.0",
    "SD 2.1",
    "SDXL 1.0",
    "SDXL Lightning",
    "SDXL Hyper",
    "Wan Video 1.3B t2v",
    "Wan Video 14B t2v",
    "Wan Video 14B i2v 480p",
    "Wan Video 14B i2v 720p",
    "Wan Video 2.2 TI2V-5B",
    "Wan Video 2.2 I2V-A14B",
    "Wan Video 2.2 T2V-A14B",
    "Wan Video 2.5 T2V",
    "Wan Video 2.5 I2V",
    "ZImageTurbo",
    "ZImageBase",
)
TYPE_ALIASES = {t.lower(): t for t in MODEL_TYPES} | {
    "lycoris": "LoCon",
    "lyco": "LoCon",
    "embedding": "TextualInversion",
    "controlnet": "Controlnet",
    "hypernet": "Hypernetwork",
}


def rebase_url(url: str | None, root: str) -> str | None:
    """``url`` moved onto ``root`` when it points at a public Civitai host (path and query kept)."""
    if not url:
        return url
    parts = urlsplit(url)
    if not parts.scheme and url.startswith("/"):
        return root.rstrip("/") + url
    if (parts.hostname or "").lower() not in CIVITAI_HOSTS:
        return url
    base = urlsplit(root)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def without_token(url: str) -> str:
    parts = urlsplit(url)
    if "token" not in parts.query.lower():
        return url
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "token"]
    return urlunsplit(parts._replace(query=urlencode(pairs)))


def split_all(values: list[str]) -> list[str]:
    """Values split on commas (the API wants each repeated), blanks dropped."""
    out: list[str] = []
    for value in values or []:
        out.extend(p.strip() for p in str(value).split(",") if p.strip())
    return out


def server_message(data: Any) -> str | None:
    """The server's message from ``{"error": str}``, a Zod ``{"error": {issues}}``, etc."""
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            issues = error.get("issues")
            if isinstance(issues, list) and issues:
                parts = []
                for issue in issues[:5]:
                    if isinstance(issue, dict):
                        path = ".".join(str(p) for p in issue.get("path") or [])
                        msg = str(issue.get("message") or issue.get("code") or "invalid")
                        parts.append(f"{path}: {msg}" if path else msg)
                return "; ".join(parts) or None
            return server_message(error) or str(error.get("message") or "") or None
        if isinstance(error, str) and error:
            message = data.get("message")
            if isinstance(message, str) and message and message != error:
                return f"{error}: {message}"
            return error
        for key in ("message", "msg", "reason"):
            if isinstance(data.get(key), str) and data[key]:
                return data[key]
    if isinstance(data, str) and data:
        return data[:300]
    if isinstance(data, list) and data:
        return server_message(data[0])
    return None


def civitai_error(status: int, data: Any, *, what: str, has_key: bool) -> ModelShelfError:
    """Our error for an API answer with error ``status``; ``data`` its JSON (None: a page)."""
    if data is not None:
        message = server_message(data)
    else:
        message = "a firewall page, not the API" if status == 403 else "not the API's JSON"
    return error_for_status(status, provider="civitai", what=what, message=message, has_key=has_key)
