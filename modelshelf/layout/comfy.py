"""ComfyUI's folders: ``folder_paths`` defaults plus ``extra_model_paths.yaml``.

Mirrors ComfyUI's ``utils/extra_config.load_extra_path_config`` and
``folder_paths.add_model_folder_path``: each yaml section may set ``base_path`` (``~`` and
environment variables expanded, relative to the yaml's folder) and ``is_default``; every
other key is a folder key with one path per line. Legacy keys ``unet`` and ``clip`` mean
``diffusion_models`` and ``text_encoders``. A path is appended to its key, or moved to
the front when the section has ``is_default: true`` (so, as in ComfyUI, the last line of
such a section ends up first). The write target is the first path of a key.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import BadInputError
from .base import HostLayout, absolute, dedup

__all__ = ["COMFY_CONFIG_NAMES", "comfyui_default_folders", "comfyui_layout", "load_extra_config"]

log = logging.getLogger(__name__)

COMFY_CONFIG_NAMES = ("extra_model_paths.yaml", "extra_paths.yaml")
LEGACY_KEYS = {"unet": "diffusion_models", "clip": "text_encoders"}
# ComfyUI's default keys; each is models/<key>, some with extra default folders.
_DEFAULT_KEYS = (
    "checkpoints",
    "configs",
    "loras",
    "vae",
    "text_encoders",
    "diffusion_models",
    "clip_vision",
    "style_models",
    "embeddings",
    "diffusers",
    "vae_approx",
    "controlnet",
    "gligen",
    "upscale_models",
    "latent_upscale_models",
    "hypernetworks",
    "photomaker",
    "classifiers",
    "model_patches",
    "audio_encoders",
    "animatediff_models",  # not core: ComfyUI-AnimateDiff-Evolved registers it
)
_EXTRA_DEFAULT_DIRS = {
    "controlnet": ("t2i_adapter",),
    "diffusion_models": ("unet",),
    "text_encoders": ("clip",),
}


def comfyui_default_folders(models_dir: Path) -> dict[str, list[Path]]:
    """``models/<key>`` for every default key, plus ComfyUI's extra default folders."""
    return {
        key: [models_dir / key, *(models_dir / d for d in _EXTRA_DEFAULT_DIRS.get(key, ()))]
        for key in _DEFAULT_KEYS
    }


def _add_path(folders: dict[str, list[Path]], key: str, path: Path, is_default: bool) -> None:
    """``folder_paths.add_model_folder_path``: append, or move/insert first when default."""
    key = LEGACY_KEYS.get(key, key)
    paths = folders.setdefault(key, [])
    ident = os.path.normcase(str(path))
    existing = [p for p in paths if os.path.normcase(str(p)) == ident]
    if existing:
        if is_default and paths[0] is not existing[0]:
            paths.remove(existing[0])
            paths.insert(0, existing[0])
    elif is_default:
        paths.insert(0, path)
    else:
        paths.append(path)


def _lines(value: object) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    if isinstance(value, (str, int, float)):
        return [line.strip() for line in str(value).split("\n") if line.strip()]
    return []


def load_extra_config(config: Path, folders: dict[str, list[Path]]) -> None:
    """Apply one ``extra_model_paths.yaml`` to ``folders`` (in place)."""
    import yaml

    try:
        text = config.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(
            f"Could not read {config} ({type(exc).__name__}); fix or remove the file."
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise BadInputError(
            f"{config} is not valid YAML{where}; fix it or pass --models-dir instead."
        ) from None
    if data is None:
        return
    if not isinstance(data, dict):
        raise BadInputError(
            f"{config} should hold named sections of folder paths; fix it or pass --models-dir."
        )
    yaml_dir = config.parent
    for name, section in data.items():
        if not isinstance(section, dict):
            log.debug("skipping section %r of %s: not a mapping", name, config)
            continue
        section = dict(section)
        is_default = bool(section.pop("is_default", False))
        base = section.pop("base_path", None)
        base_path: Path | None = None
        if base:
            base_path = Path(os.path.expandvars(os.path.expanduser(str(base))))
            if not base_path.is_absolute():
                base_path = yaml_dir / base_path
        for key, value in section.items():
            for line in _lines(value):
                path = Path(line)
                if base_path is not None:
                    path = base_path / path
                elif not path.is_absolute():
                    path = yaml_dir / path
                _add_path(folders, str(key), Path(os.path.normpath(path)), is_default)


def comfyui_layout(base_dir: Path, *, extra_configs: list[Path] | None = None) -> HostLayout:
    """A ComfyUI install at ``base_dir``: defaults, then each extra paths yaml in order.

    Without ``extra_configs`` the ``extra_model_paths.yaml`` and ``extra_paths.yaml``
    found in ``base_dir`` are used. A broken yaml raises :class:`BadInputError`.
    """
    base = absolute(base_dir)
    folders = comfyui_default_folders(base / "models")
    if extra_configs is None:
        extra_configs = [base / n for n in COMFY_CONFIG_NAMES if (base / n).is_file()]
    for config in extra_configs:
        load_extra_config(Path(config), folders)
    return HostLayout(
        kind="comfyui", root=base, folders={k: dedup(v) for k, v in folders.items() if v}
    )
