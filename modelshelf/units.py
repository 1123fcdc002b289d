"""How sizes read for a person, the same in every front end: binary units (KiB, MiB, GiB)."""

from __future__ import annotations

__all__ = ["size_text"]


def size_text(size: float | None, *, unknown: str = "unknown size") -> str:
    """Bytes as ``512 B``, ``6.5 MiB``, ``1.9 GiB`` (``unknown`` when None)."""
    if size is None:
        return unknown
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - the loop returns at GiB
