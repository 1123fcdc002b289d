"""The sidebar's routes under ``/modelshelf/...`` on ComfyUI's server (aiohttp).

Every handler goes through :func:`_route`: origin check (:mod:`.guard`), the core call in
an executor thread (the event loop never waits on the network or a disk), one JSON
answer, core errors as ``{"error": sentence}``, and no API key in any answer. The core
is reached only through :class:`Shelf` and :mod:`modelshelf.views`.

    GET  /modelshelf/options                  filters each provider supports
    GET  /modelshelf/search?provider=&query=&types=&base_models=&sort=&period=&tag=
                           &username=&nsfw=&cursor=&limit=&...
    GET  /modelshelf/model/{provider}/{model_id}?version_id=
    GET  /modelshelf/version/{version_id}
    POST /modelshelf/downloads                {"ref", "file_id"}
    POST /modelshelf/downloads/{job_id}/cancel | /retry
    GET  /modelshelf/downloads?since=&timeout=    long-poll of download changes
    GET  /modelshelf/library                  folder keys and how many files each lists
    GET  /modelshelf/trained-words?folder=&name=  a file ComfyUI lists in that folder
    GET  /modelshelf/settings    POST /modelshelf/settings  (keys: only whether one is set)
    POST /modelshelf/missing                  a workflow, an image or a file → the models it needs
    POST /modelshelf/missing/download         {"plan_id", "accept"}: queue the missing ones
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from . import guard, host, service

__all__ = ["PREFIX", "add_routes", "register_routes"]

log = logging.getLogger(__name__)

PREFIX = "/modelshelf"
Handler = Callable[[Any], Awaitable[Any]]
BodyReader = Callable[[Any], Awaitable[dict[str, Any]]]


def _secrets() -> list[str]:
    shelf = service.get_shelf()
    return [s for s in (shelf.settings.civitai_token, shelf.settings.novita_key) if s]


def _json(web: Any, data: Any, status: int = 200) -> Any:
    try:
        text = guard.withhold_keys(data, _secrets())
    except guard.RefusedError as exc:
        text, status = guard.withhold_keys({"error": exc.message}, []), exc.status
    return web.Response(text=text, status=status, content_type="application/json")


async def _json_body(request: Any) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise guard.RefusedError(400, "The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise guard.RefusedError(400, "The request body must be a JSON object.")
    return body


def _route(
    web: Any, handler: Callable[..., Any], *, post: bool = False, reader: BodyReader | None = None
) -> Handler:
    """Wrap a blocking ``handler(query, match_info, body) -> data`` as a checked aiohttp
    handler; ``reader`` turns a POST's body into ``body`` (default: a JSON object)."""

    async def wrapped(request: Any) -> Any:
        from ..modelshelf.errors import ModelShelfError

        try:
            guard.check_origin(request.headers)
            body: dict[str, Any] = {}
            if post:
                body = await (reader or _json_body)(request)
            call = functools.partial(handler, dict(request.query), dict(request.match_info), body)
            data = await asyncio.get_running_loop().run_in_executor(None, call)
            return _json(web, data)
        except guard.RefusedError as exc:
            return _json(web, {"error": exc.message}, exc.status)
        except ModelShelfError as exc:
            shelf = service.get_shelf()
            status = {2: 400, 3: 404, 4: 403}.get(exc.exit_code, 502)
            return _json(web, {"error": str(service.node_error(exc, shelf.settings))}, status)

    return wrapped


def add_routes(routes: Any, web: Any) -> None:
    """Add our handlers to an aiohttp ``RouteTableDef`` (ComfyUI's or a test app's)."""
    from . import handlers, missing

    table = [
        ("GET", "/options", handlers.options, False),
        ("GET", "/search", handlers.search, False),
        ("GET", "/model/{provider}/{model_id}", handlers.model, False),
        ("GET", "/version/{version_id}", handlers.version, False),
        ("POST", "/downloads", handlers.start_download, True),
        ("POST", "/downloads/{job_id}/cancel", handlers.cancel_download, True),
        ("POST", "/downloads/{job_id}/retry", handlers.retry_download, True),
        ("GET", "/downloads", handlers.download_changes, False),
        ("GET", "/library", handlers.library, False),
        ("GET", "/trained-words", handlers.trained_words, False),
        ("GET", "/settings", handlers.get_settings, False),
        ("POST", "/settings", handlers.set_settings, True),
        ("POST", "/missing/download", missing.download, True),
    ]
    for method, path, handler, post in table:
        decorate = routes.post if method == "POST" else routes.get
        decorate(PREFIX + path)(_route(web, handler, post=post))
    routes.post(PREFIX + "/missing")(
        _route(web, missing.check, post=True, reader=missing.read_sources)
    )


def register_routes() -> bool:
    """Add the routes to ``PromptServer.instance.routes``; False outside ComfyUI."""
    server = host.comfy_module("server")
    instance = getattr(getattr(server, "PromptServer", None), "instance", None)
    if instance is None:
        return False
    from . import missing_modules

    lacking = missing_modules(("aiohttp", "nh3", "blurhash"))
    if lacking:
        log.error("Model Shelf: sidebar left out; install %s", ", ".join(lacking))
        return False
    from aiohttp import web

    add_routes(instance.routes, web)
    return True
