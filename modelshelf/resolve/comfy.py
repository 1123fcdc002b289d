"""ComfyUI workflows (API and UI format) → the resources their loaders name.

- API format (the PNG ``prompt`` chunk, "Export (API)"): ``{node_id: {"class_type",
  "inputs": {name: value}}}``. A loader's file name input (``ckpt_name``, ``lora_name``,
  ``vae_name``, ``control_net_name``, ``unet_name``, ``clip_name``/``clip_name1..4``,
  ``model_name`` of an upscaler, ``hypernetwork_name``, ...) names a file.
- UI format (the ``workflow`` chunk, a saved ``.json``): ``{"nodes": [{"type",
  "widgets_values", "properties", "mode"}], "definitions": {"subgraphs": [...]}}``; the
  core loaders' file widget positions are known, other nodes' widget values that end in a
  model extension count too. ``properties.models`` entries (``name``, ``url``,
  ``directory``, ``hash`` + ``hash_type``) and a top-level ``models`` list add URLs and
  SHA256s. Muted (mode 2) and bypassed (mode 4) nodes are skipped.
- Our own nodes: any ``ModelShelf*`` node with a ``reference`` input (a REF).
- ``embedding:NAME`` in any prompt text names an embedding.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import BadInputError
from .infotext import MAX_ITEMS, _Collector, classify_hash
from .types import MODEL_EXTENSIONS, Resource

__all__ = ["is_workflow", "parse_workflow"]

# input name -> kind (API format; the same names in dict-valued widgets)
_INPUT_KINDS = {
    "ckpt_name": "checkpoint",
    "lora_name": "lora",
    "vae_name": "vae",
    "control_net_name": "controlnet",
    "controlnet_name": "controlnet",
    "unet_name": "unet",
    "clip_name": "clip",
    "clip_name1": "clip",
    "clip_name2": "clip",
    "clip_name3": "clip",
    "clip_name4": "clip",
    "hypernetwork_name": "hypernetwork",
    "style_model_name": "other",
    "gligen_name": "other",
    "photomaker_model_name": "other",
}
# UI-format core loaders: node type -> [(widget index, kind)]
_WIDGETS = {
    "CheckpointLoaderSimple": [(0, "checkpoint")],
    "CheckpointLoader": [(1, "checkpoint")],
    "ImageOnlyCheckpointLoader": [(0, "checkpoint")],
    "unCLIPCheckpointLoader": [(0, "checkpoint")],
    "LoraLoader": [(0, "lora")],
    "LoraLoaderModelOnly": [(0, "lora")],
    "VAELoader": [(0, "vae")],
    "ControlNetLoader": [(0, "controlnet")],
    "DiffControlNetLoader": [(0, "controlnet")],
    "UpscaleModelLoader": [(0, "upscaler")],
    "UNETLoader": [(0, "unet")],
    "CLIPLoader": [(0, "clip")],
    "DualCLIPLoader": [(0, "clip"), (1, "clip")],
    "TripleCLIPLoader": [(0, "clip"), (1, "clip"), (2, "clip")],
    "QuadrupleCLIPLoader": [(0, "clip"), (1, "clip"), (2, "clip"), (3, "clip")],
    "CLIPVisionLoader": [(0, "clip_vision")],
    "HypernetworkLoader": [(0, "hypernetwork")],
}
_WEIGHT_WIDGET = {"LoraLoader": 1, "LoraLoaderModelOnly": 1, "HypernetworkLoader": 1}
_DIRECTORY_KINDS = {
    "checkpoints": "checkpoint",
    "loras": "lora",
    "vae": "vae",
    "controlnet": "controlnet",
    "upscale_models": "upscaler",
    "diffusion_models": "unet",
    "unet": "unet",
    "text_encoders": "clip",
    "clip": "clip",
    "clip_vision": "clip_vision",
    "embeddings": "embedding",
    "hypernetworks": "hypernetwork",
}
_SKIP_TYPES = {"Note", "MarkdownNote", "PrimitiveNode", "Reroute"}
_EMBEDDING = re.compile(r"embedding:([^\s,()<>:\"]+)", re.I)
_MAX_NODES = 20000


def is_workflow(data: Any) -> str | None:
    """``"ui"``, ``"api"`` or None for a decoded JSON value."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("nodes"), list):
        return "ui"
    nodes = [v for v in data.values() if isinstance(v, dict)]
    if nodes and any("class_type" in v for v in nodes):
        return "api"
    return None


def parse_workflow(data: Any, *, label: str = "the workflow") -> list[Resource]:
    """Every resource a ComfyUI workflow names; BadInputError if ``data`` is not one."""
    kind = is_workflow(data)
    found = _Collector()
    if kind == "ui":
        _ui(data, found, depth=0)
    elif kind == "api":
        _api(data, found)
    elif isinstance(data, dict) and (
        is_workflow(data.get("workflow")) or is_workflow(data.get("prompt"))
    ):
        for part in ("prompt", "workflow"):
            if is_workflow(data.get(part)):
                for res in parse_workflow(data[part], label=label):
                    found.add(res)
    else:
        raise BadInputError(
            f'{label} is JSON but not a ComfyUI workflow (no "nodes" list and no node '
            'with a "class_type").'
        )
    return found.items


def _is_model_file(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= 1024
        and value.lower().endswith(MODEL_EXTENSIONS)
    )


