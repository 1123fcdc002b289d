"""``.ci/run``: it runs the README's test command, and refuses to run nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_ci(tmp_path: Path, readme: str) -> subprocess.CompletedProcess:
    """``.ci/run`` in a copy of the repository whose README is ``readme``."""
    (tmp_path / ".ci").mkdir()
    shutil.copy2(REPO / ".ci" / "run", tmp_path / ".ci" / "run")
    (tmp_path / "README.md").write_text(readme)
    return subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], capture_output=True, text=True, timeout=60
    )


def test_runs_the_second_quick_start_command(tmp_path):
    readme = "# X\n\n    $ echo first\n    $ echo ran > marker && echo done\n\nText.\n"
    result = run_ci(tmp_path, readme)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "+ echo ran > marker && echo done\ndone\n"
    assert (tmp_path / "marker").read_text() == "ran\n"


def test_a_failing_command_fails_the_run(tmp_path):
    result = run_ci(tmp_path, "    $ echo first\n    $ echo no && exit 3\n")
    assert result.returncode == 3


@pytest.mark.parametrize(
    "readme",
    ["# No quick start at all\n", "    $ echo first only\n", "    $ echo first\n    $    \n"],
)
def test_no_command_is_an_error_not_a_pass(tmp_path, readme):
    result = run_ci(tmp_path, readme)
    assert result.returncode == 1
    assert "found no test command in README.md" in result.stderr
    assert result.stdout == ""


def test_the_readme_command_lints_type_checks_and_tests():
    lines = [
        line[len("    $ ") :]
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("    $ ")
    ]
    steps = [step.strip() for step in lines[1].split("&&")]
    assert "ruff check ." in steps and "mypy" in steps
    assert any(step.startswith("python -m pytest") for step in steps)
