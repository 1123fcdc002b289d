"""The fake catalogue the ComfyUI tests download from (a fixture, loaded by conftest).

One model of each kind a Model Shelf node loads, each with one file served by the fake
storage: a LoRA (10@100, words ``inkstyle``), a checkpoint (20@200), a UNet-only
checkpoint (30@300, file type Diffusion Model), a VAE (40@400), an embedding (50@500), a
3 MiB checkpoint for interrupts (60@600).
"""

from __future__ import annotations

import struct
import zlib

import pytest
from fakes.civitai import FakeCivitai
from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version
from fakes.httpserver import Reply
from fakes.storage import link_storage


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (so the browser test shows a thumbnail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


PNG = _png(90, 120, (70, 110, 170))
LORA = make_safetensors(64 * 1024, {"ss_network_dim": "8"})
CKPT = make_safetensors(96 * 1024)
UNET = make_safetensors(80 * 1024)
VAE = make_safetensors(40 * 1024)
EMBED = make_safetensors(8 * 1024)
BIG = make_safetensors(3 * 1024 * 1024)


def _model(root, mid, name, kind, vid, fid, fname, data, *, words=("testword",), file_type="Model"):
    image = [make_image(f"{root}/img/{mid}.png", image_id=mid)]
    version = make_version(
        vid,
        mid,
        [make_file(fid, fname, data, type=file_type)],
        name="v1",
        images=image,
        trained_words=list(words),
        model_type=kind,
    )
    return make_model(mid, name, kind, versions=[version])


@pytest.fixture
def comfy_catalogue(fake_civitai: FakeCivitai, fake_storage) -> FakeCivitai:
    """``fake_civitai`` holding the catalogue above, its files on ``fake_storage``."""
    root = fake_civitai.url
    models = [
        _model(
            root,
            10,
            "Ink Style",
            "LORA",
            100,
            1000,
            "ink_style.safetensors",
            LORA,
            words=["inkstyle"],
        ),
        _model(root, 20, "Real Checkpoint", "Checkpoint", 200, 2000, "real_v2.safetensors", CKPT),
        _model(
            root,
            30,
            "Flux Unet",
            "Checkpoint",
            300,
            3000,
            "flux_unet.safetensors",
            UNET,
            file_type="Diffusion Model",
        ),
        _model(root, 40, "Clear VAE", "VAE", 400, 4000, "clear.safetensors", VAE),
        _model(
            root,
            50,
            "Bad Hands",
            "TextualInversion",
            500,
            5000,
            "bad_hands.safetensors",
            EMBED,
            words=["bad_hands"],
        ),
        _model(root, 60, "Big Ckpt", "Checkpoint", 600, 6000, "big.safetensors", BIG),
    ]
    for m in models:
        fake_civitai.add_model(m)
    fake_civitai.add_route(
        "GET", r"/img/.*", lambda req, m: Reply(200, PNG, {"Content-Type": "image/png"})
    )
    link_storage(
        fake_civitai,
        fake_storage,
        {1000: LORA, 2000: CKPT, 3000: UNET, 4000: VAE, 5000: EMBED, 6000: BIG},
    )
    return fake_civitai
