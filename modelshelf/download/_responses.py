"""Reading the download endpoint's and the storage host's answers.

A body that is JSON or HTML where a model was expected is never saved: it becomes the
error it describes (Civitai's download endpoint, api.md §1.9), with the server's own
message in the sentence. The URL in a message is reduced to its host (a signed URL is
never shown).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..errors import IntegrityError, NeedsApiKeyError, error_for_status

if TYPE_CHECKING:
    import requests

__all__ = ["check_first_bytes", "error_for", "is_text_type", "parse_content_range"]

TEXT_TYPES = ("text/html", "application/json", "application/xhtml", "text/plain", "text/xml")
TEXT_FILE_EXTS = (".json", ".txt", ".yaml", ".yml", ".html", ".htm", ".xml", ".md", ".csv")
MAX_ERROR_BODY = 64 * 1024


def parse_content_range(value: str | None) -> tuple[int | None, int | None, int | None]:
    """``(first, last, total)`` of ``bytes a-b/N`` (``bytes */N`` gives ``(None, None, N)``)."""
    m = re.fullmatch(r"\s*bytes\s+(?:(\d+)-(\d+)|\*)\s*/\s*(\d+|\*)\s*", value or "")
    if not m:
        return None, None, None
    first = int(m[1]) if m[1] is not None else None
    last = int(m[2]) if m[2] is not None else None
    total = int(m[3]) if m[3] != "*" else None
    return first, last, total


def is_text_type(response: requests.Response, expected_name: str) -> bool:
    """Whether the answer is a page or a JSON message rather than the model's bytes."""
    ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return ctype.startswith(TEXT_TYPES) and not expected_name.lower().endswith(TEXT_FILE_EXTS)


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the server"


def _body_message(response: requests.Response) -> tuple[dict, str]:
    """The JSON object (if any) and a short plain message from an error body."""
    try:
        raw = response.raw.read(MAX_ERROR_BODY, decode_content=True) or b""
    except Exception:  # a broken error body: the status still says enough
        raw = b""
    text = raw.decode("utf-8", errors="replace").strip()
    data: dict = {}
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
            data = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            data = {}
    if data:
        message = str(data.get("message") or data.get("error") or "")
    elif "<html" in text[:512].lower() or "<!doctype" in text[:512].lower():
        m = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        message = ("a web page: " + m[1].strip()) if m else "a web page"
    else:
        message = text
    message = " ".join(message.split())[:200].rstrip(".")
    return data, message


def error_for(response: requests.Response, *, url: str, has_key: bool, provider: str):
    """The :mod:`modelshelf.errors` exception for an error answer (the body is read)."""
    data, message = _body_message(response)
    deadline = (
        data.get("deadline") if str(data.get("error", "")).lower() == "early access" else None
    )
    return error_for_status(
        response.status_code,
        provider=provider,
        host=_host(url),
        what="this file",
        message=message or None,
        has_key=has_key,
        download=True,
        deadline=str(deadline) if deadline else None,
    )


def page_error(response: requests.Response, *, url: str, has_key: bool, provider: str):
    """The error for a 200/206 answer whose body is a web page or a JSON message."""
    host = _host(url)
    data, message = _body_message(response)
    if data and response.status_code < 300:
        said = f": {message}" if message else ""
        return IntegrityError(
            f"{host} sent a message instead of the model{said}; nothing was saved.",
            status=response.status_code,
            provider=provider,
        )
    if "log in" in message.lower() or "login" in message.lower() or "sign in" in message.lower():
        hint = "check your API key" if has_key else "add your API key in the settings"
        return NeedsApiKeyError(
            f"{host} answered with a login page instead of the model; {hint} and try again.",
            status=response.status_code,
            provider=provider,
        )
    return IntegrityError(
        f"{host} sent {message or 'a web page'} instead of the model; nothing was saved.",
        status=response.status_code,
        provider=provider,
    )


def check_first_bytes(data: bytes | memoryview, expected_name: str, host: str) -> None:
    """Refuse a body that starts like an HTML page or a JSON error where a model was due."""
    if expected_name.lower().endswith(TEXT_FILE_EXTS):
        return
    head = bytes(data[:512]).lstrip().lower()
    starts = (b"<!doctype html", b"<html", b"<head", b"<body", b'{"error"', b'{"message"')
    if head.startswith(starts):
        raise IntegrityError(
            f"{host} sent a web page or a message instead of the model; nothing was saved."
        )
