"""Verifying a finished download: ``sha256_file`` against ``openssl dgst -sha256``.

Writes one ``--size-mib`` file (default 1024 MiB) of random bytes, then times, interleaved
and best of ``--runs`` (default 3), ``modelshelf.hashing.sha256_file`` in this process,
``openssl dgst -sha256`` and ``sha256sum`` (reference only) on the same warm file.
Target: sha256_file at >= 0.9x openssl's speed. Warm page cache (the file was just written;
dropping the cache needs root). Prints figures; asserts nothing.

    python bench/bench_verify.py [--size-mib 1024] [--runs 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modelshelf.hashing import sha256_file  # noqa: E402

MIB = 1024 * 1024


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def tool(args: list[str]) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()

    fd, name = tempfile.mkstemp(prefix="modelshelf-verify-", suffix=".safetensors", dir=args.dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            block = os.urandom(64 * MIB)
            left = args.size_mib * MIB
            while left > 0:
                n = min(left, len(block))
                fh.write(block[:n])
                left -= n
        ours = ssl = shasum = float("inf")
        digest = ""
        for _ in range(args.runs):
            t, digest = timed(lambda: sha256_file(path))
            ours = min(ours, t)
            t, out = timed(lambda: tool(["openssl", "dgst", "-sha256", "-r", str(path)]))
            ssl = min(ssl, t)
            assert str(out).split()[0].upper() == digest, "openssl disagrees"
            t, out = timed(lambda: tool(["sha256sum", str(path)]))
            shasum = min(shasum, t)
        mib = args.size_mib
        print(f"file: {mib} MiB, warm page cache, best of {args.runs}")
        print(f"sha256_file:          {ours:6.3f} s  {mib / ours:7.0f} MiB/s")
        print(f"openssl dgst -sha256: {ssl:6.3f} s  {mib / ssl:7.0f} MiB/s")
        print(f"sha256sum:            {shasum:6.3f} s  {mib / shasum:7.0f} MiB/s  (reference)")
        print(f"sha256_file speed vs openssl: {ssl / ours:.2f}x (target >= 0.9x)")
    finally:
        path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
