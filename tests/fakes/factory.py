"""Builders for synthetic but realistic Civitai API dicts, with REAL hashes of given bytes.

The dicts have the shape ``/api/v1/models/{id}`` returns (camelCase keys), so they can be
fed to :meth:`fakes.civitai.FakeCivitai.add_model` and to the parser alike::

    data = make_safetensors(4096)
    model = make_model(10, "My LoRA", versions=[
        make_version(100, 10, [make_file(1000, "my_lora.safetensors", data)], name="v1"),
    ])
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "DEFAULT_ROOT",
    "file_hashes",
    "make_file",
    "make_image",
    "make_model",
    "make_safetensors",
    "make_version",
]

DEFAULT_ROOT = "https://civitai.com"
_AUTOV1_MIN_SIZE = 2 * 1024 * 1024
_AIR_ECOSYSTEM = {
    "SD 1.5": "sd1",
    "SD 1.4": "sd1",
    "SD 2.1": "sd2",
    "SDXL 1.0": "sdxl",
    "Pony": "sdxl",
    "Illustrious": "sdxl",
    "NoobAI": "sdxl",
    "Flux.1 D": "flux1",
    "Flux.1 S": "flux1",
}
_AIR_TYPE = {
    "Checkpoint": "checkpoint",
    "LORA": "lora",
    "LoCon": "lycoris",
    "DoRA": "dora",
    "TextualInversion": "embedding",
    "Hypernetwork": "hypernet",
    "VAE": "vae",
    "Controlnet": "controlnet",
    "Upscaler": "upscaler",
}


def autov3(data: bytes) -> str | None:
    """AutoV3 (kohya addnet hash) of safetensors bytes, upper-case 12 hex; None if not one."""
    if len(data) < 8:
        return None
    (header_len,) = struct.unpack("<Q", data[:8])
    if 8 + header_len > len(data):
        return None
    return hashlib.sha256(data[8 + header_len :]).hexdigest()[:12].upper()


def file_hashes(data: bytes, *, safetensors: bool = True) -> dict[str, str]:
    """The ``hashes`` object Civitai stores for ``data`` (upper-case hex)."""
    sha = hashlib.sha256(data).hexdigest().upper()
    hashes = {"AutoV2": sha[:10], "SHA256": sha, "CRC32": f"{zlib.crc32(data) & 0xFFFFFFFF:08X}"}
    if len(data) >= _AUTOV1_MIN_SIZE:
        hashes["AutoV1"] = hashlib.sha256(data[0x100000:0x110000]).hexdigest()[:8].upper()
    if safetensors:
        v3 = autov3(data)
        if v3:
            hashes["AutoV3"] = v3
    return hashes


def make_file(
    file_id: int,
    name: str,
    data: bytes,
    *,
    primary: bool = True,
    type: str = "Model",  # noqa: A002 - mirrors the API field
    format: str = "SafeTensor",  # noqa: A002 - mirrors the API field
    fp: str | None = "fp16",
    size: str | None = "pruned",
    pickle: str = "Success",
    virus: str = "Success",
    version_id: int | None = None,
    root: str = DEFAULT_ROOT,
) -> dict[str, Any]:
    """A ``files[]`` entry for ``data`` with its real hashes and ``sizeKB``."""
    metadata: dict[str, Any] = {"format": format}
    if fp is not None:
        metadata["fp"] = fp
    if size is not None:
        metadata["size"] = size
    vid = version_id if version_id is not None else 0
    return {
        "id": file_id,
        "sizeKB": len(data) / 1024,
        "name": name,
        "type": type,
        "pickleScanResult": pickle,
        "pickleScanMessage": "No Pickle imports",
        "virusScanResult": virus,
        "virusScanMessage": None,
        "scannedAt": "2026-03-01T12:00:00.000Z",
        "metadata": metadata,
        "hashes": file_hashes(data, safetensors=format == "SafeTensor"),
        "downloadUrl": f"{root}/api/download/models/{vid}?fileId={file_id}",
        "primary": primary,
    }


def make_image(
    url: str, *, nsfw_level: int = 1, image_id: int | None = None, width: int = 512
) -> dict[str, Any]:
    """A version ``images[]`` entry."""
    return {
        "id": image_id,
        "url": url,
        "nsfwLevel": nsfw_level,
        "width": width,
        "height": width,
        "hash": "U5AAAAAA00000000000000000000",
        "type": "image",
        "minor": False,
        "poi": False,
        "hasMeta": True,
        "hasPositivePrompt": True,
        "onSite": False,
        "remixOfId": None,
        "meta": {"prompt": "a test image", "seed": 1},
    }


def make_version(
    version_id: int,
    model_id: int,
    files: Iterable[dict[str, Any]],
    *,
    name: str,
    base_model: str = "SD 1.5",
    trained_words: Sequence[str] = ("testword",),
    images: Sequence[dict[str, Any]] | None = None,
    nsfw_level: int = 1,
    early_access_deadline: str | None = None,
    root: str = DEFAULT_ROOT,
    model_type: str = "LORA",
) -> dict[str, Any]:
    """A ``modelVersions[]`` entry; the files' download URLs are pointed at this version."""
    files = [dict(f) for f in files]
    for f in files:
        f["downloadUrl"] = f"{root}/api/download/models/{version_id}" + (
            "" if f.get("primary") else f"?fileId={f['id']}"
        )
    if images is None:
        images = [make_image(f"{root}/img/{version_id}.jpeg", image_id=version_id * 10)]
    ecosystem = _AIR_ECOSYSTEM.get(base_model, "other")
    air_type = _AIR_TYPE.get(model_type, "unknown")
    version: dict[str, Any] = {
        "id": version_id,
        "index": 0,
        "name": name,
        "baseModel": base_model,
        "baseModelType": "Standard",
        "createdAt": "2026-03-01T12:00:00.000Z",
        "publishedAt": "2026-03-01T12:00:00.000Z",
        "status": "Published",
        "availability": "Public",
        "nsfwLevel": nsfw_level,
        "description": f"<p>{name}</p>",
        "trainedWords": list(trained_words),
        "covered": True,
        "stats": {"downloadCount": 10, "thumbsUpCount": 2, "thumbsDownCount": 0},
        "files": files,
        "images": list(images),
        "downloadUrl": f"{root}/api/download/models/{version_id}",
        "air": f"urn:air:{ecosystem}:{air_type}:civitai:{model_id}@{version_id}",
    }
    if early_access_deadline:
        version["earlyAccessDeadline"] = early_access_deadline
    return version


