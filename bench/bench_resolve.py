"""Resolving an image with 1 checkpoint, 6 LoRAs and 2 embeddings, none installed.

Against the local fake Civitai (``tests/fakes``) with ``--latency`` seconds added to each
answer (a network round trip), it measures the number of API calls and the time of:

- hashes: an A1111 PNG (``Model hash`` AutoV2, ``Lora hashes`` AutoV3, ``TI hashes``);
  one GET by-hash per resource, run on a few threads;
- sha256: the same nine as a ComfyUI workflow whose ``properties.models`` carry full
  SHA256s: one bulk POST;
- again: the PNG a second time (the response cache answers: no call);
- installed: the PNG with all nine files in the library database (no call);
- reference: the same nine look-ups made one after another (one GET each).

Prints figures and ratios; asserts nothing.

    python bench/bench_resolve.py [--latency 0.05] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from fakes.civitai import FakeCivitai  # noqa: E402
from fakes.factory import (  # noqa: E402
    file_hashes,
    make_file,
    make_model,
    make_safetensors,
    make_version,
)
from resolve_images import png  # noqa: E402

from modelshelf.library.db import LibraryDB  # noqa: E402
from modelshelf.providers.civitai import CivitaiProvider  # noqa: E402
from modelshelf.resolve import plan_for_files  # noqa: E402
from modelshelf.settings import load_settings  # noqa: E402


class SlowCivitai(FakeCivitai):
    """The fake Civitai, answering after ``latency`` seconds (a simulated round trip)."""

    latency = 0.05

    def dispatch(self, request):
        time.sleep(self.latency)  # the bench's stand-in for the network, not synchronisation
        return super().dispatch(request)


def catalogue(fake: FakeCivitai) -> list[tuple[str, str, bytes]]:
    """Nine resources (kind, file name, bytes) added to the fake."""
    items = [("Checkpoint", "base_model.safetensors", make_safetensors(4096))]
    items += [("LORA", f"lora_{i}.safetensors", make_safetensors(2048 + i)) for i in range(6)]
    items += [
        ("TextualInversion", f"embed_{i}.safetensors", make_safetensors(512 + i)) for i in range(2)
    ]
    for n, (kind, name, data) in enumerate(items, start=1):
        version = make_version(
            n * 10, n, [make_file(n * 100, name, data)], name="v1", model_type=kind, images=[]
        )
        fake.add_model(make_model(n, name.split(".")[0], kind, versions=[version]))
    return items


def infotext(items) -> str:
    (_k, ckpt, ckpt_data), loras, embeds = items[0], items[1:7], items[7:]
    lora_tags = " ".join(f"<lora:{n[:-12]}:0.7>" for _k, n, _d in loras)
    lora_hashes = ", ".join(f"{n[:-12]}: {file_hashes(d)['AutoV3'].lower()}" for _k, n, d in loras)
    ti = ", ".join(f"{n[:-12]}: {hashlib.sha256(d).hexdigest()[:12]}" for _k, n, d in embeds)
    sha10 = hashlib.sha256(ckpt_data).hexdigest()[:10]
    return (
        f"a picture {lora_tags} embed_0 embed_1\nNegative prompt: bad\n"
        f"Steps: 20, Model hash: {sha10}, Model: {ckpt[:-12]}, "
        f'Lora hashes: "{lora_hashes}", TI hashes: "{ti}", Version: v1.10.0'
    )


def workflow(items) -> dict:
    """Loaders for the checkpoint and LoRAs; the embeddings in the top-level ``models`` list."""
    directory = {"Checkpoint": "checkpoints", "LORA": "loras", "TextualInversion": "embeddings"}

    def entry(kind, name, data):
        return {
            "name": name,
            "directory": directory[kind],
            "hash": hashlib.sha256(data).hexdigest(),
            "hash_type": "SHA256",
        }

    nodes = [
        {
            "id": i,
            "type": "LoraLoader" if kind == "LORA" else "CheckpointLoaderSimple",
            "widgets_values": [name, 1, 1],
            "properties": {"models": [entry(kind, name, data)]},
        }
        for i, (kind, name, data) in enumerate(items[:7])
    ]
    return {"nodes": nodes, "models": [entry(*item) for item in items[7:]]}


def api_calls(fake: FakeCivitai) -> int:
    return len([r for r in fake.requests if r.path.startswith("/api/v1/")])


def measure(fake, run, runs: int) -> tuple[float, int]:
    times, calls = [], 0
    for _ in range(runs):
        fake.clear_requests()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
        calls = api_calls(fake)
    return statistics.median(times), calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    SlowCivitai.latency = args.latency
    fake = SlowCivitai()
    items = catalogue(fake)
    fake.start()
    home = Path(tempfile.mkdtemp(prefix="bench-resolve-"))
    os.environ["MODELSHELF_HOME"] = str(home)
    try:
        image = home / "image.png"
        image.write_bytes(png({"parameters": infotext(items)}))
        wf = workflow(items)
        cold = load_settings({"civitai_url": fake.url, "use_cache": False})
        cached = load_settings({"civitai_url": fake.url})

        def resolve(source, settings):
            return lambda: plan_for_files([source], settings=settings)

        rows = []
        t_hash, c_hash = measure(fake, resolve(image, cold), args.runs)
        rows.append(("hashes (AutoV2/V3 GETs, parallel)", t_hash, c_hash))
        t_bulk, c_bulk = measure(fake, resolve(wf, cold), args.runs)
        rows.append(("sha256 (one bulk POST)", t_bulk, c_bulk))
        resolve(image, cached)()
        t_again, c_again = measure(fake, resolve(image, cached), args.runs)
        rows.append(("again (response cache)", t_again, c_again))

        lib_home = home / "installed"
        installed = load_settings({"civitai_url": fake.url, "use_cache": False}).with_(
            home=lib_home
        )
        with LibraryDB(installed.library_path) as db:
            for n, (_kind, name, data) in enumerate(items, start=1):
                path = lib_home / "models" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                st = path.stat()
                db.upsert_file(
                    path,
                    size=st.st_size,
                    mtime=st.st_mtime_ns,
                    sha256=hashlib.sha256(data).hexdigest(),
                    autov3=file_hashes(data).get("AutoV3"),
                    model_id=n,
                    version_id=n * 10,
                )
        t_inst, c_inst = measure(fake, resolve(image, installed), args.runs)
        rows.append(("installed (library database)", t_inst, c_inst))

        provider = CivitaiProvider(cold)
        hashes = [hashlib.sha256(items[0][2]).hexdigest()[:10]]
        hashes += [file_hashes(d)["AutoV3"] for _k, _n, d in items[1:7]]
        hashes += [hashlib.sha256(d).hexdigest()[:10] for _k, _n, d in items[7:]]

        def sequential():
            for value in hashes:
                provider.get_version_by_hash(value)

        t_seq, c_seq = measure(fake, sequential, args.runs)
    finally:
        fake.stop()

    print(
        f"resolve 1 checkpoint + 6 LoRAs + 2 embeddings, {args.latency * 1000:.0f} ms a call, "
        f"median of {args.runs}"
    )
    print(f"{'case':38} {'time':>9} {'API calls':>10} {'vs reference':>13}")
    for label, t, calls in rows:
        print(f"{label:38} {t * 1000:7.0f} ms {calls:10d} {t_seq / t if t else 0:12.1f}x")
    print(
        f"{'reference (9 GETs one after another)':38} {t_seq * 1000:7.0f} ms {c_seq:10d} "
        f"{1.0:12.1f}x"
    )


if __name__ == "__main__":
    main()
