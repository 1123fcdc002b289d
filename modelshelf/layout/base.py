"""The base of layouts: folder keys, :class:`HostLayout` and the type → folder mapping.

A :class:`HostLayout` maps *folder keys* (ComfyUI's names: ``checkpoints``, ``loras``, ...)
to the absolute directories a host reads, write target first. Civitai and Novita types
map to a key with :func:`folder_key` (pure); a type without a home raises
:class:`UnsupportedTypeError`. A model type can only ever select one of the layout's
folders, never build a path, so a hostile type string cannot escape them.

This module imports no other layout module: ComfyUI's folders are in :mod:`.comfy`,
host detection and :func:`~.detect.resolve_layout` in :mod:`.detect`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BadInputError, UnsupportedTypeError

__all__ = [
    "FOLDER_KEYS",
    "OTHER_KEY",
    "LAYOUT_KINDS",
    "HostLayout",
    "a1111_layout",
    "absolute",
    "as_dirs",
    "dedup",
    "folder_key",
    "layout_key",
    "refusal",
    "target_dir",
]

log = logging.getLogger(__name__)

DirArg = str | os.PathLike | list | tuple | None

FOLDER_KEYS: tuple[str, ...] = (
    "checkpoints",
    "diffusion_models",
    "loras",
    "embeddings",
    "hypernetworks",
    "vae",
    "controlnet",
    "upscale_models",
    "text_encoders",
    "clip_vision",
    "animatediff_models",  # motion modules: ComfyUI-AnimateDiff-Evolved's key
)
OTHER_KEY = "other"  # plain --models-dir only: DIR/other takes types without a home
LAYOUT_KINDS: tuple[str, ...] = ("a1111", "forge", "sdnext", "comfyui")
HOST_NAMES = {"a1111": "AUTOMATIC1111", "forge": "Forge", "sdnext": "SD.Next", "comfyui": "ComfyUI"}

# Civitai ModelType and Novita type, normalised (lower case, letters and digits only).
_KEY_BY_MODEL_TYPE = {
    "checkpoint": "checkpoints",
    "lora": "loras",
    "locon": "loras",
    "lycoris": "loras",
    "lyco": "loras",
    "dora": "loras",
    "textualinversion": "embeddings",
    "embedding": "embeddings",
    "hypernetwork": "hypernetworks",
    "vae": "vae",
    "controlnet": "controlnet",
    "upscaler": "upscale_models",
    "motionmodule": "animatediff_models",
}
# Civitai file types that decide the folder whatever the model type is.
_KEY_BY_FILE_TYPE = {
    "negative": "embeddings",
    "vae": "vae",
    "textencoder": "text_encoders",
    "unet": "diffusion_models",
    "diffusionmodel": "diffusion_models",
}
_NOT_MODEL_FILE_TYPES = {"trainingdata": "Training Data", "archive": "Archive"}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def shown(text: object) -> str:
    """A type string safe to put in a message: printable, short, quoted."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in str(text))
    if len(clean) > 40:
        clean = clean[:40] + "..."
    return repr(clean)


def refusal(what: str, where: str = "") -> UnsupportedTypeError:
    """The one sentence for a type with no folder (``where``: " in this ComfyUI layout")."""
    return UnsupportedTypeError(
        f"{what} has no model folder{where or ' Model Shelf knows'}, so Model Shelf will not "
        "guess one; to keep it anyway, download it into a plain folder (--models-dir DIR "
        "puts it in DIR/other) and move it where your tool reads it."
    )


def absolute(path: str | os.PathLike) -> Path:
    """``path`` with ``~`` expanded, made absolute against the working folder, normalised."""
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


def _homeless(model_type: str, file_type: str | None) -> tuple[str | None, str]:
    """``(folder key or None, what to call the file in a refusal)``."""
    if file_type:
        ft = _norm(str(file_type))
        if ft in _KEY_BY_FILE_TYPE:
            return _KEY_BY_FILE_TYPE[ft], f"A {shown(file_type)} file"
        if ft in _NOT_MODEL_FILE_TYPES:
            return None, f"A {_NOT_MODEL_FILE_TYPES[ft]} file (not a model)"
    if not isinstance(model_type, str) or not model_type.strip():
        return None, "A model without a type"
    return _KEY_BY_MODEL_TYPE.get(_norm(model_type)), f"Model type {shown(model_type)}"


def folder_key(model_type: str, file_type: str | None = None) -> str:
    """The folder key for a file of ``file_type`` in a model of ``model_type``.

    File types Negative (→ embeddings), VAE, Text Encoder, UNet and Diffusion Model decide
    on their own; otherwise the model type does. Raises :class:`UnsupportedTypeError`.
    """
    key, what = _homeless(model_type, file_type)
    if key is None:
        raise refusal(what)
    return key


