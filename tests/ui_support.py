"""A catalogue for the UI tests, and `modelshelf ui` started as a person starts it.

``add_catalogue`` fills the fake Civitai with enough models to page through, a model
with trained words and a file in the fake storage, a model whose only preview is rated
X (its image must never be requested), an early-access model, and a big throttled file
to watch, cancel and retry. Images are small real PNGs served by the fake Civitai.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version
from fakes.httpserver import Reply
from fakes.storage import link_storage

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("MODELSHELF_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))

LORA_ID, LORA_VERSION, LORA_FILE = 7001, 7101, 7201
NSFW_ID, NSFW_VERSION = 7002, 7102
EARLY_ID, EARLY_VERSION = 7003, 7103
BIG_ID, BIG_VERSION, BIG_FILE = 7004, 7104, 7204
LORA_DATA = make_safetensors(48 * 1024, {"ss_network_dim": "4"})
BIG_DATA = make_safetensors(3 * 1024 * 1024)
TRAINED = ["shelfstyle", "glowing ink"]
# a valid BlurHash (4x3 components)
BLURHASH = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def image_url(fake, name: str) -> str:
    """A Civitai-shaped image URL (with a transform segment) on the fake server."""
    return f"{fake.url}/img/xG1nkqKTMzGDvpLrqFT7WA/{name}/width=1024/{name}.png"


def _image(fake, name: str, level: int = 1, image_id: int | None = None) -> dict:
    image = make_image(image_url(fake, name), nsfw_level=level, image_id=image_id)
    image["hash"] = BLURHASH
    image["meta"] = {
        "prompt": f"{name}, masterpiece",
        "seed": 42,
        "steps": 20,
        "sampler": "Euler a",
        "cfgScale": 7,
    }
    return image


def add_catalogue(fake, storage, *, fillers: int = 30) -> None:
    """The UI tests' catalogue (see the module docstring)."""
    colours = [(90, 120, 200), (200, 110, 90), (90, 170, 120), (170, 140, 60)]
    pngs = {}

    def serve(req, m):
        name = m[1].split("/")[0]
        data = pngs.setdefault(name, png(48, 64, colours[hash(name) % len(colours)]))
        return Reply(200, data, {"Content-Type": "image/png"})

    fake.add_route("GET", r"/img/xG1nkqKTMzGDvpLrqFT7WA/(.*)", serve)
    lora_file = make_file(LORA_FILE, "shelf_lora.safetensors", LORA_DATA)
    fake.add_model(
        make_model(
            LORA_ID,
            "Shelf Ink LoRA",
            "LORA",
            creator="inkmaker",
            tags=("style", "ink"),
            versions=[
                make_version(
                    LORA_VERSION,
                    LORA_ID,
                    [lora_file],
                    name="v1.0",
                    trained_words=TRAINED,
                    images=[_image(fake, "ink-1", 1, 1), _image(fake, "ink-2", 8, 2)],
                )
            ],
        )
    )
    fake.models[LORA_ID]["description"] = (
        '<p>Ink style.<script>alert(1)</script> <a href="https://example.org/x" '
        'onclick="alert(2)">guide</a></p>'
    )
    fake.add_model(
        make_model(
            NSFW_ID,
            "Shelf Veiled",
            "LORA",
            creator="inkmaker",
            versions=[
                make_version(
                    NSFW_VERSION,
                    NSFW_ID,
                    [make_file(7202, "veiled.safetensors", LORA_DATA)],
                    name="v1",
                    images=[_image(fake, "veiled-x", 8, 3)],
                    nsfw_level=8,
                )
            ],
        )
    )
    fake.add_model(
        make_model(
            EARLY_ID,
            "Shelf Early",
            "LORA",
            versions=[
                make_version(
                    EARLY_VERSION,
                    EARLY_ID,
                    [make_file(7203, "early.safetensors", LORA_DATA)],
                    name="v1",
                    images=[_image(fake, "early", 1, 4)],
                    early_access_deadline="2099-01-01T00:00:00.000Z",
                )
            ],
        )
    )
    fake.download_rules[EARLY_VERSION] = {"early_access_deadline": "2099-01-01T00:00:00.000Z"}
    big_file = make_file(BIG_FILE, "shelf_big.safetensors", BIG_DATA)
    fake.add_model(
        make_model(
            BIG_ID,
            "Shelf Big Checkpoint",
            "Checkpoint",
            versions=[
                make_version(
                    BIG_VERSION,
                    BIG_ID,
                    [big_file],
                    name="v1",
                    model_type="Checkpoint",
                    images=[_image(fake, "big", 1, 5)],
                )
            ],
        )
    )
    for i in range(fillers):
        mid = 7100 + i * 10 + 5000
        fake.add_model(
            make_model(
                mid,
                f"Shelf Filler {i:02d}",
                "LORA",
                versions=[
                    make_version(
                        mid + 1,
                        mid,
                        [make_file(mid + 2, f"filler{i}.safetensors", b"x" * 64)],
                        name="v1",
                        images=[_image(fake, f"filler{i}", 1, mid)],
                    )
                ],
            )
        )
    link_storage(fake, storage, {LORA_FILE: LORA_DATA, BIG_FILE: BIG_DATA})


