"""Novita AI model catalogue: ``GET {novita_url}/v3/model`` with a Bearer key.

- Every ``filter.*`` parameter of the documentation is sent (``filter.visibility``,
  ``filter.source``, ``filter.types``, ``filter.is_sdxl``, ``filter.query``,
  ``filter.is_inpainting``), with ``pagination.limit`` (a string in (0, 100]) and
  ``pagination.cursor`` (``c_``-prefixed). Results end when ``next_cursor`` is empty or
  missing, or after a short page.
- Novita has no filter for base model, tag or NSFW: those of a :class:`SearchQuery` (NSFW
  off unless the query or the settings allow it) are applied here, reading on through the
  cursor to fill the page (:func:`.base.read_full_page`).
- There is no get-by-id endpoint. :meth:`NovitaProvider.get_model` answers from the models
  this provider has already seen, else (an id that is not a number) searches
  ``filter.query`` for an exact ``sd_name``/``sd_name_in_api``/``name``, else pages through
  the catalogue (private models first) for at most ``max_scan_pages`` pages.
- Downloads: only private models carry ``download_url`` (a signed URL valid
  ``download_url_ttl`` seconds). A public model is a copy of a Civitai version: resolving
  its download raises :class:`CivitaiDownloadRequired` carrying ``civitai_version_id``, so the
  download layer can ask Civitai for that version instead.
- The key goes only in the ``Authorization`` header of requests to ``novita_url``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import (
    BadInputError,
    CivitaiDownloadRequired,
    NeedsApiKeyError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    error_for_status,
)
from ..http import RetryPolicy, build_session, request_with_retries
from ..types import Model, ModelFile, ModelVersion, Page, SearchQuery
from .base import READ_ON_REQUESTS, DownloadSource, iterate_pages, read_full_page
from .novita_parse import parse_page

if TYPE_CHECKING:
    import requests

    from ..settings import Settings

__all__ = ["CivitaiDownloadRequired", "NovitaProvider", "novita_error"]  # the error: errors.py

log = logging.getLogger(__name__)

MODEL_PATH = "/v3/model"
MAX_LIMIT = 100
KEY_HELP = "set NOVITA_API_KEY (or the Novita key in the settings) to a key from novita.ai"
_CURSOR = re.compile(r"c_[A-Za-z0-9_=+/\-]{1,512}", re.ASCII)


def _bool_param(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def novita_error(status: int, body: Any, key: str | None = None) -> Exception:
    """Our error for a non-2xx Novita answer whose JSON body is ``body`` (may be anything)."""
    reason = message = ""
    if isinstance(body, dict):
        reason = str(body.get("reason") or "")[:60]
        message = str(body.get("message") or "")[:200]
    if key and message:
        message = message.replace(key, "***")
    if reason in ("MISSING_API_KEY", "INVALID_API_KEY"):
        status = 401
    said = ": ".join(part for part in (reason, message if 400 <= status < 500 else "") if part)
    return error_for_status(
        status, provider="novita", what="the model list", message=said or None, has_key=bool(key)
    )


class NovitaProvider:
    """The Novita AI catalogue (see the module docstring for what it can and cannot do)."""

    name = "novita"
    read_on_requests = READ_ON_REQUESTS

    def __init__(
        self,
        settings: Settings,
        *,
        cache: Any = None,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        max_scan_pages: int = 20,
    ):
        root = (settings.novita_url or "").rstrip("/")
        if not re.match(r"https?://[^/?#@\s]+(/[^?#\s]*)?$", root):
            raise BadInputError(
                f"The Novita URL {root!r} is not an http(s) URL; fix MODELSHELF_NOVITA_URL."
            )
        self.root = root
        self._key = settings.novita_key or None
        self._cache = cache
        self._session = session
        self._policy = policy or RetryPolicy.from_settings(settings)
        self.max_scan_pages = max_scan_pages
        self._nsfw = bool(settings.nsfw)
        self._seen: dict[str, Model] = {}

    # -- HTTP --------------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = build_session()
        return self._session

    def _cache_key(self, params: list[tuple[str, str]]) -> str:
        account = hashlib.sha256(self._key.encode()).hexdigest()[:16] if self._key else "-"
        query = "&".join(f"{k}={v}" for k, v in params)
        return f"novita:{account}:{self.root}{MODEL_PATH}?{query}"

    def _cache_get(self, key: str) -> Any:
        if self._cache is None:
            return None
        try:
            return self._cache.get(key)
        except Exception as exc:  # a broken cache must never break a search
            log.warning("response cache read failed: %s", type(exc).__name__)
            return None

    def _cache_put(self, key: str, value: Any) -> None:
        if self._cache is None:
            return
        try:
            self._cache.put(key, value)
        except Exception as exc:
            log.warning("response cache write failed: %s", type(exc).__name__)

    def _get_models(self, params: list[tuple[str, str]]) -> tuple[Any, float]:
        """The JSON of ``/v3/model`` with ``params`` and when it was fetched."""
        if not self._key:
            raise NeedsApiKeyError(
                f"Novita needs an API key: {KEY_HELP}.", status=None, provider="novita"
            )
        key = self._cache_key(params)
        cached = self._cache_get(key)
        if isinstance(cached, dict) and "body" in cached:
            return cached["body"], float(cached.get("fetched_at") or time.time())
        url = self.root + MODEL_PATH
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        try:
            response = request_with_retries(
                self.session,
                "GET",
                url,
                params=params,
                headers=headers,
                policy=self._policy,
                provider="novita",
                allow_redirects=False,
            )
        except RateLimitedError as exc:
            raise RateLimitedError(
                "Novita is rate limiting requests (RATE_LIMIT_EXCEEDED); "
                "wait a minute and try again.",
                retry_after=exc.retry_after,
                status=429,
                provider="novita",
            ) from None
        with response:
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code != 200:
                raise novita_error(response.status_code, body, self._key)
        if not isinstance(body, dict):
            raise ServerError(
                "Novita answered something that is not a model list; try again later.",
                status=200,
                provider="novita",
            )
        fetched_at = time.time()
        self._cache_put(key, {"body": body, "fetched_at": fetched_at})
        return body, fetched_at

    # -- search ------------------------------------------------------------------------
    @staticmethod
    def _limit(query: SearchQuery) -> int:
        limit = MAX_LIMIT if query.limit is None else query.limit
        if not 0 < limit <= MAX_LIMIT:
            raise BadInputError(f"Novita pages hold 1 to {MAX_LIMIT} models; got {limit}.")
        return limit

    def build_params(self, query: SearchQuery, cursor: str | None = None) -> list[tuple[str, str]]:
        """The ``/v3/model`` query parameters for ``query`` (ordered, for caching)."""
        params: list[tuple[str, str]] = []

        def add(name: str, value: str | None) -> None:
            if value not in (None, ""):
                params.append((name, value))

        add("filter.visibility", query.visibility)
        add("filter.source", query.source)
        if query.types:
            add("filter.types", ",".join(t.strip().lower() for t in query.types if t.strip()))
        add("filter.is_sdxl", _bool_param(query.is_sdxl))
        add("filter.query", query.query.strip() if query.query else None)
        add("filter.is_inpainting", _bool_param(query.is_inpainting))
        add("pagination.limit", str(self._limit(query)))
        if cursor is not None:
            if not _CURSOR.fullmatch(cursor):
                raise BadInputError(
                    f"{cursor[:40]!r} is not a Novita cursor; use the next_cursor of a previous "
                    "page (it starts with c_)."
                )
            add("pagination.cursor", cursor)
        for name, value in sorted(query.extra_params.items()):
            add(name, value)
        return params

    def _keep(self, query: SearchQuery) -> Callable[[Model], bool]:
        """What Novita cannot filter: NSFW (off unless the query or settings allow it),
        base model and tag (case-insensitive)."""
        hide_nsfw = query.nsfw is False or (query.nsfw is None and not self._nsfw)
        wanted = {b.lower() for b in query.base_models if b.strip()}
        tag = (query.tag or "").strip().lower()

        def keep(model: Model) -> bool:
            if hide_nsfw and model.nsfw:
                return False
            if wanted and not {b.lower() for b in model.base_models} & wanted:
                return False
            return not (tag and tag not in {t.lower() for t in model.tags})

        return keep

    def _search_window(self, query: SearchQuery, cursor: str | None) -> Page:
        """One server page of ``/v3/model`` at ``cursor``, unfiltered."""
        limit = self._limit(query)
        body, fetched_at = self._get_models(self.build_params(query, cursor))
        page = parse_page(body, limit=limit, fetched_at=fetched_at)
        for model in page.items:
            self._seen[str(model.id)] = model
        return page

    def search_page(self, query: SearchQuery, cursor: str | None = None) -> Page:
        """A full page of ``/v3/model`` from ``cursor`` (None: the first page), filtered on
        our side and read on through the cursor (see :func:`.base.read_full_page`)."""
        limit = self._limit(query)
        return read_full_page(
            lambda server_cursor: self._search_window(query, server_cursor),
            limit,
            cursor,
            keep=self._keep(query),
            max_requests=self.read_on_requests,
        )

    def search(self, query: SearchQuery, max_items: int | None = None) -> Iterator[Model]:
        """Every result, one page at a time; stops after ``max_items``."""
        return iterate_pages(lambda cursor: self.search_page(query, cursor), max_items)

    # -- lookups -----------------------------------------------------------------------
    def get_model(self, model_id: int | str) -> Model:
        """The model with Novita id ``model_id`` (or exact ``sd_name``); see the module doc."""
        wanted = str(model_id).strip()
        if not wanted:
            raise BadInputError("A Novita model reference needs an id: novita:ID.")
        if wanted in self._seen:
            return self._seen[wanted]
        if not wanted.isdigit():
            query = SearchQuery(query=wanted, limit=MAX_LIMIT, nsfw=True)  # a lookup, not a browse
            for model in self.search(query, max_items=MAX_LIMIT * 3):
                names = {
                    str(model.extra.get(k) or "").lower()
                    for k in ("sd_name", "sd_name_in_api", "novita_name")
                }
                if wanted.lower() in names:
                    return model
            raise NotFoundError(
                f"Novita has no model named {wanted[:80]!r}; "
                "find it with: modelshelf search --provider novita NAME.",
                provider="novita",
            )
        for visibility in ("private", "public"):
            query = SearchQuery(visibility=visibility, limit=MAX_LIMIT, nsfw=True)
            for model in self.search(query, max_items=MAX_LIMIT * self.max_scan_pages):
                if str(model.id) == wanted:
                    return model
        raise NotFoundError(
            f"Novita model {wanted} was not found in the first {MAX_LIMIT * self.max_scan_pages} "
            "models (Novita has no lookup by id); use novita:SD_NAME or "
            "modelshelf search --provider novita NAME.",
            provider="novita",
        )

    def get_version(self, version_id: int | str) -> ModelVersion:
        """A Novita model's only version (its id is the model's id)."""
        return self.get_model(version_id).versions[0]

    def resolve_download(self, version: ModelVersion, file: ModelFile) -> DownloadSource:
        """The signed ``download_url`` of a private model.

        A public model has none: this raises :class:`CivitaiDownloadRequired` with its
        ``civitai_version_id`` (download it from Civitai), or NotFoundError when the
        Civitai version is unknown too.
        """
        from .novita_target import resolve_novita

        target = resolve_novita(version, file=file)  # the one place that decides
        if target.via_civitai:
            vid = int(target.civitai_version_id or 0)
            raise CivitaiDownloadRequired(
                f"Novita serves only your private models; {file.name or 'this model'} is "
                f"Civitai version {vid}, download it with: "
                f"modelshelf download {civitai_vid_ref(vid)}.",
                civitai_version_id=vid,
                provider="novita",
            )
        url = target.download_url or ""
        if not re.match(r"https?://", url, re.IGNORECASE):
            raise ServerError("Novita gave a download link that is not http(s).", provider="novita")
        expires_at = version.extra.get("expires_at")
        return DownloadSource(
            url=url,
            filename=file.name,
            headers={},  # a signed URL: the key is never sent with it
            expected_sha256=file.hashes.sha256,
            expected_size=file.approx_size,
            provider="novita",
            version_id=version.id,
            file_id=file.id,
            expires_at=float(expires_at) if expires_at else None,
        )


def civitai_vid_ref(version_id: int | str) -> str:
    """A REF for a Civitai version: its download URL form, which parse_ref accepts."""
    return f"https://civitai.com/api/download/models/{int(version_id)}"
