"""Reading what a file says it was made with: PNG text chunks, EXIF, JSON, plain text.

:func:`read_source` returns a :class:`Metadata` with up to three texts: ``parameters``
(A1111 infotext), ``prompt`` (ComfyUI API-format JSON) and ``workflow`` (ComfyUI UI-format
JSON). Pure Python, bounded: text chunks over :data:`MAX_TEXT` bytes (or that inflate past
it), truncated files and undecodable text are one :class:`BadInputError` sentence, never a
crash. Large image data is skipped with ``seek``, never read.

- PNG: ``tEXt``, ``zTXt`` and ``iTXt`` chunks (A1111 ``parameters``, ComfyUI ``prompt``
  and ``workflow``).
- JPEG (APP1) and WebP (``EXIF`` chunk): the EXIF ``UserComment`` (tag 0x9286) as A1111
  writes it with piexif (``UNICODE\\0`` + UTF-16, big-endian; little-endian and BOMs are
  accepted too; ``ASCII\\0\\0\\0``), and ComfyUI's ``prompt:{...}`` / ``workflow:{...}`` in
  IFD0 ``Make``/``Model``/``ImageDescription`` (its animated WebP writer). JPEG ``COM``
  segments holding infotext are read too.
- ``.json`` / JSON text: a ComfyUI workflow (API or UI format).
- anything else that decodes as UTF-8: pasted infotext.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import BadInputError

__all__ = ["MAX_TEXT", "Metadata", "read_source"]

MAX_TEXT = 16 * 1024 * 1024  # one metadata text (a chunk, a JSON file, inflated zTXt)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_KEYS = {"parameters", "prompt", "workflow"}
_EXIF_ASCII_TAGS = (0x010E, 0x010F, 0x0110)  # ImageDescription, Make, Model
_USER_COMMENT = 0x9286
_EXIF_IFD = 0x8769


@dataclass
class Metadata:
    """The generation texts found in one source."""

    source: str  # a path, or "<text>" / "<bytes>"
    kind: str  # png, jpeg, webp, json, text
    texts: dict[str, str] = field(default_factory=dict)
    workflow_json: dict[str, Any] | None = None  # a decoded .json source

    @property
    def empty(self) -> bool:
        return not self.texts and self.workflow_json is None


def _shown(source: str) -> str:
    name = os.path.basename(source) or source
    name = "".join(ch if ch.isprintable() else "?" for ch in name)
    return name if len(name) <= 80 else name[:77] + "..."


def read_source(
    source: str | os.PathLike[str] | bytes | dict, *, name: str | None = None
) -> Metadata:
    """Metadata of a file path (``Path``), its bytes, pasted text (``str``) or a workflow dict."""
    if isinstance(source, dict):
        return Metadata(name or "<workflow>", "json", workflow_json=source)
    if isinstance(source, str):
        return _from_text(source, name or "<text>")
    if isinstance(source, (bytes, bytearray)):
        label = name or "<bytes>"
        return _from_stream(io.BytesIO(bytes(source)), label, len(source))
    path = Path(source)
    label = str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise BadInputError(f"{_shown(label)} is not a file.")
        with open(path, "rb") as stream:
            return _from_stream(stream, label, size)
    except FileNotFoundError:
        raise BadInputError(f"{_shown(label)} does not exist.") from None
    except PermissionError:
        raise BadInputError(f"{_shown(label)} cannot be read (permission denied).") from None
    except IsADirectoryError:
        raise BadInputError(f"{_shown(label)} is a folder, not a file.") from None


def _from_stream(stream: BinaryIO, label: str, size: int) -> Metadata:
    head = stream.read(16)
    stream.seek(0)
    if head.startswith(PNG_SIGNATURE):
        return _read_png(stream, label)
    if head.startswith(b"\xff\xd8"):
        return _read_jpeg(stream, label)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _read_webp(stream, label)
    if size > MAX_TEXT:
        raise BadInputError(
            f"{_shown(label)} is not a PNG, JPEG or WebP image and is too large "
            f"({size // (1024 * 1024)} MiB) to be a workflow or parameters text."
        )
    data = stream.read(MAX_TEXT + 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError(
            f"{_shown(label)} is not a PNG, JPEG or WebP image, nor UTF-8 text "
            "(a ComfyUI workflow or A1111 parameters)."
        ) from None
    return _from_text(text, label)


def _from_text(text: str, label: str) -> Metadata:
    if len(text) > MAX_TEXT:
        raise BadInputError(f"{_shown(label)}: the text is too long to be generation data.")
    stripped = text.strip()
    if not stripped:
        raise BadInputError(f"{_shown(label)} is empty.")
    if stripped[0] in "{[":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise BadInputError(
                f"{_shown(label)} looks like JSON but is not valid JSON ({exc.msg} at "
                f"line {exc.lineno})."
            ) from None
        except ValueError:  # e.g. a number too long to convert: no line to point at
            raise BadInputError(f"{_shown(label)} looks like JSON but is not valid JSON.") from None
        if not isinstance(data, dict):
            raise BadInputError(f"{_shown(label)} is JSON but not a ComfyUI workflow.")
        return Metadata(label, "json", workflow_json=data)
    return Metadata(label, "text", texts={"parameters": text})


# -- PNG ------------------------------------------------------------------------------


def _read_exact(stream: BinaryIO, n: int, label: str, what: str) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise BadInputError(f"{_shown(label)} is truncated (it ends inside {what}).")
    return data


def _read_png(stream: BinaryIO, label: str) -> Metadata:
    meta = Metadata(label, "png")
    stream.seek(len(PNG_SIGNATURE))
    while True:
        header = stream.read(8)
        if len(header) < 8:
            if meta.texts:
                return meta  # truncated after the text: use what was read
            raise BadInputError(f"{_shown(label)} is a truncated PNG (no end chunk).")
        length, ctype = struct.unpack(">I4s", header)
        if ctype == b"IEND":
            return meta
        if ctype in (b"tEXt", b"zTXt", b"iTXt"):
            if length > MAX_TEXT:
                raise BadInputError(
                    f"{_shown(label)} holds a {length // (1024 * 1024)} MiB text chunk, "
                    "far larger than any generation data; it was not read."
                )
            try:
                data = _read_exact(stream, length, label, "a text chunk")
            except BadInputError:
                if meta.texts:
                    return meta
                raise
            stream.seek(4, os.SEEK_CUR)  # CRC
            key, text = _png_text(ctype, data, label)
            if key in _TEXT_KEYS and text is not None and key not in meta.texts:
                meta.texts[key] = text
            continue
        stream.seek(length + 4, os.SEEK_CUR)


def _png_text(ctype: bytes, data: bytes, label: str) -> tuple[str, str | None]:
    key_raw, sep, rest = data.partition(b"\0")
    if not sep:
        return "", None
    key = key_raw.decode("latin-1")
    if key not in _TEXT_KEYS:
        return key, None
    if ctype == b"tEXt":
        return key, _decode_latin1_or_utf8(rest)
    if ctype == b"zTXt":
        if len(rest) < 1 or rest[0] != 0:
            return key, None
        return key, _decode_latin1_or_utf8(_inflate(rest[1:], label))
    # iTXt: compression flag, method, language tag \0, translated keyword \0, text
    if len(rest) < 2:
        return key, None
    flag, method = rest[0], rest[1]
    parts = rest[2:].split(b"\0", 2)
    if len(parts) < 3:
        return key, None
    body = parts[2]
    if flag == 1:
        if method != 0:
            return key, None
        body = _inflate(body, label)
    return key, _decode_text(body, label, key)


def _inflate(data: bytes, label: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_TEXT + 1)
    except zlib.error:
        raise BadInputError(f"{_shown(label)} has a damaged compressed text chunk.") from None
    if len(out) > MAX_TEXT or inflater.unconsumed_tail:
        raise BadInputError(
            f"{_shown(label)} has a compressed text chunk that inflates past "
            f"{MAX_TEXT // (1024 * 1024)} MiB; it was not read."
        )
    return out


def _decode_text(data: bytes, label: str, key: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInputError(
            f"{_shown(label)}: its {key!r} text is not valid UTF-8, so it cannot be read."
        ) from None


def _decode_latin1_or_utf8(data: bytes) -> str:
    # tEXt is Latin-1 by the spec, but some writers put UTF-8 there.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# -- JPEG / WebP / EXIF ---------------------------------------------------------------


def _read_jpeg(stream: BinaryIO, label: str) -> Metadata:
    meta = Metadata(label, "jpeg")
    stream.seek(2)
    while True:
        marker = stream.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            break
        code = marker[1]
        if code in (0xD9, 0xDA):  # end of image, start of scan: no metadata after
            break
        if code == 0x01 or 0xD0 <= code <= 0xD7:
            continue
        raw = stream.read(2)
        if len(raw) < 2:
            break
        (length,) = struct.unpack(">H", raw)
        if length < 2:
            break
        data = stream.read(length - 2)
        if len(data) < length - 2:
            break
        if code == 0xE1 and data.startswith(b"Exif\0\0"):
            _read_exif(data[6:], meta, label)
        elif code == 0xFE and "parameters" not in meta.texts:
            text = _decode_latin1_or_utf8(data).strip("\0")
            if "Steps: " in text:
                meta.texts["parameters"] = text
    if meta.empty and stream.tell() < 4:
        raise BadInputError(f"{_shown(label)} is a truncated JPEG.")
    return meta


def _read_webp(stream: BinaryIO, label: str) -> Metadata:
    meta = Metadata(label, "webp")
    stream.seek(12)
    while True:
        header = stream.read(8)
        if len(header) < 8:
            break
        fourcc, size = struct.unpack("<4sI", header)
        if fourcc == b"EXIF":
            if size > MAX_TEXT:
                raise BadInputError(
                    f"{_shown(label)} holds a {size // (1024 * 1024)} MiB EXIF chunk; "
                    "it was not read."
                )
            data = stream.read(size)
            if len(data) < size:
                break
            if data.startswith(b"Exif\0\0"):
                data = data[6:]
            _read_exif(data, meta, label)
            stream.seek(size & 1, os.SEEK_CUR)
        else:
            stream.seek(size + (size & 1), os.SEEK_CUR)
    return meta


def _read_exif(tiff: bytes, meta: Metadata, label: str) -> None:
    """Read UserComment and ComfyUI's ASCII tags from a TIFF-structured EXIF block."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack(order + "I", tiff[4:8])
    seen: set[int] = set()
    for tag, value in _ifd_entries(tiff, order, ifd0, seen):
        if tag == _EXIF_IFD and isinstance(value, int):
            for sub_tag, sub_value in _ifd_entries(tiff, order, value, seen):
                if sub_tag == _USER_COMMENT and isinstance(sub_value, bytes):
                    text = _user_comment(sub_value)
                    if text and "parameters" not in meta.texts:
                        meta.texts["parameters"] = text
        elif tag in _EXIF_ASCII_TAGS and isinstance(value, bytes):
            text = _decode_latin1_or_utf8(value).rstrip("\0")
            key, sep, body = text.partition(":")
            if sep and key in ("prompt", "workflow") and key not in meta.texts:
                meta.texts[key] = body


