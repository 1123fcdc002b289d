"""Settings: environment variables, the settings file, and their precedence.

Order (first wins): explicit overrides (a command-line flag, a host UI setting passed by
its adapter) > environment > the settings file ``<home>/settings.json`` (mode 0600) >
the defaults. The keys, their types and limits are the table in :mod:`.settings_keys`;
every value is checked. The API keys live only in that file; :meth:`Settings.__repr__`
never shows them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import BadInputError
from .settings_keys import (
    DEFAULT_CIVITAI_URL,
    DEFAULT_NOVITA_URL,
    KEYS,
    KEYS_BY_NAME,
    parse_value,
)

__all__ = [
    "DEFAULT_CIVITAI_URL",
    "DEFAULT_NOVITA_URL",
    "Settings",
    "default_home",
    "load_settings",
    "read_settings_file",
    "save_settings_file",
    "settings_sources",
]

log = logging.getLogger(__name__)

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
    models_dir: Path | None = None
    host_dir: Path | None = None
    layout: str | None = None

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


def _where_in_file(path: Path, name: str) -> str:
    return f"Setting {name!r} in {path}"


def read_settings_file(home: Path) -> dict[str, Any]:
    """The raw contents of ``<home>/settings.json`` ({} when there is none).

    A file that is not JSON, or not one JSON object, is a :class:`BadInputError` naming it.
    """
    path = home / SETTINGS_FILE
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"Could not read the settings file {path} ({type(exc).__name__}); fix or remove it."
        ) from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"The settings file {path} is not valid JSON (line {exc.lineno}, column "
            f"{exc.colno}); fix it or remove it."
        ) from None
    if not isinstance(data, dict):
        raise BadInputError(
            f"The settings file {path} should hold one JSON object of settings; fix or remove it."
        )
    return data


def settings_sources(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> tuple[Path, dict[str, tuple[Any, str]]]:
    """``(home, {key: (value, source)})``: each key's checked value and where it came from.

    Sources: ``default``, ``file``, the environment variable's name, ``override``. Every
    value is checked (:func:`~.settings_keys.parse_value`); the first bad one raises.
    """
    env = os.environ if env is None else env
    home = Path(env["MODELSHELF_HOME"]).expanduser() if env.get("MODELSHELF_HOME") else None
    if overrides and overrides.get("home"):
        home = Path(overrides["home"])
    home = home or default_home()
    path = home / SETTINGS_FILE
    values: dict[str, tuple[Any, str]] = {k.name: (k.default, "default") for k in KEYS}
    for name, raw in read_settings_file(home).items():
        key = KEYS_BY_NAME.get(name)
        if key is None:
            log.warning("ignoring unknown setting %r in %s", name, path)
            continue
        fix = f"; fix the file or run `modelshelf config set {name} VALUE`"
        values[name] = (parse_value(key, raw, _where_in_file(path, name), fix), "file")
    for key in KEYS:
        for var in key.env:
            if env.get(var):
                fix = "; fix or unset that environment variable"
                values[key.name] = (parse_value(key, env[var], var, fix), var)
                break
    for name, raw in (overrides or {}).items():
        key = KEYS_BY_NAME.get(name)
        if key is not None and raw is not None:
            values[name] = (parse_value(key, raw, f"Setting {name!r}"), "override")
    return home, values


def load_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Build :class:`Settings` from the file, then the environment, then ``overrides``.

    A bad value anywhere is a :class:`BadInputError` naming the file and key, or the
    environment variable.
    """
    home, values = settings_sources(overrides, env)
    return Settings(home=home, **{name: value for name, (value, _) in values.items()})


def save_settings_file(home: Path, updates: Mapping[str, Any]) -> Path:
    """Merge ``updates`` into ``<home>/settings.json`` (mode 0600); a None value removes a key.

    Known keys are checked first; an unreadable existing file is never overwritten.
    """
    path = home / SETTINGS_FILE
    data = read_settings_file(home)
    for name, raw in updates.items():
        if name == "home":
            continue
        if raw is None:
            data.pop(name, None)
            continue
        key = KEYS_BY_NAME.get(name)
        value = parse_value(key, raw, f"Setting {name!r}") if key else raw
        data[name] = str(value) if isinstance(value, Path) else value
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
