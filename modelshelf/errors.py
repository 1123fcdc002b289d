"""The one error hierarchy of Model Shelf, and the one sentence for any failure.

Every expected failure is a :class:`ModelShelfError`. Each carries a sentence for a
person (``str(err)``: what happened, what to do) and the command-line exit status of
DESIGN.md. Front ends print :func:`sentence_for` (any exception, ours or not), never a
traceback, and the CLI exits with :func:`exit_status`.

    ModelShelfError (1)
    ├── BadInputError (2)            ValueError too
    │   ├── UnsupportedTypeError (2) a model type with no folder in this host
    │   ├── UnsafeFileError (2)      Civitai's scan found danger; not allowed
    │   └── UsageError (2)           bad command-line usage
    ├── NotFoundError (3)            LookupError too
    ├── AccessError (4)              PermissionError too
    │   ├── NeedsApiKeyError (4)
    │   ├── EarlyAccessError (4)     .deadline
    │   ├── DownloadsDisabledError (4)
    │   └── CivitaiDownloadRequired (4) a public Novita model: .civitai_version_id
    ├── IntegrityError (5)           hash or size mismatch, HTML instead of a model
    ├── NetworkError (6)             ConnectionError too
    │   ├── RateLimitedError (6)     .retry_after
    │   └── ServerError (6)          .status
    ├── DiskSpaceError (1)           OSError too
    └── UserCancelledError (130)     not asyncio's CancelledError

Also decided here, once: :func:`error_for_status` (an HTTP error status → our error, for
the API clients and the downloads alike) and :func:`error_for_exception` (any exception:
``requests``/``urllib3`` failures → :class:`NetworkError`, a full disk →
:class:`DiskSpaceError`, …).
"""

from __future__ import annotations

import errno
from typing import Any

__all__ = [
    "AccessError",
    "BadInputError",
    "CivitaiDownloadRequired",
    "DiskSpaceError",
    "DownloadsDisabledError",
    "EarlyAccessError",
    "IntegrityError",
    "ModelShelfError",
    "NeedsApiKeyError",
    "NetworkError",
    "NotFoundError",
    "RateLimitedError",
    "ServerError",
    "UnsafeFileError",
    "UnsupportedTypeError",
    "UsageError",
    "UserCancelledError",
    "error_for_exception",
    "error_for_status",
    "exit_status",
    "failure_kind",
    "network_error",
    "provider_label",
    "sentence_for",
]

EXIT_INTERRUPTED = 130


