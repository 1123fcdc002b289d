"""The one place that builds HTTP sessions and retries requests.

- User-Agent names Model Shelf and never looks like a browser (Civitai answers browsers
  with HTML and redirects, and its WAF refuses urllib's default).
- Connection errors, timeouts, 429 and 5xx are retried with capped exponential back-off,
  honouring ``Retry-After`` (seconds or an HTTP date).
- :func:`redact_url` strips secrets from any URL before it is logged, shown or saved.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import __version__
from .errors import NetworkError, RateLimitedError, ServerError

if TYPE_CHECKING:
    import requests

__all__ = [
    "RETRY_STATUSES",
    "USER_AGENT",
    "RetryPolicy",
    "build_session",
    "parse_retry_after",
    "redact_url",
    "request_with_retries",
    "same_host",
]

log = logging.getLogger(__name__)

USER_AGENT = f"ModelShelf/{__version__} (model downloader; python-requests)"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 522, 524})
SECRET_PARAMS = frozenset(
    {
        "token",
        "api_key",
        "apikey",
        "key",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "authorization",
        "signature",
        "sig",
    }
)


def build_session() -> requests.Session:
    """A ``requests.Session`` with our User-Agent and no environment auth (.netrc)."""
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = "application/json"
    session.trust_env = True  # proxies from the environment still apply
    session.auth = None
    return session


def redact_url(url: str) -> str:
    """``url`` with the values of secret query parameters replaced by ``REDACTED``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if not parts.query:
        return url
    pairs = [
        (k, "REDACTED" if k.lower() in SECRET_PARAMS else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(pairs), parts.fragment))


def same_host(url: str, root: str) -> bool:
    """Whether ``url`` is on the host (and port) of ``root``."""
    a, b = urlsplit(url), urlsplit(root)
    return (a.hostname or "").lower() == (b.hostname or "").lower() and (
        a.port or (443 if a.scheme == "https" else 80)
    ) == (b.port or (443 if b.scheme == "https" else 80))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryPolicy:
    """How many tries and how long to wait between them."""

    def __init__(
        self,
        max_retries: int = 4,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        no_header_429_delay: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.no_header_429_delay = no_header_429_delay
        self.sleep = sleep

    def delay(self, attempt: int, retry_after: float | None, status: int | None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (attempt counts from 0)."""
        if retry_after is not None:
            wait = retry_after
        elif status == 429:
            wait = max(self.no_header_429_delay, self.base_delay * 2**attempt)
        else:
            wait = self.base_delay * 2**attempt * (0.5 + random.random() / 2)
        return min(wait, self.max_delay)


def request_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy | None = None,
    timeout: float | tuple[float, float] = 30.0,
    provider: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    """Send a request, retrying network failures, 429 and 5xx as :class:`RetryPolicy` says.

    Returns the last response (any status the caller must interpret, e.g. 404). Raises
    :class:`NetworkError`, :class:`RateLimitedError` or :class:`ServerError` when retries
    run out.
    """
    import requests

    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if attempt >= policy.max_retries:
                host = urlsplit(url).hostname or "the server"
                raise NetworkError(
                    f"Could not reach {host} ({type(exc).__name__}); "
                    "check your connection and try again.",
                    provider=provider,
                ) from None
            wait = policy.delay(attempt, None, None)
            log.info("network error on %s, retrying in %.1fs", redact_url(url), wait)
            policy.sleep(wait)
            attempt += 1
            continue
        if response.status_code not in RETRY_STATUSES:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if attempt >= policy.max_retries:
            response.close()
            host = urlsplit(url).hostname or "the server"
            if response.status_code == 429:
                raise RateLimitedError(
                    f"{host} is rate limiting requests (HTTP 429); wait a minute and try again.",
                    retry_after=retry_after,
                    status=429,
                    provider=provider,
                )
            raise ServerError(
                f"{host} answered HTTP {response.status_code} after {attempt + 1} tries; "
                "try again later.",
                status=response.status_code,
                provider=provider,
            )
        wait = policy.delay(attempt, retry_after, response.status_code)
        log.info("HTTP %s on %s, retrying in %.1fs", response.status_code, redact_url(url), wait)
        response.close()
        policy.sleep(wait)
        attempt += 1