VAE_ID, VAE_VERSION, VAE_FILE = 7005, 7105, 7205
VAE_DATA = make_safetensors(24 * 1024)


def add_getmodels_models(fake, storage) -> None:
    """For "Get models": a VAE that only a name search finds (a guess), in the storage."""
    vae = make_file(VAE_FILE, "shelf_vae.safetensors", VAE_DATA)
    fake.add_model(
        make_model(
            VAE_ID,
            "shelf_vae",
            "VAE",
            versions=[make_version(VAE_VERSION, VAE_ID, [vae], name="v1", model_type="VAE")],
        )
    )
    link_storage(fake, storage, {VAE_FILE: VAE_DATA})


def getmodels_infotext(*, unknown_ti: bool = True, vae_by_name: bool = True) -> str:
    """A1111 parameters naming the catalogue's checkpoint (AutoV2) and LoRA (AutoV3),
    an embedding Civitai does not know, and the VAE by file name only."""
    from fakes.factory import file_hashes

    ckpt = file_hashes(BIG_DATA)["AutoV2"].lower()
    lora = file_hashes(LORA_DATA)["AutoV3"].lower()
    fields = [
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x768",
        f"Model hash: {ckpt}, Model: shelf_big",
    ]
    if vae_by_name:
        fields.append("VAE: shelf_vae.safetensors")
    fields.append(f'Lora hashes: "shelf_lora: {lora}"')
    if unknown_ti:
        fields.append('TI hashes: "mystery_ti: 0123456789ab"')
    fields.append("Version: v1.10.1")
    return "ink portrait, <lora:shelf_lora:0.7>, mystery_ti\nNegative prompt: lowres\n" + ", ".join(
        fields
    )


def image_requests(fake, name: str) -> list:
    return fake.requests_to(rf"/img/xG1nkqKTMzGDvpLrqFT7WA/{name}/.*")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningUI:
    url: str
    process: subprocess.Popen
    models_dir: Path
    output: list[str]


def ui_env(home: Path, civitai_url: str, **more: str) -> dict[str, str]:
    """The app's environment in a test: its own home, the fake Civitai, quick retries."""
    return {
        "MODELSHELF_HOME": str(home),
        "MODELSHELF_CIVITAI_URL": civitai_url,
        "MODELSHELF_MAX_RETRY_WAIT": "0.05",
        "NO_PROXY": "127.0.0.1,127.0.0.2,localhost",
        **more,
    }


@contextmanager
def run_ui(
    models_dir: Path,
    *,
    extra_args: tuple[str, ...] = (),
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
) -> Iterator[RunningUI]:
    """``python -m modelshelf ui --models-dir DIR`` on a free port; stopped with Ctrl-C.

    ``env``: variables for the app's process only (see :func:`ui_env`).
    """
    import signal
    import threading

    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "modelshelf",
        "ui",
        "--port",
        str(port),
        "--models-dir",
        str(models_dir),
        "--layout",
        "a1111",
        *extra_args,
    ]
    child_env = dict(os.environ, **(env or {}))
    child_env.update(PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env, cwd=ROOT
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "running at" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(timeout) or proc.poll() is not None:
            raise AssertionError("modelshelf ui did not start:\n" + "".join(lines))
        yield RunningUI(f"http://127.0.0.1:{port}/", proc, models_dir, lines)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
