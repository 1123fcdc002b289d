"""The one place that builds HTTP sessions and retries requests.

- User-Agent names Model Shelf and never looks like a browser (Civitai answers browsers
  with HTML and redirects, and its WAF refuses urllib's default).
- Connection errors, timeouts, a body cut short, 429 and 5xx are retried with capped
  exponential back-off, honouring ``Retry-After`` (seconds or an HTTP date). A refused
  connection (or an unknown host) is retried briefly only (``refused_retries``).
- Timeouts are a ``(connect, read)`` pair: connect ``min(5 s, timeout)``, read ``timeout``
  (the ``timeout`` setting, 20 s). Network failures of one request stop being retried
  when the next try could end after ``deadline`` (3 × the read timeout: 60 s) from the
  first. So a silent server is given up within a minute, a refused port within seconds.
- Every wait is announced first as a :class:`RetryNotice` ("Civitai did not answer;
  retrying (2 of 4)…") to the policy's ``on_retry`` and to every listener added with
  :func:`add_retry_listener` (the CLI prints it on stderr); a wait ends at once when the
  ``cancel`` event is set (:class:`UserCancelledError`).
- Every ``requests``/``urllib3`` failure leaves here as one of ours
  (:func:`modelshelf.errors.network_error`), never as itself.
- :func:`redact_url` strips secrets from any URL before it is logged, shown or saved.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import __version__
from .errors import (
    UserCancelledError,
    error_for_status,
    failure_kind,
    network_error,
    provider_label,
)

if TYPE_CHECKING:
    import requests

    from .settings import Settings

__all__ = [
    "RETRY_STATUSES",
    "USER_AGENT",
    "RetryNotice",
    "RetryPolicy",
    "add_retry_listener",
    "build_session",
    "parse_retry_after",
    "redact_url",
    "request_with_retries",
    "same_host",
]

log = logging.getLogger(__name__)

USER_AGENT = f"ModelShelf/{__version__} (model downloader; python-requests)"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 522, 524})
DEFAULT_TIMEOUT = 20.0  # read timeout, seconds (the ``timeout`` setting)
MAX_CONNECT_TIMEOUT = 5.0
DEADLINE_FACTOR = 3  # network failures of one request are retried for 3 x the read timeout
QUICK_FAILURES = frozenset({"refused", "dns"})  # nothing listens: retry briefly only
FINAL_FAILURES = frozenset({"invalid-url", "redirects", "tls"})  # retrying cannot help
REASONS = {
    "refused": "refused the connection",
    "dns": "could not be found (DNS)",
    "timeout-connect": "did not accept a connection",
    "timeout-read": "did not answer",
    "truncated": "broke off its answer",
    "dropped": "dropped the connection",
}
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


@dataclass(frozen=True)
class RetryNotice:
    """One retry about to happen; ``str()`` is the line a person sees."""

    who: str  # "Civitai", "Novita" or a host name
    reason: str  # "did not answer", "answered HTTP 503", ...
    retry: int  # 1 for the first retry
    retries: int  # how many retries this failure gets at most
    wait: float  # seconds until the retry

    def __str__(self) -> str:
        when = f" in {self.wait:.0f} s" if self.wait >= 1.5 else ""
        return f"{self.who} {self.reason}; retrying{when} ({self.retry} of {self.retries})…"


_listeners: list[Callable[[RetryNotice], None]] = []
_listeners_lock = threading.Lock()


def add_retry_listener(listener: Callable[[RetryNotice], None]) -> Callable[[], None]:
    """Call ``listener(notice)`` before every retry wait anywhere; returns the remover."""
    with _listeners_lock:
        _listeners.append(listener)

    def remove() -> None:
        with _listeners_lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return remove


def _check_cancel(cancel: threading.Event | None, who: str) -> None:
    if cancel is not None and cancel.is_set():
        raise UserCancelledError(f"Cancelled while waiting for {who}.")


class RetryPolicy:
    """How many tries, how long to wait between them and for a server to answer.

    ``sleep`` replaces the wait (tests record waits with it; a cancel is then only
    checked before and after). ``on_retry(notice)`` hears every retry of this policy.
    """

    def __init__(
        self,
        max_retries: int = 4,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        no_header_429_delay: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        *,
        read_timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        deadline: float | None = None,
        refused_retries: int = 2,
        refused_delay: float = 0.25,
        on_retry: Callable[[RetryNotice], None] | None = None,
    ):
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.no_header_429_delay = no_header_429_delay
        self.sleep = sleep
        self.read_timeout = read_timeout
        self.connect_timeout = (
            min(MAX_CONNECT_TIMEOUT, read_timeout) if connect_timeout is None else connect_timeout
        )
        self.deadline = DEADLINE_FACTOR * read_timeout if deadline is None else deadline
        self.refused_retries = refused_retries
        self.refused_delay = refused_delay
        self.on_retry = on_retry

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> RetryPolicy:
        """The policy the settings ask for (retries, longest wait, timeout)."""
        values: dict[str, Any] = {
            "max_retries": settings.max_retries,
            "max_delay": settings.max_retry_wait,
            "read_timeout": settings.timeout,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` seconds for ``requests``."""
        return (self.connect_timeout, self.read_timeout)

    def delay(self, attempt: int, retry_after: float | None, status: int | None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (attempt counts from 0)."""
        if retry_after is not None:
            wait = retry_after
        elif status == 429:
            wait = max(self.no_header_429_delay, self.base_delay * 2**attempt)
        else:
            wait = self.base_delay * 2**attempt * (0.5 + random.random() / 2)
        return min(wait, self.max_delay)

    def network_delay(self, attempt: int, kind: str) -> float:
        """Seconds before retrying a network failure of ``kind`` (quick ones sooner)."""
        if kind in QUICK_FAILURES:
            wait = self.refused_delay * 2**attempt * (0.5 + random.random() / 2)
            return min(wait, self.max_delay)
        return self.delay(attempt, None, None)

    def retries_for(self, kind: str) -> int:
        """How many retries a network failure of ``kind`` (errors.failure_kind) gets."""
        if kind in FINAL_FAILURES:
            return 0
        if kind in QUICK_FAILURES:
            return min(self.max_retries, self.refused_retries)
        return self.max_retries

    def past_deadline(self, started: float, wait: float) -> bool:
        """Whether a try after ``wait`` could end later than the deadline allows."""
        return time.monotonic() - started + wait + self.read_timeout > self.deadline

    def retrying(self, notice: RetryNotice, cancel: threading.Event | None = None) -> None:
        """Announce ``notice``, then wait its seconds (a cancel ends the wait at once)."""
        with _listeners_lock:
            listeners = [self.on_retry, *_listeners] if self.on_retry else list(_listeners)
        for listener in listeners:
            try:
                listener(notice)
            except Exception:  # an observer's bug never stops a retry
                log.exception("retry listener failed")
        self.wait(notice.wait, cancel, who=notice.who)

    def wait(self, seconds: float, cancel: threading.Event | None = None, *, who: str = "") -> None:
        """Sleep ``seconds``, or less when ``cancel`` is set (then :class:`UserCancelledError`)."""
        who = who or "the server"
        _check_cancel(cancel, who)
        if self.sleep is not None:
            self.sleep(seconds)
        elif cancel is not None:
            cancel.wait(seconds)
        else:
            time.sleep(seconds)
        _check_cancel(cancel, who)


def request_with_retries(
    session: requests.Session,
    method: str,
    url: str,
    *,
    policy: RetryPolicy | None = None,
    timeout: float | tuple[float, float] | None = None,
    provider: str | None = None,
    name: str | None = None,
    cancel: threading.Event | None = None,
    **kwargs: Any,
) -> requests.Response:
    """Send a request, retrying network failures, 429 and 5xx as :class:`RetryPolicy` says.

    Returns the last response (any status the caller must interpret, e.g. 404). Raises
    :class:`NetworkError`, :class:`RateLimitedError` or :class:`ServerError` when retries
    run out, :class:`BadInputError` for a URL that cannot be used, and
    :class:`UserCancelledError` when ``cancel`` (default: the thread's
    :func:`~modelshelf.cancel.cancel_scope`) is set. ``name`` is how the server is
    called in messages (default: the provider's label, else the host).
    """
    import requests
    import urllib3

    from .cancel import current_cancel

    policy = policy or RetryPolicy()
    timeout = policy.timeout if timeout is None else timeout
    cancel = cancel if cancel is not None else current_cancel()
    try:
        host = urlsplit(url).hostname or "the server"
    except ValueError:
        host = "the server"
    who = name or provider_label(provider, host)
    started = time.monotonic()
    attempt = 0
    while True:
        _check_cancel(cancel, who)
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            kind = failure_kind(exc)
            limit = policy.retries_for(kind)
            wait = policy.network_delay(attempt, kind)
            if attempt >= limit or policy.past_deadline(started, wait):
                log.debug("%s on %s: giving up", type(exc).__name__, redact_url(url))
                raise network_error(
                    exc, host=host, provider=provider, tries=attempt + 1, name=name
                ) from None
            log.debug("%s on %s, retrying in %.1fs", type(exc).__name__, redact_url(url), wait)
            reason = REASONS.get(kind, "could not be reached")
            policy.retrying(RetryNotice(who, reason, attempt + 1, limit, wait), cancel)
            attempt += 1
            continue
        status = response.status_code
        if status not in RETRY_STATUSES:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if attempt >= policy.max_retries:
            response.close()
            raise error_for_status(
                status,
                provider=provider,
                host=who,
                retry_after=retry_after,
                tries=attempt + 1,
                download=True,
            )
        wait = policy.delay(attempt, retry_after, status)
        log.debug("HTTP %s on %s, retrying in %.1fs", status, redact_url(url), wait)
        response.close()
        reason = "is rate limiting requests" if status == 429 else f"answered HTTP {status}"
        policy.retrying(RetryNotice(who, reason, attempt + 1, policy.max_retries, wait), cancel)
        attempt += 1
