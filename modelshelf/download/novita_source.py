"""The download source of a private Novita model, with its signed URL kept fresh.

Whether a Novita model downloads from Novita or from Civitai is decided once, in
:mod:`modelshelf.providers.novita_target`. A signed ``download_url`` lives
``download_url_ttl`` seconds; when it has expired (or is about to) the model is asked for
again, uncached, for a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import DownloadsDisabledError, NotFoundError
from ..providers.novita_target import NovitaTarget, expires_at, resolve_novita

if TYPE_CHECKING:
    from ..providers.base import DownloadSource, Provider
    from ..types import Model

__all__ = ["EXPIRY_MARGIN", "novita_download_source"]

EXPIRY_MARGIN = 60.0  # seconds: a URL this close to expiring is refreshed first


def novita_download_source(
    target: NovitaTarget,
    provider: Provider,
    *,
    model: Model | None = None,
    fresh_provider: Callable[[], Provider] | None = None,
    now: float | None = None,
) -> DownloadSource:
    """The :class:`DownloadSource` of a Novita model with its own ``download_url``.

    When the URL has expired (or expires within :data:`EXPIRY_MARGIN`) and
    ``fresh_provider`` is given, the model is looked up again with it (uncached) first.
    """
    now = time.time() if now is None else now
    version, file = target.version, target.file
    when = expires_at(version, model)
    if when is not None and when - EXPIRY_MARGIN <= now and fresh_provider is not None:
        provider = fresh_provider()
        model_id = model.id if model is not None else version.id
        fresh = provider.get_model(model_id)
        if not fresh.versions:
            raise NotFoundError(f"Novita model {model_id} is gone; it cannot be downloaded.")
        target = resolve_novita(fresh.versions[0], model=fresh)
        version, file = target.version, target.file
    if target.download_url is None:
        raise DownloadsDisabledError(
            f"Novita gave no download URL for model {version.id}; try again later."
        )
    return provider.resolve_download(version, file)  # a signed URL: sent without the key
