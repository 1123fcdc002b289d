"""A small reusable fake HTTP server for tests: real sockets on loopback, recorded requests.

Usage::

    server = FakeHTTPServer()                      # host="127.0.0.1", port=0
    server.add_route("GET", r"/api/thing/(\\d+)", lambda req, m: Reply(200, {"id": m[1]}))
    with server:                                    # start() ... stop()
        requests.get(server.url + "/api/thing/3")
    assert server.requests[0].query == []

Handlers are called as ``handler(request: Recorded, match: re.Match) -> Reply``; the regex
is matched with ``re.fullmatch`` against the path (without the query string). Routes added
with :meth:`FakeHTTPServer.add_route` are checked in order, before the subclass's built-in
routes (:meth:`FakeHTTPServer.add_builtin_route`). Nothing matched → 404.

Faults: :meth:`FakeHTTPServer.fail_next` answers the next ``times`` requests whose path
matches (``re.search``, so a prefix is enough) with the given status/body/headers
(status ``0`` drops the connection without any answer) before any route runs.

Low-level control for subclasses (storage/download fakes):

- ``Reply.headers`` may be a dict or a list of pairs (repeated headers); a ``bytes`` value
  is written verbatim, so ``{"Content-Disposition": 'attachment; filename="é.bin"'.encode()}``
  sends raw UTF-8 header bytes.
- ``Reply.body`` may be an iterable of ``bytes`` chunks (streamed; give ``content_length``
  or the connection is closed at the end to delimit the body).
- ``Reply.content_length`` overrides the advertised ``Content-Length``;
  ``Reply.drop_after=N`` sends only the first N body bytes, then closes the socket
  (a connection dropped mid-body).
- Override :meth:`FakeHTTPServer.send_reply` for anything more exotic: it gets the
  ``BaseHTTPRequestHandler`` (``handler.wfile`` is the raw socket stream).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["FakeHTTPServer", "Handler", "Recorded", "Reply"]

JSONish = bytes | dict | list | str | None
HeaderValue = str | bytes | int
Headers = dict[str, HeaderValue] | list[tuple[str, HeaderValue]]


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Message  # case-insensitive: headers["authorization"] == headers["Authorization"]
    body: bytes = b""
    client: tuple[str, int] | None = None

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        for key, value in self.query:
            if key == name:
                return value
        return default

    def params(self, name: str) -> list[str]:
        """Every value of query parameter ``name`` (repeated parameters), in order."""
        return [value for key, value in self.query if key == name]

    @property
    def query_keys(self) -> list[str]:
        return [key for key, _ in self.query]

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Reply:
    """What a route handler answers."""

    status: int = 200
    body: JSONish | Iterable[bytes] = b""
    headers: Headers = field(default_factory=dict)
    content_length: int | None = None  # advertised length; default: the real one
    drop_after: int | None = None  # close the socket after this many body bytes


Handler = Callable[[Recorded, "re.Match[str]"], Reply]


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    reply: Reply
    remaining: int
    method: str | None = None


def encode_body(body: JSONish) -> tuple[bytes, str | None]:
    """Body bytes and the default Content-Type for a reply body."""
    if body is None:
        return b"", None
    if isinstance(body, bytes | bytearray):
        return bytes(body), "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body).encode("utf-8"), "application/json; charset=utf-8"


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _handle(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        body = self._read_body()
        recorded = Recorded(
            method=self.command,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            client=self.client_address,
        )
        fake._record(recorded)
        try:
            reply = fake.dispatch(recorded)
        except Exception as exc:  # a bug in a test handler: make it visible as a 500
            reply = Reply(500, f"fake server handler error: {type(exc).__name__}: {exc}")
            fake.handler_errors.append(exc)
        fake.send_reply(self, recorded, reply)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeHTTPServer


class FakeHTTPServer:
    """A threaded HTTP server in a daemon thread with route handlers and a request log."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self.requests: list[Recorded] = []
        self.handler_errors: list[BaseException] = []
        self._user_routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._builtin_routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> FakeHTTPServer:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), _RequestHandler)
        server.fake = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://host:port`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    # -- routes and faults ----------------------------------------------------------
    def add_route(self, method: str, regex: str, handler: Handler) -> None:
        """A user route; checked in the order added, before the built-in routes."""
        with self._lock:
            self._user_routes.append((method.upper(), re.compile(regex), handler))

    def add_builtin_route(self, method: str, regex: str, handler: Handler) -> None:
        """A route of a subclass (the fake service itself); checked after user routes."""
        with self._lock:
            self._builtin_routes.append((method.upper(), re.compile(regex), handler))

    def fail_next(
        self,
        regex: str,
        status: int,
        body: JSONish = None,
        headers: Headers | None = None,
        times: int = 1,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path matches ``regex`` with this status.

        ``status=0`` closes the connection without answering (a network failure).
        """
        if body is None and status:
            body = {"error": f"injected failure {status}"}
        reply = Reply(status, body, dict(headers or {}))
        with self._lock:
            self._faults.append(
                _Fault(re.compile(regex), reply, times, method.upper() if method else None)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- request log ----------------------------------------------------------------
    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            self.requests.append(recorded)

    def requests_to(self, regex: str, method: str | None = None) -> list[Recorded]:
        """Recorded requests whose path fully matches ``regex`` (optionally one method)."""
        pattern = re.compile(regex)
        with self._lock:
            items = list(self.requests)
        return [
            r
            for r in items
            if pattern.fullmatch(r.path) and (method is None or r.method == method.upper())
        ]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- dispatch -------------------------------------------------------------------
    def dispatch(self, request: Recorded) -> Reply:
        """The reply for ``request``: an injected fault, a route, else 404."""
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, request.method):
                    continue
                if fault.pattern.search(request.path):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault.reply
            routes = [*self._user_routes, *self._builtin_routes]
        for method, pattern, handler in routes:
            method_ok = method == request.method or (method == "GET" and request.method == "HEAD")
            if not method_ok:
                continue
            match = pattern.fullmatch(request.path)
            if match:
                return handler(request, match)
        return self.not_found(request)

    def not_found(self, request: Recorded) -> Reply:
        return Reply(404, {"error": f"no route for {request.method} {request.path}"})

    # -- writing --------------------------------------------------------------------
    def send_reply(self, handler: BaseHTTPRequestHandler, request: Recorded, reply: Reply) -> None:
        """Write ``reply`` on the socket (override for exotic behaviour)."""
        if reply.status == 0:  # injected network failure
            _abort(handler)
            return
        chunks: Iterator[bytes]
        body = reply.body
        if body is None or isinstance(body, bytes | bytearray | str | dict | list):
            data, content_type = encode_body(body)  # type: ignore[arg-type]
            chunks = iter([data])
            length: int | None = len(data)
        else:
            content_type, chunks, length = "application/octet-stream", iter(body), None
        if reply.content_length is not None:
            length = reply.content_length
        pairs = list(reply.headers.items()) if isinstance(reply.headers, dict) else reply.headers
        names = {name.lower() for name, _ in pairs}
        head = [f"HTTP/1.1 {reply.status} {_reason(reply.status)}\r\n".encode("latin-1")]
        for name, value in pairs:
            head.append(name.encode("latin-1") + b": " + _header_bytes(value) + b"\r\n")
        if "content-type" not in names and content_type:
            head.append(f"Content-Type: {content_type}\r\n".encode("latin-1"))
        if "content-length" not in names and length is not None:
            head.append(f"Content-Length: {length}\r\n".encode("latin-1"))
        close = length is None or reply.drop_after is not None
        close = close or request.headers.get("Connection", "").lower() == "close"
        if close and "connection" not in names:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        try:
            handler.wfile.write(b"".join(head))
            if request.method != "HEAD":
                budget = reply.drop_after
                for chunk in chunks:
                    if budget is not None:
                        chunk = chunk[:budget]
                        budget -= len(chunk)
                    handler.wfile.write(chunk)
                    if budget is not None and budget <= 0:
                        break
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
            return
        if reply.drop_after is not None:
            _abort(handler)
        elif close:
            handler.close_connection = True


def _abort(handler: BaseHTTPRequestHandler) -> None:
    """Close the connection abruptly (the client sees a reset / truncated body)."""
    handler.close_connection = True
    try:
        handler.wfile.flush()
    except OSError:
        pass
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _header_bytes(value: HeaderValue) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("latin-1", errors="strict")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
