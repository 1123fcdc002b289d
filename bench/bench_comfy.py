"""What the ComfyUI pack costs: its import + node registration, and a loader on a present file.

1. Fresh processes: ``python -c pass`` (the reference) against importing the pack's root
   ``__init__.py`` the way ComfyUI's ``load_custom_node`` does (stubbed host modules, the
   routes registered on a stub ``PromptServer``). Target: under 100 ms above the reference.
2. In one process: ComfyUI's own ``CheckpointLoaderSimple`` (a stub that opens the file)
   against our ``Load Checkpoint`` on the same, already downloaded file (library lookup,
   no hashing, no network). Target: under 5 ms on top.

Prints figures and ratios; asserts nothing.

    PYTHONPATH=. python bench/bench_comfy.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

IMPORT_PACK = f"""
import sys
sys.path.insert(0, {str(ROOT / "tests")!r})
import comfyui_stubs, pathlib, tempfile
class MP:  # monkeypatch.setitem without pytest
    def setitem(self, d, k, v): d[k] = v
comfyui_stubs.install(MP(), pathlib.Path(tempfile.gettempdir()) / "ComfyUI-bench")
import time
t = time.perf_counter()
pack = comfyui_stubs.load_pack()
assert len(pack.NODE_CLASS_MAPPINGS) >= 6
print(time.perf_counter() - t)
"""
STUBS_ONLY = IMPORT_PACK.replace("pack = comfyui_stubs.load_pack()", "pack = None").replace(
    "assert len(pack.NODE_CLASS_MAPPINGS) >= 6", ""
)


def wall(code: str) -> tuple[float, float | None]:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    return time.perf_counter() - start, float(out) if out else None


def bench_import(runs: int) -> None:
    cases = {
        "python -c pass (reference)": "pass",
        "host stubs only": STUBS_ONLY,
        "stubs + Model Shelf pack": IMPORT_PACK,
    }
    medians: dict[str, float] = {}
    inside: list[float] = []
    for name, code in cases.items():
        wall(code)
        times = []
        for _ in range(runs):
            total, measured = wall(code)
            times.append(total)
            if name.startswith("stubs +") and measured is not None:
                inside.append(measured)
        medians[name] = statistics.median(times)
    ref = medians["host stubs only"]
    print(f"{'case':30} {'median ms':>10} {'minus stubs ms':>15}")
    for name, value in medians.items():
        print(f"{name:30} {value * 1000:10.1f} {(value - ref) * 1000:15.1f}")
    print(
        f"pack import measured inside the process: {statistics.median(inside) * 1000:.1f} ms "
        "(target < 100 ms)"
    )


def bench_loader(runs: int) -> None:
    import comfyui_stubs
    from fakes.factory import make_safetensors

    class MP:
        def setitem(self, d, k, v):
            d[k] = v

    home = Path(tempfile.mkdtemp(prefix="msbench-"))
    os.environ["MODELSHELF_HOME"] = str(home / "home")
    os.environ["MODELSHELF_CIVITAI_URL"] = "http://127.0.0.1:9"  # never beyond loopback
    host = comfyui_stubs.install(MP(), home / "ComfyUI")
    pack = comfyui_stubs.load_pack()
    loaders = comfyui_stubs.pack_module("nodes.loaders")
    service = comfyui_stubs.pack_module("nodes.service")
    folder = host.models("checkpoints")
    folder.mkdir(parents=True)
    data = make_safetensors(256 * 1024)
    (folder / "present.safetensors").write_bytes(data)
    (folder / "present.json").write_text('{"activation text": "benchword"}')  # A1111 sidecar
    shelf = service.get_shelf()
    import hashlib

    shelf.library.upsert_file(  # as a finished download records it
        folder / "present.safetensors",
        size=len(data),
        mtime=(folder / "present.safetensors").stat().st_mtime,
        sha256=hashlib.sha256(data).hexdigest(),
        model_id=1,
        version_id=11,
        source="download",
        id_source="download",
    )
    host_loader = host.modules["nodes"].CheckpointLoaderSimple()
    ours = loaders.LoadCheckpoint()

    def timed(fn) -> float:
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    base = timed(lambda: host_loader.load_checkpoint("present.safetensors"))
    try:
        mine = timed(lambda: ours.load_checkpoint("1@11"))
    except Exception as exc:  # the library record could not be written: say so
        print(f"Load Checkpoint (Model Shelf) could not run offline: {exc}")
        return
    print(f"ComfyUI CheckpointLoaderSimple (stub): {base * 1000:.3f} ms")
    print(
        f"Load Checkpoint (Model Shelf):          {mine * 1000:.3f} ms "
        f"(+{(mine - base) * 1000:.3f} ms on top; target < 5 ms)"
    )
    service.reset_shelf()
    del pack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bench_import(args.runs)
    bench_loader(args.runs * 20)


if __name__ == "__main__":
    main()
