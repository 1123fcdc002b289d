"""Download benchmark: our fetch against curl (loopback) and aria2c (throttled connections).

    python bench/bench_download.py                      # 1 GiB, 20 MB/s per connection
    python bench/bench_download.py --size 256M --throttled-size 128M

(1) One file of ``--size`` over loopback from the fake storage (served from disk with
``sendfile``): our ``fetch`` in a child process (wall time, peak RSS from
``resource.getrusage(RUSAGE_CHILDREN)``) against ``curl -s -o`` in the same run. Target:
ratio <= 1.1 and peak RSS < 100 MB.

(2) The same storage throttled to ``--rate`` bytes/s per connection: our ``fetch`` with
``--connections`` against ``aria2c -x N -s N -k1M``. Target: throughput ratio >= 0.9.

Prints figures only; never asserts. Files are created in a temp dir and removed after.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes.storage import FakeStorage  # noqa: E402

DRIVER = """
import sys, time
from pathlib import Path
from modelshelf.download.fetch import fetch
from modelshelf.providers.base import DownloadSource
url, sha, size, out, conns = sys.argv[1:6]
src = DownloadSource(url=url, filename="bench.safetensors", expected_sha256=sha,
                     expected_size=int(size), size_is_exact=True, version_id=1, file_id=1)
r = fetch(src, Path(out), connections=int(conns))
assert r.sha256 == sha, "hash mismatch"
"""


def parse_size(text: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def make_blob(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = os.urandom(8 * 2**20)
    with open(path, "wb") as fh:
        left = size
        while left:
            chunk = block[: min(left, len(block))]
            fh.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest().upper()


REPEAT = 1


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """Best wall seconds of ``REPEAT`` runs and peak RSS (MB) of a child process."""
    runs = [_timed_once(cmd, env) for _ in range(REPEAT)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def _timed_once(cmd: list[str], env: dict | None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    os.sync()  # earlier runs' dirty pages must not slow this one
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def ours(url: str, sha: str, size: int, out: Path, conns: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_PROXY": "127.0.0.2"}
    cmd = [sys.executable, "-c", DRIVER, url, sha, str(size), str(out), str(conns)]
    runs = []
    for _ in range(REPEAT):
        runs.append(_timed_once(cmd, env))
        shutil.rmtree(out, ignore_errors=True)
    return min(r[0] for r in runs), max(r[1] for r in runs)


def mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", default="1G", help="file size for part 1 (default 1G)")
    ap.add_argument("--throttled-size", default="256M", help="file size for part 2")
    ap.add_argument("--rate", type=float, default=20e6, help="bytes/s per connection")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--skip-throttled", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts")
    args = ap.parse_args()
    global REPEAT
    REPEAT = max(1, args.repeat)
    size, tsize = parse_size(args.size), parse_size(args.throttled_size)
    tmp = Path(tempfile.mkdtemp(prefix="modelshelf-bench-"))
    storage = FakeStorage().start()
    try:
        blob = tmp / "blob.bin"
        sha = make_blob(blob, size)
        key = storage.add_blob(blob, "bench.safetensors")
        url = storage.signed_url(key)
        print(f"== 1. loopback, {size / 2**20:.0f} MiB, one connection ==")
        t_curl, _ = timed(["curl", "-s", "-o", str(tmp / "curl.bin"), url])
        t_ours, rss = ours(url, sha, size, tmp / "ours", 1)
        t_ours4, rss4 = ours(url, sha, size, tmp / "ours4", args.connections)
        print(f"best of {REPEAT} runs each")
        row = "{:<18}{:7.2f} s  {:8.0f} MB/s  peak RSS {:.0f} MB"
        print(row.format("ours (1 conn)", t_ours, mbps(size, t_ours), rss))
        print(row.format(f"ours ({args.connections} conns)", t_ours4, mbps(size, t_ours4), rss4))
        print(f"curl -s -o        {t_curl:7.2f} s  {mbps(size, t_curl):8.0f} MB/s")
        print(f"ratio ours/curl   {t_ours / t_curl:.2f} (target <= 1.1; ours hashes SHA256 too)")
        if args.skip_throttled:
            return
        os.unlink(blob)
        blob = tmp / "tblob.bin"
        tsha = make_blob(blob, tsize)
        tkey = storage.add_blob(blob, "bench.safetensors")
        turl = storage.signed_url(tkey)
        storage.throttle(args.rate)
        n = args.connections
        print(
            f"== 2. throttled {args.rate / 1e6:.0f} MB/s per connection, "
            f"{tsize / 2**20:.0f} MiB, {n} connections =="
        )
        t_o, _ = ours(turl, tsha, tsize, tmp / "ourst", n)
        aria = shutil.which("aria2c")
        if aria is None:
            print(f"ours  {t_o:.2f} s  {mbps(tsize, t_o):.1f} MB/s  (aria2c not installed)")
            return
        cmd = [
            aria,
            f"-x{n}",
            f"-s{n}",
            "-k1M",
            "-q",
            "--allow-overwrite=true",
            "--file-allocation=none",
            "-d",
            str(tmp),
            "-o",
            "aria.bin",
            turl,
        ]
        t_a, _ = timed(cmd)
        print(f"ours              {t_o:7.2f} s  {mbps(tsize, t_o):8.1f} MB/s")
        print(f"aria2c -x{n} -s{n}    {t_a:7.2f} s  {mbps(tsize, t_a):8.1f} MB/s")
        print(f"throughput ratio ours/aria2c {t_a / t_o:.2f} (target >= 0.9)")
    finally:
        storage.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
