"""Stand-ins for ComfyUI's modules, with the real module paths, names and signatures.

ComfyUI is not on PyPI, so tests put these into ``sys.modules`` (research comfyui.md §4):

- ``folder_paths``: ``folder_names_and_paths[key] = ([dirs], extensions)``,
  ``get_folder_paths`` (a copy), ``add_model_folder_path(key, path, is_default=False)``,
  ``get_full_path``/``get_full_path_or_raise``, ``get_filename_list`` with
  ``filename_list_cache[key] = (files, {dir: mtime}, time)``, ``map_legacy``;
- ``comfy.utils``: ``ProgressBar(total, node_id=None).update_absolute(value, total=None,
  preview=None)``, ``load_torch_file(path, safe_load=False, ..., return_metadata=False)``;
- ``comfy.model_management``: ``interrupt_current_processing(value=True)``,
  ``processing_interrupted()``, ``throw_exception_if_processing_interrupted()``,
  ``InterruptProcessingException``;
- ``comfy.sd``: ``load_checkpoint_guess_config``, ``load_diffusion_model``,
  ``load_lora_for_models``, ``VAE``; ``comfy.controlnet.load_controlnet``;
- ``nodes``: ``CheckpointLoaderSimple.load_checkpoint(ckpt_name)``, ``UNETLoader.load_unet(
  unet_name, weight_dtype)``, ``LoraLoader.load_lora(model, clip, lora_name, strength_model,
  strength_clip)``, ``VAELoader.load_vae(vae_name)``, ``ControlNetLoader.load_controlnet(
  control_net_name)``, each resolving the name with ``folder_paths`` as ComfyUI's do;
- ``comfy_extras.nodes_upscale_model.UpscaleModelLoader``: a V3 node, ``execute(model_name)``
  returning a NodeOutput with ``.result``;
- ``server.PromptServer.instance``: ``routes`` (an aiohttp ``RouteTableDef``) and
  ``send_sync(event, data, sid=None)``.

"Loading" a model returns a record of the file read, so tests can see which path the
host's loader got.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPPORTED_PT_EXTENSIONS = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
DEFAULT_KEYS = {
    "checkpoints": ["checkpoints"],
    "loras": ["loras"],
    "vae": ["vae"],
    "text_encoders": ["text_encoders", "clip"],
    "diffusion_models": ["unet", "diffusion_models"],
    "embeddings": ["embeddings"],
    "controlnet": ["controlnet", "t2i_adapter"],
    "upscale_models": ["upscale_models"],
    "hypernetworks": ["hypernetworks"],
}


@dataclass
class Loaded:
    """What a stub loader returns: which kind of model, read from which file."""

    kind: str
    path: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ComfyHost:
    """The installed stubs and what they saw."""

    base: Path
    modules: dict[str, types.ModuleType]
    loads: list[Loaded] = field(default_factory=list)
    bars: list[list[tuple[int, int]]] = field(default_factory=list)
    events: list[tuple[str, Any]] = field(default_factory=list)
    on_bar: Any = None  # called with (value, total) on every node progress update
    on_event: list[Any] = field(default_factory=list)  # called with (event, data) on send_sync

    @property
    def folder_paths(self) -> types.ModuleType:
        return self.modules["folder_paths"]

    def interrupt(self) -> None:
        self.modules["comfy.model_management"].interrupt_current_processing(True)

    def models(self, key: str) -> Path:
        return Path(self.folder_paths.get_folder_paths(key)[0])


def _folder_paths(base: Path) -> types.ModuleType:
    fp = types.ModuleType("folder_paths")
    fp.supported_pt_extensions = set(SUPPORTED_PT_EXTENSIONS)
    fp.base_path = str(base)
    fp.models_dir = str(base / "models")
    fp.folder_names_and_paths = {
        key: ([str(base / "models" / d) for d in dirs], set(SUPPORTED_PT_EXTENSIONS))
        for key, dirs in DEFAULT_KEYS.items()
    }
    fp.filename_list_cache = {}

    def map_legacy(folder_name: str) -> str:
        return {"unet": "diffusion_models", "clip": "text_encoders"}.get(folder_name, folder_name)

    def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False):
        folder_name = map_legacy(folder_name)
        if folder_name not in fp.folder_names_and_paths:
            fp.folder_names_and_paths[folder_name] = ([full_folder_path], set())
            return
        paths = fp.folder_names_and_paths[folder_name][0]
        if full_folder_path in paths:
            if is_default:
                paths.remove(full_folder_path)
                paths.insert(0, full_folder_path)
        elif is_default:
            paths.insert(0, full_folder_path)
        else:
            paths.append(full_folder_path)

    def get_folder_paths(folder_name: str) -> list[str]:
        return list(fp.folder_names_and_paths[map_legacy(folder_name)][0])

    def get_full_path(folder_name: str, filename: str) -> str | None:
        folder_name = map_legacy(folder_name)
        if folder_name not in fp.folder_names_and_paths:
            return None
        filename = os.path.relpath(os.path.join("/", filename), "/")  # no climbing out
        for folder in fp.folder_names_and_paths[folder_name][0]:
            full = os.path.join(folder, filename)
            if os.path.isfile(full):
                return full
        return None

    def get_full_path_or_raise(folder_name: str, filename: str) -> str:
        full = get_full_path(folder_name, filename)
        if full is None:
            raise FileNotFoundError(
                f"Model in folder '{folder_name}' with filename '{filename}' not found."
            )
        return full

    def _scan(folder_name: str) -> tuple[list[str], dict[str, float], float]:
        dirs, exts = fp.folder_names_and_paths[folder_name]
        names: set[str] = set()
        mtimes: dict[str, float] = {}
        for folder in dirs:
            if not os.path.isdir(folder):
                continue
            for root, subdirs, files in os.walk(folder, followlinks=True):
                subdirs[:] = [d for d in subdirs if d != ".git"]
                mtimes[root] = os.path.getmtime(root)
                for name in files:
                    rel = os.path.relpath(os.path.join(root, name), folder)
                    if not exts or os.path.splitext(rel)[1].lower() in exts:
                        names.add(rel)
        return sorted(names), mtimes, time.perf_counter()

    def get_filename_list(folder_name: str) -> list[str]:
        folder_name = map_legacy(folder_name)
        cached = fp.filename_list_cache.get(folder_name)
        if cached is not None:
            stale = any(
                not os.path.isdir(d) or os.path.getmtime(d) != t for d, t in cached[1].items()
            ) or any(
                os.path.isdir(d) and d not in cached[1]
                for d in fp.folder_names_and_paths[folder_name][0]
            )
            if not stale:
                return list(cached[0])
        fp.filename_list_cache[folder_name] = _scan(folder_name)
        return list(fp.filename_list_cache[folder_name][0])

    for fn in (
        map_legacy,
        add_model_folder_path,
        get_folder_paths,
        get_full_path,
        get_full_path_or_raise,
        get_filename_list,
    ):
        setattr(fp, fn.__name__, fn)
    return fp


def _model_management() -> types.ModuleType:
    mm = types.ModuleType("comfy.model_management")
    lock = threading.RLock()
    state = {"interrupt": False}

    class InterruptProcessingException(Exception):
        pass

    def interrupt_current_processing(value: bool = True) -> None:
        with lock:
            state["interrupt"] = value

    def processing_interrupted() -> bool:
        with lock:
            return state["interrupt"]

    def throw_exception_if_processing_interrupted() -> None:
        with lock:
            if state["interrupt"]:
                state["interrupt"] = False
                raise InterruptProcessingException()

    mm.InterruptProcessingException = InterruptProcessingException
    mm.interrupt_current_processing = interrupt_current_processing
    mm.processing_interrupted = processing_interrupted
    mm.throw_exception_if_processing_interrupted = throw_exception_if_processing_interrupted
    return mm


def install(monkeypatch, base: Path) -> ComfyHost:
    """Put the stubs into ``sys.modules`` (undone by ``monkeypatch``); returns the host."""
    from aiohttp import web

    modules: dict[str, types.ModuleType] = {}
    host = ComfyHost(base=base, modules=modules)
    fp = modules["folder_paths"] = _folder_paths(base)
    mm = modules["comfy.model_management"] = _model_management()

    utils = modules["comfy.utils"] = types.ModuleType("comfy.utils")

    class ProgressBar:
        def __init__(self, total: int, node_id: Any = None):
            self.total, self.current = total, 0
            self.seen: list[tuple[int, int]] = []
            host.bars.append(self.seen)

        def update_absolute(self, value: int, total: int | None = None, preview: Any = None):
            if total is not None:
                self.total = total
            self.current = min(value, self.total)
            self.seen.append((self.current, self.total))
            if host.on_bar is not None:
                host.on_bar(self.current, self.total)

        def update(self, value: int) -> None:
            self.update_absolute(self.current + value, self.total)

    def load_torch_file(ckpt, safe_load=False, device=None, return_metadata=False):
        with open(ckpt, "rb") as fh:
            fh.read(8)  # the file is really opened, as the real one does
        sd = {"path": str(ckpt)}
        return (sd, {}) if return_metadata else sd

    utils.ProgressBar = ProgressBar
    utils.load_torch_file = load_torch_file

    sd = modules["comfy.sd"] = types.ModuleType("comfy.sd")

    def load_checkpoint_guess_config(
        ckpt_path,
        output_vae=True,
        output_clip=True,
        output_clipvision=False,
        embedding_directory=None,
        output_model=True,
        model_options=None,
        te_model_options=None,
    ):
        load_torch_file(ckpt_path)
        rec = Loaded("checkpoint", str(ckpt_path), {"embedding_directory": embedding_directory})
        host.loads.append(rec)
        return (("MODEL", rec), ("CLIP", rec), ("VAE", rec), None)

    def load_diffusion_model(unet_path, model_options=None):
        load_torch_file(unet_path)
        rec = Loaded("unet", str(unet_path))
        host.loads.append(rec)
        return ("MODEL", rec)

    def load_lora_for_models(model, clip, lora, strength_model, strength_clip, lora_metadata=None):
        rec = Loaded("lora", lora["path"], {"strength": (strength_model, strength_clip)})
        host.loads.append(rec)
        return (("MODEL+LORA", model, rec), ("CLIP+LORA", clip, rec))

    class VAE:
        def __init__(self, sd=None, device=None, config=None, dtype=None, metadata=None):
            self.path = sd.get("path") if sd else None
            host.loads.append(Loaded("vae", str(self.path)))

        def throw_exception_if_invalid(self) -> None:
            pass

    sd.load_checkpoint_guess_config = load_checkpoint_guess_config
    sd.load_diffusion_model = load_diffusion_model
    sd.load_lora_for_models = load_lora_for_models
    sd.VAE = VAE

    controlnet = modules["comfy.controlnet"] = types.ModuleType("comfy.controlnet")

    def load_controlnet(ckpt_path, model=None, model_options=None):
        rec = Loaded("controlnet", str(ckpt_path))
        host.loads.append(rec)
        return ("CONTROL_NET", rec)

    controlnet.load_controlnet = load_controlnet

    comfy = modules["comfy"] = types.ModuleType("comfy")
    comfy.__path__ = []  # a package
    comfy.utils, comfy.sd, comfy.model_management, comfy.controlnet = utils, sd, mm, controlnet

    nodes = modules["nodes"] = types.ModuleType("nodes")

    class CheckpointLoaderSimple:
        def load_checkpoint(self, ckpt_name):
            ckpt_path = fp.get_full_path_or_raise("checkpoints", ckpt_name)
            out = load_checkpoint_guess_config(
                ckpt_path,
                output_vae=True,
                output_clip=True,
                embedding_directory=fp.get_folder_paths("embeddings"),
            )
            return out[:3]

    class UNETLoader:
        def load_unet(self, unet_name, weight_dtype):
            unet_path = fp.get_full_path_or_raise("diffusion_models", unet_name)
            return (load_diffusion_model(unet_path, model_options={}),)

    class LoraLoader:
        def __init__(self):
            self.loaded_lora = None

        def load_lora(self, model, clip, lora_name, strength_model, strength_clip):
            if strength_model == 0 and strength_clip == 0:
                return (model, clip)
            lora_path = fp.get_full_path_or_raise("loras", lora_name)
            lora, meta = load_torch_file(lora_path, safe_load=True, return_metadata=True)
            return load_lora_for_models(
                model, clip, lora, strength_model, strength_clip, lora_metadata=meta
            )

    class VAELoader:
        def load_vae(self, vae_name):
            vae_path = fp.get_full_path_or_raise("vae", vae_name)
            sd_, metadata = load_torch_file(vae_path, return_metadata=True)
            return (VAE(sd=sd_, metadata=metadata),)

    class ControlNetLoader:
        def load_controlnet(self, control_net_name):
            path = fp.get_full_path_or_raise("controlnet", control_net_name)
            return (load_controlnet(path),)

    for cls in (CheckpointLoaderSimple, UNETLoader, LoraLoader, VAELoader, ControlNetLoader):
        setattr(nodes, cls.__name__, cls)
    nodes.NODE_CLASS_MAPPINGS = {}

    extras = modules["comfy_extras"] = types.ModuleType("comfy_extras")
    extras.__path__ = []
    upscale = modules["comfy_extras.nodes_upscale_model"] = types.ModuleType(
        "comfy_extras.nodes_upscale_model"
    )

    class NodeOutput:
        def __init__(self, *args: Any, ui: Any = None):
            self.args, self.ui = args, ui

        @property
        def result(self):
            return self.args if len(self.args) > 0 else None

    class UpscaleModelLoader:
        @classmethod
        def execute(cls, model_name) -> NodeOutput:
            path = fp.get_full_path_or_raise("upscale_models", model_name)
            load_torch_file(path, safe_load=True)
            rec = Loaded("upscale", path)
            host.loads.append(rec)
            return NodeOutput(("UPSCALE_MODEL", rec))

    upscale.UpscaleModelLoader = UpscaleModelLoader
    extras.nodes_upscale_model = upscale

    server = modules["server"] = types.ModuleType("server")

    class PromptServer:
        instance: PromptServer | None = None

        def __init__(self):
            PromptServer.instance = self
            self.routes = web.RouteTableDef()

        def send_sync(self, event, data, sid=None):
            host.events.append((event, data))
            for listener in list(host.on_event):
                listener(event, data)

    PromptServer()
    server.PromptServer = PromptServer

    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return host


# -- the pack, loaded as ComfyUI loads it ----------------------------------------------------

PACK_NAME = "ComfyUI-Model-Shelf"
ROOT = Path(__file__).resolve().parents[1]


def load_pack() -> types.ModuleType:
    """The repository imported as ComfyUI's ``load_custom_node`` does (once per session)."""
    import importlib.util

    if PACK_NAME in sys.modules:
        return sys.modules[PACK_NAME]
    spec = importlib.util.spec_from_file_location(
        PACK_NAME, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[PACK_NAME] = module
    spec.loader.exec_module(module)
    return module


def pack_module(name: str) -> types.ModuleType:
    """A module of the loaded pack, e.g. ``pack_module("nodes.loaders")``."""
    import importlib

    load_pack()
    return importlib.import_module(f"{PACK_NAME}.{name}")


import pytest  # noqa: E402 - fixtures below use the helpers above


@pytest.fixture
def comfy(monkeypatch, tmp_path) -> ComfyHost:
    """ComfyUI's modules stubbed on a fresh ``ComfyUI/`` folder; the pack's Shelf reset after."""
    host = install(monkeypatch, tmp_path / "ComfyUI")
    service = pack_module("nodes.service")
    service.reset_shelf()
    try:
        yield host
    finally:
        service.reset_shelf()
