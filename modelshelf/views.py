"""What a card, a model's detail and a download job show, as JSON-ready dicts.

The Gradio tab and the ComfyUI sidebar both render these, so what a person sees is
decided once: which thumbnail (a small rendition, never an image above the NSFW limit),
the BlurHash placeholder that stands in for a hidden one, the sanitised description,
sizes and speeds as text, the visible state labels.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .sidecars import small_image_url
from .units import size_text as _size_text

if TYPE_CHECKING:
    from .download.jobs import Job
    from .types import Image, Model, ModelFile, ModelVersion

__all__ = [
    "DEFAULT_MAX_NSFW",
    "NSFW_LEVELS",
    "THUMB_WIDTH",
    "job_view",
    "model_card",
    "model_detail",
    "reveal_image_url",
    "sanitize_html",
    "search_options",
    "size_text",
]

#: Civitai's image ratings (bit values) with their names, mildest first.
NSFW_LEVELS = [("PG", 1), ("PG-13", 2), ("R", 4), ("X", 8), ("XXX", 16)]
DEFAULT_MAX_NSFW = 2  # PG-13: no image rated R or above unless the person asks
THUMB_WIDTH = 320  # pixels of the small rendition a card or gallery asks for


NOVITA_TYPES = ("checkpoint", "lora", "vae", "controlnet", "upscaler", "textualinversion")


def search_options() -> dict[str, Any]:
    """The choices of every search filter, per provider, and the NSFW levels."""
    from .providers.civitai_wire import BASE_MODELS, COMMERCIAL_USE, MODEL_TYPES, PERIODS, SORTS

    return {
        "providers": {
            "civitai": {
                "types": list(MODEL_TYPES),
                "base_models": list(BASE_MODELS),
                "sorts": list(SORTS),
                "periods": list(PERIODS),
                "commercial_use": list(COMMERCIAL_USE),
            },
            "novita": {
                "types": list(NOVITA_TYPES),
                "base_models": list(BASE_MODELS),
                "visibility": ["public", "private"],
            },
        },
        "nsfw_levels": [{"name": name, "level": level} for name, level in NSFW_LEVELS],
        "default_max_nsfw": DEFAULT_MAX_NSFW,
    }


# ------------------------------------------------------------------------ text helpers


def size_text(size: float | None) -> str:
    """Bytes as a person reads them: ``6.5 MiB``, ``1.9 GiB`` (``?`` when unknown)."""
    return _size_text(size, unknown="?")


def _duration_text(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def sanitize_html(text: str | None) -> str:
    """A model description made safe: no script, styles, event handlers or images.

    Links keep their address, open in a new tab and carry ``rel=noopener``. Images are
    dropped: a description's images have no rating, so they are never fetched.
    """
    if not text:
        return ""
    import nh3

    tags = set(nh3.ALLOWED_TAGS) - {"img"}
    return nh3.clean(
        str(text),
        tags=tags,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes={"http", "https", "mailto"},
    )


# ------------------------------------------------------------------------ images


@lru_cache(maxsize=1024)
def _placeholder(blurhash: str, width: int, height: int) -> str | None:
    """A tiny PNG (as a ``data:`` URL) decoded from a BlurHash; None when it is invalid."""
    try:
        import blurhash as blurhash_lib

        pixels = blurhash_lib.decode(blurhash, width, height)
    except Exception:  # an invalid or truncated hash from the API: no placeholder
        return None
    raw = b"".join(
        b"\x00" + bytes(max(0, min(255, int(c))) for px in row for c in px[:3]) for row in pixels
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _level(image: Image) -> int:
    """The image's rating bit; an unknown rating counts as X (never shown by default)."""
    if isinstance(image.nsfw_level, int) and image.nsfw_level > 0:
        return image.nsfw_level
    old = image.nsfw
    if old in (False, "None"):
        return 1
    return {"Soft": 2, "Mature": 4}.get(str(old), 8)


def _image_view(image: Image, max_nsfw: int) -> dict[str, Any]:
    level = _level(image)
    hidden = level > max_nsfw
    aspect_w, aspect_h = (image.width or 4), (image.height or 3)
    ph_w = 8 if aspect_w >= aspect_h else max(2, round(8 * aspect_w / aspect_h))
    ph_h = max(2, round(ph_w * aspect_h / aspect_w))
    meta = image.meta if isinstance(image.meta, dict) else {}
    return {
        "url": None if hidden else small_image_url(image.url, THUMB_WIDTH, still=True),
        "placeholder": _placeholder(image.blurhash, ph_w, ph_h) if image.blurhash else None,
        "hidden": hidden,
        "width": image.width,
        "height": image.height,
        "nsfw_level": level,
        "type": image.type,
        "params": {
            "prompt": meta.get("prompt"),
            "negative_prompt": meta.get("negativePrompt"),
            "seed": meta.get("seed"),
            "steps": meta.get("steps"),
            "sampler": meta.get("sampler"),
            "cfg_scale": meta.get("cfgScale"),
            "model": meta.get("Model"),
        },
    }


def reveal_image_url(model: Model, version_id: int | None, index: int) -> str:
    """The small rendition of image ``index`` of a version: shown because a person asked."""
    version = _version(model, version_id)
    if version is None or not 0 <= index < len(version.images):
        from .errors import NotFoundError

        raise NotFoundError("That preview image is no longer listed; reload the model.")
    return small_image_url(version.images[index].url, THUMB_WIDTH, still=True)


