"""One source (file, bytes, pasted text, workflow dict) → the resources it names."""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import BadInputError
from .comfy import is_workflow, parse_workflow
from .infotext import _Collector, parse_infotext
from .readers import Metadata, read_source
from .types import Resource

__all__ = ["extract_resources", "resources_of"]


def resources_of(meta: Metadata) -> list[Resource]:
    """The resources a source's metadata names (infotext, then API prompt, then workflow)."""
    label = os.path.basename(meta.source) or meta.source
    found = _Collector()
    if meta.workflow_json is not None:
        for res in parse_workflow(meta.workflow_json, label=label):
            found.add(res)
    params = meta.texts.get("parameters")
    if params:
        for res in parse_infotext(params):
            found.add(res)
    for key in ("prompt", "workflow"):
        text = meta.texts.get(key)
        if not text:
            continue
        data = _json(text)
        if is_workflow(data):
            for res in parse_workflow(data, label=label):
                found.add(res)
    return found.items


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def extract_resources(
    source: str | os.PathLike[str] | bytes | dict, *, name: str | None = None
) -> tuple[Metadata, list[Resource]]:
    """Read ``source`` (see :func:`~.readers.read_source`) and list what it names.

    A file with no generation data at all is a BadInputError; data that names no model
    gives an empty list.
    """
    meta = read_source(source, name=name)
    if meta.empty:
        label = os.path.basename(meta.source) or meta.source
        raise BadInputError(
            f"{label} holds no generation data (no A1111 parameters, no ComfyUI prompt or "
            "workflow); the tool that saved it may have stripped it."
        )
    return meta, resources_of(meta)
