"""The Browse view: filters, the cards grid with cursor paging, and a model's detail.

Handlers take the values of Gradio components and return values (or ``gr.update``) for
them; every failure becomes one sentence on the page (``sentence_for``), never a
traceback. Searching, opening and reveal are short calls; downloads are only *started*
here (the queue runs them on its own threads).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from ..providers.civitai_wire import COMMERCIAL_USE, MODEL_TYPES, PERIODS, SORTS
from . import compat, render
from .context import UIContext, sentence

__all__ = ["BASE_MODELS", "NSFW_CHOICES", "PROVIDERS", "BrowseHandlers", "build_browse"]

log = logging.getLogger(__name__)

PROVIDERS = [("Civitai", "civitai"), ("Novita", "novita")]
BASE_MODELS = (
    *("SD 1.5", "SD 2.1", "SDXL 1.0", "Pony", "Illustrious", "NoobAI", "SD 3.5"),
    *("Flux.1 D", "Flux.1 S", "Flux.1 Kontext", "Hunyuan Video", "Wan Video", "Qwen", "Other"),
)
NSFW_CHOICES = ["PG", "PG-13", "R", "X", "XXX"]  # the labels of views.NSFW_LEVELS
DEFAULT_NSFW = "PG-13"
ANY = "Any"
_REF_LIKE = re.compile(r"^(\d+(@\d+)?|(urn:)?air:.*|novita:.*|\S*://\S*|[\w.-]+\.\w+/\S*)$", re.I)


@dataclass
class BrowseState:
    """Per page (session): the last search and the cursors of every page seen."""

    provider: str = "civitai"
    query: Any = None  # modelshelf.types.SearchQuery
    cursors: list[str | None] = field(default_factory=lambda: [None])
    index: int = 0
    next_cursor: str | None = None
    max_nsfw: int = 2


@dataclass
class DetailState:
    """The model shown in the detail panel."""

    model: Any = None  # modelshelf.types.Model
    version_id: int | None = None
    revealed: dict[int, str] = field(default_factory=dict)
    max_nsfw: int = 2


def _opt(flag: object) -> bool | None:
    return True if flag else None


def _tri(choice: str | None) -> bool | None:
    return {"Yes": True, "No": False}.get(choice or "")


class BrowseHandlers:
    """The Browse view's event handlers (plain methods, testable without a page)."""

    def __init__(self, ctx: UIContext):
        self.ctx = ctx

    # -- search and paging ------------------------------------------------------------
    def build_query(self, text: str, filters: dict[str, Any]):
        """The SearchQuery of the search box and the filters."""
        from ..types import SearchQuery

        max_nsfw = self.ctx.nsfw_value(filters.get("nsfw"))
        return SearchQuery(
            query=(text or "").strip() or None,
            types=list(filters.get("types") or []),
            base_models=list(filters.get("base_models") or []),
            sort=filters.get("sort") or None,
            period=filters.get("period") or None,
            tag=(filters.get("tag") or "").strip() or None,
            username=(filters.get("creator") or "").strip() or None,
            nsfw=True if max_nsfw > 1 else None,
            limit=self.ctx.page_size,
            primary_file_only=_opt(filters.get("primary_only")),
            allow_no_credit=_opt(filters.get("no_credit")),
            allow_derivatives=_opt(filters.get("derivatives")),
            allow_different_licenses=_opt(filters.get("different_license")),
            allow_commercial_use=None
            if filters.get("commercial") in (None, "", ANY)
            else filters["commercial"],
            supports_generation=_opt(filters.get("supports_generation")),
            visibility=None
            if filters.get("visibility") in (None, "", ANY)
            else filters["visibility"],
            is_sdxl=_tri(filters.get("sdxl")),
            is_inpainting=_tri(filters.get("inpainting")),
        )

    def search(self, state: BrowseState, provider: str, text: str, filters: dict[str, Any]):
        """A new search (page 1). Returns (state, grid html, pager label, prev, next, message)."""
        text = (text or "").strip()
        if text and _REF_LIKE.match(text) and " " not in text:
            return (state, None, None, None, None, "ref")
        state = BrowseState(provider=provider or "civitai")
        state.max_nsfw = self.ctx.nsfw_value(filters.get("nsfw"))
        try:
            state.query = self.build_query(text, filters)
        except Exception as exc:  # noqa: BLE001 - bad filter values become a sentence
            return self._failed(state, exc)
        return self._load(state, 0)

    def page(self, state: BrowseState, step: int):
        """Previous (-1) or next (+1) page; previous pages come from their stored cursor."""
        if state is None or state.query is None:
            return self._failed(BrowseState(), None, "Search first.")
        target = state.index + step
        if target < 0:
            return self._load(state, 0)
        if target >= len(state.cursors):
            if not state.next_cursor:
                return self._load(state, state.index)
            state.cursors.append(state.next_cursor)
        return self._load(state, target)

    def _load(self, state: BrowseState, index: int):
        try:
            page = self.ctx.shelf.search(
                state.query, provider=state.provider, cursor=state.cursors[index]
            )
            cards = self.ctx.cards(page.items, max_nsfw=state.max_nsfw)
        except Exception as exc:  # noqa: BLE001
            return self._failed(state, exc)
        state.index = index
        state.next_cursor = page.next_cursor
        del state.cursors[index + 1 :]
        if page.next_cursor:
            state.cursors.append(page.next_cursor)
        label = f"Page {index + 1}"
        return (
            state,
            render.cards_html(cards),
            label,
            gr.update(interactive=index > 0),
            gr.update(interactive=bool(page.next_cursor)),
            "",
        )

    def _failed(self, state: BrowseState, exc: BaseException | None, text: str | None = None):
        message = text or sentence(exc)
        return (
            state,
            gr.update(),
            gr.update(),
            gr.update(),
            gr.update(),
            render.message_html(message, kind="error"),
        )

    # -- detail -----------------------------------------------------------------------
    def open(self, ref: str, provider: str | None, nsfw: str | None, in_webui: bool):
        """Open a model from a card or a pasted REF. Returns the detail outputs."""
        ref = (ref or "").strip()
        detail = DetailState()
        try:
            if ref.startswith("novita:") or provider == "novita" and not _REF_LIKE.match(ref):
                model, version = self.ctx.shelf.lookup(ref if ":" in ref else f"novita:{ref}")
            else:
                model, version = self.ctx.shelf.lookup(ref)
            if model is None:
                model = self.ctx.shelf.model(version.model_id)
            detail.model = model
            detail.version_id = version.id
        except Exception as exc:  # noqa: BLE001
            return self._detail_failed(detail, exc)
        return self.show(detail, detail.version_id, nsfw, in_webui)

    def show(self, detail: DetailState, version_id: Any, nsfw: str | None, in_webui: bool):
        """(Re)render the detail for ``version_id`` of the model in ``detail``."""
        if detail is None or detail.model is None:
            return self._detail_failed(DetailState(), None, "Open a model first.")
        try:
            vid = int(version_id) if version_id not in (None, "") else detail.version_id
        except (TypeError, ValueError):
            vid = detail.version_id
        if vid != detail.version_id:
            detail.revealed = {}
        detail.version_id = vid
        detail.max_nsfw = self.ctx.nsfw_value(nsfw)
        try:
            view = self.ctx.detail(detail.model, vid, max_nsfw=detail.max_nsfw)
            version = view.get("version") or {}
            targets = self.ctx.targets(detail.model, version)
        except Exception as exc:  # noqa: BLE001
            return self._detail_failed(detail, exc)
        choices = [
            (f"{v['name']} ({v.get('base_model') or '?'})", v["id"]) for v in view["versions"]
        ]
        return (
            detail,
            gr.update(visible=True),
            render.header_html(view),
            gr.update(choices=choices, value=version.get("id")),
            render.access_html(version)
            + render.chips_html(version.get("trained_words") or [], in_webui=in_webui),
            render.files_html(
                version.get("files") or [], ref=version.get("ref") or "", targets=targets
            ),
            render.gallery_html(version.get("images") or [], revealed=detail.revealed),
            "",
        )

    def reveal(self, detail: DetailState, index: Any):
        """Show one hidden preview because the person asked for it."""
        try:
            i = int(index)
            url = self.ctx.reveal_url(detail.model, detail.version_id, i)
        except Exception as exc:  # noqa: BLE001
            return gr.update(), render.message_html(sentence(exc), kind="error")
        detail.revealed[i] = url
        view = self.ctx.detail(detail.model, detail.version_id, max_nsfw=detail.max_nsfw)
        images = (view.get("version") or {}).get("images") or []
        return render.gallery_html(images, revealed=detail.revealed), ""

    def _detail_failed(
        self, detail: DetailState, exc: BaseException | None, text: str | None = None
    ):
        message = text or sentence(exc)
        return (
            detail,
            gr.update(),
            gr.update(),
            gr.update(),
            gr.update(),
            gr.update(),
            gr.update(),
            render.message_html(message, kind="error"),
        )

    # -- downloads ----------------------------------------------------------------------
    def download(self, arg: str):
        """Queue one file (``REF|FILE_ID``); the queue panel follows it."""
        ref, _, file_id = (arg or "").partition("|")
        try:
            fid = int(file_id) if file_id.strip() else None
            self.ctx.check_ref(ref)
            job = self.ctx.shelf.start_download(ref.strip(), file_id=fid)
        except Exception as exc:  # noqa: BLE001
            return render.message_html(sentence(exc), kind="error")
        name = self.ctx.job_view(job).get("name") or ref
        return render.message_html(f"Queued {name}: follow it under Downloads.")


