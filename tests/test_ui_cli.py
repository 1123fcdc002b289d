"""`modelshelf ui`'s refusals: never open to a network by accident, one sentence each."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "modelshelf", "ui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=full,
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.org"])
def test_a_non_loopback_bind_needs_a_login(host, tmp_path, run_cli):
    done = run_cli("ui", "--host", host, "--models-dir", str(tmp_path))
    assert done.code == 2
    assert done.stderr.count("\n") == 1 and "--auth" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("auth", ["nopassword", ":x", "user:"])
def test_a_malformed_login_is_refused(auth, tmp_path, run_cli):
    done = run_cli("ui", "--host", "0.0.0.0", "--auth", auth, "--models-dir", str(tmp_path))
    assert done.code == 2 and "USER:PASSWORD" in done.stderr


def test_without_the_extra_it_says_how_to_install_it(tmp_path):
    """A real process: an interpreter whose ``import gradio`` fails."""
    fake = tmp_path / "nogradio" / "gradio"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no gradio here')\n")
    path = os.pathsep.join([str(tmp_path / "nogradio"), str(ROOT)])
    done = run("--models-dir", str(tmp_path / "m"), env={"PYTHONPATH": path})
    assert done.returncode == 1
    assert "pip install 'modelshelf[ui]'" in done.stderr and "Traceback" not in done.stderr