@dataclass
class HostLayout:
    """The folders one host reads, per folder key; the first folder is the write target."""

    kind: str
    root: Path | None
    folders: dict[str, list[Path]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Absolute from the start: a relative folder would mean another place after a chdir,
        # and would never match the absolute paths the library records.
        if self.root is not None:
            self.root = absolute(self.root)
        self.folders = {key: [absolute(d) for d in dirs] for key, dirs in self.folders.items()}

    def set_folders(self, key: str, dirs: Iterable[str | os.PathLike]) -> None:
        """Replace the folders of ``key`` (made absolute like the others)."""
        self.folders[key] = [absolute(d) for d in dirs]

    def dir_for(self, key: str) -> Path:
        """The write target for ``key``; :class:`UnsupportedTypeError` when there is none."""
        dirs = self.folders.get(key)
        if not dirs:
            host = HOST_NAMES.get(self.kind, self.kind)
            raise refusal(f"The {shown(key)} folder kind", f" in this {host} layout")
        return dirs[0]

    def scan_dirs(self) -> list[tuple[str, Path]]:
        """Every (key, dir) to walk when scanning the library, each dir once."""
        seen: set[str] = set()
        out: list[tuple[str, Path]] = []
        for key, dirs in self.folders.items():
            for d in dirs:
                ident = os.path.normcase(os.path.abspath(d))
                if ident not in seen:
                    seen.add(ident)
                    out.append((key, d))
        return out


def layout_key(layout: HostLayout, model_type: str, file_type: str | None = None) -> str:
    """The folder key a file of this type uses in ``layout`` (``other`` in a plain dir)."""
    key, what = _homeless(model_type, file_type)
    if key is not None and layout.folders.get(key):
        return key
    if layout.folders.get(OTHER_KEY):  # a plain --models-dir folder takes anything
        return OTHER_KEY
    raise refusal(what, f" in this {HOST_NAMES.get(layout.kind, layout.kind)} layout")


def target_dir(layout: HostLayout, model_type: str, file_type: str | None = None) -> Path:
    """The folder a file of this type goes to in ``layout``."""
    return layout.dir_for(layout_key(layout, model_type, file_type))


def as_dirs(value: DirArg, base: Path | None = None) -> list[Path]:
    """A flag value (str, path, list of them, None) as a list of paths, ``~`` expanded.

    Relative paths are taken relative to ``base`` (the host's folder) when given.
    """
    if value is None:
        return []
    items: Iterable = value if isinstance(value, (list, tuple)) else [value]
    out: list[Path] = []
    for item in items:
        if item is None or (isinstance(item, str) and not item.strip()):
            continue
        p = Path(os.path.expandvars(os.path.expanduser(str(item).strip())))
        if base is not None and not p.is_absolute():
            p = base / p
        out.append(p)
    return out


def dedup(paths: Iterable[Path]) -> list[Path]:
    """``paths`` in order, each folder once."""
    seen: set[str] = set()
    out: list[Path] = []
    for p in paths:
        ident = os.path.normcase(os.path.normpath(os.path.abspath(p)))
        if ident not in seen:
            seen.add(ident)
            out.append(p)
    return out


def a1111_layout(
    data_dir: Path,
    *,
    kind: str = "a1111",
    models_dir: DirArg = None,
    ckpt_dir: DirArg = None,
    lora_dir: DirArg = None,
    embeddings_dir: DirArg = None,
    hypernetwork_dir: DirArg = None,
    vae_dir: DirArg = None,
    controlnet_dir: DirArg = None,
    esrgan_dir: DirArg = None,
    text_encoder_dir: DirArg = None,
    root: Path | None = None,
) -> HostLayout:
    """The layout of an A1111-family host (``kind`` a1111, forge or sdnext).

    Each dir argument is what the host was started with: a string, a path or a list
    (Forge Neo's ``--*-dirs``: the first entry is the write target, all are scanned).
    Embeddings live in ``<data_dir>/embeddings`` on A1111/Forge, ``<models>/embeddings``
    on SD.Next. The host's own defaults are scanned after the configured folders.
    """
    if kind not in ("a1111", "forge", "sdnext"):
        raise BadInputError(
            f"Unknown A1111-family layout {shown(kind)}; use a1111, forge or sdnext."
        )
    data = absolute(data_dir)
    models = (as_dirs(models_dir, Path(root) if root is not None else data) or [data / "models"])[0]

    base = Path(root) if root is not None else data  # A1111 resolves flags from its folder

    def pick(flag: DirArg, *defaults: Path) -> list[Path]:
        return dedup([*as_dirs(flag, base), *defaults])

    ckpt = pick(ckpt_dir, models / "Stable-diffusion")
    folders: dict[str, list[Path]] = {
        "checkpoints": ckpt,
        "loras": pick(lora_dir, models / "Lora", models / "LyCORIS"),
        "embeddings": pick(embeddings_dir, (models if kind == "sdnext" else data) / "embeddings"),
        "hypernetworks": pick(hypernetwork_dir, models / "hypernetworks"),
        "vae": pick(vae_dir, models / "VAE"),
        "controlnet": pick(
            controlnet_dir, models / ("control" if kind == "sdnext" else "ControlNet")
        ),
        "upscale_models": pick(
            esrgan_dir,
            *(models / n for n in ("ESRGAN", "RealESRGAN", "BSRGAN", "DAT", "SwinIR")),
        ),
    }
    if kind == "sdnext":
        folders["diffusion_models"] = dedup([models / "UNET", *ckpt])
        folders["text_encoders"] = pick(text_encoder_dir, models / "Text-encoder")
    else:
        # A1111 and Forge load a bare UNet / diffusion model from the checkpoint folder.
        folders["diffusion_models"] = list(ckpt)
        if kind == "forge":
            folders["text_encoders"] = pick(text_encoder_dir, models / "text_encoder")
        elif text_encoder_dir:
            folders["text_encoders"] = pick(text_encoder_dir)
    return HostLayout(kind=kind, root=root, folders=folders)
