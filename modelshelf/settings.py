"""Settings: environment variables, the settings file, and their precedence.

Order (first wins): explicit overrides (a command-line flag, a host UI setting passed by
its adapter) > environment > the settings file ``<home>/settings.json`` (mode 0600).
The API keys live only in that file; :meth:`Settings.__repr__` never shows them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_CIVITAI_URL",
    "DEFAULT_NOVITA_URL",
    "Settings",
    "default_home",
    "load_settings",
    "save_settings_file",
]

DEFAULT_CIVITAI_URL = "https://civitai.com"
DEFAULT_NOVITA_URL = "https://api.novita.ai"
SETTINGS_FILE = "settings.json"


def default_home() -> Path:
    """``MODELSHELF_HOME`` or the platform's user config dir."""
    env = os.environ.get("MODELSHELF_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_config_path

    return user_config_path("modelshelf", appauthor=False)


@dataclass(frozen=True)
class Settings:
    """Everything the core needs to know about where and how to talk and write."""

    home: Path
    civitai_url: str = DEFAULT_CIVITAI_URL
    novita_url: str = DEFAULT_NOVITA_URL
    civitai_token: str | None = field(default=None, repr=False)
    novita_key: str | None = field(default=None, repr=False)
    use_cache: bool = True
    cache_ttl: float = 300.0
    nsfw: bool = False
    connections: int = 4
    prefer_format: str = "SafeTensor"
    prefer_fp: str | None = None
    prefer_size: str | None = None
    max_retries: int = 4
    max_retry_wait: float = 60.0
    timeout: float = 20.0  # read timeout (s); connect: min(5, timeout); see modelshelf.http

    @property
    def cache_path(self) -> Path:
        return self.home / "cache.sqlite3"

    @property
    def library_path(self) -> Path:
        return self.home / "library.sqlite3"

    @property
    def settings_path(self) -> Path:
        return self.home / SETTINGS_FILE

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


_ENV = {
    "civitai_url": ("MODELSHELF_CIVITAI_URL",),
    "novita_url": ("MODELSHELF_NOVITA_URL",),
    "civitai_token": ("CIVITAI_API_TOKEN", "CIVITAI_TOKEN"),
    "novita_key": ("NOVITA_API_KEY",),
    "max_retry_wait": ("MODELSHELF_MAX_RETRY_WAIT",),
    "connections": ("MODELSHELF_CONNECTIONS",),
}


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if isinstance(value, str):
        if "float" in str(kind):
            return float(value)
        if "int" in str(kind) and "str" not in str(kind):
            return int(value)
        if "bool" in str(kind):
            return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


def _read_file(home: Path) -> dict[str, Any]:
    try:
        data = json.loads((home / SETTINGS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build :class:`Settings` from the file, then the environment, then ``overrides``."""
    env = os.environ if env is None else env
    home = Path(env["MODELSHELF_HOME"]).expanduser() if env.get("MODELSHELF_HOME") else None
    if overrides and overrides.get("home"):
        home = Path(overrides["home"])
    home = home or default_home()
    known = {f.name for f in fields(Settings)} - {"home"}
    values: dict[str, Any] = {}
    for key, value in _read_file(home).items():
        if key in known and value is not None:
            values[key] = value
    for key, names in _ENV.items():
        for name in names:
            if env.get(name):
                values[key] = env[name]
                break
    for key, value in (overrides or {}).items():
        if key in known and value is not None:
            values[key] = value
    values = {k: _coerce(k, v) for k, v in values.items()}
    for key in ("civitai_url", "novita_url"):
        if key in values:
            values[key] = str(values[key]).rstrip("/")
    return Settings(home=home, **values)


def save_settings_file(home: Path, updates: Mapping[str, Any]) -> Path:
    """Merge ``updates`` into ``<home>/settings.json``, written with mode 0600."""
    home.mkdir(parents=True, exist_ok=True)
    data = _read_file(home)
    data.update({k: v for k, v in updates.items() if k != "home"})
    path = home / SETTINGS_FILE
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
