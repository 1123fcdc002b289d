"""Asking for bytes: the provider's endpoint, its redirect to storage, and the signed URL.

- The provider URL is asked with the provider's headers (the API key) and
  ``allow_redirects=False``; every redirect (301/302/303/307/308) is followed here, and
  the key is sent to no host but the provider's (no ``Authorization``, no ``token=``; a
  ``.netrc`` entry is stripped too).
- The signed storage URL is reused for every later request (resume, other segments):
  each hit of Civitai's endpoint mints a new URL and counts a download. When it expires
  (its ``X-Amz-Date`` + ``X-Amz-Expires``, or the storage answers 401/403/410) the
  endpoint is asked once more (or ``refresh_source()`` when the source URL itself expired).
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from ..errors import NetworkError, ServerError
from ..http import RetryPolicy, redact_url, request_with_retries, same_host
from ._responses import error_for, is_text_type, page_error, parse_content_range

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests

    from ..providers.base import DownloadSource

__all__ = ["Opened", "Transfer", "signed_url_expiry"]

log = logging.getLogger(__name__)

REDIRECTS = (301, 302, 303, 307, 308)
MAX_HOPS = 10
EXPIRY_MARGIN = 60.0
MAX_REFRESHES = 2


@dataclass
class Opened:
    """A usable answer: 200, 206 or 416, with what its headers say."""

    response: requests.Response
    status: int
    first: int | None  # first byte of a 206
    total: int | None  # the file's full size, when known
    url: str  # the URL that answered (signed; never print it)
    content_disposition: str | None


def signed_url_expiry(url: str) -> float | None:
    """Epoch seconds when an S3/R2-style signed URL stops working, or None if unknown."""
    try:
        params = {k.lower(): v for k, v in parse_qsl(urlsplit(url).query)}
    except ValueError:
        return None
    if "x-amz-expires" in params and "x-amz-date" in params:
        try:
            start = calendar.timegm(time.strptime(params["x-amz-date"], "%Y%m%dT%H%M%SZ"))
            return start + float(params["x-amz-expires"])
        except (ValueError, OverflowError):
            return None
    return None


def _strip_auth(request):
    """``requests`` auth hook for foreign hosts: no Authorization header, ever."""
    request.headers.pop("Authorization", None)
    request.headers.pop("Proxy-Authorization", None)
    return request


class Transfer:
    """Opens byte ranges of one download, following and remembering the storage URL."""

    def __init__(
        self,
        source: DownloadSource,
        session: requests.Session,
        policy: RetryPolicy,
        *,
        expected_name: str,
        refresh_source: Callable[[], DownloadSource] | None = None,
        signed_url: str | None = None,
        signed_expires_at: float | None = None,
        timeout: float | tuple[float, float] | None = None,
        cancel: threading.Event | None = None,
    ):
        self.source = source
        self.session = session
        self.policy = policy
        self.expected_name = expected_name
        self.refresh_source = refresh_source
        self.signed_url = signed_url
        self.signed_expires_at = signed_expires_at
        self.timeout = policy.timeout if timeout is None else timeout
        self.cancel = cancel
        self.refreshes = 0
        self.generation = 0
        self.endpoint_hits = 0
        self._lock = threading.Lock()

    # -- secrets ----------------------------------------------------------------------
    @property
    def has_key(self) -> bool:
        return any(k.lower() in ("authorization", "x-api-key") for k in self.source.headers) or (
            "token=" in self.source.url
        )

    def secrets(self) -> list[str]:
        values = [v.split(" ", 1)[-1] for v in self.source.headers.values() if v]
        values += [v for k, v in parse_qsl(urlsplit(self.source.url).query) if k == "token"]
        return [v for v in values if len(v) >= 8]

    def _is_provider(self, url: str) -> bool:
        return same_host(url, self.source.url)

    # -- opening ----------------------------------------------------------------------
    def _usable_signed(self) -> tuple[str | None, int]:
        with self._lock:
            expired = (
                self.signed_expires_at is not None
                and time.time() > self.signed_expires_at - EXPIRY_MARGIN
            )
            return (None if expired else self.signed_url), self.generation

    def open(self, start: int, end: int | None) -> Opened:
        """GET bytes ``[start, end)`` (``end`` None: to the end of the file).

        Raises:
            NeedsApiKeyError, EarlyAccessError, DownloadsDisabledError, AccessError,
            NotFoundError, IntegrityError (a page instead of bytes), RateLimitedError,
            ServerError, NetworkError.
        """
        while True:
            url, generation = self._usable_signed()
            from_endpoint = url is None
            if url is None:
                self._refresh_source_if_expired()
                url = self.source.url
            response, final_url = self._follow(url, start, end)
            status = response.status_code
            if (
                status in (401, 403, 410)
                and not self._is_provider(final_url)
                and self._may_refresh(generation, from_endpoint)
            ):
                response.close()
                log.info("the signed storage URL expired (HTTP %s); asking again", status)
                continue
            return self._accept(response, final_url)

    def _may_refresh(self, generation: int, from_endpoint: bool) -> bool:
        """Forget the signed URL (once per generation) so the endpoint is asked again."""
        with self._lock:
            if self.generation != generation:  # another worker already refreshed
                return True
            if self.refreshes >= MAX_REFRESHES:
                return False
            self.refreshes += 1
            self.generation += 1
            self.signed_url = None
            self.signed_expires_at = None
            if from_endpoint and self.refresh_source is not None:
                self.source = self.refresh_source()
            return True

    def _refresh_source_if_expired(self) -> None:
        exp = self.source.expires_at
        if exp is not None and time.time() > exp - EXPIRY_MARGIN and self.refresh_source:
            with self._lock:
                if self.source.expires_at == exp:
                    self.source = self.refresh_source()

    def _follow(self, url: str, start: int, end: int | None) -> tuple[requests.Response, str]:
        rng = f"bytes={start}-" + ("" if end is None else str(end - 1))
        for _ in range(MAX_HOPS):
            provider = self._is_provider(url)
            headers = {"Range": rng, "Accept": "*/*", "Accept-Encoding": "identity"}
            if provider:
                headers.update(self.source.headers)
                self.endpoint_hits += 1
            response = request_with_retries(
                self.session,
                "GET",
                url,
                policy=self.policy,
                timeout=self.timeout,
                provider=self.source.provider,
                name=None if provider else urlsplit(url).hostname,
                cancel=self.cancel,
                headers=headers,
                allow_redirects=False,
                stream=True,
                auth=None if provider else _strip_auth,
            )
            if response.status_code not in REDIRECTS:
                return response, url
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise ServerError(
                    f"{urlsplit(url).hostname} answered a redirect without a location.",
                    status=response.status_code,
                    provider=self.source.provider,
                )
            nxt = urljoin(url, location)
            if any(s in nxt for s in self.secrets()) and not self._is_provider(nxt):
                raise NetworkError(
                    "The download redirect would carry the API key to another host; refusing."
                )
            log.debug("redirected to %s", redact_url(nxt))
            if not self._is_provider(nxt):
                with self._lock:
                    self.signed_url = nxt
                    self.signed_expires_at = signed_url_expiry(nxt) or (
                        self.source.expires_at if nxt == self.source.url else None
                    )
            url = nxt
        raise ServerError(
            f"Too many redirects from {urlsplit(self.source.url).hostname}.",
            provider=self.source.provider,
        )

    def _accept(self, response: requests.Response, url: str) -> Opened:
        status = response.status_code
        kw: dict[str, Any] = {"url": url, "has_key": self.has_key, "provider": self.source.provider}
        if status not in (200, 206, 416):
            try:
                raise error_for(response, **kw)
            finally:
                response.close()
        if status != 416 and is_text_type(response, self.expected_name):
            try:
                raise page_error(response, **kw)
            finally:
                response.close()
        first = total = None
        if status in (206, 416):
            first, _last, total = parse_content_range(response.headers.get("Content-Range"))
        elif response.headers.get("Content-Length", "").isdigit():
            total = int(response.headers["Content-Length"])
        return Opened(
            response=response,
            status=status,
            first=first,
            total=total,
            url=url,
            content_disposition=response.headers.get("Content-Disposition"),
        )
