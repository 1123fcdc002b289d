"""The core imports with no host (A1111, ComfyUI) and no Gradio importable.

``modelshelf.gradio_ui`` is the Gradio UI (DESIGN.md), the one sub-package that imports it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, pkgutil, sys
    BLOCKED = {"gradio", "modules", "comfy", "folder_paths", "server", "nodes", "launch"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"host module {name} must not be imported by the core")
            return None

    sys.meta_path.insert(0, Block())
    import modelshelf
    names = [m.name for m in pkgutil.walk_packages(modelshelf.__path__, "modelshelf.")
             if not m.name.endswith("__main__")
             and not m.name.startswith("modelshelf.gradio_ui")]  # the UI: Gradio by design
    for name in names:
        __import__(name)
    leaked = sorted(n for n in sys.modules if n.split(".")[0] in BLOCKED)
    print(len(names), leaked)
    """
)


def test_every_core_module_imports_without_a_host():
    out = subprocess.run(
        [sys.executable, "-c", BLOCKER], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    count, leaked = out.stdout.split(" ", 1)
    assert int(count) >= 5
    assert leaked.strip() == "[]"


def test_importing_the_package_loads_no_heavy_dependency():
    code = "import sys, modelshelf; print(sorted({'requests','rich','sqlite3'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
