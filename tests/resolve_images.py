"""Builders of real image files carrying generation data, as A1111 and ComfyUI write them."""

from __future__ import annotations

import json
import struct
import zlib
from io import BytesIO

from PIL import Image, PngImagePlugin

INFOTEXT = (
    "masterpiece, <lora:add-detail-xl:0.8>, <lyco:inkwash:0.5> maid, negativeXL_D\n"
    "Negative prompt: negativeXL_D, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 1152x1536, "
    "Model hash: {ckpt}, Model: boleromix_XL_V1.3, VAE hash: {vae}, "
    'VAE: sdxl_vae.safetensors, Lora hashes: "add-detail-xl: {lora}, inkwash: {lyco}", '
    'TI hashes: "negativeXL_D: {ti}", Version: v1.7.0'
)


def png(texts: dict[str, str], *, mode: str = "text") -> bytes:
    """A PNG whose text chunks are ``texts``: tEXt, zTXt (mode zip) or iTXt (mode itxt)."""
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        if mode == "itxt":
            info.add_itxt(key, value, zip=False)
        elif mode == "zip":
            info.add_text(key, value, zip=True)
        else:
            info.add_text(key, value)
    out = BytesIO()
    Image.new("RGB", (16, 16), "teal").save(out, "PNG", pnginfo=info)
    return out.getvalue()


def with_user_comment(fmt: str, text: str, *, encoding: str = "utf-16-be") -> bytes:
    """A JPEG or WebP with ``text`` in EXIF UserComment (A1111/piexif: UNICODE + UTF-16BE)."""
    exif = Image.Exif()
    if encoding == "ascii":
        body = b"ASCII\0\0\0" + text.encode("ascii")
    else:
        body = b"UNICODE\0" + text.encode(encoding)
    exif[0x8769] = {0x9286: body}  # the Exif IFD, as piexif.dump writes it
    out = BytesIO()
    Image.new("RGB", (16, 16), "olive").save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def comfy_webp(prompt: dict, workflow: dict) -> bytes:
    """A WebP as ComfyUI's SaveAnimatedWEBP writes it: "prompt:..." / "workflow:..." in IFD0."""
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(prompt)
    exif[0x010F] = "workflow:" + json.dumps(workflow)
    out = BytesIO()
    Image.new("RGB", (16, 16), "navy").save(out, "WEBP", exif=exif.tobytes())
    return out.getvalue()


def png_chunk(ctype: bytes, data: bytes, *, length: int | None = None) -> bytes:
    size = len(data) if length is None else length
    crc = zlib.crc32(ctype + data) & 0xFFFFFFFF
    return struct.pack(">I", size) + ctype + data + struct.pack(">I", crc)
