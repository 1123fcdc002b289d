"""Downloads: fetch a model file into a folder, verified and resumable.

Light on purpose (importing it imports nothing heavy). Front ends use
:class:`modelshelf.shelf.Shelf`; inside the core the public modules are ``fetch`` (the
engine's one entry, :func:`~.fetch.fetch`), ``plan`` and ``service`` (what a download
does), ``choose`` (which file), ``manager``/``jobs``/``job_store`` (the queue) and
``novita_source``. Modules whose names start with ``_`` (the ranged engine, segments,
transfers, the ``.part`` file, response checks) are the engine's own and used nowhere else.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FetchResult", "Probe", "fetch", "probe", "sha256_file"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import fetch as _fetch_module

        return getattr(_fetch_module, name)
    raise AttributeError(name)
