"""HTML for the Browse view, built from the core's JSON-ready views (``modelshelf.views``).

Only rendering lives here: what a card or a detail shows is decided by the views. Every
text is escaped; the one HTML we take as is, ``description_html``, comes sanitised from
the core. Buttons carry ``data-modelshelf-*`` attributes that the page script
(``static/modelshelf.js``) turns into calls of the hidden bridges.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "BADGE_LABELS",
    "button",
    "access_html",
    "cards_html",
    "chips_html",
    "files_html",
    "gallery_html",
    "header_html",
    "message_html",
    "table_html",
]

BADGE_LABELS = {"installed": "Installed", "update": "Update"}
_PARAM_LABELS = (
    ("prompt", "Prompt"),
    ("negative_prompt", "Negative prompt"),
    ("seed", "Seed"),
    ("steps", "Steps"),
    ("sampler", "Sampler"),
    ("cfg_scale", "CFG scale"),
    ("model", "Model"),
)


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _count(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "–"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    return f"{value:g}"


def button(label: str, data: str, value: Any, *, cls: str = "modelshelf-btn") -> str:
    """A page button that the page script maps to a bridge (``data-modelshelf-<data>``)."""
    return (
        f'<button type="button" class="{cls}" data-modelshelf-{data}="{_e(value)}">'
        f"{_e(label)}</button>"
    )


def table_html(headers: Iterable[str], rows: Iterable[str]) -> str:
    """A table of already rendered ``<tr>`` rows."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table class="modelshelf-files"><tr>{head}</tr>{"".join(rows)}</table>'


def message_html(text: str | None, *, kind: str = "info") -> str:
    """One sentence for a person (``kind`` info or error); empty when there is none."""
    if not text:
        return ""
    role = ' role="alert"' if kind == "error" else ""
    return f'<div class="modelshelf-msg modelshelf-msg-{_e(kind)}"{role}>{_e(text)}</div>'


def _picture(thumb: Mapping[str, Any] | None, *, alt: str, extra: str = "") -> str:
    """The thumbnail ``<img>``: the small rendition, or the BlurHash placeholder only."""
    thumb = thumb or {}
    url = thumb.get("url")
    placeholder = thumb.get("placeholder")
    size = ""
    if thumb.get("width") and thumb.get("height"):
        size = f' width="{int(thumb["width"])}" height="{int(thumb["height"])}"'
    if url and not thumb.get("hidden"):
        return f'<img src="{_e(url)}" alt="{_e(alt)}" loading="lazy"{size}{extra}>'
    if placeholder:
        return (
            f'<img src="{_e(placeholder)}" alt="{_e(alt)} (hidden)" class="modelshelf-blur"'
            f"{size}{extra}>"
        )
    return f'<div class="modelshelf-noimg" aria-label="{_e(alt)} (hidden)"></div>'


def cards_html(cards: Iterable[Mapping[str, Any]]) -> str:
    """The results grid; a card opens its model through ``data-modelshelf-open``."""
    parts = []
    for card in cards:
        name = card.get("name") or "?"
        badge = card.get("badge")
        badge_html = ""
        if badge in BADGE_LABELS:
            badge_html = (
                f'<span class="modelshelf-badge modelshelf-badge-{_e(badge)}">'
                f"{BADGE_LABELS[badge]}</span>"
            )
        thumb = card.get("thumbnail") or {}
        veil = ""
        if thumb.get("hidden"):
            veil = f'<span class="modelshelf-veil">NSFW {_e(thumb.get("nsfw_label") or "")}</span>'
        facts = " · ".join(_e(x) for x in (card.get("type"), card.get("base_model")) if x)
        parts.append(
            f'<button type="button" class="modelshelf-card"'
            f' data-modelshelf-open="{_e(card.get("ref"))}"'
            f' title="{_e(name)}">'
            f'<span class="modelshelf-thumb">{_picture(thumb, alt=name)}{veil}{badge_html}</span>'
            f'<span class="modelshelf-card-name">{_e(name)}</span>'
            f'<span class="modelshelf-card-facts">{facts}</span>'
            f'<span class="modelshelf-card-meta"><span>{_e(card.get("creator") or "")}</span>'
            f'<span title="Downloads">⬇ {_count(card.get("downloads"))}</span>'
            f'<span title="Rating">★ {_count(card.get("rating"))}</span></span>'
            "</button>"
        )
    if not parts:
        return message_html("No models match this search.")
    return f'<div class="modelshelf-grid">{"".join(parts)}</div>'


def header_html(detail: Mapping[str, Any]) -> str:
    """Name, type, creator and tags of a model, then its sanitised description."""
    tags = "".join(f'<span class="modelshelf-tag">{_e(t)}</span>' for t in detail.get("tags") or [])
    facts = " · ".join(
        _e(x) for x in (detail.get("type"), detail.get("creator"), detail.get("provider")) if x
    )
    return (
        f'<div class="modelshelf-head"><h2>{_e(detail.get("name"))}</h2>'
        f'<div class="modelshelf-card-facts">{facts}</div><div>{tags}</div></div>'
        f'<div class="modelshelf-desc">{detail.get("description_html") or ""}</div>'
    )


