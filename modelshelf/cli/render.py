"""Shape models for people (rich tables) and for programs (the documented JSON keys).

JSON (DESIGN.md "Command line")::

    search: {"provider", "items": [ITEM...], "next_cursor"}
    show:   {"provider", "item": ITEM, "selected_version_id"}
    ITEM    {"id", "name", "type", "creator", "nsfw", "tags", "versions": [VERSION...]}
    VERSION {"id", "name", "base_model", "trained_words", "files": [FILE...], "images": [IMAGE...]}
    FILE    {"id", "name", "size_kb", "sha256", "primary", "format", "fp", "size",
             "pickle_scan", "virus_scan"}
    IMAGE   {"url", "nsfw_level", "width", "height", "type"}

``creator`` is the creator's user name or null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ..types import Image, Model, ModelFile, ModelVersion, Page

__all__ = [
    "file_to_json",
    "image_to_json",
    "model_to_json",
    "page_to_json",
    "plural",
    "print_model_detail",
    "print_search_table",
    "version_to_json",
]

MAX_WORDS_IN_TABLE = 3


def file_to_json(file: ModelFile) -> dict[str, Any]:
    return {
        "id": file.id,
        "name": file.name,
        "size_kb": file.size_kb,
        "sha256": file.hashes.sha256,
        "primary": bool(file.primary),
        "format": file.format,
        "fp": file.fp,
        "size": file.size,
        "pickle_scan": file.pickle_scan,
        "virus_scan": file.virus_scan,
    }


def image_to_json(image: Image) -> dict[str, Any]:
    return {
        "url": image.url,
        "nsfw_level": image.nsfw_level,
        "width": image.width,
        "height": image.height,
        "type": image.type,
    }


def version_to_json(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "name": version.name,
        "base_model": version.base_model,
        "trained_words": list(version.trained_words),
        "files": [file_to_json(f) for f in version.files],
        "images": [image_to_json(i) for i in version.images],
    }


def model_to_json(model: Model) -> dict[str, Any]:
    """A model with exactly the documented keys."""
    return {
        "id": model.id,
        "name": model.name,
        "type": model.type,
        "creator": model.creator.username if model.creator else None,
        "nsfw": bool(model.nsfw),
        "tags": list(model.tags),
        "versions": [version_to_json(v) for v in model.versions],
    }


def page_to_json(page: Page, provider: str) -> dict[str, Any]:
    return {
        "provider": provider,
        "items": [model_to_json(m) for m in page.items],
        "next_cursor": page.next_cursor,
    }


# -- people -------------------------------------------------------------------------------
def plural(n: int, noun: str) -> str:
    """``1 model file``, ``2 model files``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _count(value: int | None) -> str:
    if value is None:
        return "-"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return str(value)


def _size(size_kb: float | None) -> str:
    if size_kb is None:
        return "-"
    size = size_kb * 1024
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return "-"


def _base_models(model: Model) -> str:
    names = list(model.base_models) or [v.base_model for v in model.versions if v.base_model]
    unique = list(dict.fromkeys(names))
    return ", ".join(unique[:2]) + (" …" if len(unique) > 2 else "") if unique else "-"


def _trained_words(model: Model) -> str:
    words = model.versions[0].trained_words if model.versions else []
    words = [w.strip() for w in words if w and w.strip()]
    shown = ", ".join(w[:40] for w in words[:MAX_WORDS_IN_TABLE])
    return shown + (f" (+{len(words) - MAX_WORDS_IN_TABLE})" if len(words) > 3 else "") or "-"


def print_search_table(page: Page, console: Console, provider: str) -> None:
    """One row per model: id, name, type, base model, creator, downloads, trained words."""
    from rich import box
    from rich.table import Table

    if not page.items:
        console.print(f"No models found on {provider}.")
    else:
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("ID", no_wrap=True)
        table.add_column("Name", min_width=12, max_width=26, overflow="fold")
        table.add_column("Type", max_width=11, overflow="fold")
        table.add_column("Base model", max_width=11)
        table.add_column("Creator", max_width=11, overflow="fold")
        table.add_column("DLs", justify="right", no_wrap=True)
        table.add_column("Trained words", min_width=12, overflow="fold")
        for model in page.items:
            table.add_row(
                str(model.id),
                model.name,
                model.type,
                _base_models(model),
                (model.creator.username if model.creator else None) or "-",
                _count(model.stats.download_count if model.stats else None),
                _trained_words(model),
            )
        console.print(table, soft_wrap=False)
    if page.next_cursor:
        console.print(f"More results: --cursor {page.next_cursor}")


def print_model_detail(
    model: Model, console: Console, *, selected_version_id: int | None = None
) -> None:
    """Every version with its trained words, files (size, format, precision, scans), images."""
    from rich import box
    from rich.table import Table

    creator = (model.creator.username if model.creator else None) or "-"
    console.print(f"{model.name}  [{model.provider} {model.id}]")
    console.print(
        f"Type: {model.type}   Creator: {creator}   NSFW: {'yes' if model.nsfw else 'no'}"
    )
    if model.tags:
        console.print("Tags: " + ", ".join(model.tags))
    if not model.versions:
        console.print("No published versions.")
    for version in model.versions:
        mark = "* " if version.id == selected_version_id else ""
        console.print("")
        console.print(
            f"{mark}Version {version.name} (id {version.id})  base model: "
            f"{version.base_model or '-'}"
            + (f"  published {version.published_at[:10]}" if version.published_at else "")
        )
        words = ", ".join(w.strip() for w in version.trained_words if w and w.strip())
        console.print(f"  Trained words: {words or '-'}")
        if version.early_access_deadline:
            console.print(f"  Early access until {version.early_access_deadline}")
        if version.files:
            table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            table.add_column("File ID", no_wrap=True)
            table.add_column("Name", min_width=16, overflow="fold")
            table.add_column("Size", justify="right", no_wrap=True)
            table.add_column("Format")
            table.add_column("Precision")
            table.add_column("Scans", max_width=16, overflow="fold")
            for file in version.files:
                scans = f"{file.pickle_scan or '-'}/{file.virus_scan or '-'}"
                precision = " ".join(p for p in (file.fp, file.size) if p) or "-"
                table.add_row(
                    ("*" if file.primary else "") + (str(file.id) if file.id is not None else "-"),
                    file.name,
                    _size(file.size_kb),
                    file.format or "-",
                    precision,
                    scans,
                )
            console.print(table, soft_wrap=False)
        else:
            console.print("  No files.")
        if version.images:
            console.print("  Preview images:")
            for image in version.images:
                level = f" (nsfw level {image.nsfw_level})" if image.nsfw_level else ""
                console.print(f"    {image.url}{level}")


def add_wrapped_column(table: Any, header: str, **kw: Any) -> None:
    """A column that wraps on spaces and ends a word too long for it with "…" (never folds)."""
    table.add_column(header, overflow="ellipsis", **kw)
