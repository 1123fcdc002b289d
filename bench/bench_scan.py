"""First scan, rescan and identification of a synthetic library.

Builds ``--files`` model files (default 2000) of varied sizes adding up to ``--total-gib``
(default 4 GiB) of real random bytes (not sparse): 80 % safetensors (LoRA-like, with a
header, so AutoV3 is computed too), 20 % ``.ckpt``. Then measures, best of ``--runs``
(default 3), interleaved with the reference so both read the same warm page cache:

- first scan (``scan_library``, threads = cores, fresh database): SHA256 + AutoV2 +
  AutoV1 (+ AutoV3 for safetensors) of every file, committed per file;
- ``hash_files`` SHA256 only (no AutoV3) over the same files, threads = cores;
- reference: ONE ``openssl dgst -sha256`` process over the same files.
  Target: first scan >= 1.5x openssl's throughput (2 cores).
- rescan with nothing changed (target < 1 s);
- identification against the local fake Civitai (``tests/fakes``): requests made
  (target 20 bulk calls for 2000 files) and wall time, with the default pacing and with none.

Figures are warm-cache: the files were just written and fit in RAM; dropping the page cache
needs root. Prints figures; asserts nothing.

    python bench/bench_scan.py [--files 2000] [--total-gib 4] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from modelshelf.hashing import hash_files  # noqa: E402
from modelshelf.library.db import LibraryDB  # noqa: E402
from modelshelf.library.identify import identify_files  # noqa: E402
from modelshelf.library.scan import scan_library  # noqa: E402

GIB = 1024**3
POOL = 64 * 1024 * 1024


def sizes_for(count: int, total: int, rng: random.Random) -> list[int]:
    """``count`` log-normal sizes (a few big checkpoints, many small LoRAs) summing to ``total``."""
    raw = [rng.lognormvariate(0, 1.2) for _ in range(count)]
    scale = total / sum(raw)
    sizes = [max(4096, int(r * scale)) for r in raw]
    sizes[-1] += total - sum(sizes)
    return sizes


def build_library(root: Path, count: int, total: int) -> list[Path]:
    """The biggest tenth of the files are checkpoints (half .ckpt), the rest LoRAs."""
    rng = random.Random(42)
    pool = os.urandom(POOL)  # real random bytes; each file takes a slice at its own offset
    sizes = sizes_for(count, total, rng)
    big = set(sorted(range(count), key=lambda i: sizes[i])[-max(1, count // 10) :])
    paths = []
    for i, size in enumerate(sizes):
        folder = root / ("checkpoints" if i in big else "loras")
        safetensors = i not in big or i % 2 == 0
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (f"m{i:05}.safetensors" if safetensors else f"m{i:05}.ckpt")
        with open(path, "wb") as fh:
            head = b""
            if safetensors:
                header = b'{"__metadata__":{"n":"%d"}}' % i
                header += b" " * (-len(header) % 8)
                head = struct.pack("<Q", len(header)) + header
            fh.write(head + i.to_bytes(8, "little"))  # unique bytes per file
            left = size - len(head) - 8
            offset = (i * 7919 * 4096) % POOL
            while left > 0:
                n = min(left, POOL - offset)
                fh.write(memoryview(pool)[offset : offset + n])
                left -= n
                offset = 0
        paths.append(path)
    return paths


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def openssl_once(paths: list[Path]) -> float:
    args = ["openssl", "dgst", "-sha256", *map(str, paths)]
    return timed(lambda: subprocess.run(args, check=True, stdout=subprocess.DEVNULL))[0]


def openssl_parallel(paths: list[Path], procs: int) -> float:
    """``procs`` openssl processes over interleaved shares: what the cores can do at best."""

    def run() -> None:
        children = [
            subprocess.Popen(
                ["openssl", "dgst", "-sha256", *map(str, paths[k::procs])],
                stdout=subprocess.DEVNULL,
            )
            for k in range(procs)
        ]
        for child in children:
            child.wait()

    return timed(run)[0]


def fake_with_library(paths: list[Path], db: LibraryDB):
    """The fake Civitai knowing every file (indexed so the fake is not the bottleneck)."""
    from fakes.civitai import FakeCivitai
    from fakes.factory import make_model, make_version

    class IndexedFake(FakeCivitai):
        def _find_by_hash(self, value):
            return self.index.get(value.strip().upper())

    fake = IndexedFake()
    fake.index = {}
    for n, row in enumerate(db.all_files()):
        mid = 10_000 + n
        f = {
            "id": mid * 100,
            "name": row.path.name,
            "sizeKB": row.size / 1024,
            "type": "Model",
            "primary": True,
            "metadata": {"format": "SafeTensor"},
            "hashes": {"SHA256": row.sha256, "AutoV2": row.autov2},
            "downloadUrl": f"https://civitai.com/api/download/models/{mid * 10}",
        }
        version = make_version(mid * 10, mid, [f], name="v1", images=[])
        model = make_model(mid, row.path.stem, "LORA", [version])
        fake.add_model(model)
        fake.index[row.sha256] = (model, model["modelVersions"][0])
    return fake


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--total-gib", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, help="where to build the library (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the files afterwards")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="modelshelf-bench-", dir=args.dir))
    try:
        total = int(args.total_gib * GIB)
        t, paths = timed(lambda: build_library(base / "models", args.files, total))
        v3_bytes = sum(p.stat().st_size for p in paths if p.parent.name == "loras")
        print(
            f"library: {len(paths)} files, {total / GIB:.2f} GiB, built in {t:.1f} s; "
            f"{v3_bytes / total:.0%} of the bytes are LoRA safetensors (AutoV3 computed)"
        )
        print(f"cores: {os.cpu_count()}  (warm page cache: the files were just written)")
        dirs = [
            ("loras", base / "models" / "loras"),
            ("checkpoints", base / "models" / "checkpoints"),
        ]

        cores = os.cpu_count() or 1
        best_scan = best_all = best_plain = best_ssl = best_par = float("inf")
        for run in range(args.runs):
            best_ssl = min(best_ssl, openssl_once(paths))
            best_par = min(best_par, openssl_parallel(paths, cores))
            db_path = base / f"lib{run}.sqlite3"
            db = LibraryDB(db_path)
            t, result = timed(lambda db=db: scan_library(db, dirs))
            assert result.hashed == len(paths), result.errors[:3]
            best_scan = min(best_scan, t)
            all_db = LibraryDB(base / f"all{run}.sqlite3")
            t, _ = timed(lambda d=all_db: scan_library(d, dirs, autov3_folders=None))
            best_all = min(best_all, t)
            all_db.close()
            t, _ = timed(lambda: list(hash_files(paths, with_autov3=False)))
            best_plain = min(best_plain, t)
            if run < args.runs - 1:
                db.close()
                db_path.unlink()
        gib = total / GIB
        print(f"openssl dgst -sha256 (1 process): {best_ssl:6.2f} s  {gib / best_ssl:5.2f} GiB/s")
        print(
            f"first scan (sha256+autov1/2/3, db): {best_scan:6.2f} s  {gib / best_scan:5.2f} GiB/s"
            f"  ratio vs openssl {best_ssl / best_scan:4.2f}x (target >= 1.5x)"
        )
        print(
            f"scan --all-autov3 (every .safetensors): {best_all:6.2f} s  "
            f"{gib / best_all:5.2f} GiB/s"
            f"  ratio vs openssl {best_ssl / best_all:4.2f}x"
        )
        print(
            f"{cores} openssl processes in parallel (ceiling): {best_par:6.2f} s  "
            f"{gib / best_par:5.2f} GiB/s  ratio {best_ssl / best_par:4.2f}x"
        )
        print(
            f"hash_files sha256 only:             {best_plain:6.2f} s  "
            f"{gib / best_plain:5.2f} GiB/s"
            f"  ratio vs openssl {best_ssl / best_plain:4.2f}x"
        )

        rescans = []
        for _ in range(args.runs):
            t, again = timed(lambda: scan_library(db, dirs))
            assert again.hashed == 0
            rescans.append(t)
        print(f"rescan, nothing changed: {min(rescans):.3f} s (target < 1 s)")

        fake = fake_with_library(paths, db).start()
        os.environ["MODELSHELF_CIVITAI_URL"] = fake.url
        os.environ["MODELSHELF_HOME"] = str(base / "home")
        from modelshelf.providers.civitai import CivitaiProvider
        from modelshelf.settings import load_settings

        for label, interval in (("default pacing 0.5 s", 0.5), ("no pacing", 0.0)):
            db.mark_unknown([f.path for f in db.all_files()])  # reset, then ask again
            db._conn.execute("UPDATE files SET version_id=NULL, lookup='pending'")
            db._conn.commit()
            fake.clear_requests()
            provider = CivitaiProvider(load_settings())
            t, found = timed(lambda p=provider, i=interval: identify_files(db, p, min_interval=i))
            bulk = len(fake.requests_to(r"/api/v1/model-versions/by-hash", "POST"))
            print(
                f"identify {len(paths)} files ({label}): {found.identified} identified, "
                f"{len(fake.requests)} requests ({bulk} bulk), {t:.2f} s (target 20 bulk calls)"
            )
        fake.stop()
        db.close()
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
