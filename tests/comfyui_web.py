"""ComfyUI's web side for tests: our routes on an aiohttp app, as ComfyUI mounts them.

ComfyUI serves every route at ``/x`` and ``/api/x`` (``api.fetchApi("/x")`` calls
``/api/x``), a pack's ``WEB_DIRECTORY`` at ``/extensions/<pack>/``, and pushes
``send_sync(event, data)`` to the page's websocket as ``{"type", "data"}``. The browser
test adds a page with stand-ins for ``/scripts/app.js`` and ``/scripts/api.js``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import WSMsgType, web
from comfyui_stubs import ROOT, ComfyHost, pack_module

PAGE_DIR = Path(__file__).resolve().parent / "data" / "comfyui_page"
EXTENSION_URL = "/extensions/ComfyUI-Model-Shelf/"


def make_app(host: ComfyHost, *, page: bool = False) -> web.Application:
    """An app with our routes at ``/modelshelf/...`` and ``/api/modelshelf/...``."""
    routes = pack_module("nodes.routes")
    table = web.RouteTableDef()
    routes.add_routes(table, web)
    app = web.Application()
    app.add_routes(table)
    api = web.Application()
    api.add_routes(table)
    if page:
        sockets: set[web.WebSocketResponse] = set()

        async def ws(request: web.Request) -> web.WebSocketResponse:
            sock = web.WebSocketResponse()
            await sock.prepare(request)
            sockets.add(sock)
            try:
                async for msg in sock:
                    if msg.type == WSMsgType.ERROR:
                        break
            finally:
                sockets.discard(sock)
            return sock

        async def on_startup(app: web.Application) -> None:
            loop = asyncio.get_running_loop()

            def forward(event: str, data: object) -> None:
                text = json.dumps({"type": event, "data": data})
                for sock in list(sockets):
                    loop.call_soon_threadsafe(
                        lambda s=sock: asyncio.ensure_future(s.send_str(text))
                    )

            host.on_event.append(forward)

        app.on_startup.append(on_startup)
        app.router.add_get("/ws", ws)

        async def index(_request: web.Request) -> web.FileResponse:
            return web.FileResponse(PAGE_DIR / "index.html")

        app.router.add_get("/", index)
        app.router.add_static("/scripts/", PAGE_DIR / "scripts")
        app.router.add_static(EXTENSION_URL, ROOT / "javascript" / "comfyui")
    app.add_subapp("/api", api)
    return app


@contextmanager
def serve(app: web.Application) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a thread; yields its base URL."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()
    box: dict[str, str] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]
        box["url"] = f"http://127.0.0.1:{port}"
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="comfyui-test-server", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the test server did not start")
    try:
        yield box["url"]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
