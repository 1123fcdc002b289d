"""Pytest fixtures shared by all tests (loaded from conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_FIXTURES = (
    Path(__file__).resolve().parents[1] / "data" / "real"
)  # copies of shared/fixtures/real
_SECRET_ENV = ("CIVITAI_API_TOKEN", "CIVITAI_TOKEN", "NOVITA_API_KEY")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh MODELSHELF_HOME for every test; real keys and URLs are removed."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MODELSHELF_HOME", str(home))
    for name in (*_SECRET_ENV, "MODELSHELF_CIVITAI_URL", "MODELSHELF_NOVITA_URL"):
        monkeypatch.delenv(name, raising=False)
    # never let a test reach beyond loopback through a proxy
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,127.0.0.2,localhost")
    return home
