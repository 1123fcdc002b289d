"""Where a Novita model's bytes come from: decided here, once.

- A model with a ``download_url`` (your own private models) is fetched from that signed URL
  (the key goes only to Novita's own host, never with the URL).
- A public model whose ``sd_name`` ends in ``_<civitaiVersionId>`` has no URL of its own: it
  is that Civitai version, downloaded from Civitai.
- Anything else cannot be downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import DownloadsDisabledError

if TYPE_CHECKING:
    from ..types import Model, ModelFile, ModelVersion

__all__ = ["NovitaTarget", "civitai_version_id", "expires_at", "resolve_novita"]


@dataclass
class NovitaTarget:
    """What a Novita model resolves to: its own signed URL, or a Civitai version id."""

    version: ModelVersion
    file: ModelFile
    download_url: str | None = None
    civitai_version_id: int | None = None

    @property
    def via_civitai(self) -> bool:
        return self.download_url is None and self.civitai_version_id is not None


def civitai_version_id(version: ModelVersion, model: Model | None = None) -> int | None:
    """The Civitai version id the Novita parser found in ``sd_name`` (or None)."""
    extras = [version.extra, *(f.extra for f in version.files)]
    if model is not None:
        extras.append(model.extra)
    for extra in extras:
        value = extra.get("civitai_version_id")
        if value:
            try:
                return int(value)
            except (TypeError, ValueError):
                continue
    return None


def expires_at(version: ModelVersion, model: Model | None = None) -> float | None:
    """Epoch seconds after which the model's signed ``download_url`` is dead (or None)."""
    value = version.extra.get("expires_at") or (model.extra.get("expires_at") if model else None)
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def resolve_novita(
    version: ModelVersion, *, file: ModelFile | None = None, model: Model | None = None
) -> NovitaTarget:
    """Decide how a Novita model is downloaded (see the module docstring)."""
    label = f"Novita model {version.id} ({version.model_name or version.name})"
    file = file or (version.files[0] if version.files else None)
    if file is None:
        raise DownloadsDisabledError(f"{label} has no file to download; pick another model.")
    url = file.download_url or version.download_url
    if url:
        return NovitaTarget(version, file, download_url=url)
    vid = civitai_version_id(version, model)
    if vid is not None:
        return NovitaTarget(version, file, civitai_version_id=vid)
    raise DownloadsDisabledError(
        f"{label} has no download URL and is not a Civitai model; only your own private Novita "
        "models and Civitai-backed ones can be downloaded."
    )
