"""Typed results shared by every provider and front end.

Plain dataclasses with snake_case fields. Enum-like fields (model type, base model, file
format, scan results) are free strings so a new server value never breaks parsing; keys a
parser does not know are kept in ``extra``. Providers build these (see
``providers/civitai_parse.py``); nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Creator",
    "FileHashes",
    "Image",
    "Model",
    "ModelFile",
    "ModelVersion",
    "Page",
    "SearchQuery",
    "Stats",
]


@dataclass
class FileHashes:
    """A file's hashes, upper-case hex as Civitai stores them (any may be None)."""

    sha256: str | None = None
    autov1: str | None = None
    autov2: str | None = None
    autov3: str | None = None
    crc32: str | None = None
    blake3: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelFile:
    """One downloadable file of a version."""

    id: int | None
    name: str
    size_kb: float | None = None
    type: str = "Model"  # Model, Pruned Model, Negative, VAE, UNet, Diffusion Model, ...
    primary: bool = False
    format: str | None = None  # SafeTensor, PickleTensor, GGUF, Diffusers, ...
    fp: str | None = None  # fp16, fp32, bf16, free text
    size: str | None = None  # full, pruned
    quant_type: str | None = None
    pickle_scan: str | None = None  # Pending, Success, Danger, Error
    pickle_scan_message: str | None = None
    virus_scan: str | None = None
    virus_scan_message: str | None = None
    scanned_at: str | None = None
    hashes: FileHashes = field(default_factory=FileHashes)
    download_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def approx_size(self) -> int | None:
        """Size in bytes from ``sizeKB`` (a float, so only approximately exact)."""
        return None if self.size_kb is None else round(self.size_kb * 1024)


@dataclass
class Image:
    """A preview image (or video) of a version."""

    url: str
    id: int | None = None
    nsfw_level: int | None = None  # bitmask value 1/2/4/8/16/32; None when unknown
    nsfw: Any = None  # the seed document's old field: bool or "None|Soft|Mature|X"
    width: int | None = None
    height: int | None = None
    blurhash: str | None = None
    type: str = "image"  # image, video, audio
    meta: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Stats:
    """Counters; any may be None (fresh models, creators hiding metrics)."""

    download_count: int | None = None
    thumbs_up_count: int | None = None
    thumbs_down_count: int | None = None
    comment_count: int | None = None
    favorite_count: int | None = None
    rating_count: int | None = None
    rating: float | None = None
    tipped_amount_count: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Creator:
    username: str | None = None
    image: str | None = None


@dataclass
class ModelVersion:
    """One version of a model: its files, images and trained words."""

    id: int
    name: str
    model_id: int | None = None
    description: str | None = None
    base_model: str | None = None
    base_model_type: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    published_at: str | None = None
    status: str | None = None
    availability: str | None = None
    nsfw_level: int | None = None
    trained_words: list[str] = field(default_factory=list)
    files: list[ModelFile] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    download_url: str | None = None
    stats: Stats = field(default_factory=Stats)
    air: str | None = None
    early_access_deadline: str | None = None  # ISO text; None when not gated
    model_name: str | None = None  # from /model-versions' model{} or the parent model
    model_type: str | None = None
    model_nsfw: bool | None = None
    model_mode: str | None = None  # Archived, TakenDown, None
    index: int | None = None
    provider: str = "civitai"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def primary_file(self) -> ModelFile | None:
        """The file marked primary, else the first file of type Model, else the first."""
        for f in self.files:
            if f.primary:
                return f
        for f in self.files:
            if f.type == "Model":
                return f
        return self.files[0] if self.files else None


@dataclass
class Model:
    """A model (Civitai model, or a Novita model mapped onto the same shape)."""

    id: int | str
    name: str
    type: str = "Other"  # Checkpoint, LORA, LoCon, ..., free string
    description: str | None = None
    nsfw: bool = False
    nsfw_level: int | None = None
    tags: list[str] = field(default_factory=list)
    mode: str | None = None  # Archived, TakenDown
    creator: Creator = field(default_factory=Creator)
    stats: Stats = field(default_factory=Stats)
    versions: list[ModelVersion] = field(default_factory=list)
    allow_commercial_use: list[str] = field(default_factory=list)
    allow_no_credit: bool | None = None
    allow_derivatives: bool | None = None
    allow_different_license: bool | None = None
    poi: bool | None = None
    minor: bool | None = None
    availability: str | None = None
    supports_generation: bool | None = None
    user_id: int | None = None
    base_models: list[str] = field(default_factory=list)
    provider: str = "civitai"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    """One page of search results and where the next one starts.

    A provider's ``search_page`` may read several server pages to fill one of ours:
    ``requests`` is how many it read, ``scanned`` how many catalogue results it looked at,
    and ``bound_reached`` says it stopped at its request bound with the page not full
    (more may match from ``next_cursor``).
    """

    items: list[Model]
    next_cursor: str | None = None
    next_page: str | None = None
    current_page: int | None = None
    page_size: int | None = None
    provider: str = "civitai"
    extra: dict[str, Any] = field(default_factory=dict)
    requests: int = 1
    scanned: int | None = None
    bound_reached: bool = False


@dataclass
class SearchQuery:
    """A search, in provider-neutral terms; each provider sends what it understands."""

    query: str | None = None
    types: list[str] = field(default_factory=list)
    base_models: list[str] = field(default_factory=list)
    sort: str | None = None
    period: str | None = None
    tag: str | None = None
    username: str | None = None
    nsfw: bool | None = None
    limit: int | None = None
    rating: int | None = None
    favorites: bool | None = None
    hidden: bool | None = None
    primary_file_only: bool | None = None
    allow_no_credit: bool | None = None
    allow_derivatives: bool | None = None
    allow_different_licenses: bool | None = None
    allow_commercial_use: str | None = None
    supports_generation: bool | None = None
    ids: list[int] = field(default_factory=list)
    # Novita only
    visibility: str | None = None
    source: str | None = None
    is_sdxl: bool | None = None
    is_inpainting: bool | None = None
    extra_params: dict[str, str] = field(default_factory=dict)
