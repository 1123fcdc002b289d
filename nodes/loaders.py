"""The Model Shelf nodes: loaders that fetch what they need, an embedding, trained words.

Each loader takes a ``reference`` STRING (an AIR, a Civitai page or download URL,
``model@version``, ``novita:ID``), makes sure the file is in its ComfyUI folder
(:mod:`.fetching`) and then loads it exactly as ComfyUI's own loader does, by calling
that loader (``nodes.CheckpointLoaderSimple``, ``nodes.LoraLoader``...) with the file's
name. An API key is never an input: widgets are saved into workflows and every PNG.

Importing this module imports nothing of ComfyUI or of the core; both come at execution.
"""

from __future__ import annotations

from typing import Any

from . import fetching, host

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]

CATEGORY = "Model Shelf"
REFERENCE_TIP = (
    "A Civitai URL, an AIR (urn:air:sdxl:lora:civitai:12345@67890), model@version or "
    "novita:ID. A missing file is downloaded first; the API key comes from the settings."
)
WORDS_TIP = "The trained (trigger) words of the model, comma-separated."


def _reference() -> tuple[str, dict[str, Any]]:
    return ("STRING", {"default": "", "multiline": False, "tooltip": REFERENCE_TIP})


def _host_nodes() -> Any:
    """ComfyUI's ``nodes`` module (its built-in loaders)."""
    module = host.comfy_module("nodes")
    if module is None or not hasattr(module, "CheckpointLoaderSimple"):
        raise RuntimeError("ComfyUI's nodes module is not importable; is this ComfyUI?")
    return module


class LoadCheckpoint:
    """A checkpoint from ``checkpoints`` (or a UNet-only file from ``diffusion_models``)."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"reference": _reference()}}

    RETURN_TYPES = ("MODEL", "CLIP", "VAE", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "VAE", "trained_words")
    OUTPUT_TOOLTIPS = ("The diffusion model.", "The CLIP model.", "The VAE.", WORDS_TIP)
    FUNCTION = "load_checkpoint"
    CATEGORY = CATEGORY
    DESCRIPTION = "Loads a checkpoint, downloading it first when it is missing."
    KEYS = ("checkpoints", "diffusion_models")

    def load_checkpoint(self, reference: str) -> tuple[Any, ...]:
        local = fetching.ensure_local(reference, self.KEYS, "Load Checkpoint (Model Shelf)")
        words = fetching.trained_words_text(local.path)
        comfy_nodes = _host_nodes()
        if local.key == "diffusion_models":
            # a UNet-only file has no CLIP and no VAE: ComfyUI's UNETLoader, then None
            # (as ComfyUI's own checkpoint loader gives for a file without them)
            (model,) = comfy_nodes.UNETLoader().load_unet(local.name, "default")[:1]
            return (model, None, None, words)
        model, clip, vae = comfy_nodes.CheckpointLoaderSimple().load_checkpoint(local.name)[:3]
        return (model, clip, vae, words)


class LoadLora:
    """A LoRA (LoCon, DoRA) applied to MODEL and CLIP, as ComfyUI's LoraLoader does."""

    def __init__(self) -> None:
        self._loader: Any = None  # ComfyUI's LoraLoader keeps the last LoRA in memory

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        strength = {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model the LoRA is applied to."}),
                "clip": ("CLIP", {"tooltip": "The CLIP model the LoRA is applied to."}),
                "reference": _reference(),
                "strength_model": ("FLOAT", dict(strength)),
                "strength_clip": ("FLOAT", dict(strength)),
            }
        }

    RETURN_TYPES = ("MODEL", "CLIP", "STRING")
    RETURN_NAMES = ("MODEL", "CLIP", "trained_words")
    OUTPUT_TOOLTIPS = ("The modified diffusion model.", "The modified CLIP model.", WORDS_TIP)
    FUNCTION = "load_lora"
    CATEGORY = CATEGORY
    DESCRIPTION = "Applies a LoRA, downloading it first when it is missing."
    KEYS = ("loras",)

    def load_lora(
        self, model: Any, clip: Any, reference: str, strength_model: float, strength_clip: float
    ) -> tuple[Any, Any, str]:
        local = fetching.ensure_local(reference, self.KEYS, "Load LoRA (Model Shelf)")
        words = fetching.trained_words_text(local.path)
        if self._loader is None:
            self._loader = _host_nodes().LoraLoader()
        model_out, clip_out = self._loader.load_lora(
            model, clip, local.name, strength_model, strength_clip
        )[:2]
        return (model_out, clip_out, words)


class _SingleLoader:
    """A loader with one reference input and one model output (VAE, ControlNet...)."""

    KEYS: tuple[str, ...] = ()
    NODE = ""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"reference": _reference()}}

    FUNCTION = "load"
    CATEGORY = CATEGORY

    def load(self, reference: str) -> tuple[Any]:
        local = fetching.ensure_local(reference, self.KEYS, self.NODE)
        return (self.load_local(local.name),)

    def load_local(self, name: str) -> Any:
        raise NotImplementedError


