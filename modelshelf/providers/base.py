"""The provider interface every catalogue (Civitai, Novita, a future third) implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..types import Model, ModelFile, ModelVersion, Page, SearchQuery

__all__ = ["DownloadSource", "Provider", "iterate_pages"]


@dataclass
class DownloadSource:
    """Where a file's bytes come from.

    ``url`` is asked first with ``headers`` (which may carry the provider's key); any
    redirect it answers is followed *without* those headers. ``expected_sha256`` and
    ``expected_size`` (approximate when it comes from sizeKB) are checked before a file
    is placed; ``filename`` is the provider's name for it (Content-Disposition wins).
    """

    url: str
    filename: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    expected_sha256: str | None = None
    expected_size: int | None = None
    size_is_exact: bool = False
    provider: str = "civitai"
    version_id: int | None = None
    file_id: int | None = None
    expires_at: float | None = None  # epoch seconds after which ``url`` is dead


class Provider(Protocol):
    """A model catalogue."""

    name: str

    def search_page(self, query: SearchQuery, cursor: str | None = None) -> Page:
        """One page of results starting at ``cursor`` (None: the first page)."""
        ...

    def search(self, query: SearchQuery, max_items: int | None = None) -> Iterator[Model]:
        """All results, fetching pages lazily; stops after ``max_items``."""
        ...

    def get_model(self, model_id: int | str) -> Model: ...

    def get_version(self, version_id: int | str) -> ModelVersion: ...

    def resolve_download(self, version: ModelVersion, file: ModelFile) -> DownloadSource:
        """Where to fetch ``file`` of ``version`` from, with the provider's auth headers."""
        ...


def iterate_pages(
    fetch_page: Callable[[str | None], Page],
    max_items: int | None = None,
    *,
    stop_on_empty_page: bool = True,
) -> Iterator[Model]:
    """Yield items page by page, following ``next_cursor`` lazily.

    Stops after ``max_items``, at a page without a cursor, at a cursor already seen (a
    server that loops), and, with ``stop_on_empty_page``, at a page with no items.
    """
    cursor: str | None = None
    seen: set[str] = set()
    count = 0
    from ..cancel import raise_if_cancelled

    while max_items is None or count < max_items:
        raise_if_cancelled()
        page = fetch_page(cursor)
        for model in page.items:
            if max_items is not None and count >= max_items:
                return
            yield model
            count += 1
        cursor = page.next_cursor
        if not cursor or cursor in seen or (stop_on_empty_page and not page.items):
            return
        seen.add(cursor)
