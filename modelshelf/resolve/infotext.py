"""A1111 / Forge / SD.Next infotext ("parameters") → the resources it names.

The text is the prompt, an optional ``Negative prompt:`` part, and a last line of
``Key: value`` pairs separated by commas; a value with a comma, colon or quote is a JSON
string, and ``Hashes`` / ``Civitai resources`` / ``Civitai metadata`` are raw JSON. Fields
read (which hash each carries is in docs/DESIGN.md "Resolve", with sources):

``Model`` + ``Model hash`` (AutoV2, AutoV1 before A1111 1.0), ``VAE`` + ``VAE hash``
(AutoV2), ``Lora hashes`` (``alias: AutoV3``), ``TI hashes`` (``name: first 12 hex of the
file's SHA256``), ``Hypernet`` + ``Hypernet hash``, ``Refiner`` / ``Hires checkpoint``
(``name [hash]``), ``AddNet Model N`` (``name(hash)``), the Civitai extension's
``Hashes: {"model", "vae", "lora:NAME", "embed:NAME", ...}`` (AutoV2, or AutoV3 for LoRA as
Civitai's site re-exports them), ``Civitai resources: [...]`` (``modelVersionId`` or
``air``), and ``<lora:NAME:W>``, ``<lyco:NAME:W>``, ``<hypernet:NAME:W>`` in the prompts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .types import Resource, name_key

__all__ = ["classify_hash", "parse_infotext", "split_infotext"]

_HEX = re.compile(r"[0-9a-fA-F]+")
_EXTRA_NET = re.compile(r"<(lora|lyco|hypernet):([^:<>]+?)(?::([-+0-9.]+))?(?::[^<>]*)?>", re.I)
_NAME_HASH_BRACKET = re.compile(r"^(.*?)\s*\[([0-9a-fA-F]{8,64})\]\s*$")
_NAME_HASH_PAREN = re.compile(r"^(.*?)\(([0-9a-fA-F]{8,64})\)\s*$")
_KEY = re.compile(r"[A-Za-z][\w \-/.]{0,60}")
_AIR = re.compile(
    r"(?:urn:)?(?:air:)?[a-z0-9_.-]+:([a-z0-9_.-]+):civitai:([0-9]{1,10})(?:@([0-9]{1,10}))?",
    re.I,
)
_NET_KIND = {"lora": "lora", "lyco": "lycoris", "hypernet": "hypernetwork"}
_HASHES_KIND = {
    "lora": "lora",
    "lyco": "lycoris",
    "embed": "embedding",
    "embedding": "embedding",
    "hypernet": "hypernetwork",
}
_CIVITAI_TYPES = {
    "checkpoint": "checkpoint",
    "model": "checkpoint",
    "lora": "lora",
    "locon": "lycoris",
    "lycoris": "lycoris",
    "dora": "lora",
    "embed": "embedding",
    "embedding": "embedding",
    "textualinversion": "embedding",
    "vae": "vae",
    "hypernet": "hypernetwork",
    "hypernetwork": "hypernetwork",
    "controlnet": "controlnet",
    "upscaler": "upscaler",
}
MAX_ITEMS = 500  # resources one text may name; more is not a picture's metadata


def classify_hash(value: Any, kind: str, field: str) -> tuple[str, str] | None:
    """(hash kind, upper-case hex) for a hash given in ``field`` for a ``kind``; None if not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _HEX.fullmatch(text):
        return None
    n = len(text)
    if n == 64:
        return "sha256", text.upper()
    if n == 10:
        return "autov2", text.upper()
    if n == 8:
        return "autov1", text.upper()
    if n == 12:
        if field == "TI hashes" or kind == "embedding":
            return "sha256_12", text.upper()
        return "autov3", text.upper()
    return None


def split_infotext(text: str) -> tuple[str, str, str]:
    """(prompt, negative prompt, parameters line) of an infotext."""
    lines = text.replace("\r\n", "\n").strip().split("\n")
    params = ""
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].lstrip().startswith("Steps: ") or len(_parse_pairs(lines[i])) >= 3:
            params = lines[i]
            lines = lines[:i] + lines[i + 1 :]
            break
    cut = params.rfind("Steps: ")
    if cut > 0:  # one-line text (exiftool, some sites): the parameters start at "Steps: "
        lines.append(params[:cut].rstrip(" .,"))
        params = params[cut:]
    body = "\n".join(lines)
    prompt, sep, negative = body.partition("Negative prompt:")
    return prompt.strip(), negative.strip() if sep else "", params.strip()


