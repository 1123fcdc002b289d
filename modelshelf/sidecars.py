"""What a download leaves beside the model file (DESIGN.md "What a download leaves behind").

- ``<stem>.preview.<ext>``: the first image the NSFW setting allows, a small rendition;
  never written when the person already has ``<stem>.<image ext>`` or ``<stem>.preview.*``.
- ``<stem>.json``: A1111 user metadata, merged: only missing or empty keys are filled
  (``modelId``, ``modelVersionId`` and ``sha256`` are refreshed), unknown keys are kept,
  an unreadable file is left alone. ``preferred weight`` is written as 0, which A1111
  reads as "use the global default weight".
- ``<stem>.civitai.info``: the version's API JSON (Civitai Helper's format) with every
  secret query parameter (``token=`` ...) removed from every string.

Every write is atomic: a temp file in the same folder, then ``os.replace``; the file
gets the mode the umask gives any new file (0644 under umask 022), like the model.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .errors import IntegrityError, ModelShelfError, NotFoundError, network_error
from .http import RetryPolicy, redact_url, request_with_retries
from .sidecars_meta import (
    SD_VERSION_BY_BASE_MODEL,
    atomic_write_bytes,
    civitai_info,
    merge_user_metadata,
    sd_version,
    strip_secrets,
    user_metadata,
    version_json_of,
)
from .types import Image, Model, ModelVersion

if TYPE_CHECKING:
    import requests

__all__ = [
    "PREVIEW_EXTENSIONS",
    "SD_VERSION_BY_BASE_MODEL",
    "atomic_write_bytes",
    "civitai_info",
    "existing_preview",
    "http_image_fetcher",
    "image_allowed",
    "image_extension",
    "merge_user_metadata",
    "pick_preview",
    "sd_version",
    "sidecar_paths",
    "small_image_url",
    "strip_secrets",
    "user_metadata",
    "write_sidecars",
]

log = logging.getLogger(__name__)

FetchImage = Callable[[str], tuple[bytes, str | None]]
PREVIEW_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif")
MAX_IMAGE_BYTES = 20 * 1024 * 1024


# ---------------------------------------------------------------- preview choice


def image_allowed(image: Image, nsfw: bool) -> bool:
    """Whether ``image`` may be shown or saved: any with ``nsfw``, else only PG ones."""
    if nsfw:
        return True
    if image.nsfw_level is not None:
        return image.nsfw_level == 1
    old = image.nsfw
    return old in (None, False, "None", "none", "") or old == 0


def pick_preview(version: ModelVersion, *, nsfw: bool) -> Image | None:
    """The first image the NSFW setting allows; a video only when no image is allowed."""
    allowed = [img for img in version.images if img.url and image_allowed(img, nsfw)]
    for img in allowed:
        if (img.type or "image") == "image":
            return img
    return allowed[0] if allowed else None


_TRANSFORM_SEGMENT = re.compile(r"^(?:original=true|[a-z]+=[^/=]*(?:,[a-z]+=[^/=,]*)*)$")


def small_image_url(url: str, width: int = 450, *, still: bool = False) -> str:
    """The Civitai URL of a ``width``-pixel rendition (``still``: a video's first frame).

    Civitai image URLs carry a transform segment before the file name
    (``/width=832/x.jpeg``, ``/original=true/x.jpeg``); other URLs are returned as is.
    """
    head, sep, rest = url.partition("?")
    parts = head.split("/")
    if len(parts) < 5 or not _TRANSFORM_SEGMENT.match(parts[-2]):
        return url
    parts[-2] = f"anim=false,width={int(width)}" if still else f"width={int(width)}"
    return "/".join(parts) + sep + rest


# ---------------------------------------------------------------- files


_STILL_SUFFIXES = ("json", "civitai.info", "txt", "description.txt", "yaml")


def _stem_files(model_path: Path) -> list[tuple[str, Path]]:
    """(lower-cased rest of the name, path) for files named ``<stem>.<rest>``."""
    model_path = Path(model_path)
    stem, folder = model_path.stem, model_path.parent
    if not folder.is_dir():
        return []
    out = []
    for entry in sorted(folder.iterdir()):
        if entry == model_path or not entry.name.startswith(stem + "."):
            continue
        out.append((entry.name[len(stem) + 1 :].lower(), entry))
    return out


def existing_preview(model_path: Path) -> Path | None:
    """The person's or an earlier download's preview of ``model_path``, if any."""
    for rest, path in _stem_files(model_path):
        if rest in PREVIEW_EXTENSIONS or rest.startswith("preview."):
            return path
    return None


def sidecar_paths(model_path: Path) -> list[Path]:
    """Every existing sidecar of ``model_path`` (previews, .json, .civitai.info, .txt...)."""
    return [
        path
        for rest, path in _stem_files(model_path)
        if rest in PREVIEW_EXTENSIONS or rest.startswith("preview.") or rest in _STILL_SUFFIXES
    ]


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"))
_CT_EXT = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
}


def image_extension(body: bytes, content_type: str | None, url: str) -> str:
    """The preview extension for ``body``; :class:`IntegrityError` when it is no image."""
    ct = (content_type or "").split(";")[0].strip().lower()
    head = body[:64].lstrip()
    if ct in ("text/html", "application/json", "text/plain") or head[:1] in (b"<", b"{", b"["):
        raise IntegrityError(
            "The preview URL answered with a web page or JSON instead of an image."
        )
    for magic, ext in _MAGIC:
        if body.startswith(magic):
            return ext
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "webp"
    if ct in _CT_EXT:
        return _CT_EXT[ct]
    url_ext = url.split("?")[0].rsplit(".", 1)[-1].lower()
    if url_ext in PREVIEW_EXTENSIONS and not ct.startswith(("video/", "audio/")):
        return url_ext
    raise IntegrityError(f"The preview is not a png, jpeg, webp or gif image ({ct or 'no type'}).")


def _write_preview(model_path: Path, image: Image, fetch_image: FetchImage) -> Path:
    still = (image.type or "image") != "image"
    small = small_image_url(image.url, still=still)
    urls = [small] if small == image.url or still else [small, image.url]
    error: Exception | None = None
    for url in urls:
        try:
            body, content_type = fetch_image(url)
            ext = image_extension(body, content_type, url)
        except ModelShelfError as exc:
            error = exc
            log.info("preview %s failed: %s", redact_url(url), exc)
            continue
        path = model_path.with_name(f"{model_path.stem}.preview.{ext}")
        atomic_write_bytes(path, body)
        return path
    assert error is not None
    raise error


def write_sidecars(
    model_path: Path,
    version: ModelVersion,
    *,
    model: Model | None = None,
    version_json: dict | None = None,
    sha256: str | None = None,
    nsfw: bool = False,
    fetch_image: FetchImage | None = None,
) -> list[Path]:
    """Write the preview, ``.json`` and ``.civitai.info`` beside ``model_path``.

    Returns the sidecars written or already there. A failing preview is logged and
    skipped; the other sidecars are still written.
    """
    model_path = Path(model_path)
    done: list[Path] = []
    info = dict(version_json) if version_json else version_json_of(version, model)
    if "model" not in info and (model is not None or version.model_name):
        info["model"] = {
            "name": version.model_name or (model.name if model else None),
            "type": version.model_type or (model.type if model else None),
            "nsfw": bool(version.model_nsfw) if model is None else model.nsfw,
        }
    info_path = model_path.with_name(model_path.stem + ".civitai.info")
    text = json.dumps(civitai_info(info), ensure_ascii=False, indent=4) + "\n"
    atomic_write_bytes(info_path, text.encode("utf-8"))
    done.append(info_path)

    json_path = model_path.with_name(model_path.stem + ".json")
    merge_user_metadata(json_path, user_metadata(version, model, sha256))
    if json_path.exists():
        done.append(json_path)

    present = existing_preview(model_path)
    if present is not None:
        done.append(present)
    elif fetch_image is not None:
        image = pick_preview(version, nsfw=nsfw)
        if image is not None:
            try:
                done.append(_write_preview(model_path, image, fetch_image))
            except (ModelShelfError, OSError) as exc:
                log.warning("no preview for %s: %s", model_path.name, exc)
    return done


def http_image_fetcher(
    session: requests.Session,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    policy: RetryPolicy | None = None,
) -> FetchImage:
    """A ``fetch_image(url) -> (body, content_type)`` that GETs with ``session``, no auth."""

    def fetch_image(url: str) -> tuple[bytes, str | None]:
        import requests
        import urllib3

        headers = {
            "Authorization": None,
            "Accept": "image/webp,image/png,image/jpeg,image/gif;q=0.9,*/*;q=0.1",
        }
        response = request_with_retries(
            session,
            "GET",
            url,
            headers=headers,
            stream=True,
            policy=policy or RetryPolicy(max_retries=2),
        )
        with response:
            shown = redact_url(url)
            if response.status_code == 404:
                raise NotFoundError(f"The preview image {shown} does not exist (HTTP 404).")
            if response.status_code != 200:
                raise ModelShelfError(
                    f"The preview image {shown} answered HTTP {response.status_code}."
                )
            content_type = response.headers.get("Content-Type")
            ct = (content_type or "").split(";")[0].strip().lower()
            if ct in ("text/html", "application/json"):
                raise IntegrityError(f"The preview URL {shown} answered with {ct}, not an image.")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise IntegrityError(f"The preview image {shown} is larger than {max_bytes} bytes.")
            chunks, total = [], 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    total += len(chunk)
                    if total > max_bytes:
                        raise IntegrityError(
                            f"The preview image {shown} is larger than {max_bytes} bytes."
                        )
                    chunks.append(chunk)
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise network_error(exc, host=urlsplit(url).hostname) from None
        return b"".join(chunks), content_type

    return fetch_image
