"""The one error mapping: HTTP status → our error, any exception → one sentence and exit status."""

from __future__ import annotations

import errno
import sqlite3

import pytest
import requests
import urllib3

from modelshelf import errors
from modelshelf.errors import (
    AccessError,
    BadInputError,
    DiskSpaceError,
    DownloadsDisabledError,
    EarlyAccessError,
    ModelShelfError,
    NeedsApiKeyError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UserCancelledError,
    error_for_exception,
    error_for_status,
    exit_status,
    sentence_for,
)


def test_no_name_clashes_with_asyncio():
    import asyncio

    assert not hasattr(errors, "CancelledError")
    assert not issubclass(UserCancelledError, asyncio.CancelledError)
    assert UserCancelledError("x").exit_code == 130


@pytest.mark.parametrize(
    ("status", "kw", "kind", "words"),
    [
        (
            401,
            {"provider": "civitai"},
            NeedsApiKeyError,
            ["Civitai needs an API key", "CIVITAI_API_TOKEN"],
        ),
        (401, {"provider": "civitai", "has_key": True}, NeedsApiKeyError, ["refused the API key"]),
        (401, {"provider": "novita"}, NeedsApiKeyError, ["NOVITA_API_KEY"]),
        (
            401,
            {"message": "The creator disabled downloads"},
            DownloadsDisabledError,
            ["disabled downloads"],
        ),
        (
            403,
            {"message": "early access", "deadline": "2099-01-01"},
            EarlyAccessError,
            ["until 2099-01-01"],
        ),
        (403, {"provider": "civitai"}, AccessError, ["HTTP 403"]),
        (
            404,
            {"provider": "civitai", "what": "model 12"},
            NotFoundError,
            ["Model 12 was not found on Civitai"],
        ),
        (404, {"provider": "novita"}, NotFoundError, ["MODELSHELF_NOVITA_URL"]),
        (
            410,
            {"what": "this file", "host": "civitai.com"},
            NotFoundError,  # archived: gone for good (exit 3)
            ["archived on civitai.com"],
        ),
        (429, {"provider": "novita", "retry_after": 7.0}, RateLimitedError, ["rate limiting"]),
        (
            400,
            {"provider": "civitai", "message": "id: Expected number"},
            BadInputError,
            ["id: Expected number"],
        ),
        (
            400,
            {"host": "storage.example", "download": True},
            ServerError,
            ["storage.example", "HTTP 400"],
        ),
        (503, {"provider": "civitai", "tries": 5}, ServerError, ["HTTP 503 after 5 tries"]),
    ],
)
def test_one_status_mapping(status, kw, kind, words):
    err = error_for_status(status, **kw)
    assert type(err) is kind and err.status == status
    for word in words:
        assert word in str(err)
    assert "\n" not in str(err) and str(err).endswith(".")


def test_status_mapping_keeps_retry_after_and_deadline():
    assert error_for_status(429, retry_after=7.0).retry_after == 7.0
    assert error_for_status(403, message="early access", deadline="D").deadline == "D"


def test_requests_exceptions_become_network_errors():
    truncated = requests.exceptions.ChunkedEncodingError(
        urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead(10 bytes read)")
    )
    err = error_for_exception(truncated)
    assert type(err) is NetworkError and "broke off" in str(err)
    assert exit_status(truncated) == 6
    bad = requests.exceptions.InvalidURL("Failed to parse: http://[::1")
    assert type(error_for_exception(bad)) is BadInputError and exit_status(bad) == 2
    decoding = requests.exceptions.ContentDecodingError("bad gzip")
    assert isinstance(error_for_exception(decoding), NetworkError)
    timeout = requests.exceptions.ReadTimeout("read timed out")
    assert "did not answer" in sentence_for(timeout)


def test_refused_is_told_apart_from_other_failures():
    refused = requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(
            None, "/", urllib3.exceptions.NewConnectionError(None, "[Errno 111] refused")
        )
    )
    refused.__cause__ = ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
    assert errors.failure_kind(refused) == "refused"
    assert errors.failure_kind(requests.exceptions.ConnectTimeout()) == "timeout-connect"
    assert errors.failure_kind(requests.exceptions.SSLError()) == "tls"
    assert errors.failure_kind(requests.ConnectionError("something else")) == "other"


@pytest.mark.parametrize(
    ("exc", "code", "words"),
    [
        (NotFoundError("Model 3 was not found on Civitai."), 3, "Model 3 was not found"),
        (KeyboardInterrupt(), 130, "Interrupted."),
        (OSError(errno.ENOSPC, "No space left on device", "/m/x.part"), 1, "The disk is full"),
        (OSError(errno.EACCES, "Permission denied", "/m"), 1, "permissions"),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), 6, "Could not reach"),
        (RuntimeError("secret-looking detail"), 1, "Unexpected RuntimeError"),
        (sqlite3.OperationalError("database is locked"), 1, "database failed (database is locked)"),
    ],
)
def test_sentence_for_any_exception(exc, code, words):
    sentence = sentence_for(exc)
    assert words in sentence and "\n" not in sentence
    assert exit_status(exc) == code
    if isinstance(exc, RuntimeError):
        assert "secret-looking" not in sentence  # a foreign message may hold anything


def test_full_disk_oserror_is_our_disk_space_error():
    err = error_for_exception(OSError(errno.ENOSPC, "No space left on device"))
    assert isinstance(err, DiskSpaceError) and isinstance(err, ModelShelfError)


def test_cli_describe_error_uses_the_same_mapping():
    from modelshelf.cli.common import describe_error

    exc = requests.exceptions.ChunkedEncodingError("Connection broken")
    assert describe_error(exc) == (sentence_for(exc), 6)
    assert describe_error(KeyboardInterrupt()) == ("Interrupted.", 130)
    text, code = describe_error(ValueError("x"))
    assert code == 1 and "--debug" in text and text.startswith("Unexpected ValueError")
