"""Whole-process ``modelshelf search --json --limit 100`` against the local fake Civitai.

Starts the fake Civitai server (``tests/fakes``) on loopback loaded with ``--size`` models,
then measures, as medians of ``--runs`` fresh processes:

- cold: ``modelshelf search --json --limit 100 --no-cache`` (asks the server each time);
- cached: the same without ``--no-cache`` after one warming run (answered from the cache);
- reference: ``curl -s`` fetching the very URL the CLI asked for, from the same server.

Targets: cold < 0.5 s, cached < 0.3 s. Prints figures and ratios; asserts nothing.

    python bench/bench_search.py [--size 120] [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakes.civitai import FakeCivitai  # noqa: E402
from fakes.factory import make_file, make_image, make_model, make_version  # noqa: E402


def load(fake: FakeCivitai, size: int) -> None:
    for i in range(size):
        mid = 100000 + i
        versions = [
            make_version(
                mid * 10 + v,
                mid,
                [make_file(mid * 100 + v, f"model_{i}_v{v}.safetensors", f"{i}-{v}".encode())],
                name=f"v{v}",
                trained_words=[f"word{i}", "style"],
                images=[
                    make_image(f"https://image.civitai.com/b/{mid}-{v}-{k}.jpeg", image_id=k)
                    for k in range(3)
                ],
            )
            for v in range(2)
        ]
        fake.add_model(make_model(mid, f"Benchmark model {i}", versions=versions))


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed ({result.returncode}): {result.stderr.decode()[:300]}")
    return elapsed, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=120, help="models on the server (default 120)")
    parser.add_argument("--runs", type=int, default=9, help="processes per case (default 9)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="modelshelf-bench-"))
    fake = FakeCivitai()
    load(fake, args.size)
    fake.start()
    env = dict(
        os.environ,
        MODELSHELF_HOME=str(home),
        MODELSHELF_CIVITAI_URL=fake.url,
        PYTHONPATH=str(ROOT),
        NO_PROXY="127.0.0.1",
    )
    for name in ("CIVITAI_API_TOKEN", "CIVITAI_TOKEN", "HTTP_PROXY", "http_proxy"):
        env.pop(name, None)
    search = [sys.executable, "-m", "modelshelf", "search", "--json", "--limit", "100"]
    try:
        _, out = timed([*search, "--no-cache"], env)  # warm the OS file cache
        items = len(json.loads(out)["items"])
        cold = [timed([*search, "--no-cache"], env)[0] for _ in range(args.runs)]
        timed(search, env)  # fill the response cache
        before = len(fake.requests)
        cached = [timed(search, env)[0] for _ in range(args.runs)]
        cached_requests = len(fake.requests) - before
        request = fake.requests_to("/api/v1/models")[-1]
        url = fake.url + request.path + "?" + "&".join(f"{k}={v}" for k, v in request.query)
        curl = shutil.which("curl")
        reference = (
            [timed([curl, "-s", "-o", os.devnull, url], env)[0] for _ in range(args.runs)]
            if curl
            else []
        )
    finally:
        fake.stop()
        shutil.rmtree(home, ignore_errors=True)
    cold_m, cached_m = statistics.median(cold), statistics.median(cached)
    print(f"server models: {args.size}; items per page: {items}; runs per case: {args.runs}")
    print(f"cold   (--no-cache) median {cold_m * 1000:7.1f} ms   target < 500 ms")
    print(
        f"cached (repeat)     median {cached_m * 1000:7.1f} ms   target < 300 ms "
        f"(requests to the server during cached runs: {cached_requests})"
    )
    if reference:
        ref_m = statistics.median(reference)
        print(f"curl -s same URL    median {ref_m * 1000:7.1f} ms")
        print(f"ratio cold/curl {cold_m / ref_m:5.1f}x   cached/curl {cached_m / ref_m:5.1f}x")
    else:
        print("curl not found: no reference figure")


if __name__ == "__main__":
    main()
