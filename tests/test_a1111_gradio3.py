"""The A1111 adapter tests again under A1111's own Gradio 3.41.2 (``.venvs/gradio3``).

tests/env/setup.sh builds that environment; locally a missing one skips (CI: fails).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(
    os.environ.get("MODELSHELF_GRADIO3_PYTHON", ROOT / ".venvs" / "gradio3" / "bin" / "python")
)


def test_the_a1111_tab_under_gradio_3_41(tmp_path):
    if not PYTHON.exists():
        if os.environ.get("CI"):
            raise AssertionError(f"{PYTHON} is missing: run tests/env/setup.sh")
        pytest.skip(f"no Gradio 3.41 environment at {PYTHON} (tests/env/setup.sh makes it)")
    version = subprocess.run(
        [PYTHON, "-c", "import gradio; print(gradio.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert version.stdout.strip() == "3.41.2", version.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [
            PYTHON,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            str(ROOT / "tests" / "test_a1111_tab.py"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and " skipped" not in done.stdout
