"""Import time of ``modelshelf`` and ``modelshelf.cli`` in fresh processes.

Prints the median wall time of N fresh ``python -c 'import ...'`` processes, the same for
``python -c pass`` (the reference: the interpreter's own start-up), and the difference and
ratio. Target: the import itself (median minus reference) under 100 ms.

    python bench/bench_import.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "python -c pass (reference)": "pass",
    "import modelshelf": "import modelshelf",
    "import modelshelf.cli": "import modelshelf.cli",
    "modelshelf --help": None,
}


def run_once(code: str | None) -> float:
    argv = (
        [sys.executable, "-m", "modelshelf", "--help"]
        if code is None
        else [sys.executable, "-c", code]
    )
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="processes per case (default 21)")
    args = parser.parse_args()
    medians: dict[str, float] = {}
    for name, code in CASES.items():
        run_once(code)  # warm the OS file cache
        times = [run_once(code) for _ in range(args.runs)]
        medians[name] = statistics.median(times)
    reference = medians["python -c pass (reference)"]
    print(f"{'case':32} {'median ms':>10} {'minus ref ms':>13} {'ratio':>7}")
    for name, value in medians.items():
        print(
            f"{name:32} {value * 1000:10.1f} {(value - reference) * 1000:13.1f} "
            f"{value / reference:7.2f}"
        )
    print(f"runs per case: {args.runs}; target: import cost (minus ref) < 100 ms")


if __name__ == "__main__":
    main()