def make_model(
    model_id: int,
    name: str,
    type: str = "LORA",  # noqa: A002 - mirrors the API field
    versions: Sequence[dict[str, Any]] = (),
    nsfw: bool = False,
    creator: str = "tester",
    *,
    tags: Sequence[str] = ("test",),
    nsfw_level: int | None = None,
) -> dict[str, Any]:
    """A ``/models/{id}`` answer holding ``versions`` (their ``index`` is renumbered)."""
    versions = [dict(v) for v in versions]
    for i, v in enumerate(versions):
        v["index"] = i
        if isinstance(v.get("air"), str) and ":unknown:" in v["air"]:
            v["air"] = v["air"].replace(":unknown:", f":{_AIR_TYPE.get(type, 'unknown')}:")
    level = nsfw_level
    if level is None:
        level = 0
        for v in versions:
            level |= int(v.get("nsfwLevel") or 0)
        level = level or (28 if nsfw else 1)
    return {
        "id": model_id,
        "name": name,
        "description": f"<p>{name} description</p>",
        "allowNoCredit": True,
        "allowCommercialUse": ["Image", "RentCivit"],
        "allowDerivatives": True,
        "allowDifferentLicense": True,
        "type": type,
        "minor": False,
        "sfwOnly": False,
        "poi": False,
        "nsfw": nsfw,
        "nsfwLevel": level,
        "availability": "Public",
        "cosmetic": None,
        "supportsGeneration": False,
        "userId": 1,
        "stats": {
            "downloadCount": 10,
            "thumbsUpCount": 2,
            "thumbsDownCount": 0,
            "commentCount": 0,
            "tippedAmountCount": 0,
        },
        "creator": {"username": creator, "image": None},
        "tags": list(tags),
        "modelVersions": versions,
        "baseModels": sorted({v.get("baseModel") for v in versions if v.get("baseModel")}),
    }


def make_safetensors(tensor_bytes: int = 1024, metadata: dict[str, str] | None = None) -> bytes:
    """A valid safetensors file: one U8 tensor of ``tensor_bytes`` bytes, optional metadata."""
    header: dict[str, Any] = {
        "weight": {"dtype": "U8", "shape": [tensor_bytes], "data_offsets": [0, tensor_bytes]}
    }
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    data = (bytes(range(7, 251)) * (tensor_bytes // 244 + 1))[:tensor_bytes]
    return struct.pack("<Q", len(raw)) + raw + data