def _parse_pairs(line: str) -> dict[str, Any]:
    """``Key: value, Key: "quoted", Key: {json}`` → dict (values str, or decoded JSON)."""
    out: dict[str, Any] = {}
    decoder = json.JSONDecoder()
    i, n = 0, len(line)
    while i < n and len(out) < 1000:
        while i < n and line[i] in " ,":
            i += 1
        colon = line.find(":", i)
        if colon < 0:
            break
        key = line[i:colon].strip()
        if not _KEY.fullmatch(key):
            comma = line.find(",", i)
            if comma < 0:
                break
            i = comma + 1
            continue
        j = colon + 1
        while j < n and line[j] == " ":
            j += 1
        value: Any = None
        if j < n and line[j] in '"{[':
            try:
                value, end = decoder.raw_decode(line, j)
                j = end
            except ValueError:
                value = None
        if value is None:
            comma = line.find(",", j)
            end = n if comma < 0 else comma
            value = line[j:end].strip()
            j = end
        out.setdefault(key, value)
        i = j
    return out


def _name_hash_pairs(value: Any) -> list[tuple[str, str]]:
    """``"a: 1234, b: 5678"`` (or a JSON object) → [(name, hash)]."""
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()][:MAX_ITEMS]
    if not isinstance(value, str):
        return []
    out = []
    for part in value.split(",")[:MAX_ITEMS]:
        name, sep, hashed = part.rpartition(":")
        if sep and name.strip():
            out.append((name.strip(), hashed.strip()))
    return out


