"""Run the ``modelshelf`` command line in-process (the ``run_cli`` fixture).

``run_cli(*args, env=None, stdin="") -> CliResult`` calls :func:`modelshelf.cli.main` with
``args`` and returns its exit status and everything it wrote to stdout and stderr; the
command reads ``stdin`` as its standard input. Every call runs in the test's isolated
environment (``fakes.fixtures.isolated_home``: own MODELSHELF_HOME, no real keys, no
proxies) plus ``env``: a value of ``None`` removes that variable. The changes are undone
when the call returns, so calls in one test do not leak into each other.

Only tests that need a real process (a signal, a pseudo-terminal, two processes at once)
start one; they build its environment with :func:`process_env` at test time.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["REPO", "CliResult", "process_env", "run_cli"]

REPO = Path(__file__).resolve().parents[1]
# short retry waits; a fixed width, as in an 80-column pipe
DEFAULT_ENV: dict[str, str] = {"MODELSHELF_MAX_RETRY_WAIT": "0.05", "COLUMNS": "80"}


@dataclass(frozen=True)
class CliResult:
    """What one command did: its exit status and its two output streams."""

    code: int
    stdout: str
    stderr: str

    def __iter__(self) -> Iterator[int | str]:
        """``code, out, err = run_cli(...)``."""
        return iter((self.code, self.stdout, self.stderr))


def _run(args: tuple[str, ...], env: Mapping[str, str | None] | None, stdin: str) -> CliResult:
    from modelshelf.cli import main

    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**DEFAULT_ENV, **(env or {})}.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        with redirect_stdout(out), redirect_stderr(err):
            code = main(list(args))
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def run_cli(isolated_home):
    """``run_cli(*args, env=None, stdin="")``: ``modelshelf ARGS`` in this process."""
    return lambda *args, env=None, stdin="": _run(args, env, stdin)


def process_env(**extra: str) -> dict[str, str]:
    """The environment for a real child process: the test's isolated one, then ``extra``.

    Call it inside the test (after the isolation fixtures ran), never at import time.
    """
    return {**os.environ, **DEFAULT_ENV, "PYTHONPATH": str(REPO), **extra}