class LoadVae(_SingleLoader):
    """A VAE from ``vae``, loaded by ComfyUI's VAELoader."""

    RETURN_TYPES = ("VAE",)
    DESCRIPTION = "Loads a VAE, downloading it first when it is missing."
    KEYS = ("vae",)
    NODE = "Load VAE (Model Shelf)"

    def load_local(self, name: str) -> Any:
        return _host_nodes().VAELoader().load_vae(name)[0]


class LoadControlNet(_SingleLoader):
    """A ControlNet from ``controlnet``, loaded by ComfyUI's ControlNetLoader."""

    RETURN_TYPES = ("CONTROL_NET",)
    DESCRIPTION = "Loads a ControlNet, downloading it first when it is missing."
    KEYS = ("controlnet",)
    NODE = "Load ControlNet (Model Shelf)"

    def load_local(self, name: str) -> Any:
        return _host_nodes().ControlNetLoader().load_controlnet(name)[0]


class LoadUpscaleModel(_SingleLoader):
    """An upscaler from ``upscale_models``, loaded by ComfyUI's UpscaleModelLoader."""

    RETURN_TYPES = ("UPSCALE_MODEL",)
    DESCRIPTION = "Loads an upscale model, downloading it first when it is missing."
    KEYS = ("upscale_models",)
    NODE = "Load Upscale Model (Model Shelf)"

    def load_local(self, name: str) -> Any:
        module = host.comfy_module("comfy_extras.nodes_upscale_model")
        loader = getattr(module, "UpscaleModelLoader", None)
        if loader is None:
            raise RuntimeError("ComfyUI's UpscaleModelLoader is not importable (spandrel?).")
        execute = getattr(loader, "execute", None)  # V3 node: classmethod → NodeOutput
        out = execute(name) if execute is not None else loader().load_model(name)
        return getattr(out, "result", out)[0]


class Embedding:
    """An embedding in ``embeddings`` → ``embedding:name`` for a prompt, and its words."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {"required": {"reference": _reference()}}

    RETURN_TYPES = ("STRING", "STRING")
    RETURN_NAMES = ("embedding", "trained_words")
    OUTPUT_TOOLTIPS = ("embedding:name, to put in a prompt.", WORDS_TIP)
    FUNCTION = "embedding"
    CATEGORY = CATEGORY
    DESCRIPTION = "Downloads an embedding when missing and gives its prompt text."
    KEYS = ("embeddings",)

    def embedding(self, reference: str) -> tuple[str, str]:
        local = fetching.ensure_local(reference, self.KEYS, "Embedding (Model Shelf)")
        stem = local.name.rsplit(".", 1)[0] if "." in local.name else local.name
        return (f"embedding:{stem.replace(chr(92), '/')}", fetching.trained_words_text(local.path))


TRAINED_WORDS_KEYS = ("loras", "checkpoints", "embeddings")


class TrainedWords:
    """A local LoRA, checkpoint or embedding (ComfyUI's own lists) → its trained words."""

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        choices = [f"{key}/{name}" for key in TRAINED_WORDS_KEYS for name in host.local_names(key)]
        tip = "A model ComfyUI lists; its words come from its sidecar, else Civitai (once)."
        return {"required": {"model": (choices, {"tooltip": tip})}}

    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("trained_words",)
    OUTPUT_TOOLTIPS = (WORDS_TIP,)
    FUNCTION = "trained_words"
    CATEGORY = CATEGORY
    DESCRIPTION = "The trained words of a local model, from its sidecar or Civitai by hash."

    def trained_words(self, model: str) -> tuple[str]:
        key, _, name = (model or "").partition("/")
        folder_paths = host.comfy_module("folder_paths")
        path = None
        if key in TRAINED_WORDS_KEYS and name and folder_paths is not None:
            path = folder_paths.get_full_path(key, name)
        if not path:
            from .service import ModelShelfNodeError

            raise ModelShelfNodeError(f"{model!r} is not in ComfyUI's model lists; refresh them.")
        from pathlib import Path

        return (fetching.trained_words_text(Path(path)),)


NODE_CLASS_MAPPINGS: dict[str, type] = {
    "ModelShelfLoadCheckpoint": LoadCheckpoint,
    "ModelShelfLoadLora": LoadLora,
    "ModelShelfLoadVae": LoadVae,
    "ModelShelfLoadControlNet": LoadControlNet,
    "ModelShelfLoadUpscaleModel": LoadUpscaleModel,
    "ModelShelfEmbedding": Embedding,
    "ModelShelfTrainedWords": TrainedWords,
}
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    "ModelShelfLoadCheckpoint": "Load Checkpoint (Model Shelf)",
    "ModelShelfLoadLora": "Load LoRA (Model Shelf)",
    "ModelShelfLoadVae": "Load VAE (Model Shelf)",
    "ModelShelfLoadControlNet": "Load ControlNet (Model Shelf)",
    "ModelShelfLoadUpscaleModel": "Load Upscale Model (Model Shelf)",
    "ModelShelfEmbedding": "Embedding (Model Shelf)",
    "ModelShelfTrainedWords": "Trained Words (Model Shelf)",
}
