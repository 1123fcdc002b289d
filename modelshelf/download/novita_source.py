"""Where a Novita model's bytes come from.

- A model with a ``download_url`` (your own private models) is fetched from it through
  :meth:`NovitaProvider.resolve_download` (the key goes only to Novita's own host). The
  URL is signed and lives ``download_url_ttl`` seconds; when it has expired (or is about
  to) the model is asked for again, uncached, for a fresh one.
- A public model whose ``sd_name`` ends in ``_<civitaiVersionId>`` has no URL of its own:
  it is that Civitai version, downloaded from Civitai.
- Anything else cannot be downloaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DownloadsDisabledError, NotFoundError

if TYPE_CHECKING:
    from ..providers.base import DownloadSource, Provider
    from ..types import Model, ModelFile, ModelVersion

__all__ = [
    "EXPIRY_MARGIN",
    "NovitaTarget",
    "civitai_version_id",
    "novita_download_source",
    "resolve_novita",
]

EXPIRY_MARGIN = 60.0  # seconds: a URL this close to expiring is refreshed first


@dataclass
class NovitaTarget:
    """What a Novita model resolves to: its own URL, or a Civitai version id."""

    model: Model
    version: ModelVersion
    file: ModelFile
    civitai_version_id: int | None = None

    @property
    def via_civitai(self) -> bool:
        return self.civitai_version_id is not None


def civitai_version_id(model: Model, version: ModelVersion | None = None) -> int | None:
    """The Civitai version id the Novita provider parsed from ``sd_name`` (or None)."""
    extras = [model.extra]
    if version is not None:
        extras = [version.extra, *extras, *(f.extra for f in version.files)]
    for extra in extras:
        value = extra.get("civitai_version_id")
        if value:
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return None


def _download_url(version: ModelVersion, file: ModelFile) -> str | None:
    return file.download_url or version.download_url


def expires_at(model: Model, version: ModelVersion) -> float | None:
    """Epoch seconds after which the model's signed ``download_url`` is dead (or None)."""
    value = version.extra.get("expires_at") or model.extra.get("expires_at")
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def resolve_novita(model: Model, version: ModelVersion) -> NovitaTarget:
    """Decide how ``model`` is downloaded (see the module docstring)."""
    if not version.files:
        raise DownloadsDisabledError(
            f"Novita model {model.id} ({model.name}) has no file to download; pick another model."
        )
    file = version.files[0]
    if _download_url(version, file):
        return NovitaTarget(model, version, file)
    vid = civitai_version_id(model, version)
    if vid is not None:
        return NovitaTarget(model, version, file, civitai_version_id=vid)
    raise DownloadsDisabledError(
        f"Novita model {model.id} ({model.name}) has no download URL and is not a Civitai "
        "model; only your own private Novita models and Civitai-backed ones can be downloaded."
    )


def novita_download_source(
    target: NovitaTarget,
    provider: Provider,
    *,
    fresh_provider: Callable[[], Provider] | None = None,
    now: float | None = None,
) -> DownloadSource:
    """The :class:`DownloadSource` of a Novita model with its own ``download_url``.

    When the URL has expired (or expires within :data:`EXPIRY_MARGIN`) and
    ``fresh_provider`` is given, the model is looked up again with it (uncached) first.
    """
    now = time.time() if now is None else now
    model, version, file = target.model, target.version, target.file
    when = expires_at(model, version)
    if when is not None and when - EXPIRY_MARGIN <= now and fresh_provider is not None:
        provider = fresh_provider()
        fresh = provider.get_model(model.id)
        if not fresh.versions:
            raise NotFoundError(f"Novita model {model.id} is gone; it cannot be downloaded.")
        target = resolve_novita(fresh, fresh.versions[0])
        version, file = target.version, target.file
    if not _download_url(version, file):
        raise DownloadsDisabledError(
            f"Novita gave no download URL for model {model.id}; try again later."
        )
    return provider.resolve_download(version, file)  # a signed URL: sent without the key
