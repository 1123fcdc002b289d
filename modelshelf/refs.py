"""REF parsing: the ways a person names a model or a version on the command line.

Accepted forms (DESIGN.md "Command line"):

- a Civitai model id ``12345``, or ``12345@67890`` (model@version);
- a Civitai page or API URL on civitai.com, www.civitai.com, civitai.red or the configured
  root: ``/models/12345[/slug][?modelVersionId=67890]``, ``/model-versions/67890``,
  ``/api/download/models/67890[?type=&format=|?fileId=]``, ``/api/v1/models/12345``,
  ``/api/v1/model-versions/67890``;
- an AIR ``urn:air:sdxl:lora:civitai:12345@67890[+fileId][.format]`` (``urn:`` and
  ``air:`` optional);
- ``novita:ID``.

Anything else is a :class:`~modelshelf.errors.BadInputError` naming these forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from .errors import BadInputError, NotFoundError
from .http import redact_url
from .providers.civitai_wire import CIVITAI_HOSTS

if TYPE_CHECKING:
    from .providers.base import Provider
    from .types import Model, ModelVersion

__all__ = ["ACCEPTED_FORMS", "MAX_ID", "Ref", "parse_ref", "resolve_version"]

MAX_ID = 2147483647
MAX_REF_LENGTH = 4096

ACCEPTED_FORMS = (
    "a Civitai model id (12345), model@version (12345@67890), a Civitai model page or "
    "download URL (https://civitai.com/models/12345?modelVersionId=67890, "
    ".../api/download/models/67890), an AIR (urn:air:sdxl:lora:civitai:12345@67890) "
    "or novita:ID"
)
DOWNLOAD_PARAMS = ("type", "format", "size", "fp", "quantType")

_ID = r"[0-9]{1,10}"
_MODEL_AT_VERSION = re.compile(rf"({_ID})(?:@({_ID}))?", re.ASCII)
_AIR = re.compile(
    rf"(?:urn:)?(?:air:)?([a-z0-9_.-]+):([a-z0-9_.-]+):([a-z0-9_.-]+):({_ID})"
    rf"(?:@({_ID}))?(?:\+({_ID}))?(?:\.([a-z0-9]{{1,20}}))?",
    re.ASCII | re.IGNORECASE,
)
_NOVITA = re.compile(r"novita:([A-Za-z0-9][A-Za-z0-9_.\-]{0,199})", re.ASCII | re.IGNORECASE)
_PATHS = (
    (re.compile(rf"/api/download/models/({_ID})/?", re.ASCII), "version"),
    (re.compile(rf"/api/v1/model-versions/({_ID})/?", re.ASCII), "version"),
    (re.compile(rf"/model-versions/({_ID})/?", re.ASCII), "version"),
    (re.compile(rf"/api/v1/models/({_ID})/?", re.ASCII), "model"),
    (re.compile(rf"/models/({_ID})(?:/[^/]*)?/?", re.ASCII), "model"),
)


@dataclass
class Ref:
    """What a REF names: a Civitai model/version/file, or a Novita model."""

    provider: str
    model_id: int | None
    version_id: int | None
    file_id: int | None = None
    novita_id: str | None = None
    text: str = ""
    # download URL query (type/format/size/fp/quantType) or an AIR ``.format`` suffix
    file_params: dict[str, str] = field(default_factory=dict)


def _bad(text: str) -> BadInputError:
    shown = redact_url(text) if "=" in text else text  # never echo a token= back
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    shown = "".join(ch if ch.isprintable() else "?" for ch in shown)
    return BadInputError(f"Cannot read {shown!r} as a model reference; use {ACCEPTED_FORMS}.")


def _to_id(digits: str | None, text: str) -> int | None:
    if digits is None:
        return None
    value = int(digits)
    if not 1 <= value <= MAX_ID:
        raise _bad(text)
    return value


def _host_allowed(host: str, port: int | None, civitai_root: str | None) -> bool:
    if host in CIVITAI_HOSTS:
        return True
    if not civitai_root:
        return False
    root = urlsplit(civitai_root if "//" in civitai_root else "https://" + civitai_root)
    try:
        root_port = root.port
    except ValueError:
        return False
    return (root.hostname or "").lower() == host and (port is None or root_port in (None, port))


def _parse_url(text: str, civitai_root: str | None) -> Ref:
    url = text if "://" in text else "https://" + text
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        raise _bad(text) from None
    if parts.scheme.lower() not in ("http", "https") or not _host_allowed(host, port, civitai_root):
        raise _bad(text)
    path = parts.path
    if civitai_root and host not in CIVITAI_HOSTS:
        prefix = urlsplit(civitai_root if "//" in civitai_root else "https://" + civitai_root).path
        prefix = prefix.rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
    query = dict(parse_qsl(parts.query, keep_blank_values=False))
    for pattern, kind in _PATHS:
        match = pattern.fullmatch(path)
        if not match:
            continue
        number = _to_id(match[1], text)
        if kind == "model":
            version = query.get("modelVersionId")
            version_id = (
                _to_id(version, text)
                if version and version.isascii() and version.isdigit()
                else None
            )
            if version and version_id is None:
                raise _bad(text)
            return Ref("civitai", number, version_id, text=text)
        file_id = None
        raw_file = query.get("fileId")
        if raw_file is not None:
            if not (raw_file.isascii() and raw_file.isdigit()):
                raise _bad(text)
            file_id = _to_id(raw_file, text)
        params = {k: query[k] for k in DOWNLOAD_PARAMS if query.get(k)}
        return Ref("civitai", None, number, file_id=file_id, text=text, file_params=params)
    raise _bad(text)


def parse_ref(text: str, civitai_root: str | None = None) -> Ref:
    """Parse a REF (see the module docstring); raises BadInputError for anything else."""
    if not isinstance(text, str):
        raise BadInputError(f"A model reference must be text; use {ACCEPTED_FORMS}.")
    raw = text
    text = text.strip()
    if not text or len(text) > MAX_REF_LENGTH or not text.isprintable():
        raise _bad(raw)
    match = _MODEL_AT_VERSION.fullmatch(text)
    if match:
        return Ref("civitai", _to_id(match[1], text), _to_id(match[2], text), text=text)
    match = _NOVITA.fullmatch(text)
    if match:
        return Ref("novita", None, None, novita_id=match[1], text=text)
    match = _AIR.fullmatch(text)
    if match:
        if match[3].lower() != "civitai":
            raise _bad(text)
        params = {"format": match[7]} if match[7] else {}
        return Ref(
            "civitai",
            _to_id(match[4], text),
            _to_id(match[5], text),
            file_id=_to_id(match[6], text),
            text=text,
            file_params=params,
        )
    if "/" in text:
        return _parse_url(text, civitai_root)
    raise _bad(text)


def resolve_version(
    ref: Ref, provider: Provider, *, with_model: bool = True
) -> tuple[Model | None, ModelVersion]:
    """The model (None when not fetched) and the version ``ref`` names.

    Version refs use ``get_version`` (then ``get_model(version.model_id)`` when
    ``with_model``); model refs use ``get_model`` and its first (latest) version; a
    version that does not belong to the named model is a NotFoundError.
    """
    if ref.provider == "novita" or ref.novita_id is not None:
        model = provider.get_model(ref.novita_id or "")
        if not model.versions:
            raise NotFoundError(f"Novita model {ref.novita_id} has no downloadable version.")
        return model, model.versions[0]
    if ref.version_id is None:
        if ref.model_id is None:
            raise BadInputError(f"The reference names no model or version; use {ACCEPTED_FORMS}.")
        model = provider.get_model(ref.model_id)
        if not model.versions:
            raise NotFoundError(f"Model {ref.model_id} has no published version.")
        version = model.versions[0]
        if version.model_id is None:
            version.model_id = ref.model_id
        return model, version
    if ref.model_id is not None:
        model = provider.get_model(ref.model_id)
        for version in model.versions:
            if version.id == ref.version_id:
                if version.model_id is None:
                    version.model_id = ref.model_id
                return model, version
        version = provider.get_version(ref.version_id)
        if version.model_id is not None and version.model_id != ref.model_id:
            raise NotFoundError(
                f"Version {ref.version_id} does not belong to model {ref.model_id}; "
                f"check the reference (it belongs to model {version.model_id})."
            )
        return model, version
    version = provider.get_version(ref.version_id)
    if with_model and version.model_id is not None:
        return provider.get_model(version.model_id), version
    return None, version
