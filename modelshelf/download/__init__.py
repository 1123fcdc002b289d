"""Downloads: fetch a model file into a folder, verified and resumable.

Light on purpose (importing it imports nothing heavy). The engine is
:func:`modelshelf.download.fetch.fetch` (``from modelshelf.download.fetch import fetch``);
the names below are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FetchResult", "Probe", "fetch", "probe", "sha256_file"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import fetch as _fetch_module

        return getattr(_fetch_module, name)
    raise AttributeError(name)
