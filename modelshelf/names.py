"""Safe file names for files a server names, and paths that stay inside their folder.

A name from a server (``Content-Disposition``, a signed URL's query, the API's
``files[].name``) is hostile until made safe: :func:`safe_filename` keeps only the last
path component and removes what Windows, macOS or Linux refuse or misread (separators,
``..``, control characters, ``<>:"|?*``, reserved device names such as ``CON`` or
``LPT1.txt``, trailing dots and spaces, leading dots) and limits the name to 200 UTF-8
bytes, keeping the extension. :func:`inside` is the last check before any write.

Clashes: :func:`distinct_name` picks ``stem (2).ext``, ``stem (3).ext``… (the style
browsers use), never overwriting what is there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import BadInputError

__all__ = [
    "MAX_NAME_BYTES",
    "candidate_names",
    "distinct_name",
    "filename_from_content_disposition",
    "filename_from_signed_url",
    "inside",
    "safe_filename",
]

MAX_NAME_BYTES = 200
_FORBIDDEN = re.compile(r'[<>:"|?*\x00-\x1f\x7f-\x9f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")
}
_CD_PARAMS = ("response-content-disposition", "b2contentdisposition", "rcd")


def _split_ext(name: str) -> tuple[str, str]:
    """``("model.v2", ".safetensors")``; an extension is a short run of word characters."""
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16 and re.fullmatch(r"\w+", ext):
        return stem, "." + ext
    return name, ""


def _truncate_utf8(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def _clean(name: str) -> str:
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # last path component only
    name = _FORBIDDEN.sub("_", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    name = name.strip().lstrip(".").strip().rstrip(". ")
    if not name or set(name) <= {".", "_", " "}:
        return ""
    device = name.split(".", 1)[0].rstrip(" ").upper()
    if device in _RESERVED:
        name = "_" + name
    stem, ext = _split_ext(name)
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        ext = _truncate_utf8(ext, 20)
        stem = _truncate_utf8(stem, MAX_NAME_BYTES - len(ext.encode("utf-8"))).rstrip(". ")
        name = (stem or "model") + ext
    return name


def safe_filename(name: str | None, *, fallback: str) -> str:
    """``name`` made safe to create in any folder on any OS; ``fallback`` when nothing is left.

    ``fallback`` (e.g. ``model-<versionId>.safetensors``) is cleaned too; if it is empty
    as well the result is ``"download"``.
    """
    return _clean(name or "") or _clean(fallback or "") or "download"


def _latin1_to_utf8(text: str) -> str:
    """Undo requests' latin-1 decoding of raw UTF-8 header bytes (no-op if it was latin-1)."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def filename_from_content_disposition(value: str | None) -> str | None:
    """The raw (not yet safe) file name of a ``Content-Disposition`` header, or None.

    ``filename*=UTF-8''…`` (RFC 5987) wins over ``filename="…"``; a quoted name holding raw
    UTF-8 bytes that were decoded as latin-1 (what ``requests`` does) is re-decoded.
    """
    if not value:
        return None
    value = _latin1_to_utf8(value)
    star = re.search(r"filename\*\s*=\s*([^;]+)", value, re.IGNORECASE)
    if star:
        raw = star.group(1).strip().strip('"')
        charset, _, rest = raw.partition("'")
        _lang, _, encoded = rest.partition("'")
        if encoded:
            try:
                name = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                name = unquote(encoded, encoding="utf-8", errors="replace")
            if name.strip():
                return name
    quoted = re.search(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', value, re.IGNORECASE)
    if quoted:
        name = re.sub(r"\\(.)", r"\1", quoted.group(1))
        return name if name.strip() else None
    bare = re.search(r"filename\s*=\s*([^;\s]+)", value, re.IGNORECASE)
    if bare:
        return bare.group(1).strip("'\"") or None
    return None


def filename_from_signed_url(url: str) -> str | None:
    """The file name a signed storage URL asks for in its query, or None.

    R2/S3: ``response-content-disposition=attachment; filename="…"``; Backblaze B2:
    ``b2ContentDisposition=…``.
    """
    try:
        query = urlsplit(url).query
    except ValueError:
        return None
    for key, val in parse_qsl(query, keep_blank_values=True):
        if key.lower() in _CD_PARAMS:
            name = filename_from_content_disposition(val)
            if name:
                return name
    return None


def inside(dir: Path, name: str) -> Path:  # noqa: A002 - the documented signature
    """``dir / name``, resolved, after checking it stays directly inside ``dir``.

    Raises:
        BadInputError: the name is empty, absolute, has a separator or ``..``, or
            resolves (through a symlink, say) outside ``dir``.
    """
    base = Path(dir).resolve()
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise BadInputError(f"Refusing to write a file named {name!r}: it is not a plain name.")
    target = (base / name).resolve()
    if target.parent != base:
        raise BadInputError(
            f"Refusing to write {name!r}: it would land outside {base}; "
            "remove the link or choose another folder."
        )
    return target


def candidate_names(name: str, limit: int = 999) -> Iterator[str]:
    """``name``, then ``stem (2).ext``, ``stem (3).ext``… up to ``limit``."""
    yield name
    stem, ext = _split_ext(name)
    for n in range(2, limit + 1):
        suffix = f" ({n})"
        short = _truncate_utf8(stem, MAX_NAME_BYTES - len((suffix + ext).encode("utf-8")))
        yield f"{short}{suffix}{ext}"


def distinct_name(dir: Path, name: str) -> str:  # noqa: A002 - the documented signature
    """``name`` if nothing is at ``dir/name``, else the first free ``stem (N).ext``.

    Raises:
        BadInputError: a thousand names are taken.
    """
    for candidate in candidate_names(name):
        if not (Path(dir) / candidate).exists():
            return candidate
    raise BadInputError(f"Too many files named like {name!r} in {dir}; clean the folder up.")
