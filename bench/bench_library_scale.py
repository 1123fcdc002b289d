"""The local library at scale: first scan, rescan and the front ends' questions.

For each size in ``--sizes`` (default 2000, 20000, 100000) builds an A1111-like tree of
that many small model files (0.5-2 KiB safetensors in ``models/Lora/<creator>/``, plus
embeddings, checkpoints, VAE, hypernetworks; a sidecar beside some LoRAs) and a few large
checkpoints (``--large`` files of ``--large-mib`` MiB, real random bytes). Then, in a fresh
process per size (so peak RSS is that size's own):

- floor: ``os.walk`` + ``os.stat`` of every model file (best of 3);
- floor: walk + read + SHA256 of every byte, one process, no database (best of 2);
- first scan (``scan_layout``, threads = cores, fresh database), and its peak RSS;
- rescan with nothing changed (best of 3), and the rows it wrote (should be 0);
- with every file identified (2 files a model, 5 % of models with a newer version):
  "installed where" for a page of 100 version ids (``installed_many``), "which of a page
  of 100 models have updates" (``updated_models``), and the whole-library questions.

Targets (from the issue): rescan <= 3x the walk floor, first scan <= 2x the hash floor
(at 20,000 files), each front-end question < 5 ms at 100,000 files. Warm page cache: the
files were just written. Prints figures and ratios, wall time and CPU time (on a shared
machine the CPU ratio says more); asserts nothing.

    python bench/bench_library_scale.py [--sizes 2000,20000,100000] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODEL_EXT = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
# (A1111 folder, share of the small files, extension)
FOLDERS = (
    ("models/Lora", 0.70, ".safetensors"),
    ("embeddings", 0.10, ".pt"),
    ("models/Stable-diffusion", 0.08, ".safetensors"),
    ("models/VAE", 0.04, ".safetensors"),
    ("models/hypernetworks", 0.08, ".pt"),
)
PER_FOLDER = 200  # files per sub-folder ("creator")


def build_tree(webui: Path, count: int, large: int, large_mib: int) -> int:
    """Write the tree; return the number of model files."""
    rng = random.Random(count)
    made = 0
    for folder, share, ext in FOLDERS:
        n = int(count * share) if folder != FOLDERS[0][0] else count - int(count * 0.30)
        for i in range(n):
            sub = webui / folder / f"creator_{i // PER_FOLDER:04}"
            if i % PER_FOLDER == 0:
                sub.mkdir(parents=True, exist_ok=True)
            body = rng.randbytes(rng.randint(512, 2048))
            header = b'{"__metadata__":{"n":"%d"}}' % i
            header += b" " * (-len(header) % 8)
            data = struct.pack("<Q", len(header)) + header + body if ext == ".safetensors" else body
            (sub / f"model_{i:06}{ext}").write_bytes(data)
            if folder == "models/Lora" and i % 4 == 0:
                (sub / f"model_{i:06}.civitai.info").write_text("{}")
            made += 1
    big = webui / "models" / "Stable-diffusion" / "large"
    big.mkdir(parents=True, exist_ok=True)
    for k in range(large):
        with open(big / f"big_{k}.safetensors", "wb") as fh:
            for _ in range(large_mib):
                fh.write(os.urandom(1024 * 1024))
        made += 1
    return made


def scan_dirs(webui: Path) -> list[Path]:
    return [webui / f for f, _, _ in FOLDERS]


def walk_stat(dirs: list[Path]) -> int:
    n = 0
    for d in dirs:
        for dirpath, _dirs, files in os.walk(d):
            for name in files:
                if name.endswith(MODEL_EXT):
                    os.stat(os.path.join(dirpath, name))
                    n += 1
    return n


def walk_read_hash(dirs: list[Path]) -> int:
    n = 0
    for d in dirs:
        for dirpath, _dirs, files in os.walk(d):
            for name in files:
                if name.endswith(MODEL_EXT):
                    digest = hashlib.sha256()
                    with open(os.path.join(dirpath, name), "rb", buffering=0) as fh:
                        while chunk := fh.read(1024 * 1024):
                            digest.update(chunk)
                    digest.hexdigest()
                    n += 1
    return n


def best(fn, runs: int) -> float:
    return best_both(fn, runs)[0]


def best_both(fn, runs: int) -> tuple[float, float]:
    """Best wall time and best CPU time (every thread of this process) of ``runs`` runs.

    On a shared machine the wall time depends on what else runs; the CPU time much less.
    """
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def identify_everything(db) -> tuple[list[int], list[int]]:
    """Give every file ids (two files a model); record a newer version for 5 % of models."""
    conn = db._conn
    with conn:
        conn.execute(
            "UPDATE files SET model_id = rowid / 2 + 1, version_id = rowid + 1000000,"
            " lookup = 'identified'"
        )
    rows = conn.execute(
        "SELECT model_id, max(version_id) FROM files GROUP BY model_id ORDER BY model_id"
    ).fetchall()
    latest = [
        (mid, vid + 5_000_000 if mid % 20 == 0 else vid, "v", f"model {mid}", "LORA", None)
        for mid, vid in rows
    ]
    if hasattr(db, "set_latest_many"):
        db.set_latest_many(latest)
    else:  # the code before this bench
        for mid, vid, name, mname, mtype, _ in latest:
            db.set_latest(mid, vid, name, name=mname, type=mtype)
    versions = [r[0] for r in conn.execute("SELECT version_id FROM files ORDER BY rowid")]
    return versions, [r[0] for r in rows]


def query_ms(fn, runs: int = 20) -> float:
    return best(fn, runs) * 1000


def measure(webui: Path, workdir: Path) -> dict:
    """One size, in this (fresh) process."""
    from modelshelf.layout import a1111_layout
    from modelshelf.library.db import LibraryDB
    from modelshelf.library.scan import scan_layout

    out: dict = {"rss_start_mib": rss_mib()}
    dirs = scan_dirs(webui)
    out["walk_floor"], out["walk_floor_cpu"] = best_both(lambda: walk_stat(dirs), 3)
    out["hash_floor"], out["hash_floor_cpu"] = best_both(lambda: walk_read_hash(dirs), 2)
    layout = a1111_layout(webui, kind="a1111", root=webui)
    db = LibraryDB(workdir / "library.sqlite3")
    start, cpu = time.perf_counter(), time.process_time()
    first = scan_layout(db, layout, workers=os.cpu_count())
    out["first_scan"] = time.perf_counter() - start
    out["first_scan_cpu"] = time.process_time() - cpu
    out["hashed"] = first.hashed
    out["rss_first_mib"] = rss_mib()
    changes = db._conn.total_changes
    out["rescan"], out["rescan_cpu"] = best_both(
        lambda: scan_layout(db, layout, workers=os.cpu_count()), 3
    )
    out["rescan_writes"] = db._conn.total_changes - changes
    out["rss_rescan_mib"] = rss_mib()

    versions, models = identify_everything(db)
    rng = random.Random(1)
    page = rng.sample(versions, 50) + list(range(1, 51))  # half installed, half not
    model_page = rng.sample(models, 100)
    if hasattr(db, "installed_many"):
        out["installed_page_ms"] = query_ms(lambda: db.installed_many(page))
        out["updated_page_ms"] = query_ms(lambda: db.updated_models(model_page))
        out["updated_all_ms"] = query_ms(lambda: db.updated_models(), 5)
        out["updated_models"] = len(db.updated_models())
    else:  # the code before: one query per version, the whole list of updates
        out["installed_page_ms"] = query_ms(lambda: [db.installed_versions(v) for v in page])
        out["updated_page_ms"] = query_ms(lambda: {u.model_id for u in db.updates()}, 5)
    out["updates_list_ms"] = query_ms(lambda: db.updates(), 3)
    db.close()
    return out


def row(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


def report(n: int, files: int, m: dict) -> None:
    print(f"\n{n:,} small files ({files:,} model files with the large ones)")
    row("walk + stat floor", f"{m['walk_floor']:.3f} s")
    row("walk + read + SHA256 floor (1 process)", f"{m['hash_floor']:.3f} s")
    ratio = m["first_scan"] / m["hash_floor"]
    row(
        "first scan",
        f"{m['first_scan']:.3f} s  = {ratio:.2f}x the hash floor (target <= 2x)"
        f"  [{m['hashed']:,} hashed]",
    )
    ratio = m["rescan"] / m["walk_floor"]
    row(
        "rescan, nothing changed",
        f"{m['rescan']:.3f} s  = {ratio:.2f}x the walk floor (target <= 3x),"
        f" {m['rescan_writes']} rows written",
    )
    if "first_scan_cpu" in m:
        row(
            "CPU s: hash floor / first scan (all threads)",
            f"{m['hash_floor_cpu']:.3f} / {m['first_scan_cpu']:.3f}"
            f"  = {m['first_scan_cpu'] / m['hash_floor_cpu']:.2f}x",
        )
        row(
            "CPU s: walk floor / rescan",
            f"{m['walk_floor_cpu']:.3f} / {m['rescan_cpu']:.3f}"
            f"  = {m['rescan_cpu'] / m['walk_floor_cpu']:.2f}x",
        )
    row(
        "peak RSS: start / after first scan / rescans",
        f"{m['rss_start_mib']:.0f} / {m['rss_first_mib']:.0f} / {m['rss_rescan_mib']:.0f} MiB",
    )
    row("installed where, page of 100 versions", f"{m['installed_page_ms']:.2f} ms (target < 5)")
    row("which of 100 models have updates", f"{m['updated_page_ms']:.2f} ms (target < 5)")
    if "updated_all_ms" in m:
        row(
            "which models have updates (whole library)",
            f"{m['updated_all_ms']:.2f} ms ({m['updated_models']:,} models)",
        )
    row("updates() list of every updatable file", f"{m['updates_list_ms']:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,20000,100000")
    parser.add_argument("--large", type=int, default=4, help="large checkpoints (default 4)")
    parser.add_argument("--large-mib", type=int, default=64, help="MiB each (default 64)")
    parser.add_argument("--dir", type=Path, help="where to build (default: a temp dir)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child is not None:  # measure one built tree, print JSON
        print(json.dumps(measure(args.child / "webui", args.child)))
        return

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"cores: {os.cpu_count()}; load average {load:.1f} at the start;"
        " warm page cache (the files were just written)"
    )
    for n in (int(s) for s in args.sizes.split(",") if s.strip()):
        base = Path(tempfile.mkdtemp(prefix="modelshelf-scale-", dir=args.dir))
        try:
            start = time.perf_counter()
            files = build_tree(base / "webui", n, args.large, args.large_mib)
            print(f"\nbuilt {files:,} files in {time.perf_counter() - start:.1f} s", end="")
            env = dict(os.environ, PYTHONPATH=str(ROOT))
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(base)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            report(n, files, json.loads(child.stdout.strip().splitlines()[-1]))
        finally:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
