"""Shared pytest setup.

Every test runs with its own MODELSHELF_HOME and no real keys (``fakes.fixtures``). Each
fake service module under ``tests/fakes/`` may define its own fixtures; the ones present
are loaded as plugins, with ``cli_runner`` (``run_cli``: the command line in-process).
"""

import importlib.util

_FAKE_MODULES = (
    "fakes.fixtures",
    "fakes.civitai",
    "fakes.novita",
    "fakes.storage",
    "comfyui_stubs",
    "comfyui_catalogue",
    "cli_runner",
)
pytest_plugins = [name for name in _FAKE_MODULES if importlib.util.find_spec(name)]
