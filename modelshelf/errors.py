"""The one error hierarchy of Model Shelf.

Every expected failure is a :class:`ModelShelfError`. Each carries a sentence for a
person (``str(err)``: what happened, what to do) and the command-line exit status of
DESIGN.md. Front ends print ``str(err)``, never a traceback.

    ModelShelfError (1)
    ├── BadInputError (2)            ValueError too
    │   └── UnsupportedTypeError (2) a model type with no folder in this host
    ├── NotFoundError (3)            LookupError too
    ├── AccessError (4)              PermissionError too
    │   ├── NeedsApiKeyError (4)
    │   ├── EarlyAccessError (4)     .deadline
    │   └── DownloadsDisabledError (4)
    ├── IntegrityError (5)           hash or size mismatch, HTML instead of a model
    ├── NetworkError (6)             ConnectionError too
    │   ├── RateLimitedError (6)     .retry_after
    │   └── ServerError (6)          .status
    ├── DiskSpaceError (1)           OSError too
    └── UserCancelledError (130)
"""

from __future__ import annotations

__all__ = [
    "AccessError",
    "BadInputError",
    "UserCancelledError",
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
    "UnsupportedTypeError",
]


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

    exit_code = 130
