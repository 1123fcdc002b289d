"""Debian's Chromium for the browser tests and benches: where it is, its flags, a launcher.

Playwright's own browser download does not work here; every browser test drives
``/usr/bin/chromium`` with the flags below (no network beyond loopback, no first-run work).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

__all__ = ["ARGS", "CHROMIUM", "WAIT", "launch", "require_chromium"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT = 30_000  # ms: a deadline for conditions, never a sleep


def require_chromium() -> None:
    """Skip the calling test module without Chromium (in CI, fail: setup.sh installs it)."""
    if os.path.exists(CHROMIUM):
        return
    if os.environ.get("CI"):
        raise RuntimeError("chromium is missing; tests/env/setup.sh installs it")
    pytest.skip(
        "chromium is not installed (tests/env/setup.sh installs it)", allow_module_level=True
    )


def launch(playwright: Any) -> Any:
    """A headless Chromium from a ``sync_playwright()`` context."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
