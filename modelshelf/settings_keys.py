"""The settings keys: one typed table (name, type, default, description, secret flag).

:data:`KEYS` is the only list of settings. Every value, from the settings file, the
environment or a caller, goes through :func:`parse_value`, which checks its type, range or
allowed values and raises :class:`BadInputError` with one sentence that names where the
value came from (the file and key, or the environment variable). A secret's value is
never repeated in a message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import BadInputError

__all__ = ["KEYS", "KEYS_BY_NAME", "SettingKey", "parse_value", "show_value"]

DEFAULT_CIVITAI_URL = "https://civitai.com"
DEFAULT_NOVITA_URL = "https://api.novita.ai"
LAYOUT_NAMES = ("a1111", "forge", "sdnext", "comfyui")  # layout.LAYOUT_KINDS (tested equal)
FILE_FORMATS = ("SafeTensor", "PickleTensor", "GGUF", "Diffusers", "Core ML", "ONNX", "Other")
FILE_FPS = ("fp32", "fp16", "bf16", "fp8", "nf4")
FILE_SIZES = ("full", "pruned")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class SettingKey:
    """One setting: its type (bool, int, float, str, url, path), default and limits."""

    name: str
    type: str
    default: Any
    description: str
    secret: bool = False
    env: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False  # None (unset) is allowed

    def wants(self) -> str:
        """What a valid value is, for a message ("a whole number from 1 to 16")."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        text = {
            "bool": "true or false",
            "int": "a whole number",
            "float": "a number",
            "str": "text",
            "url": "an http:// or https:// address",
            "path": "an absolute folder path",
        }[self.type]
        if self.minimum is not None and self.maximum is not None:
            return f"{text} from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f"{text} of at least {_num(self.minimum)}"
        return text


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


KEYS: tuple[SettingKey, ...] = (
    SettingKey(
        "civitai_url",
        "url",
        DEFAULT_CIVITAI_URL,
        "Civitai site root (the API is under /api/v1)",
        env=("MODELSHELF_CIVITAI_URL",),
    ),
    SettingKey(
        "novita_url", "url", DEFAULT_NOVITA_URL, "Novita API root", env=("MODELSHELF_NOVITA_URL",)
    ),
    SettingKey(
        "civitai_token",
        "str",
        None,
        "Civitai API key",
        secret=True,
        optional=True,
        env=("CIVITAI_API_TOKEN", "CIVITAI_TOKEN"),
    ),
    SettingKey(
        "novita_key",
        "str",
        None,
        "Novita API key",
        secret=True,
        optional=True,
        env=("NOVITA_API_KEY",),
    ),
    SettingKey(
        "models_dir",
        "path",
        None,
        "default models folder when no --models-dir or --host-dir is given",
        optional=True,
        env=("MODELSHELF_MODELS_DIR",),
    ),
    SettingKey(
        "host_dir",
        "path",
        None,
        "default host folder (A1111, Forge, SD.Next or "
        "ComfyUI) when no --models-dir or --host-dir is given",
        optional=True,
        env=("MODELSHELF_HOST_DIR",),
    ),
    SettingKey(
        "layout",
        "str",
        None,
        "layout of the models folder (or forced host kind) when no --layout is given",
        optional=True,
        choices=LAYOUT_NAMES,
        env=("MODELSHELF_LAYOUT",),
    ),
    SettingKey("nsfw", "bool", False, "show NSFW models and save NSFW previews"),
    SettingKey(
        "connections",
        "int",
        4,
        "parallel connections for one large file",
        minimum=1,
        maximum=16,
        env=("MODELSHELF_CONNECTIONS",),
    ),
    SettingKey(
        "prefer_format",
        "str",
        "SafeTensor",
        "file format to prefer among a version's variants",
        optional=True,
        choices=FILE_FORMATS,
    ),
    SettingKey(
        "prefer_fp",
        "str",
        None,
        "precision to prefer among a version's variants",
        optional=True,
        choices=FILE_FPS,
    ),
    SettingKey(
        "prefer_size",
        "str",
        None,
        "full or pruned, among a version's variants",
        optional=True,
        choices=FILE_SIZES,
    ),
    SettingKey("use_cache", "bool", True, "reuse recent API answers"),
    SettingKey(
        "cache_ttl", "float", 300.0, "seconds an API answer is reused", minimum=0, maximum=86400
    ),
    SettingKey("max_retries", "int", 4, "retries of a failed request", minimum=0, maximum=20),
    SettingKey(
        "max_retry_wait",
        "float",
        60.0,
        "longest wait between retries, in seconds",
        minimum=0,
        maximum=3600,
        env=("MODELSHELF_MAX_RETRY_WAIT",),
    ),
    SettingKey(
        "timeout", "float", 20.0, "seconds to wait for a server to answer", minimum=0.1, maximum=600
    ),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}


def show_value(key: SettingKey, value: Any) -> str:
    """``value`` as a person reads it; a secret is never shown."""
    if value is None:
        return "(not set)"
    if key.secret:
        return "(set, hidden)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quoted(key: SettingKey, value: Any) -> str:
    if key.secret:
        return "the value given"
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def parse_value(key: SettingKey, value: Any, where: str, fix: str = "") -> Any:
    """``value`` as the type ``key`` wants; text (environment, command line) is parsed.

    ``where`` names the source for the message ("Setting 'connections' in /x/settings.json",
    "MODELSHELF_CONNECTIONS"); ``fix`` ends it ("; fix or unset that variable").
    Raises :class:`BadInputError`.
    """

    def bad() -> BadInputError:
        return BadInputError(f"{where} must be {key.wants()}, not {_quoted(key, value)}{fix}.")

    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if value is None or (isinstance(value, str) and not value.strip() and key.optional):
        if key.optional:
            return None
        raise bad()
    text = value.strip() if isinstance(value, str) else None
    out: Any
    if key.type == "bool":
        if isinstance(value, bool):
            return value
        if text is None or text.lower() not in _TRUE | _FALSE:
            raise bad()
        return text.lower() in _TRUE
    if key.type in ("int", "float"):
        if isinstance(value, bool):
            raise bad()
        try:
            if key.type == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError
                out = int(text) if text is not None else int(value)
            else:
                out = float(text) if text is not None else float(value)
        except (TypeError, ValueError, OverflowError):
            raise bad() from None
        if (
            out != out
            or (key.minimum is not None and out < key.minimum)
            or (key.maximum is not None and out > key.maximum)
        ):
            raise bad()
        return out
    if text is None:
        raise bad()
    if key.choices:
        match = next((c for c in key.choices if c.lower() == text.lower()), None)
        if match is None:
            raise bad()
        return match
    if key.type == "url":
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise bad()
        return text.rstrip("/")
    if key.type == "path":
        path = Path(os.path.expandvars(os.path.expanduser(text)))
        if not path.is_absolute() or "\x00" in text:
            raise bad()
        return path
    if not text or not text.isprintable():
        raise bad()
    return text
