"""The repository loads as an A1111 extension and as a ComfyUI custom-node pack.

Hosts are not on PyPI: `launch` is stubbed with A1111's real names and signatures
(`launch.is_installed(package) -> bool`, `launch.run_pip(command, desc=None, live=...)`).
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def launch_stub(monkeypatch):
    calls: list[tuple[str, str | None]] = []
    missing: set[str] = set()
    launch = types.ModuleType("launch")

    def is_installed(package: str) -> bool:
        return package not in missing

    def run_pip(command: str, desc: str | None = None, live: bool = False) -> str:
        calls.append((command, desc))
        return ""

    launch.is_installed = is_installed
    launch.run_pip = run_pip
    monkeypatch.setitem(sys.modules, "launch", launch)
    return calls, missing


def test_install_py_installs_nothing_when_everything_is_there(launch_stub):
    calls, _missing = launch_stub
    runpy.run_path(str(ROOT / "install.py"), run_name="__main__")
    assert calls == []


def test_install_py_installs_only_what_is_missing(launch_stub):
    calls, missing = launch_stub
    missing.update({"filelock", "yaml"})
    runpy.run_path(str(ROOT / "install.py"), run_name="__main__")
    assert [c for c, _ in calls] == ['install "filelock>=3.12"', 'install "PyYAML>=6"']


def test_comfyui_loads_the_pack_under_its_folder_name(monkeypatch):
    # ComfyUI's load_custom_node: spec_from_file_location(<folder name>, <dir>/__init__.py)
    name = "ComfyUI-Model-Shelf"
    spec = importlib.util.spec_from_file_location(
        name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    # outside ComfyUI nothing fails: the nodes load (ComfyUI is imported only when they run)
    assert "ModelShelfLoadCheckpoint" in module.NODE_CLASS_MAPPINGS
    assert set(module.NODE_DISPLAY_NAME_MAPPINGS) == set(module.NODE_CLASS_MAPPINGS)
    assert (ROOT / module.WEB_DIRECTORY).is_dir()


def test_a1111_runs_the_script_with_the_extension_on_sys_path(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "a1111_stubs"))  # the WebUI's `modules`
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)
    namespace = runpy.run_path(str(ROOT / "scripts" / "model_shelf.py"))
    assert namespace["modelshelf"].__version__
    for name in [m for m in sys.modules if m == "modules" or m.startswith("modules.")]:
        monkeypatch.delitem(sys.modules, name)


def test_no_scripts_package_marker():
    # a scripts/__init__.py breaks `import scripts.x` for every other extension
    assert not (ROOT / "scripts" / "__init__.py").exists()
