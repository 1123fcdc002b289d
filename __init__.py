"""ComfyUI entry point of Model Shelf (A1111 ignores this file).

Exports the nodes, the web folder of the sidebar, and registers the ``/modelshelf/...``
routes on ComfyUI's server. Nothing here may stop ComfyUI from starting: any failure is
one log line and the pack loads with what works.
"""

import logging

_log = logging.getLogger(__name__)

try:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
except Exception as _exc:  # never fail ComfyUI's start
    _log.error("Model Shelf: nodes not loaded (%s: %s)", type(_exc).__name__, _exc)
    NODE_CLASS_MAPPINGS: dict = {}
    NODE_DISPLAY_NAME_MAPPINGS: dict = {}

try:
    from .nodes.routes import register_routes

    register_routes()
except Exception as _exc:
    _log.error("Model Shelf: sidebar routes not loaded (%s: %s)", type(_exc).__name__, _exc)

WEB_DIRECTORY = "./javascript/comfyui"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
