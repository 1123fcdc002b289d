"""ComfyUI glue of Model Shelf: node classes (:mod:`.loaders`) and server routes (:mod:`.routes`).

Importing this package must never fail ComfyUI's start and must stay cheap: a missing
dependency is one log line and the nodes that need it are left out; ComfyUI and the core
are imported only when a node runs or a route is called.
"""

from __future__ import annotations

import importlib.util
import logging

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "missing_modules"]

log = logging.getLogger(__name__)

# Python modules (import names) every node needs (the core's requirements), and a node's extra.
CORE_MODULES = ("requests", "platformdirs", "filelock", "yaml")
NODE_MODULES = {"ModelShelfLoadUpscaleModel": ("spandrel",)}


def missing_modules(names: tuple[str, ...]) -> list[str]:
    """The modules of ``names`` that cannot be imported (found without importing them)."""
    missing = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def _mappings() -> tuple[dict[str, type], dict[str, str]]:
    from .loaders import NODE_CLASS_MAPPINGS as classes
    from .loaders import NODE_DISPLAY_NAME_MAPPINGS as names

    lacking = missing_modules(CORE_MODULES)
    if lacking:
        log.error(
            "Model Shelf: no nodes loaded; install %s (pip install -r requirements.txt)",
            ", ".join(lacking),
        )
        return {}, {}
    out = dict(classes)
    for node, modules in NODE_MODULES.items():
        lacking = missing_modules(modules)
        if lacking:
            log.warning("Model Shelf: %s left out; it needs %s", names[node], ", ".join(lacking))
            out.pop(node, None)
    return out, {k: v for k, v in names.items() if k in out}


NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = _mappings()
