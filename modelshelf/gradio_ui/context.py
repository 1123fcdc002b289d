"""What every view of the UI shares: the Shelf, the host it runs in, and the core's views.

The UI reaches the core only through :class:`~modelshelf.shelf.Shelf`, ``modelshelf.views``
and ``sentence_for``; this object is the one place that calls them for the views.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ModelShelfError

try:
    from ..errors import sentence_for
except ImportError:  # older cores: the command line's one mapping
    from ..cli.common import describe_error

    def sentence_for(exc: BaseException) -> str:
        return describe_error(exc)[0]


__all__ = ["NSFW_LEVELS", "UIContext", "sentence"]

NSFW_LEVELS = (("PG", 1), ("PG-13", 2), ("R", 4), ("X", 8), ("XXX", 16))  # = views.NSFW_LEVELS

log = logging.getLogger(__name__)


def sentence(exc: BaseException | None) -> str:
    """One sentence for a person; an unexpected error is logged, its text is not shown raw."""
    if exc is None:
        return "Something went wrong."
    if not isinstance(exc, ModelShelfError):
        log.warning("Model Shelf UI: unexpected error", exc_info=exc)
    return sentence_for(exc)


@dataclass
class UIContext:
    """The Shelf and how the page was mounted (standalone or inside a WebUI).

    The views module (and what it imports) is loaded on the first call, not at tab build:
    the WebUI's start pays only for the components.
    """

    shelf: Any  # modelshelf.shelf.Shelf, or an object that creates it on first use
    in_webui: bool = False
    default_provider: str = "civitai"
    default_nsfw: str = "PG-13"
    page_size: int = 24  # cards per page (Civitai allows 1-100)

    # -- labels and levels --------------------------------------------------------------
    def nsfw_value(self, label: str | None) -> int:
        """The NSFW level a label names (``views.NSFW_LEVELS``); unknown → the default."""
        levels = dict(NSFW_LEVELS)
        return levels.get(label or "", levels.get(self.default_nsfw, 2))

    def default_nsfw_label(self) -> str:
        return self.default_nsfw if self.default_nsfw in dict(NSFW_LEVELS) else "PG-13"

    def default_provider_label(self) -> str:
        return "Novita" if self.default_provider == "novita" else "Civitai"

    # -- the core's views -----------------------------------------------------------------
    def cards(self, models: Iterable[Any], *, max_nsfw: int) -> list[dict[str, Any]]:
        from .. import views

        models = list(models)
        badges = self.shelf.badges(models) if models else {}
        return [views.model_card(m, badge=badges.get(m.id), max_nsfw=max_nsfw) for m in models]

    def detail(self, model: Any, version_id: int | None, *, max_nsfw: int) -> dict[str, Any]:
        from .. import views

        return views.model_detail(model, version_id, max_nsfw=max_nsfw)

    def reveal_url(self, model: Any, version_id: int | None, index: int) -> str:
        from .. import views

        return views.reveal_image_url(model, version_id, index)

    def job_view(self, job: Any) -> dict[str, Any]:
        from .. import views

        return views.job_view(job)

    def check_ref(self, ref: str) -> None:
        """Refuse a malformed REF now, as a sentence, rather than as a failed job later.

        (``Shelf.start_download`` queues any text; the check belongs there.)
        """
        from ..refs import parse_ref

        parse_ref(ref.strip(), self.shelf.settings.civitai_url)

    def targets(self, model: Any, version: dict[str, Any]) -> dict[Any, str]:
        """Where each file of ``version`` would go (or why it cannot), before any download."""
        from ..layout import target_dir

        out: dict[Any, str] = {}
        layout = getattr(self.shelf, "layout", None)
        for f in version.get("files") or []:
            if layout is None:
                out[f.get("id")] = "Choose a models folder first."
                continue
            try:
                out[f.get("id")] = str(target_dir(layout, model.type, f.get("type")))
            except ModelShelfError as exc:
                out[f.get("id")] = str(exc)
        return out
