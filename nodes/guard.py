"""Request checks for the ``/modelshelf/...`` routes: same origin, plain values, no keys out.

ComfyUI's own origin middleware only guards a loopback Host; with ``--listen 0.0.0.0``
there is none, so every route of ours checks for itself:

- an ``Origin`` (sent by browsers on every cross-origin fetch and every POST) must name
  the same host and port as ``Host``; ``Sec-Fetch-Site: cross-site`` is refused too;
- ``Host`` must be an IP address, ``localhost``, or a name listed in
  ``MODELSHELF_ALLOWED_HOSTS`` (comma-separated) - a DNS-rebinding page has its own name;
- parameters are plain values (ids, a folder key from ComfyUI's list, a file name ComfyUI
  lists); nothing that looks like a path is used to build one;
- a response that would contain an API key is withheld.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "RefusedError",
    "check_origin",
    "int_param",
    "plain_name",
    "re_full",
    "withhold_keys",
]

ALLOWED_HOSTS_ENV = "MODELSHELF_ALLOWED_HOSTS"
_ID = re.compile(r"[0-9]{1,10}")
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class RefusedError(Exception):
    """A request we will not serve; ``status`` and one sentence for the page."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _split_host(value: str) -> tuple[str, int | None]:
    parts = urlsplit("//" + value.strip())
    try:
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


def _host_allowed(hostname: str) -> bool:
    if hostname in ("localhost",):
        return True
    try:
        ipaddress.ip_address(hostname)
        return True
    except ValueError:
        pass
    extra = os.environ.get(ALLOWED_HOSTS_ENV, "")
    return hostname in {h.strip().lower() for h in extra.split(",") if h.strip()}


def check_origin(headers: Any) -> None:
    """Refuse a cross-origin or DNS-rebinding request (see the module docstring)."""
    host_header = headers.get("Host", "")
    hostname, port = _split_host(host_header)
    if not hostname or not _host_allowed(hostname):
        raise RefusedError(
            403,
            f"Model Shelf only answers requests for an IP address or localhost; add the name "
            f"to {ALLOWED_HOSTS_ENV} to allow it.",
        )
    if headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        raise RefusedError(403, "Model Shelf refuses requests from other sites.")
    origin = headers.get("Origin")
    if origin is None:
        return
    parts = urlsplit(origin)
    try:
        origin_port = parts.port
    except ValueError:
        origin_port = -1
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    if (parts.hostname or "").lower() != hostname or (origin_port or default) != (port or default):
        raise RefusedError(403, "Model Shelf refuses requests from other sites.")


def int_param(value: str | None, name: str, *, required: bool = True) -> int | None:
    """A positive id from a query/path value, or a 400 sentence."""
    if value is None or value == "":
        if required:
            raise RefusedError(400, f"{name} is missing.")
        return None
    if not _ID.fullmatch(value) or not 1 <= int(value) <= 2147483647:
        raise RefusedError(400, f"{name} must be a whole number.")
    return int(value)


def re_full(job_id: str) -> bool:
    """True when ``job_id`` looks like a download id (letters, digits, ``-``, ``_``)."""
    return bool(_JOB_ID.fullmatch(job_id))


def plain_name(value: str | None, allowed: list[str]) -> str:
    """``value`` when it is one of ``allowed`` (ComfyUI's own list); never a built path."""
    if not value or "\x00" in value or value not in allowed:
        raise RefusedError(400, "That file is not one ComfyUI lists in this folder.")
    return value


def withhold_keys(data: Any, secrets: list[str]) -> str:
    """``data`` as JSON text; refuses (500) if any secret would be in it."""
    text = json.dumps(data, ensure_ascii=False)
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            raise RefusedError(500, "The answer was withheld because it contained an API key.")
    return text
