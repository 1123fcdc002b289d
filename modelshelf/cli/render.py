"""Shape models for people (rich tables) and for programs (the documented JSON keys).

JSON (DESIGN.md "Command line")::

    search: {"provider", "items": [ITEM...], "next_cursor"}
    show:   {"provider", "item": ITEM, "selected_version_id"}
    ITEM    {"id", "name", "type", "creator", "nsfw", "tags", "versions": [VERSION...]}
    VERSION {"id", "name", "base_model", "trained_words", "files": [FILE...], "images": [IMAGE...]}
    FILE    {"id", "name", "type", "size_kb", "sha256", "primary", "format", "fp", "size",
             "pickle_scan", "virus_scan"}     (type: Model, Pruned Model, VAE, Training Data...)
    IMAGE   {"url", "nsfw_level", "width", "height", "type"}

``creator`` is the creator's user name or null.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from ..types import Image, Model, ModelFile, ModelVersion, Page

__all__ = [
    "file_to_json",
    "image_to_json",
    "model_to_json",
    "access_notes",
    "add_wrapped_column",
    "new_table",
    "human_size",
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
        "type": file.type,
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


def version_to_json(version: ModelVersion, *, nsfw: bool = True) -> dict[str, Any]:
    """A version; its images above PG only with ``nsfw``."""
    from ..sidecars import image_allowed

    return {
        "id": version.id,
        "name": version.name,
        "base_model": version.base_model,
        "trained_words": list(version.trained_words),
        "files": [file_to_json(f) for f in version.files],
        "images": [image_to_json(i) for i in version.images if image_allowed(i, nsfw)],
    }


def model_to_json(model: Model, *, nsfw: bool = True) -> dict[str, Any]:
    """A model with exactly the documented keys."""
    return {
        "id": model.id,
        "name": model.name,
        "type": model.type,
        "creator": model.creator.username if model.creator else None,
        "nsfw": bool(model.nsfw),
        "tags": list(model.tags),
        "versions": [version_to_json(v, nsfw=nsfw) for v in model.versions],
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


def human_size(size: int | float | None) -> str:
    """Bytes in binary units, as everywhere in Model Shelf: ``512 B``, ``2.0 GiB``."""
    from ..units import size_text

    return size_text(size)


def _base_models(model: Model) -> str:
    names = list(model.base_models) or [v.base_model for v in model.versions if v.base_model]
    unique = list(dict.fromkeys(names))
    return ", ".join(unique[:2]) + (" …" if len(unique) > 2 else "") if unique else "-"


def _trained_words(model: Model) -> str:
    words = model.versions[0].trained_words if model.versions else []
    words = [w.strip() for w in words if w and w.strip()]
    shown = ", ".join(w if len(w) <= 40 else w[:39] + "…" for w in words[:MAX_WORDS_IN_TABLE])
    return shown + (f" (+{len(words) - MAX_WORDS_IN_TABLE})" if len(words) > 3 else "") or "-"


def _longest_word(values: Iterable[str], cap: int = 16) -> int:
    """The length of the longest word in ``values``, at most ``cap``."""
    return min(cap, max((len(w) for v in values for w in str(v).split()), default=1))


def new_table() -> Any:
    """A plain table: a rule under the header, two spaces between columns, no frame."""
    from rich import box
    from rich.table import Table

    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)


def add_wrapped_column(table: Any, header: str, **kw: Any) -> None:
    """A column that wraps on spaces and ends a word too long for it with "…".

    Never ``fold`` (it cuts words in two: ``TextualInve`` / ``rsion``) and never ``crop``
    (letters silently lost): a shortened word always shows its ellipsis.
    """
    table.add_column(header, overflow="ellipsis", **kw)


def _search_table(models: list[Model], console: Console) -> None:
    """The rows of a search page, fitted to the console without cutting a word in two."""
    rows = [
        [
            str(model.id),
            model.name,
            model.type,
            _base_models(model),
            (model.creator.username if model.creator else None) or "-",
            _count(model.stats.download_count if model.stats else None),
            _trained_words(model),
        ]
        for model in models
    ]
    # Short columns keep their longest word whole; Name and Trained words wrap around them.
    type_w = _longest_word(r[2] for r in rows)
    base_w = _longest_word((r[3] for r in rows), 12)
    creator_w = _longest_word((r[4] for r in rows), 14)
    fixed = max(len(r[0]) for r in rows) + max(3, *(len(r[5]) for r in rows)) + type_w + base_w
    with_creator = console.width - fixed - creator_w - 2 * 6 >= 2 * 12
    if not with_creator:  # too narrow: the creator goes under the name
        for r in rows:
            r[1] = f"{r[1]}\nby {r[4]}" if r[4] != "-" else r[1]
    table = new_table()
    table.add_column("ID", no_wrap=True)
    add_wrapped_column(table, "Name", min_width=12)
    add_wrapped_column(table, "Type", min_width=type_w)
    add_wrapped_column(table, "Base model", min_width=base_w)
    if with_creator:
        add_wrapped_column(table, "Creator", min_width=creator_w)
    table.add_column("DLs", justify="right", no_wrap=True)
    add_wrapped_column(table, "Trained words", min_width=12)
    for r in rows:
        table.add_row(*(r if with_creator else r[:4] + r[5:]))
    console.print(table, soft_wrap=False)


def print_search_table(page: Page, console: Console, provider: str) -> None:
    """One row per model: id, name, type, base model, creator, downloads, trained words."""
    if not page.items:
        console.print(f"No models found on {provider}.")
    else:
        _search_table(page.items, console)
    if page.next_cursor:
        console.print(f"More results: --cursor {page.next_cursor}")


def access_notes(model: Model | None, version: ModelVersion) -> list[str]:
    """What stands between a person and this version's files, as short phrases."""
    notes: list[str] = []
    mode = (version.model_mode or (model.mode if model else None) or "").lower()
    if mode == "archived":
        notes.append("archived: its files can no longer be downloaded")
    elif mode == "takendown":
        notes.append("taken down: its files can no longer be downloaded")
    if version.early_access_deadline:
        notes.append(f"early access until {version.early_access_deadline}")
    usage = str(version.extra.get("usageControl") or "")
    if usage and usage.lower() != "download":
        notes.append(f"downloads disabled by the creator ({usage} only)")
    if version.extra.get("requireAuth"):
        notes.append("login required: downloading needs your Civitai API key")
    if (version.availability or "").lower() == "private":
        notes.append("private")
    return notes


