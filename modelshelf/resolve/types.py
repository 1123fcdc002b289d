"""What a picture or a workflow names (:class:`Resource`) and what it resolved to.

A :class:`Resource` is one model a file says it was made with: its kind, the name the
file used, a weight, and every piece of evidence the file gave (hashes by kind, a Civitai
version id, an AIR, a download URL). Hash kinds (see docs/DESIGN.md "Resolve"):

- ``sha256``: the whole file's SHA256 (64 hex);
- ``autov2``: its first 10 hex (A1111 ``Model hash``, ``VAE hash``, the Civitai
  extension's ``Hashes``);
- ``autov3``: the first 12 hex of SHA256 over a safetensors file's data after its header
  (A1111 ``Lora hashes``, kohya's ``sshs_model_hash``);
- ``sha256_12``: the first 12 hex of the whole file's SHA256 (A1111 ``TI hashes``);
  looked up as the AutoV2 it starts with;
- ``autov1``: 8 hex, SHA256 of 64 KiB at offset 1 MiB (A1111 before 1.0 ``Model hash``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..types import ModelFile, ModelVersion

__all__ = [
    "HASH_KINDS",
    "KINDS",
    "ResolvedResource",
    "Resource",
    "name_key",
]

KINDS = (
    "checkpoint",
    "lora",
    "lycoris",
    "embedding",
    "hypernetwork",
    "vae",
    "controlnet",
    "upscaler",
    "unet",
    "clip",
    "clip_vision",
    "other",
)
HASH_KINDS = ("sha256", "autov2", "autov3", "sha256_12", "autov1")
MODEL_EXTENSIONS = (
    ".safetensors",
    ".ckpt",
    ".pt",
    ".pth",
    ".bin",
    ".gguf",
    ".sft",
    ".onnx",
)


def name_key(name: str | None) -> str:
    """A file or alias name compared without folders, extension or case."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    lower = text.lower()
    for ext in MODEL_EXTENSIONS:
        if lower.endswith(ext):
            text = text[: -len(ext)]
            break
    return text.casefold()


@dataclass
class Resource:
    """One model a picture or workflow names, with all the evidence it gave."""

    kind: str
    name: str | None = None
    weight: float | None = None
    hashes: dict[str, str] = field(default_factory=dict)  # kind -> upper-case hex
    version_id: int | None = None
    model_id: int | None = None
    air: str | None = None
    url: str | None = None
    directory: str | None = None  # ComfyUI folder key from properties.models
    fields: list[str] = field(default_factory=list)  # where it was named

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        if self.version_id:
            return f"version {self.version_id}"
        for kind in HASH_KINDS:
            if kind in self.hashes:
                return f"{kind} {self.hashes[kind]}"
        return "(unnamed)"

    def add_hash(self, kind: str, value: str) -> None:
        if kind in HASH_KINDS and value and kind not in self.hashes:
            self.hashes[kind] = value.upper()

    def merge(self, other: Resource) -> None:
        """Take what ``other`` (the same resource, named elsewhere) adds."""
        if other.kind != self.kind and self.kind == "other":
            self.kind = other.kind
        if self.name is None:
            self.name = other.name
        elif other.name and "." in other.name and "." not in self.name:
            self.name = other.name  # prefer the file name to an alias
        if self.weight is None:
            self.weight = other.weight
        for kind, value in other.hashes.items():
            self.add_hash(kind, value)
        for attr in ("version_id", "model_id", "air", "url", "directory"):
            if getattr(self, attr) is None:
                setattr(self, attr, getattr(other, attr))
        for f in other.fields:
            if f not in self.fields:
                self.fields.append(f)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "weight": self.weight,
            "hashes": dict(self.hashes),
            "version_id": self.version_id,
            "model_id": self.model_id,
            "air": self.air,
            "url": self.url,
            "fields": list(self.fields),
        }


@dataclass
class ResolvedResource:
    """What one resource turned out to be, and whether it is on disk.

    ``status``: ``installed`` (a library file matches), ``available`` (a Civitai version
    was found; ``confidence`` ``exact`` or ``guess``), ``not-found``, or ``error``.
    ``how`` says which evidence identified it: ``version-id``, ``air``, ``url``,
    ``sha256``, ``autov2``, ``autov3``, ``autov1``, ``file-name`` (a library file of that
    name, for a resource named only by its file name) or ``name-search`` (a guess).
    """

    resource: Resource
    status: str
    how: str | None = None
    confidence: str | None = None
    version: ModelVersion | None = None
    file: ModelFile | None = None
    installed_at: list[Path] = field(default_factory=list)
    conflict: Path | None = None  # a file of the same name whose hash differs
    reason: str | None = None

    @property
    def version_id(self) -> int | None:
        if self.version is not None:
            return self.version.id
        return self.resource.version_id

    @property
    def model_id(self) -> int | None:
        if self.version is not None and self.version.model_id is not None:
            return self.version.model_id
        return self.resource.model_id