class ModelShelfError(Exception):
    """Base of every expected failure; ``str()`` is one sentence for a person."""

    exit_code: int = 1

    def __init__(self, message: str, *, status: int | None = None, provider: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.provider = provider

    def __str__(self) -> str:
        return self.message


class BadInputError(ModelShelfError, ValueError):
    """The user's input (a REF, a flag, a file) cannot be used."""

    exit_code = 2


class UnsupportedTypeError(BadInputError):
    """A model type that has no folder in the chosen host layout."""


class UsageError(BadInputError):
    """Bad command-line usage (argparse's complaints), exit status 2."""


class UnsafeFileError(BadInputError):
    """The file's pickle or virus scan found danger and the person did not allow it."""


class NotFoundError(ModelShelfError, LookupError):
    """The model, version, file or hash does not exist (or is not published)."""

    exit_code = 3


class AccessError(ModelShelfError, PermissionError):
    """The provider refuses access: a key is needed, early access, downloads disabled."""

    exit_code = 4


class NeedsApiKeyError(AccessError):
    """The provider needs an API key (missing or invalid)."""


class EarlyAccessError(AccessError):
    """The version is in early access until ``deadline`` (ISO text, may be None)."""

    def __init__(self, message: str, *, deadline: str | None = None, **kw):
        super().__init__(message, **kw)
        self.deadline = deadline


class DownloadsDisabledError(AccessError):
    """The creator disabled downloads, or the file is archived."""


class CivitaiDownloadRequired(AccessError):
    """A public Novita model whose file is downloaded from Civitai (``civitai_version_id``)."""

    def __init__(self, message: str, *, civitai_version_id: int, **kw: Any):
        super().__init__(message, **kw)
        self.civitai_version_id = civitai_version_id


class IntegrityError(ModelShelfError):
    """Bytes that are not the model: hash or size mismatch, an HTML or JSON body."""

    exit_code = 5


class NetworkError(ModelShelfError, ConnectionError):
    """The network or the server failed, after retries."""

    exit_code = 6


class RateLimitedError(NetworkError):
    """The provider answered 429 until retries ran out."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(NetworkError):
    """The provider answered 5xx (or something unusable) until retries ran out."""


class DiskSpaceError(ModelShelfError, OSError):
    """Not enough free space in the target folder."""

    exit_code = 1


class UserCancelledError(ModelShelfError):
    """The user cancelled (Ctrl-C, a cancel button)."""

    exit_code = EXIT_INTERRUPTED


# -- HTTP status → error ---------------------------------------------------------------

PROVIDER_LABELS = {"civitai": "Civitai", "novita": "Novita"}
KEY_HELP = {
    "civitai": "set CIVITAI_API_TOKEN (or the Civitai key in the settings)",
    "novita": "set NOVITA_API_KEY (or the Novita key in the settings) to a key from novita.ai",
}
NOT_FOUND_HELP = {"novita": "check the model id or MODELSHELF_NOVITA_URL"}


def provider_label(provider: str | None, host: str | None = None) -> str:
    """How a person calls the server: "Civitai", "Novita", else its host name."""
    if provider and provider in PROVIDER_LABELS:
        return PROVIDER_LABELS[provider]
    return host or provider or "the server"


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def error_for_status(
    status: int,
    *,
    provider: str | None = None,
    host: str | None = None,
    what: str = "the request",
    message: str | None = None,
    has_key: bool = False,
    download: bool = False,
    deadline: str | None = None,
    retry_after: float | None = None,
    tries: int | None = None,
) -> ModelShelfError:
    """The error for an HTTP answer with error ``status`` (the one such mapping).

    ``host`` names a server that is not the provider's API (a storage host), else the
    provider's label is used; ``what`` is what was asked ("model 12", "this file");
    ``message`` is the server's own short message (shown in brackets); ``download``: a
    400-class refusal of a download is the server's fault, not the user's input.
    """
    who = host or provider_label(provider)
    said = f" ({message})" if message else ""
    lowered = (message or "").lower()
    kw: dict[str, Any] = {"status": status, "provider": provider}
    key_help = KEY_HELP.get(provider or "", "add your API key in the settings")
    if status == 401 and "disabled downloads" in lowered:
        return DownloadsDisabledError(f"The creator disabled downloads of {what}{said}.", **kw)
    if status == 401:
        if has_key:
            return NeedsApiKeyError(
                f"{who} refused the API key for {what}{said}; check the key ({key_help}).", **kw
            )
        return NeedsApiKeyError(
            f"{who} needs an API key for {what}{said}; {key_help}, then try again.", **kw
        )
    if status == 403 and (deadline or "early access" in lowered):
        when = f" until {deadline}" if deadline else ""
        return EarlyAccessError(
            f"This version is in early access{when}; download it after that date or buy "
            f"early access on {who}.",
            deadline=deadline,
            **kw,
        )
    if status == 403:
        return AccessError(
            f"{who} refused access to {what} (HTTP 403){said}; check your account and key, "
            "or try again later.",
            **kw,
        )
    if status == 404:
        hint = NOT_FOUND_HELP.get(provider or "", "check the id or the link")
        return NotFoundError(f"{_capitalised(what)} was not found on {who}{said}; {hint}.", **kw)
    if status == 410:  # archived: gone for good, so "not found" (exit 3), not "no access"
        return NotFoundError(
            f"{_capitalised(what)} is archived on {who} and can no longer be downloaded{said}.",
            **kw,
        )
    if status == 429:
        return RateLimitedError(
            f"{who} is rate limiting requests (HTTP 429){said}; wait a minute and try again.",
            retry_after=retry_after,
            **kw,
        )
    after = f" after {tries} tries" if tries and tries > 1 else ""
    if 400 <= status < 500 and not download:
        return BadInputError(
            f"{who} rejected the request for {what}: {message or f'HTTP {status}'}.", **kw
        )
    return ServerError(f"{who} answered HTTP {status}{said}{after}; try again later.", **kw)


# -- any exception → our error → one sentence ---------------------------------------------


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (``__cause__``, ``__context__``, urllib3's ``.reason``)."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo and len(seen) < 20:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__]
        todo += [a for a in item.args if isinstance(a, BaseException)]
    return seen


BAD_URL_ERRORS = frozenset(
    {"InvalidURL", "MissingSchema", "InvalidSchema", "URLRequired", "LocationParseError"}
    | {"LocationValueError", "InvalidHeader"}
)
CUT_SHORT_ERRORS = frozenset(
    {"ChunkedEncodingError", "ContentDecodingError", "ProtocolError", "IncompleteRead"}
    | {"RemoteDisconnected", "DecodeError"}
)


def _is_foreign_network(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("requests", "urllib3", "http.client"))


def failure_kind(exc: BaseException) -> str:
    """What went wrong on the wire: refused, dns, timeout-connect, timeout-read, tls,
    proxy, truncated, invalid-url, redirects, or other."""
    names = [type(c).__name__ for c in _causes(exc)]
    text = " ".join(str(c) for c in _causes(exc)[:3]).lower()
    if BAD_URL_ERRORS.intersection(names):
        return "invalid-url"
    if "TooManyRedirects" in names:
        return "redirects"
    if "ProxyError" in names:
        return "proxy"
    if "SSLError" in names:
        return "tls"
    if "ConnectTimeout" in names or "ConnectTimeoutError" in names:
        return "timeout-connect"
    if any(n in ("ReadTimeout", "ReadTimeoutError", "Timeout", "TimeoutError") for n in names):
        return "timeout-read"
    if "NameResolutionError" in names or "gaierror" in names or "name resolution" in text:
        return "dns"
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) in (
            errno.ECONNREFUSED,
            errno.ENETUNREACH,
            errno.EHOSTUNREACH,
        ):
            return "refused"
    if "refused" in text:
        return "refused"
    if CUT_SHORT_ERRORS.intersection(names):
        return "truncated"
    return "other"


def network_error(
    exc: BaseException,
    *,
    host: str | None = None,
    provider: str | None = None,
    tries: int | None = None,
    name: str | None = None,
) -> ModelShelfError:
    """Our error for a failed request (``requests``/``urllib3``/socket exception ``exc``).

    The server is called ``name`` when given, else "Civitai at civitai.com" (the
    provider's label and the host), else its host.
    """
    if host is None:
        from urllib.parse import urlsplit

        url = getattr(getattr(exc, "request", None), "url", None) or ""
        try:
            host = urlsplit(url).hostname
        except ValueError:
            host = None
    label = provider_label(provider)
    who = name or (f"{label} at {host}" if provider and host and label != host else host or label)
    kw: dict[str, Any] = {"provider": provider}
    after = f" ({tries} tries)" if tries and tries > 1 else ""
    kind = failure_kind(exc)
    if kind == "invalid-url":
        return BadInputError(
            f"The address of {who} is not a usable URL ({type(exc).__name__}); fix it in the "
            "settings (MODELSHELF_CIVITAI_URL, MODELSHELF_NOVITA_URL) or the link you gave.",
            **kw,
        )
    if kind == "redirects":
        return ServerError(f"{who} redirected too many times; try again later.", **kw)
    sentences = {
        "refused": f"{who} refused the connection{after}; check the address and that the "
        "service is up, then try again.",
        "dns": f"Could not find {who} (DNS lookup failed){after}; check your internet connection.",
        "timeout-connect": f"{who} did not accept a connection in time{after}; check your "
        "internet connection and try again.",
        "timeout-read": f"{who} did not answer in time{after}; try again later.",
        "tls": f"The secure connection to {who} failed (certificate or TLS error); check the "
        "system's certificates, the clock and any proxy.",
        "proxy": f"The proxy could not reach {who}; check HTTPS_PROXY / HTTP_PROXY.",
        "truncated": f"The connection to {who} broke off before the answer was complete"
        f"{after}; try again.",
    }
    message = sentences.get(
        kind,
        f"Could not reach {who} ({type(exc).__name__}){after}; check your internet connection "
        "and try again.",
    )
    return NetworkError(message, **kw)


def error_for_exception(exc: BaseException) -> ModelShelfError | None:
    """``exc`` as one of ours when it is a known kind of failure, else None."""
    if isinstance(exc, ModelShelfError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return UserCancelledError("Interrupted.")
    if _is_foreign_network(exc) or isinstance(exc, (ConnectionError, TimeoutError)):
        return network_error(exc)
    if (type(exc).__module__ or "").startswith("sqlite3"):
        return ModelShelfError(
            f"A Model Shelf database failed ({_one_line(str(exc)) or type(exc).__name__}); "
            "close other Model Shelf windows and try again."
        )
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return DiskSpaceError(f"The disk is full{where}; free some space and try again.")
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return ModelShelfError(
                f"Not allowed to write or read{where} ({exc.strerror or 'permission denied'}); "
                "check the folder's permissions."
            )
        if exc.strerror:
            return ModelShelfError(f"{exc.strerror}{where}.")
    return None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def sentence_for(exc: BaseException) -> str:
    """The one sentence a person should read for ``exc`` (what happened, what to do)."""
    known = error_for_exception(exc)
    if known is not None:
        return _one_line(str(known)) or f"{type(exc).__name__}."
    return (
        f"Unexpected {type(exc).__name__} inside Model Shelf; try again, and report it "
        "with the log if it happens again."
    )


def exit_status(exc: BaseException) -> int:
    """The command-line exit status for ``exc`` (DESIGN.md: 1 to 6, 130)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    known = error_for_exception(exc)
    return known.exit_code if known is not None else 1
