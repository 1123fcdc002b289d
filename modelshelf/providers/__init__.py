"""Model catalogue providers (Civitai, Novita) behind one interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BadInputError

if TYPE_CHECKING:
    from ..settings import Settings
    from .base import Provider

PROVIDERS = ("civitai", "novita")


def get_provider(name: str, settings: Settings, *, use_cache: bool | None = None) -> Provider:
    """The provider called ``name``, configured from ``settings``."""
    from ..cache import ResponseCache

    use_cache = settings.use_cache if use_cache is None else use_cache
    cache = ResponseCache(settings.cache_path, settings.cache_ttl) if use_cache else None
    if name == "civitai":
        from .civitai import CivitaiProvider

        return CivitaiProvider(settings, cache=cache)
    if name == "novita":
        from .novita import NovitaProvider

        return NovitaProvider(settings, cache=cache)
    raise BadInputError(f"Unknown provider {name!r}; use one of: {', '.join(PROVIDERS)}.")