def chips_html(words: Iterable[str], *, in_webui: bool) -> str:
    """Trained words as chips: copy one, copy all; in a WebUI also send to a prompt."""
    words = [w for w in words if w]
    if not words:
        return '<div class="modelshelf-muted">No trained words.</div>'
    chips = "".join(
        f'<button type="button" class="modelshelf-chip" data-modelshelf-copy="{_e(w)}"'
        f' title="Copy">{_e(w)}</button>'
        for w in words
    )
    joined = _e(", ".join(words))
    actions = [
        f'<button type="button" class="modelshelf-link" data-modelshelf-copy="{joined}">'
        "Copy all</button>"
    ]
    if in_webui:
        for tab in ("txt2img", "img2img"):
            actions.append(
                f'<button type="button" class="modelshelf-link" data-modelshelf-send="{tab}"'
                f' data-modelshelf-words="{joined}">Send to {tab}</button>'
            )
    return (
        '<div class="modelshelf-words"><span class="modelshelf-label">Trained words</span>'
        f'{chips}<span class="modelshelf-actions">{"".join(actions)}</span></div>'
    )


def access_html(version: Mapping[str, Any]) -> str:
    """The early-access / key-required sentence of a version, if any."""
    return message_html(version.get("access"), kind="warn")


def _scan(label: str, value: Any) -> str:
    if not value:
        return ""
    kind = "ok" if value == "Success" else ("bad" if value == "Danger" else "meh")
    return f'<span class="modelshelf-scan modelshelf-scan-{kind}">{label}: {_e(value)}</span>'


def files_html(files: Iterable[Mapping[str, Any]], *, ref: str, targets: Mapping[Any, str]) -> str:
    """The files of a version, each with its facts, target folder and a "Download" button.

    ``targets`` maps a file id to the folder it would go to (or a sentence why not).
    """
    rows = []
    for f in files:
        fid = f.get("id")
        facts = " · ".join(
            _e(x) for x in (f.get("type"), f.get("format"), f.get("fp"), f.get("size_kind")) if x
        )
        primary = ' <span class="modelshelf-tag">primary</span>' if f.get("primary") else ""
        rows.append(
            "<tr>"
            f'<td class="modelshelf-fname">{_e(f.get("name"))}{primary}</td>'
            f"<td>{_e(f.get('size_text'))}</td><td>{facts}</td>"
            f"<td>{_scan('Pickle', f.get('pickle_scan'))} "
            f"{_scan('Virus', f.get('virus_scan'))}</td>"
            f'<td class="modelshelf-target" title="Target folder">{_e(targets.get(fid, ""))}</td>'
            '<td><button type="button" class="modelshelf-btn primary"'
            f' data-modelshelf-download="{_e(ref)}"'
            f' data-modelshelf-file="{_e(fid)}">Download</button></td>'
            "</tr>"
        )
    if not rows:
        return '<div class="modelshelf-muted">This version has no files to download.</div>'
    head = (
        "<tr><th>File</th><th>Size</th><th>Format</th><th>Scans</th><th>Goes to</th><th></th></tr>"
    )
    return f'<table class="modelshelf-files">{head}{"".join(rows)}</table>'


def gallery_html(images: Iterable[Mapping[str, Any]], *, revealed: Mapping[int, str]) -> str:
    """Previews with their generation parameters; hidden ones show a placeholder and "reveal".

    ``revealed`` maps an image's index to the URL the person chose to see.
    """
    parts = []
    for index, image in enumerate(images):
        url = revealed.get(index)
        thumb = dict(image)
        if url:
            thumb.update(url=url, hidden=False)
        pic = _picture(thumb, alt=f"Preview {index + 1}")
        reveal = ""
        if thumb.get("hidden"):
            reveal = (
                f'<button type="button" class="modelshelf-link modelshelf-reveal"'
                f' data-modelshelf-reveal="{index}">reveal</button>'
            )
        params = {} if thumb.get("hidden") else image.get("params") or {}  # a hidden prompt too
        rows = "".join(
            f"<dt>{label}</dt><dd>{_e(params[key])}</dd>"
            for key, label in _PARAM_LABELS
            if params.get(key) not in (None, "")
        )
        meta = f'<dl class="modelshelf-params">{rows}</dl>' if rows else ""
        parts.append(f'<figure class="modelshelf-shot">{pic}{reveal}{meta}</figure>')
    if not parts:
        return '<div class="modelshelf-muted">No preview images.</div>'
    return f'<div class="modelshelf-gallery">{"".join(parts)}</div>'