def _weight(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if -100 <= number <= 100 else None


class _Collector:
    """Resources by (kind, name key), merged as fields name them again."""

    def __init__(self) -> None:
        self.items: list[Resource] = []

    def add(self, res: Resource) -> Resource:
        for have in self.items:
            if _same(have, res):
                have.merge(res)
                return have
        if len(self.items) < MAX_ITEMS:
            self.items.append(res)
        return res


def _same(a: Resource, b: Resource) -> bool:
    if a.version_id and b.version_id:
        return a.version_id == b.version_id
    shared = set(a.hashes) & set(b.hashes)
    if any(a.hashes[k] == b.hashes[k] for k in shared):
        return True
    kinds = {a.kind, b.kind}
    compatible = len(kinds) == 1 or kinds <= {"lora", "lycoris"}
    return compatible and bool(a.name) and name_key(a.name) == name_key(b.name)


def parse_infotext(text: str) -> list[Resource]:
    """Every resource an A1111-style infotext names (empty when it names none)."""
    prompt, negative, params_line = split_infotext(text)
    params = _parse_pairs(params_line)
    found = _Collector()

    def hashed(kind: str, name: str | None, value: Any, field: str, **more: Any) -> None:
        res = Resource(kind, name=name or None, fields=[field], **more)
        got = classify_hash(value, kind, field)
        if got:
            res.add_hash(*got)
        if res.name is None and res.hashes:
            same_kind = [r for r in found.items if r.kind == kind]
            if len(same_kind) == 1:  # "Hashes" {"model": h} is the one Model named
                same_kind[0].merge(res)
                return
        if res.name or res.hashes:
            found.add(res)

    model = params.get("Model")
    hashed(
        "checkpoint", model if isinstance(model, str) else None, params.get("Model hash"), "Model"
    )
    vae = params.get("VAE")
    if isinstance(vae, str) and vae.strip().lower() not in ("", "none", "automatic"):
        hashed("vae", vae, params.get("VAE hash"), "VAE")
    elif params.get("VAE hash"):
        hashed("vae", None, params.get("VAE hash"), "VAE hash")
    for field in ("Refiner", "Hires checkpoint"):
        value = params.get(field)
        if isinstance(value, str) and (m := _NAME_HASH_BRACKET.match(value)):
            hashed("checkpoint", m[1], m[2], field)
        elif isinstance(value, str) and value.strip() and value.strip() != "Use same checkpoint":
            hashed("checkpoint", value.strip(), None, field)
    hyper = params.get("Hypernet")
    if isinstance(hyper, str) and hyper.strip():
        hashed("hypernetwork", hyper.strip(), params.get("Hypernet hash"), "Hypernet")

    for where, source in (("prompt", prompt), ("negative prompt", negative)):
        for m in list(_EXTRA_NET.finditer(source))[:MAX_ITEMS]:
            kind = _NET_KIND[m[1].lower()]
            found.add(
                Resource(
                    kind, name=m[2].strip(), weight=_weight(m[3]), fields=[f"<{m[1]}> in {where}"]
                )
            )
    for name, value in _name_hash_pairs(params.get("Lora hashes")):
        hashed("lora", name, value, "Lora hashes")
    for name, value in _name_hash_pairs(params.get("TI hashes")):
        hashed("embedding", name, value, "TI hashes")
    for n in range(1, 21):
        value = params.get(f"AddNet Model {n}")
        if not isinstance(value, str):
            break
        m = _NAME_HASH_PAREN.match(value)
        name, hash_value = (m[1], m[2]) if m else (value, None)
        module = str(params.get(f"AddNet Module {n}") or "LoRA").lower()
        weight = _weight(params.get(f"AddNet Weight A {n}", params.get(f"AddNet Weight {n}")))
        kind = "lycoris" if "lyco" in module else "lora"
        hashed(kind, name.strip(), hash_value, f"AddNet Model {n}", weight=weight)

    _civitai_hashes(params.get("Hashes"), hashed)
    _civitai_resources(params.get("Civitai resources"), found)
    return _fold_bare_model(found.items)


def _fold_bare_model(items: list[Resource]) -> list[Resource]:
    """``Model: NAME`` without a hash beside the one checkpoint ``Civitai resources`` names."""
    versioned = [r for r in items if r.kind == "checkpoint" and r.version_id]
    bare = [r for r in items if r.kind == "checkpoint" and not r.version_id and not r.hashes]
    if len(versioned) != 1 or len(bare) != 1:
        return items
    versioned[0].fields.extend(f for f in bare[0].fields if f not in versioned[0].fields)
    return [r for r in items if r is not bare[0]]


def _civitai_hashes(value: Any, hashed) -> None:
    """The Civitai extension's ``Hashes: {"model": h, "vae": h, "lora:NAME": h, ...}``."""
    if not isinstance(value, dict):
        return
    for key, hash_value in list(value.items())[:MAX_ITEMS]:
        key = str(key)
        if key == "model":
            hashed("checkpoint", None, hash_value, "Hashes")
        elif key == "vae":
            hashed("vae", None, hash_value, "Hashes")
        else:
            prefix, sep, name = key.partition(":")
            kind = _HASHES_KIND.get(prefix.lower())
            if sep and kind and name.strip():
                field = "TI hashes" if kind == "embedding" else "Hashes"
                hashed(kind, name.strip(), hash_value, field)


def _civitai_resources(value: Any, found: _Collector) -> None:
    """Civitai's generator: ``Civitai resources: [{"type", "modelVersionId"|"air", ...}]``."""
    if not isinstance(value, list):
        return
    for item in value[:MAX_ITEMS]:
        if not isinstance(item, dict):
            continue
        kind = _CIVITAI_TYPES.get(str(item.get("type") or "").lower().replace(" ", ""), "other")
        version_id = _positive(item.get("modelVersionId"))
        model_id = _positive(item.get("modelId"))
        air = item.get("air") if isinstance(item.get("air"), str) else None
        if air and (m := _AIR.search(air)):
            kind = _CIVITAI_TYPES.get(m[1].lower(), kind)
            model_id = model_id or _positive(m[2])
            version_id = version_id or _positive(m[3])
        if version_id is None:
            continue
        name = item.get("modelName")
        found.add(
            Resource(
                kind,
                name=name if isinstance(name, str) and name.strip() else None,
                weight=_weight(item.get("weight", item.get("strength"))),
                version_id=version_id,
                model_id=model_id,
                air=air,
                fields=["Civitai resources"],
            )
        )


def _positive(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 1 <= number <= 2147483647 else None