def _file_lines(file: ModelFile, primary_mark: str) -> list[str]:
    """Three lines per file: id and name; kind, size, format, scans; SHA256."""
    ident = str(file.id) if file.id is not None else "-"
    variant = " ".join(p for p in (file.format, file.fp, file.size) if p) or "format unknown"
    scans = f"pickle scan {file.pickle_scan or 'n/a'}, virus scan {file.virus_scan or 'n/a'}"
    return [
        f"  {primary_mark}File {ident}: {file.name}",
        f"      {file.type or 'Model'}, {human_size(file.approx_size)}, {variant}; {scans}",
        f"      SHA256 {file.hashes.sha256 or 'unknown'}",
    ]


def print_model_detail(
    model: Model,
    console: Console,
    *,
    selected_version_id: int | None = None,
    nsfw: bool = False,
) -> None:
    """Every version: trained words, access, files (type, size, format, scans, hash), images.

    Preview images above PG are listed only with ``nsfw``; otherwise they are counted.
    """
    from ..sidecars import image_allowed

    creator = (model.creator.username if model.creator else None) or "-"
    console.print(f"{model.name}  [{model.provider} {model.id}]")
    console.print(
        f"Type: {model.type}   Creator: {creator}   NSFW: {'yes' if model.nsfw else 'no'}"
    )
    if model.tags:
        console.print("Tags: " + ", ".join(model.tags))
    if not model.versions:
        console.print("No published versions.")
    hidden_total = 0
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
        notes = access_notes(model, version)
        if notes:
            console.print("  Access: " + "; ".join(notes))
        for file in version.files:
            for line in _file_lines(file, "*" if file.primary else ""):
                console.print(line)
        if not version.files:
            console.print("  No files.")
        shown = [i for i in version.images if image_allowed(i, nsfw)]
        hidden = len(version.images) - len(shown)
        hidden_total += hidden
        if shown or hidden:
            more = f" ({hidden} hidden as NSFW)" if hidden else ""
            console.print(f"  Preview images{more}:" if shown else f"  Preview images:{more}")
        for image in shown:
            level = f" (nsfw level {image.nsfw_level})" if image.nsfw_level else ""
            console.print(f"    {image.url}{level}")
    if hidden_total:
        console.print("")
        console.print(f"{plural(hidden_total, 'NSFW preview')} not listed; --nsfw lists them.")
