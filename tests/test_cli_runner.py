"""The ``run_cli`` fixture itself: output captured, status returned, environment scoped."""

from __future__ import annotations

import os

from modelshelf import __version__


def test_captures_both_streams_and_the_status(run_cli):
    version = run_cli("--version")
    assert (version.code, version.stdout, version.stderr) == (0, f"modelshelf {__version__}\n", "")
    bad = run_cli("frobnicate")
    assert bad.code == 2 and bad.stdout == ""
    assert bad.stderr.startswith("modelshelf: ") and bad.stderr.count("\n") == 1


def test_env_applies_to_the_call_only(run_cli, monkeypatch, fake_novita):
    monkeypatch.setenv("NOVITA_API_KEY", "outer-key")
    without = run_cli("search", "--provider", "novita", env={"NOVITA_API_KEY": None})
    assert without.code == 4 and "NOVITA_API_KEY" in without.stderr  # removed for the call
    assert os.environ["NOVITA_API_KEY"] == "outer-key"  # and restored after it
    run_cli("--version", env={"MODELSHELF_SOMETHING": "1"})
    assert "MODELSHELF_SOMETHING" not in os.environ