def build_browse(ctx: UIContext, actions: dict[str, Any]) -> dict[str, Any]:
    """Create the Browse view's components in the current Blocks and wire them.

    ``actions`` receives what the buttons inside our HTML do (see ``app.BRIDGE``).
    """
    h = BrowseHandlers(ctx)
    state = gr.State(BrowseState())
    detail_state = gr.State(DetailState())
    with gr.Row(equal_height=False):
        provider = gr.Radio(
            choices=[label for label, _ in PROVIDERS],
            value=ctx.default_provider_label(),
            label="Provider",
            elem_id="modelshelf_provider",
        )
        nsfw = gr.Dropdown(
            choices=NSFW_CHOICES,
            value=ctx.default_nsfw_label(),
            label="NSFW",
            elem_id="modelshelf_nsfw",
        )
    with gr.Row(equal_height=True):
        text = gr.Textbox(
            label="Search",
            placeholder="Name, tag… or paste a model URL, id or AIR",
            elem_id="modelshelf_search_text",
            scale=5,
        )
        go = gr.Button("Search", variant="primary", elem_id="modelshelf_search", scale=1)
    with gr.Accordion("Filters", open=False, elem_id="modelshelf_filters"):
        with gr.Row():
            types = gr.Dropdown(list(MODEL_TYPES), multiselect=True, label="Type")
            bases = gr.Dropdown(list(BASE_MODELS), multiselect=True, label="Base model")
            sort = gr.Dropdown(list(SORTS), value=None, label="Sort")
            period = gr.Dropdown(list(PERIODS), value=None, label="Period")
        with gr.Row():
            tag = gr.Textbox(label="Tag")
            creator = gr.Textbox(label="Creator")
            commercial = gr.Dropdown([ANY, *COMMERCIAL_USE], value=ANY, label="Commercial use")
        with gr.Row():
            primary = gr.Checkbox(label="Primary file only")
            no_credit = gr.Checkbox(label="No credit required")
            derivatives = gr.Checkbox(label="Derivatives allowed")
            diff_license = gr.Checkbox(label="Different licence allowed")
            supports = gr.Checkbox(label="Supports generation")
        with gr.Row():
            visibility = gr.Dropdown(
                [ANY, "public", "private"], value=ANY, label="Novita visibility"
            )
            sdxl = gr.Dropdown([ANY, "Yes", "No"], value=ANY, label="Novita SDXL")
            inpainting = gr.Dropdown([ANY, "Yes", "No"], value=ANY, label="Novita inpainting")
    message = gr.HTML(elem_id="modelshelf_browse_msg")
    grid = gr.HTML(elem_id="modelshelf_grid")
    with gr.Row(elem_id="modelshelf_pager"):
        prev = gr.Button("Previous page", interactive=False, elem_id="modelshelf_prev", size="sm")
        label = gr.Markdown("", elem_id="modelshelf_page_label")
        nxt = gr.Button("Next page", interactive=False, elem_id="modelshelf_next", size="sm")
    with gr.Group(visible=False, elem_id="modelshelf_detail") as detail_box:
        header = gr.HTML()
        version = gr.Dropdown(label="Version", choices=[], elem_id="modelshelf_version")
        words = gr.HTML(elem_id="modelshelf_words")
        files = gr.HTML(elem_id="modelshelf_files")
        gallery = gr.HTML(elem_id="modelshelf_gallery")
    detail_msg = gr.HTML(elem_id="modelshelf_detail_msg")

    filter_inputs = [
        types,
        bases,
        sort,
        period,
        tag,
        creator,
        commercial,
        primary,
        no_credit,
        derivatives,
        diff_license,
        supports,
        visibility,
        sdxl,
        inpainting,
        nsfw,
    ]
    names = [
        "types",
        "base_models",
        "sort",
        "period",
        "tag",
        "creator",
        "commercial",
        "primary_only",
        "no_credit",
        "derivatives",
        "different_license",
        "supports_generation",
        "visibility",
        "sdxl",
        "inpainting",
        "nsfw",
    ]
    in_webui = ctx.in_webui
    detail_outputs = [detail_state, detail_box, header, version, words, files, gallery, detail_msg]

    def do_search(st, prov_label, txt, *values):
        filters = dict(zip(names, values, strict=True))
        prov = dict(PROVIDERS).get(prov_label, "civitai")
        out = h.search(st, prov, txt, filters)
        if out[-1] == "ref":  # a pasted REF opens that model
            opened = h.open(txt, prov, filters.get("nsfw"), in_webui)
            return (st, gr.update(), gr.update(), gr.update(), gr.update(), "", *opened)
        keep = [gr.update()] * (len(detail_outputs) - 1)
        return (*out, *keep, "")  # a new search clears the last detail message

    search_outputs = [state, grid, label, prev, nxt, message, *detail_outputs]
    for trigger in (go.click, text.submit):
        trigger(
            do_search,
            [state, provider, text, *filter_inputs],
            search_outputs,
            api_name=False,
            show_progress="minimal",
            **compat.light(),
        )
    page_outputs = [state, grid, label, prev, nxt, message]
    for button, step in ((prev, -1), (nxt, +1)):
        button.click(
            lambda st, step=step: h.page(st, step),
            state,
            page_outputs,
            api_name=False,
            show_progress="minimal",
            **compat.light(),
        )

    actions["open"] = (
        lambda ref, prov_label, level: h.open(
            ref, dict(PROVIDERS).get(prov_label), level, in_webui
        ),
        [provider, nsfw],
        detail_outputs,
    )
    version.input(
        lambda d, v, level: h.show(d, v, level, in_webui),
        [detail_state, version, nsfw],
        detail_outputs,
        api_name=False,
        **compat.light(),
    )
    actions["reveal"] = (lambda i, d: h.reveal(d, i), [detail_state], [gallery, detail_msg])
    actions["download"] = (h.download, [], [detail_msg])
    actions["refresh"] = (lambda _arg, st: h.page(st, 0), [state], page_outputs)
    return {
        "provider": provider,
        "text": text,
        "go": go,
        "grid": grid,
        "next": nxt,
        "prev": prev,
        "state": state,
        "label": label,
        "message": message,
        "handlers": h,
    }
