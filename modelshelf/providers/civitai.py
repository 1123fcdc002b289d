"""The Civitai provider: search, model/version/hash lookups and download sources.

Talks to ``{settings.civitai_url}/api/v1`` (api.md §1). What it never does: send ``page``
(cursor paging only), comma-join ``types``/``baseModels``, send ``favorites``/``hidden``
without a token, send the licence flags (``z.boolean()`` on the server: always a 400; they
are checked on our side, see :mod:`.civitai_query`), put the token in a URL, or send it to
another host. A search page is filled by reading on through the cursor. URLs in payloads
that point at civitai.com / api.civitai.com / civitai.red are rebased onto the configured
root. Answers are cached (``ResponseCache``) keyed without the token, separately for
anonymous and authenticated calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..errors import BadInputError, NotFoundError, ServerError
from ..http import RetryPolicy, build_session, redact_url, request_with_retries, same_host
from ..types import Model, ModelFile, ModelVersion, Page, SearchQuery
from .base import READ_ON_REQUESTS, DownloadSource, iterate_pages, read_full_page
from .civitai_parse import parse_model, parse_page, parse_version
from .civitai_query import DEFAULT_LIMIT, client_filter, search_params
from .civitai_wire import (
    CIVITAI_HOSTS,
    MODEL_TYPES,
    civitai_error,
    rebase_url,
    without_token,
)

if TYPE_CHECKING:
    import requests

    from ..cache import ResponseCache
    from ..settings import Settings

__all__ = ["CIVITAI_HOSTS", "MODEL_TYPES", "CivitaiProvider", "rebase_url"]

log = logging.getLogger(__name__)

_HEX = re.compile(r"[0-9a-fA-F]+")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
BATCH = 100


class CivitaiProvider:
    """Civitai REST API v1 client implementing :class:`~.base.Provider`."""

    name = "civitai"
    read_on_requests = READ_ON_REQUESTS

    def __init__(
        self,
        settings: Settings,
        *,
        cache: ResponseCache | None = None,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
    ):
        self.settings = settings
        self.root = settings.civitai_url.rstrip("/")
        self.api = self.root + "/api/v1"
        self.cache = cache
        self._session = session
        self.policy = policy or RetryPolicy.from_settings(settings)

    # -- plumbing -------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = build_session()
        return self._session

    @property
    def token(self) -> str | None:
        return self.settings.civitai_token or None

    def auth_headers(self, url: str) -> dict[str, str]:
        """``Authorization: Bearer`` for URLs on the configured root's host, else nothing."""
        if self.token and same_host(url, self.root):
            return {"Authorization": f"Bearer {self.token}"}
        return {}

    def _scope(self) -> str:
        if not self.token:
            return "anon"
        return "key:" + hashlib.sha256(self.token.encode("utf-8")).hexdigest()[:12]

    def _cache_key(self, method: str, url: str, params: Any, body: Any) -> str:
        query = urlencode(params or [])
        payload = json.dumps(body, sort_keys=True) if body is not None else ""
        return f"civitai {self._scope()} {method} {url}?{query} {payload}"

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
    ) -> Any:
        """The decoded JSON answer of ``method {api}{path}``, from the cache when fresh."""
        url = self.api + path
        key = self._cache_key(method, url, params, body)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                return hit
        response = request_with_retries(
            self.session,
            method,
            url,
            params=params,
            json=body,
            headers=self.auth_headers(url),
            policy=self.policy,
            provider=self.name,
        )
        try:
            data = self._decode(response, what)
        finally:
            response.close()
        if self.cache is not None:
            self.cache.put(key, data)
        return data

    def _decode(self, response: requests.Response, what: str) -> Any:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "").lower()
        try:
            data = response.json()
            is_json = "html" not in content_type
        except ValueError:
            data, is_json = None, False
        if 200 <= status < 300:
            if not is_json:
                raise ServerError(
                    f"Civitai answered {what} with a web page instead of data (HTTP {status}, "
                    f"{content_type or 'no content type'}); it may be blocking this client, "
                    "try again later.",
                    status=status,
                    provider=self.name,
                )
            return data
        raise civitai_error(status, data if is_json else None, what=what, has_key=bool(self.token))

    def _rebase_model(self, model: Model) -> Model:
        for version in model.versions:
            self._rebase_version(version)
        return model

    def _rebase_version(self, version: ModelVersion) -> ModelVersion:
        version.download_url = rebase_url(version.download_url, self.root)
        for f in version.files:
            f.download_url = rebase_url(f.download_url, self.root)
        return version

    # -- search ---------------------------------------------------------------------
    def search_params(self, query: SearchQuery, cursor: str | None = None) -> list[tuple[str, str]]:
        """The query string for ``GET /models`` (see :mod:`.civitai_query`)."""
        return search_params(
            query, cursor, has_token=bool(self.token), nsfw_setting=bool(self.settings.nsfw)
        )

    def _search_window(self, query: SearchQuery, cursor: str | None) -> Page:
        """One server page of ``/models`` at ``cursor``, exactly as the server cut it."""
        data = self._call(
            "GET", "/models", what="the model search", params=self.search_params(query, cursor)
        )
        page = parse_page(data)
        for model in page.items:
            self._rebase_model(model)
        if page.next_page:
            page.next_page = without_token(rebase_url(page.next_page, self.root) or "")
        return page

    def search_page(self, query: SearchQuery, cursor: str | None = None) -> Page:
        """A full page of ``/models`` from ``cursor`` (None: the first page).

        With ``query`` the server filters each window of hits after the fact, and some
        filters it cannot apply at all (licence flags, an unknown tag), so server pages are
        read on until the page is full (see :func:`.base.read_full_page`).
        """
        self.search_params(query)  # refuse bad input before any request
        limit = DEFAULT_LIMIT if query.limit is None else int(query.limit)
        try:
            return read_full_page(
                lambda server_cursor: self._search_window(query, server_cursor),
                limit,
                cursor,
                keep=client_filter(query),
                max_requests=self.read_on_requests,
            )
        except NotFoundError as exc:
            name = (query.username or "").strip()
            if name and getattr(exc, "status", None) == 404:  # the list's only 404
                raise NotFoundError(
                    f"Civitai has no creator named {name[:80]!r}; check the name on their "
                    "profile page.",
                    status=404,
                    provider=self.name,
                ) from None
            raise

    def search(self, query: SearchQuery, max_items: int | None = None) -> Iterator[Model]:
        """Every result, fetching pages lazily by ``nextCursor``; stops after ``max_items``."""
        return iterate_pages(lambda cursor: self.search_page(query, cursor), max_items)

    # -- lookups --------------------------------------------------------------------
    def get_model(self, model_id: int | str) -> Model:
        mid = _positive_int(model_id, "model id")
        data = self._call("GET", f"/models/{mid}", what=f"model {mid}")
        return self._rebase_model(parse_model(data))

    def get_models(self, ids: list[int]) -> list[Model]:
        """Several models by id (``ids=`` batches of 100); unknown ids are simply absent."""
        wanted = list(dict.fromkeys(_positive_int(i, "model id") for i in ids))
        found: dict[int, Model] = {}
        for start in range(0, len(wanted), BATCH):
            chunk = wanted[start : start + BATCH]
            base = [("ids", ",".join(map(str, chunk))), ("limit", str(BATCH)), ("nsfw", "true")]
            cursor: str | None = None
            seen: set[str] = set()
            while True:
                params = base + ([("cursor", cursor)] if cursor else [])
                page = parse_page(self._call("GET", "/models", what="the models", params=params))
                for model in page.items:
                    if isinstance(model.id, int):
                        found[model.id] = self._rebase_model(model)
                if not page.next_cursor or not page.items or page.next_cursor in seen:
                    break
                seen.add(page.next_cursor)
                cursor = page.next_cursor
        return [found[i] for i in wanted if i in found]

    def raw_version_json(self, version_id: int | str) -> dict[str, Any]:
        """``/model-versions/{id}`` as the API sent it (for ``.civitai.info`` sidecars)."""
        vid = _positive_int(version_id, "version id")
        data = self._call("GET", f"/model-versions/{vid}", what=f"model version {vid}")
        if not isinstance(data, dict):
            raise ServerError(f"Civitai sent no version data for {vid}; try again later.")
        return data

    def get_version(self, version_id: int | str) -> ModelVersion:
        return self._rebase_version(parse_version(self.raw_version_json(version_id)))

    def get_version_by_hash(self, hash: str) -> ModelVersion:  # noqa: A002 - API wording
        """The version holding a file with this hash (any kind: AutoV1/V2/V3, SHA256, ...)."""
        value = (hash or "").strip()
        if not _HEX.fullmatch(value) or not 8 <= len(value) <= 64:
            raise BadInputError(f"{value!r} is not a file hash (8 to 64 hex characters).")
        data = self._call(
            "GET", f"/model-versions/by-hash/{value.upper()}", what=f"a file with hash {value}"
        )
        return self._rebase_version(parse_version(data))

    def get_versions_by_hashes(self, sha256s: list[str]) -> list[ModelVersion]:
        """Versions for many SHA256 hashes (bulk POST, 100 a call); unmatched are absent."""
        hashes: list[str] = []
        for value in sha256s:
            text = (value or "").strip()
            if not _SHA256.fullmatch(text):
                raise BadInputError(f"{text!r} is not a SHA256 hash (64 hex characters).")
            hashes.append(text.upper())
        hashes = list(dict.fromkeys(hashes))
        out: list[ModelVersion] = []
        for start in range(0, len(hashes), BATCH):
            chunk = hashes[start : start + BATCH]
            data = self._call(
                "POST", "/model-versions/by-hash", what=f"{len(chunk)} file hashes", body=chunk
            )
            for item in data if isinstance(data, list) else []:
                if isinstance(item, dict):
                    out.append(self._rebase_version(parse_version(item)))
        return out

    # -- downloads ------------------------------------------------------------------
    def resolve_download(self, version: ModelVersion, file: ModelFile) -> DownloadSource:
        """The download URL on the configured root, with Bearer auth only for that host."""
        url = rebase_url(file.download_url, self.root) if file.download_url else None
        if not url:
            url = f"{self.root}/api/download/models/{version.id}?fileId={file.id}"
        url = without_token(url)
        log.debug("download source for %s: %s", file.name, redact_url(url))
        return DownloadSource(
            url=url,
            filename=file.name,
            headers=self.auth_headers(url),
            expected_sha256=file.hashes.sha256.lower() if file.hashes.sha256 else None,
            expected_size=file.approx_size,
            size_is_exact=False,
            provider=self.name,
            version_id=version.id,
            file_id=file.id,
        )


def _positive_int(value: int | str, what: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        number = 0
    if not 1 <= number <= 2147483647:
        raise BadInputError(f"{value!r} is not a valid Civitai {what} (a positive number).")
    return number
