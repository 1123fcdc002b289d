"""The provider interface every catalogue (Civitai, Novita, a future third) implements."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import BadInputError
from ..types import Model, ModelFile, ModelVersion, Page, SearchQuery

__all__ = [
    "READ_ON_REQUESTS",
    "DownloadSource",
    "Provider",
    "iterate_pages",
    "join_cursor",
    "read_full_page",
    "split_cursor",
]

READ_ON_REQUESTS = 10  # server pages one search_page may read to fill a page of results
_COMPOSITE = "ms:"  # our cursor: ms:<items of the server page already shown>:<server cursor>


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
        """One page of results starting at ``cursor`` (None: the first page).

        Full where possible: server pages are read on (filtered on our side where the
        server does not) until ``query.limit`` items, the end, or ``READ_ON_REQUESTS``
        requests (``page.bound_reached``). ``page.next_cursor`` continues exactly there.
        """
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
    server that loops), and, with ``stop_on_empty_page``, at a page with no items (with
    :func:`read_full_page` behind ``fetch_page`` that means a whole request bound of
    server pages held no match: reading on could walk the whole catalogue).
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


def split_cursor(cursor: str | None) -> tuple[str | None, int]:
    """``(server cursor, items of that server page to skip)`` for a cursor we handed out.

    A plain server cursor skips nothing; ``ms:<skip>:<server cursor>`` (an empty server
    cursor meaning the first page) resumes inside a server page already partly shown.
    """
    text = (cursor or "").strip()
    if not text:
        return None, 0
    if not text.startswith(_COMPOSITE):
        return text, 0
    skip, sep, server = text[len(_COMPOSITE) :].partition(":")
    if not sep or not skip.isdigit() or len(skip) > 4:
        raise BadInputError(
            f"{text[:60]!r} is not a cursor from a previous page; copy the whole --cursor value."
        )
    return server or None, int(skip)


def join_cursor(server_cursor: str | None, skip: int) -> str | None:
    """The cursor that resumes after ``skip`` items of the page at ``server_cursor``."""
    if skip <= 0:
        return server_cursor
    return f"{_COMPOSITE}{skip}:{server_cursor or ''}"


def read_full_page(
    fetch: Callable[[str | None], Page],
    limit: int,
    cursor: str | None = None,
    *,
    keep: Callable[[Model], bool] | None = None,
    max_requests: int = READ_ON_REQUESTS,
) -> Page:
    """A page of up to ``limit`` kept items, reading server pages on through their cursors.

    ``fetch(server_cursor)`` returns one server page (each asked with the same size, so
    asking again for a cursor gives the same items). Reading stops when ``limit`` items
    are kept, the server has no next page (or repeats a cursor), or ``max_requests`` pages
    were read: then ``bound_reached`` is set and ``next_cursor`` says where to go on.
    ``scanned`` is how many catalogue positions were looked at (a server page with a next
    page covers ``limit`` positions even when the server filtered it down). When the page
    fills in the middle of a server page, ``next_cursor`` is ``ms:<n>:<server cursor>``.
    """
    server_cursor, skip = split_cursor(cursor)
    items: list[Model] = []
    seen: set[str | None] = set()
    requests = scanned = 0
    bound_reached = False
    last: Page | None = None
    next_cursor: str | None = None
    while True:
        window = fetch(server_cursor)
        last = window
        requests += 1
        seen.add(server_cursor)
        used = skip
        for index in range(skip, len(window.items)):
            used = index + 1
            if keep is None or keep(window.items[index]):
                items.append(window.items[index])
                if len(items) >= limit:
                    break
        if len(items) >= limit and used < len(window.items):
            scanned += used - skip
            next_cursor = join_cursor(server_cursor, used)
            break
        covered = limit if window.next_cursor else len(window.items)
        scanned += max(covered - skip, 0)
        skip = 0
        next_cursor = window.next_cursor
        if not next_cursor or next_cursor in seen:
            next_cursor = None
            break
        if len(items) >= limit:
            break
        if requests >= max_requests:
            bound_reached = True
            break
        server_cursor = next_cursor
    return Page(
        items=items,
        next_cursor=next_cursor,
        next_page=last.next_page if next_cursor and next_cursor == last.next_cursor else None,
        page_size=limit,
        provider=last.provider,
        extra=dict(last.extra),
        requests=requests,
        scanned=scanned,
        bound_reached=bound_reached,
    )