# ------------------------------------------------------------------------ models


def _version(model: Model, version_id: int | None) -> ModelVersion | None:
    if not model.versions:
        return None
    for version in model.versions:
        if version_id is not None and version.id == version_id:
            return version
    return model.versions[0]


def _ref(model: Model, version: ModelVersion | None) -> str:
    if model.provider == "novita":
        return f"novita:{model.id}"
    return f"{model.id}@{version.id}" if version is not None else str(model.id)


def model_card(model: Model, *, badge: str | None = None, max_nsfw: int = DEFAULT_MAX_NSFW) -> dict:
    """A search result's card: thumbnail (or placeholder), name, type, numbers, badge."""
    version = _version(model, None)
    images = version.images if version else []
    shown = next((img for img in images if _level(img) <= max_nsfw and img.type == "image"), None)
    thumb = _image_view(shown or images[0], max_nsfw) if images else None
    return {
        "id": model.id,
        "provider": model.provider,
        "name": model.name,
        "type": model.type,
        "base_model": version.base_model if version else None,
        "creator": model.creator.username,
        "downloads": model.stats.download_count,
        "rating": model.stats.rating,
        "likes": model.stats.thumbs_up_count,
        "nsfw": model.nsfw,
        "badge": badge,
        "ref": _ref(model, version),
        "thumbnail": thumb,
    }


def _access(model: Model, version: ModelVersion) -> str | None:
    """Why a download may be refused, as a sentence (None: nothing known against it)."""
    mode = version.model_mode or model.mode
    if mode in ("Archived", "TakenDown"):
        return f"This model is {mode.lower()} on Civitai; its files cannot be downloaded."
    deadline = version.early_access_deadline
    if deadline and deadline > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()):
        return (
            f"Early access until {deadline[:10]}: only supporters can download it, with a "
            "Civitai API key set in the settings."
        )
    if model.provider == "novita" and model.extra.get("visibility") == "private":
        return "A private Novita model: it downloads with your Novita API key."
    return None


def _file_view(file: ModelFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "name": file.name,
        "type": file.type,
        "size": file.approx_size,
        "size_text": size_text(file.approx_size),
        "format": file.format,
        "fp": file.fp,
        "size_kind": file.size,
        "primary": file.primary,
        "pickle_scan": file.pickle_scan,
        "virus_scan": file.virus_scan,
        "sha256": file.hashes.sha256,
    }


def model_detail(
    model: Model,
    version_id: int | None = None,
    *,
    max_nsfw: int = DEFAULT_MAX_NSFW,
    installed: list[str] | None = None,
) -> dict:
    """A model's page: versions, the chosen version's files, words, previews, access."""
    version = _version(model, version_id)
    detail: dict[str, Any] = {
        "id": model.id,
        "provider": model.provider,
        "name": model.name,
        "type": model.type,
        "creator": model.creator.username,
        "tags": list(model.tags),
        "nsfw": model.nsfw,
        "description_html": sanitize_html(model.description),
        "versions": [
            {"id": v.id, "name": v.name, "base_model": v.base_model} for v in model.versions
        ],
        "installed": list(installed or []),
        "version": None,
    }
    if version is not None:
        detail["version"] = {
            "id": version.id,
            "name": version.name,
            "base_model": version.base_model,
            "trained_words": [w for w in version.trained_words if isinstance(w, str) and w.strip()],
            "early_access_deadline": version.early_access_deadline,
            "access": _access(model, version),
            "ref": _ref(model, version),
            "description_html": sanitize_html(version.description),
            "files": [_file_view(f) for f in version.files],
            "images": [_image_view(img, max_nsfw) for img in version.images],
        }
    return detail


# ------------------------------------------------------------------------ jobs


def job_view(job: Job) -> dict[str, Any]:
    """One row of the download queue."""
    from .shelf import STATE_LABELS

    result = job.result or {}
    path = result.get("path")
    name = job.name or (
        str(path).replace("\\", "/").rsplit("/", 1)[-1] if path else job.request.ref
    )
    total = job.bytes_total
    percent = None
    if total:
        percent = max(0.0, min(100.0, 100.0 * job.bytes_done / total))
    elif job.state == "done":
        percent = 100.0
    running = job.state == "running"
    return {
        "id": job.id,
        "name": name,
        "ref": job.request.ref,
        "state": job.state,
        "label": STATE_LABELS.get(job.state, job.state.title()),
        "percent": percent,
        "bytes_done": job.bytes_done,
        "bytes_total": total,
        "size_text": f"{size_text(job.bytes_done)} of {size_text(total)}" if total else "",
        "speed_text": f"{size_text(job.speed)}/s" if running and job.speed else "",
        "eta_text": _duration_text(job.eta) if running else "",
        "error": job.error if job.state in ("failed", "interrupted", "cancelled") else None,
        "path": str(path) if path else None,
        "target_dir": job.target_dir,
        "revision": job.revision,
        "can_cancel": job.state in ("queued", "running"),
        "can_retry": job.state in ("failed", "cancelled", "interrupted"),
    }