def _weight(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if -100 <= value <= 100 else None


def _embeddings(text: Any, where: str, found: _Collector) -> None:
    if not isinstance(text, str) or "embedding:" not in text.lower():
        return
    for m in list(_EMBEDDING.finditer(text))[:MAX_ITEMS]:
        found.add(Resource("embedding", name=m[1], fields=[where]))


def _our_node(node_type: str, reference: Any, found: _Collector, where: str) -> None:
    """A ``ModelShelf*`` node: its ``reference`` names a Civitai version or model."""
    from ..refs import parse_ref

    if not isinstance(reference, str) or not reference.strip():
        return
    try:
        ref = parse_ref(reference)
    except BadInputError:
        return
    if ref.provider != "civitai" or (ref.version_id is None and ref.model_id is None):
        return
    lowered = node_type.lower()
    kind = next(
        (k for k in ("lora", "vae", "controlnet", "upscaler", "embedding") if k in lowered),
        "checkpoint" if "checkpoint" in lowered else "other",
    )
    found.add(
        Resource(
            kind,
            version_id=ref.version_id,
            model_id=ref.model_id,
            air=reference.strip() if "air:" in reference else None,
            fields=[where],
        )
    )


def _api(data: dict[str, Any], found: _Collector) -> None:
    for node_id, node in list(data.items())[:_MAX_NODES]:
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type") or "")
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            continue
        where = f"{class_type or 'node'} #{node_id}"
        if class_type.startswith("ModelShelf") and "reference" in inputs:
            _our_node(class_type, inputs.get("reference"), found, where)
            continue
        weight = _weight(inputs.get("strength_model", inputs.get("strength")))
        for name, value in inputs.items():
            kind = _INPUT_KINDS.get(name)
            if kind is None and name == "model_name" and "upscale" in class_type.lower():
                kind = "upscaler"
            if kind and _is_model_file(value):
                res = Resource(kind, name=value, fields=[where])
                if kind in ("lora", "hypernetwork"):
                    res.weight = weight
                found.add(res)
            elif isinstance(value, str):
                _embeddings(value, where, found)


def _ui(data: dict[str, Any], found: _Collector, depth: int) -> None:
    if depth > 8:
        return
    nodes = data.get("nodes")
    for node in nodes[:_MAX_NODES] if isinstance(nodes, list) else []:
        if isinstance(node, dict):
            _ui_node(node, found)
    _models_list(data.get("models"), None, found, "workflow models")
    definitions = data.get("definitions")
    subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    for sub in subgraphs if isinstance(subgraphs, list) else []:
        if isinstance(sub, dict):
            _ui(sub, found, depth + 1)


def _ui_node(node: dict[str, Any], found: _Collector) -> None:
    node_type = str(node.get("type") or "")
    if node.get("mode") in (2, 4) or node_type in _SKIP_TYPES:
        return
    where = f"{node_type or 'node'} #{node.get('id')}"
    values = node.get("widgets_values")
    props = node.get("properties")
    props = props if isinstance(props, dict) else {}
    named: list[Resource] = []
    if isinstance(values, dict):
        if node_type.startswith("ModelShelf") and "reference" in values:
            _our_node(node_type, values.get("reference"), found, where)
            return
        for name, value in values.items():
            kind = _INPUT_KINDS.get(str(name))
            if kind and _is_model_file(value):
                named.append(Resource(kind, name=value, fields=[where]))
            else:
                _embeddings(value, where, found)
    elif isinstance(values, list):
        if node_type.startswith("ModelShelf"):
            for value in values:
                _our_node(node_type, value, found, where)
            return
        known = _WIDGETS.get(node_type)
        if known:
            for index, kind in known:
                if index < len(values) and isinstance(values[index], str) and values[index]:
                    res = Resource(kind, name=values[index], fields=[where])
                    at = _WEIGHT_WIDGET.get(node_type)
                    if at is not None and at < len(values):
                        res.weight = _weight(values[at])
                    named.append(res)
        else:
            for value in values[:200]:
                if _is_model_file(value):
                    named.append(Resource(_guess_kind(node_type), name=value, fields=[where]))
        for value in values[:200]:
            if not _is_model_file(value):
                _embeddings(value, where, found)
    for res in named:
        found.add(res)
    _models_list(props.get("models"), named, found, where)


def _guess_kind(node_type: str) -> str:
    lowered = node_type.lower()
    for needle, kind in (
        ("lora", "lora"),
        ("vae", "vae"),
        ("controlnet", "controlnet"),
        ("upscale", "upscaler"),
        ("unet", "unet"),
        ("diffusion", "unet"),
        ("clip", "clip"),
        ("checkpoint", "checkpoint"),
        ("ckpt", "checkpoint"),
    ):
        if needle in lowered:
            return kind
    return "other"


def _models_list(models: Any, named: list[Resource] | None, found: _Collector, where: str) -> None:
    """``properties.models`` / top-level ``models``: name, url, directory, hash."""
    if not isinstance(models, list):
        return
    for entry in models[:MAX_ITEMS]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        directory = entry.get("directory") if isinstance(entry.get("directory"), str) else None
        kind = _DIRECTORY_KINDS.get((directory or "").strip("/").split("/")[0], "other")
        url = entry.get("url") if isinstance(entry.get("url"), str) else None
        res = Resource(kind, name=entry["name"], url=url, directory=directory, fields=[where])
        hash_type = str(entry.get("hash_type") or "sha256").lower()
        if hash_type == "sha256":
            got = classify_hash(entry.get("hash"), kind, "models")
            if got and got[0] == "sha256":
                res.add_hash(*got)
        if kind == "other" and named:
            res.kind = named[0].kind
        found.add(res)