def _ifd_entries(tiff: bytes, order: str, offset: int, seen: set[int]):
    """(tag, value) of one IFD: bytes for ASCII/UNDEFINED, int for LONG; bounds-checked."""
    if offset in seen or offset + 2 > len(tiff):
        return
    seen.add(offset)
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    for i in range(min(count, 1000)):
        at = offset + 2 + 12 * i
        if at + 12 > len(tiff):
            return
        tag, typ, n = struct.unpack(order + "HHI", tiff[at : at + 8])
        raw = tiff[at + 8 : at + 12]
        if typ == 4 and n == 1:  # LONG
            yield tag, struct.unpack(order + "I", raw)[0]
        elif typ in (1, 2, 7):  # BYTE (Pillow), ASCII, UNDEFINED (piexif)
            if n <= 4:
                yield tag, raw[:n]
            else:
                (pos,) = struct.unpack(order + "I", raw)
                if pos + n <= len(tiff):
                    yield tag, tiff[pos : pos + n]


def _user_comment(value: bytes) -> str | None:
    """Decode an EXIF UserComment: 8-byte charset prefix, then the text."""
    prefix, body = value[:8], value[8:]
    if prefix.startswith(b"UNICODE"):
        return _utf16(body)
    if prefix.startswith(b"ASCII") or prefix == b"\0" * 8:
        return _decode_latin1_or_utf8(body).rstrip("\0") or None
    return _decode_latin1_or_utf8(value).rstrip("\0") or None


def _utf16(body: bytes) -> str | None:
    if body.startswith(b"\xfe\xff"):
        return body[2:].decode("utf-16-be", "replace").rstrip("\0")
    if body.startswith(b"\xff\xfe"):
        return body[2:].decode("utf-16-le", "replace").rstrip("\0")
    if len(body) >= 2:
        # ASCII-range text: the zero byte comes first in big-endian, second in little.
        evens = body[0::2].count(0)
        odds = body[1::2].count(0)
        encoding = "utf-16-le" if odds > evens else "utf-16-be"
        return body.decode(encoding, "replace").rstrip("\0")
    return None
