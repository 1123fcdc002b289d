"""A fault-injecting object storage (Cloudflare R2 / Backblaze B2 look-alike) on 127.0.0.2.

It listens on 127.0.0.2, so a redirect from the fake Civitai on 127.0.0.1 really crosses
hosts. Like R2 (api.md §1.9) it:

- serves ``GET /<bucket>/<key>`` with ``Range`` (206 + ``Content-Range``; 416 with
  ``Content-Range: bytes */N`` past the end), ``Accept-Ranges: bytes``;
- sends ``Content-Disposition`` as raw UTF-8 bytes (``filename="真实模型名.safetensors"``),
  taken from the signed URL's ``response-content-disposition`` (R2) or
  ``b2ContentDisposition`` (B2);
- answers **400** to any request carrying an ``Authorization`` header (R2 does), and 403
  (an XML ``Request has expired``) once a URL's ``X-Amz-Date`` + ``X-Amz-Expires`` passed
  or after :meth:`FakeStorage.expire_all`.

Faults (:meth:`FakeStorage.fault`, for the next ``times`` requests of a key, or of any key
with ``key=None``; ``times=None`` means always): ``drop`` (close after ``after`` bytes of
body), ``ignore_range`` (200 with the whole file), ``corrupt`` (same size, one byte
flipped), ``status`` (any status, ``body``, ``headers`` e.g. ``Retry-After``),
``html_login`` (200 ``text/html`` login page), ``filename`` (a raw ``Content-Disposition``
value, hostile or UTF-8). :meth:`FakeStorage.throttle` limits each connection's bytes/s
(for the benchmark). :meth:`FakeStorage.hold` pauses a body after ``after`` bytes until the
test releases it: a client provably mid-download, with no clock involved. Unthrottled
whole-range replies of file blobs use ``socket.sendfile``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .httpserver import FakeHTTPServer, Recorded, Reply

__all__ = ["FakeStorage", "fake_storage", "link_storage"]

SECRET = b"fake-storage-signing-key"
LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in | Civitai</title></head>"
    b"<body><form action='/login'>Please log in to continue</form></body></html>"
)
EXPIRED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


@dataclass
class Blob:
    key: str
    filename: str
    data: bytes | None = None
    path: Path | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def read(self, start: int, end: int) -> bytes:
        if self.data is not None:
            return self.data[start:end]
        with open(self.path, "rb") as fh:
            fh.seek(start)
            return fh.read(end - start)


class Hold:
    """A body paused mid-way: ``reached`` is set once ``after`` bytes are sent and flushed."""

    def __init__(self, after: int):
        self.after = after
        self.reached = threading.Event()
        self._go = threading.Event()

    def release(self) -> None:
        """Let the paused body (and any later one reaching the hold) go on."""
        self._go.set()

    def pause(self) -> None:
        self.reached.set()
        self._go.wait(60)  # released by the test, or by stop(); the bound only guards a hang


@dataclass
class Fault:
    kind: str
    key: str | None
    times: int | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class BlobReply(Reply):
    """A reply whose body is ``blob[start:end]`` (written by :meth:`FakeStorage.send_reply`)."""

    blob: Blob | None = None
    start: int = 0
    end: int = 0
    corrupt: bool = False
    hold: Hold | None = None


class FakeStorage(FakeHTTPServer):
    """R2/B2-like storage with signed URLs, Range and injectable faults."""

    def __init__(self, host: str = "127.0.0.2", port: int = 0, bucket: str = "models"):
        super().__init__(host, port)
        self.bucket = bucket
        self.blobs: dict[str, Blob] = {}
        self.faults: list[Fault] = []
        self.rate: float | None = None  # bytes per second per connection
        self._serial = itertools.count(1)
        self._expired_upto = 0
        self._flock = threading.Lock()
        self._holds: list[Hold] = []
        self.add_builtin_route("GET", rf"/{bucket}/([\w.-]+)", self._serve)

    def start(self) -> FakeStorage:
        super().start()
        server = self._server
        default = server.handle_error

        def quiet(request, client_address):  # clients hanging up mid-body are normal here
            import sys

            if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
                default(request, client_address)

        server.handle_error = quiet
        return self

    def stop(self) -> None:
        for hold in self._holds:  # a paused body must not keep a server thread
            hold.release()
        super().stop()

    # -- content ----------------------------------------------------------------------
    def add_blob(self, data: bytes | Path, filename: str) -> str:
        """Store ``data`` (bytes, or a file served from disk) and return its key."""
        key = hashlib.sha1(f"{len(self.blobs)}:{filename}".encode()).hexdigest()[:16]
        if isinstance(data, bytes | bytearray):
            self.blobs[key] = Blob(key, filename, data=bytes(data))
        else:
            self.blobs[key] = Blob(key, filename, path=Path(data))
        return key

    def signed_url(
        self,
        key: str,
        *,
        expires_in: int = 86400,
        filename: str | None = None,
        style: str = "r2",
    ) -> str:
        """A presigned URL like R2's (``X-Amz-*``) or B2's (``Authorization=``…)."""
        name = filename if filename is not None else self.blobs[key].filename
        disposition = f'attachment; filename="{name}"'
        serial = next(self._serial)
        date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        sig = self._sign(key, date, expires_in, serial)
        if style == "b2":
            query = (
                f"Authorization=3_{serial}_{date}_{expires_in}_{sig}"
                f"&b2ContentDisposition={quote(disposition, safe='')}"
            )
        else:
            query = (
                f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=fake%2F{serial}"
                f"&X-Amz-Date={date}&X-Amz-Expires={expires_in}"
                f"&response-content-disposition={quote(disposition, safe='')}"
                f"&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}"
            )
        return f"{self.url}/{self.bucket}/{key}?{query}"

    def _sign(self, key: str, date: str, expires: int, serial: int) -> str:
        msg = f"{key}|{date}|{expires}|{serial}".encode()
        return hmac.new(SECRET, msg, hashlib.sha256).hexdigest()

    def expire_all(self) -> None:
        """Every URL signed so far answers 403 expired from now on."""
        self._expired_upto = next(self._serial)

    # -- faults -----------------------------------------------------------------------
    def fault(self, kind: str, key: str | None = None, *, times: int | None = 1, **params) -> None:
        """Inject ``kind`` (see the module doc) into the next ``times`` GETs of ``key``."""
        kinds = ("drop", "ignore_range", "corrupt", "status", "html_login", "filename")
        if kind not in kinds:
            raise ValueError(f"unknown fault {kind!r}")
        with self._flock:
            self.faults.append(Fault(kind, key, times, params))

    def hold(self, key: str | None = None, *, after: int, times: int | None = 1) -> Hold:
        """Pause the next ``times`` bodies of ``key`` after ``after`` bytes; returns the hold."""
        hold = Hold(after)
        with self._flock:
            self._holds.append(hold)
            self.faults.append(Fault("hold", key, times, {"hold": hold}))
        return hold

    def throttle(self, bytes_per_second: float | None) -> None:
        """Limit every connection to ``bytes_per_second`` (None: no limit)."""
        self.rate = bytes_per_second

    def _take_faults(self, key: str) -> dict[str, Fault]:
        taken: dict[str, Fault] = {}
        with self._flock:
            for f in list(self.faults):
                if f.key not in (None, key) or f.kind in taken:
                    continue
                taken[f.kind] = f
                if f.times is not None:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
        return taken

    def gets(self, key: str | None = None) -> list[Recorded]:
        """Recorded GETs of blobs (of ``key`` if given)."""
        path = rf"/{self.bucket}/{key}" if key else rf"/{self.bucket}/.*"
        return self.requests_to(path, "GET")

    # -- serving ----------------------------------------------------------------------
    def _check_signature(self, req: Recorded, key: str) -> Reply | None:
        if "Authorization" in req.headers:
            body = (
                b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidArgument</Code>"
                b"<Message>Only one auth mechanism allowed</Message></Error>"
            )
            return Reply(400, body, {"Content-Type": "application/xml"})
        auth = req.param("Authorization")
        if auth is not None:  # B2 style
            try:
                _, serial, date, expires, sig = auth.split("_", 4)
                serial_n, expires_n = int(serial), int(expires)
            except ValueError:
                return Reply(401, {"code": "bad_auth_token"})
        else:
            date, sig = req.param("X-Amz-Date") or "", req.param("X-Amz-Signature") or ""
            try:
                expires_n = int(req.param("X-Amz-Expires") or "")
                serial_n = int((req.param("X-Amz-Credential") or "").rsplit("/", 1)[-1])
            except ValueError:
                return Reply(403, EXPIRED_XML, {"Content-Type": "application/xml"})
        if not hmac.compare_digest(sig, self._sign(key, date, expires_n, serial_n)):
            return Reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        issued = time.mktime(time.strptime(date, "%Y%m%dT%H%M%SZ")) - time.timezone
        if serial_n < self._expired_upto or time.time() > issued + expires_n:
            return Reply(403, EXPIRED_XML, {"Content-Type": "application/xml"})
        return None

    def _serve(self, req: Recorded, m) -> Reply:
        key = m[1]
        blob = self.blobs.get(key)
        if blob is None:
            return Reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
        refused = self._check_signature(req, key)
        if refused is not None:
            return refused
        faults = self._take_faults(key)
        if "status" in faults:
            p = faults["status"].params
            return Reply(p.get("status", 500), p.get("body"), dict(p.get("headers") or {}))
        if "html_login" in faults:
            return Reply(200, LOGIN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        disposition = req.param("response-content-disposition") or req.param("b2ContentDisposition")
        disposition = disposition or f'attachment; filename="{blob.filename}"'
        if "filename" in faults:
            disposition = faults["filename"].params["value"]
        headers: dict[str, Any] = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "ETag": f'"{key}"',
            "Content-Disposition": disposition.encode("utf-8")
            if isinstance(disposition, str)
            else disposition,
        }
        size = blob.size
        start, end, status = 0, size, 200
        rng = req.headers.get("Range")
        if rng and "ignore_range" not in faults:
            spec = rng.strip().removeprefix("bytes=")
            first, _, last = spec.partition("-")
            try:
                if first == "":
                    start, end = max(0, size - int(last)), size
                else:
                    start = int(first)
                    end = min(size, int(last) + 1) if last else size
            except ValueError:
                start, end = 0, size
            else:
                if start >= size:
                    headers["Content-Range"] = f"bytes */{size}"
                    return Reply(416, b"", headers)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        drop = faults["drop"].params.get("after", 0) if "drop" in faults else None
        return BlobReply(
            status,
            b"",
            headers,
            content_length=end - start,
            drop_after=drop,
            blob=blob,
            start=start,
            end=end,
            corrupt="corrupt" in faults,
            hold=faults["hold"].params["hold"] if "hold" in faults else None,
        )

    def send_reply(self, handler, request: Recorded, reply: Reply) -> None:
        if not isinstance(reply, BlobReply):
            super().send_reply(handler, request, reply)
            return
        head = [f"HTTP/1.1 {reply.status} {'Partial Content' if reply.status == 206 else 'OK'}"]
        lines = [h.encode("latin-1") for h in head]
        for name, value in reply.headers.items():
            raw = value if isinstance(value, bytes) else str(value).encode("latin-1")
            lines.append(name.encode("latin-1") + b": " + raw)
        lines.append(f"Content-Length: {reply.content_length}".encode())
        if reply.drop_after is not None:
            lines.append(b"Connection: close")
        try:
            handler.wfile.write(b"\r\n".join(lines) + b"\r\n\r\n")
            if request.method != "HEAD":
                self._write_body(handler, reply)
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            handler.close_connection = True
            return
        if reply.drop_after is not None:
            from .httpserver import _abort

            _abort(handler)

    def _write_body(self, handler, reply: BlobReply) -> None:
        blob, start, end = reply.blob, reply.start, reply.end
        if reply.drop_after is not None:
            end = min(end, start + reply.drop_after)
        flip = (blob.size // 2) if reply.corrupt else -1
        rate = self.rate
        hold = reply.hold
        plain = rate is None and flip < 0 and hold is None and blob.path is not None
        if plain:
            handler.wfile.flush()
            with open(blob.path, "rb") as fh:
                handler.connection.sendfile(fh, offset=start, count=end - start)
            return
        step = 256 * 1024 if rate is None else max(16 * 1024, int(rate / 50))
        began = time.monotonic()
        sent = 0
        pos = start
        while pos < end:
            if hold is not None and pos - start >= hold.after:
                handler.wfile.flush()
                hold.pause()
                hold = None
            stop = end if hold is None else min(end, start + hold.after)
            chunk = blob.read(pos, min(stop, pos + step))
            if pos <= flip < pos + len(chunk):
                i = flip - pos
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1 :]
            handler.wfile.write(chunk)
            pos += len(chunk)
            sent += len(chunk)
            if rate:
                ahead = sent / rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)  # the throttle itself, not test synchronisation


def link_storage(fake_civitai, storage: FakeStorage, blobs: dict[int, bytes | Path], **url_kw):
    """Make ``fake_civitai``'s download endpoint redirect file ``id`` to its blob.

    Returns ``{file_id: key}``. The signed URL asks for the file's API ``name``.
    """
    keys = {fid: storage.add_blob(data, f"file-{fid}") for fid, data in blobs.items()}
    previous = fake_civitai.download_target

    def target(version_id: int, file: dict[str, Any]) -> str:
        fid = file.get("id")
        if fid in keys:
            return storage.signed_url(keys[fid], filename=file.get("name"), **url_kw)
        if previous is not None:
            return previous(version_id, file)
        return f"{storage.url}/{storage.bucket}/missing"

    fake_civitai.download_target = target
    return keys


@pytest.fixture
def fake_storage():
    """A started :class:`FakeStorage` on 127.0.0.2."""
    storage = FakeStorage()
    storage.start()
    try:
        yield storage
    finally:
        storage.stop()


def blob_sha256(data: bytes | os.PathLike) -> str:
    """Upper-case SHA256 of test data (bytes or a file)."""
    if isinstance(data, bytes | bytearray):
        return hashlib.sha256(data).hexdigest().upper()
    digest = hashlib.sha256()
    with open(data, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest().upper()
