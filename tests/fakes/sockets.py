"""Servers that misbehave below HTTP: one that accepts and never answers, a refused port.

Usage::

    with SilentServer() as silent:          # 127.0.0.1, a free port
        requests.get(silent.url, timeout=0.2)   # -> ReadTimeout
    assert silent.accepted.wait(5)          # set once a connection was accepted

    url = refused_url()                     # nothing listens there: ECONNREFUSED
"""

from __future__ import annotations

import contextlib
import socket
import threading

__all__ = ["SilentServer", "refused_url"]


class SilentServer:
    """Accepts TCP connections on loopback, reads nothing, answers nothing, holds them."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.create_server((host, 0))
        self.host, self.port = self.sock.getsockname()[:2]
        self.url = f"http://{host}:{self.port}"
        self.accepted = threading.Event()
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True, name="silent-server")

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(conn)
            self.accepted.set()

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self.connections:
            with contextlib.suppress(OSError):
                conn.close()
        self.sock.close()


def refused_url(host: str = "127.0.0.1") -> str:
    """An ``http://`` URL of a port that was free a moment ago and has no listener."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    return f"http://{host}:{port}"
