"""A cancel signal that follows the work of one thread (planning, paging, look-ups).

Code deep in the core (a paging loop, a provider call) does not take a cancel argument
everywhere; instead a caller opens :func:`cancel_scope` with its ``threading.Event`` and
the loops call :func:`raise_if_cancelled` between requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["cancel_scope", "current_cancel", "raise_if_cancelled"]

_local = threading.local()


@contextmanager
def cancel_scope(cancel: threading.Event | None) -> Iterator[None]:
    """Make ``cancel`` the signal :func:`raise_if_cancelled` checks in this thread."""
    previous = getattr(_local, "event", None)
    _local.event = cancel if cancel is not None else previous
    try:
        yield
    finally:
        _local.event = previous


def current_cancel() -> threading.Event | None:
    """The signal of the innermost :func:`cancel_scope` of this thread, if any."""
    return getattr(_local, "event", None)


def raise_if_cancelled() -> None:
    """Raise the core's cancel error when this thread's signal is set."""
    event = current_cancel()
    if event is not None and event.is_set():
        from .errors import UserCancelledError

        raise UserCancelledError("Cancelled.")
