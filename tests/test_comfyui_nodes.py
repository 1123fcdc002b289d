"""The ComfyUI nodes on stubbed host modules, the fake Civitai and the fake storage.

A loader with a missing file downloads it into ComfyUI's folder for its kind and then
calls ComfyUI's own loader with that file; an interrupt keeps only the ``.part``; a second
run (even after a restart) makes no request at all.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from comfyui_catalogue import BIG, CKPT, LORA
from comfyui_stubs import load_pack, pack_module


@pytest.fixture
def civitai(comfy_catalogue):
    return comfy_catalogue


@pytest.fixture
def loaders(comfy):
    return pack_module("nodes.loaders")


def model_files(folder: Path) -> set[str]:
    return {p.name for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def all_requests(civitai, storage) -> list:
    return [*civitai.requests_to(r".*"), *storage.gets()]


# -- what ComfyUI reads from each node ----------------------------------------------------


def test_every_node_describes_itself_as_comfyui_expects(comfy, loaders):
    classes = loaders.NODE_CLASS_MAPPINGS
    assert set(classes) == set(loaders.NODE_DISPLAY_NAME_MAPPINGS)
    assert len(classes) == 7
    for key, cls in classes.items():
        assert loaders.NODE_DISPLAY_NAME_MAPPINGS[key].endswith("(Model Shelf)")
        assert cls.CATEGORY == "Model Shelf"
        spec = cls.INPUT_TYPES()
        assert set(spec) <= {"required", "optional", "hidden"} and spec["required"]
        for name, value in spec["required"].items():
            assert isinstance(value, tuple) and 1 <= len(value) <= 2, name
            assert isinstance(value[0], (str, list)), name
            assert not any(w in name.lower() for w in ("key", "token", "api")), name
        assert isinstance(cls.RETURN_TYPES, tuple) and all(
            isinstance(t, str) for t in cls.RETURN_TYPES
        )
        names = getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)
        assert len(names) == len(cls.RETURN_TYPES)
        assert callable(getattr(cls(), cls.FUNCTION))


def test_the_pack_exports_what_comfyui_reads_and_leaves_out_what_it_cannot_run(comfy, monkeypatch):
    pack = pack_module("nodes")
    root = load_pack()
    assert root.WEB_DIRECTORY == "./javascript/comfyui"
    assert (Path(root.__file__).parent / root.WEB_DIRECTORY / "modelshelf.js").is_file()
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "spandrel" else real_find_spec(name, *a),
    )
    classes, names = pack._mappings()
    assert "ModelShelfLoadUpscaleModel" not in classes and "ModelShelfLoadLora" in classes
    assert set(names) == set(classes)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    assert pack._mappings() == ({}, {})


# -- loaders download what is missing, then load it as ComfyUI does ------------------------


def test_load_checkpoint_downloads_into_the_first_checkpoints_path_then_loads_it(
    comfy, civitai, loaders
):
    assert comfy.folder_paths.get_filename_list("checkpoints") == []  # cached
    model, clip, vae, words = loaders.LoadCheckpoint().load_checkpoint(
        "https://civitai.com/models/20?modelVersionId=200"
    )
    assert "checkpoints" not in comfy.folder_paths.filename_list_cache  # dropped
    target = comfy.models("checkpoints") / "real_v2.safetensors"
    assert target.read_bytes() == CKPT
    assert [(r.kind, r.path) for r in comfy.loads] == [("checkpoint", str(target))]
    assert model[0] == "MODEL" and clip[0] == "CLIP" and vae[0] == "VAE"
    assert words == "testword"
    assert comfy.bars and comfy.bars[0][-1] == (100, 100)  # the node's bar filled
    assert ("modelshelf.refresh", {"folders": ["checkpoints"]}) in comfy.events


def test_an_extra_models_path_set_as_default_is_where_a_download_goes(
    comfy, civitai, loaders, tmp_path
):
    extra = tmp_path / "extra" / "loras"
    comfy.folder_paths.add_model_folder_path("loras", str(extra), is_default=True)
    model_out, clip_out, words = loaders.LoadLora().load_lora("M", "C", "10@100", 0.8, 0.5)
    assert (extra / "ink_style.safetensors").read_bytes() == LORA
    assert not (comfy.base / "models" / "loras").exists()
    lora = comfy.loads[-1]
    assert (lora.kind, lora.path, lora.extra["strength"]) == (
        "lora",
        str(extra / "ink_style.safetensors"),
        (0.8, 0.5),
    )
    assert model_out[1] == "M" and clip_out[1] == "C" and words == "inkstyle"


def test_a_unet_only_checkpoint_goes_to_diffusion_models_and_loads_with_unetloader(
    comfy, civitai, loaders
):
    model, clip, vae, _words = loaders.LoadCheckpoint().load_checkpoint("30@300")
    target = comfy.models("diffusion_models") / "flux_unet.safetensors"
    assert target.is_file() and target.parent.name == "unet"  # ComfyUI's first path
    assert [(r.kind, r.path) for r in comfy.loads] == [("unet", str(target))]
    assert model[0] == "MODEL" and clip is None and vae is None


def test_vae_and_embedding_nodes(comfy, civitai, loaders):
    (vae,) = loaders.LoadVae().load("40@400")
    assert vae.path == str(comfy.models("vae") / "clear.safetensors")
    text, words = loaders.Embedding().embedding("urn:air:sd1:embedding:civitai:50@500")
    assert (comfy.models("embeddings") / "bad_hands.safetensors").is_file()
    assert (text, words) == ("embedding:bad_hands", "bad_hands")


def test_controlnet_and_upscale_loaders_use_comfyuis_loaders(comfy, civitai, loaders):
    cn = comfy.models("controlnet")
    cn.mkdir(parents=True)
    (cn / "canny.safetensors").write_bytes(LORA)  # present, recorded by nothing: by name
    assert loaders.LoadControlNet().load_local("canny.safetensors")[1].path == str(
        cn / "canny.safetensors"
    )
    up = comfy.models("upscale_models")
    up.mkdir(parents=True)
    (up / "4x.pth").write_bytes(b"x" * 16)
    assert loaders.LoadUpscaleModel().load_local("4x.pth")[1].path == str(up / "4x.pth")


def test_a_reference_of_another_kind_is_refused_before_any_download(comfy, civitai, loaders):
    service = pack_module("nodes.service")
    with pytest.raises(service.ModelShelfNodeError) as err:
        loaders.LoadCheckpoint().load_checkpoint("10@100")
    assert "Load LoRA (Model Shelf)" in str(err.value)
    assert civitai.requests_to(r"/api/download/.*") == []
    assert model_files(comfy.base / "models") == set()


def test_a_reference_needing_a_key_says_where_to_set_it(comfy, civitai, loaders):
    service = pack_module("nodes.service")
    civitai.download_rules[200] = {"require_auth": True}
    with pytest.raises(service.ModelShelfNodeError) as err:
        loaders.LoadCheckpoint().load_checkpoint("20@200")
    message = str(err.value)
    assert "CIVITAI_API_TOKEN" in message and "modelshelf config set civitai_token" in message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence
    assert not (comfy.models("checkpoints") / "real_v2.safetensors").exists()


def test_an_empty_reference_is_one_sentence(comfy, loaders):
    service = pack_module("nodes.service")
    with pytest.raises(service.ModelShelfNodeError, match="needs a reference"):
        loaders.LoadVae().load("  ")


# -- interrupt and second runs ------------------------------------------------------------


def test_comfyuis_interrupt_stops_the_download_and_keeps_only_the_part(
    comfy, civitai, fake_storage, loaders
):
    fake_storage.throttle(256 * 1024)
    mm = comfy.modules["comfy.model_management"]

    def press_stop(value, total):
        if 0 < value < total:
            comfy.interrupt()

    comfy.on_bar = press_stop
    with pytest.raises(mm.InterruptProcessingException):
        loaders.LoadCheckpoint().load_checkpoint("60@600")
    folder = comfy.models("checkpoints")
    names = model_files(folder)
    assert "big.safetensors" not in names
    assert any(n.endswith(".part") for n in names)
    assert all(".part" in n for n in names), names
    assert not mm.processing_interrupted()  # the flag is cleared for the next prompt
    assert comfy.loads == []

    comfy.on_bar = None
    fake_storage.throttle(None)
    loaders.LoadCheckpoint().load_checkpoint("60@600")  # resumes the .part
    assert (folder / "big.safetensors").read_bytes() == BIG
    assert not any(".part" in n for n in model_files(folder))


@pytest.mark.parametrize("reference", ["20@200", "20", "urn:air:sd1:checkpoint:civitai:20@200"])
def test_a_second_run_makes_no_request_even_after_a_restart(
    comfy, civitai, fake_storage, loaders, reference
):
    service = pack_module("nodes.service")
    loaders.LoadCheckpoint().load_checkpoint(reference)
    first = comfy.loads[-1].path
    service.reset_shelf()  # a new ComfyUI process: only files on disk remain
    civitai.clear_requests()
    before = len(fake_storage.gets())
    _m, _c, _v, words = loaders.LoadCheckpoint().load_checkpoint(reference)
    assert civitai.requests_to(r".*") == []
    assert len(fake_storage.gets()) == before
    assert comfy.loads[-1].path == first and words == "testword"


def test_a_file_already_in_place_is_not_downloaded_again(comfy, civitai, fake_storage, loaders):
    folder = comfy.models("checkpoints")
    folder.mkdir(parents=True)
    (folder / "real_v2.safetensors").write_bytes(CKPT)
    loaders.LoadCheckpoint().load_checkpoint("20@200")
    assert civitai.requests_to(r"/api/download/.*") == [] and fake_storage.gets() == []
    assert comfy.loads[-1].path == str(folder / "real_v2.safetensors")


# -- trained words ---------------------------------------------------------------------------


def test_trained_words_node_lists_comfyuis_files_and_reads_the_sidecar(comfy, civitai, loaders):
    loaders.LoadLora().load_lora("M", "C", "10@100", 1.0, 1.0)
    choices = loaders.TrainedWords.INPUT_TYPES()["required"]["model"][0]
    assert "loras/ink_style.safetensors" in choices
    civitai.clear_requests()
    assert loaders.TrainedWords().trained_words("loras/ink_style.safetensors") == ("inkstyle",)
    assert civitai.requests_to(r".*") == []


def test_trained_words_of_an_unknown_local_file_are_asked_once_by_hash(comfy, civitai, loaders):
    folder = comfy.models("loras")
    folder.mkdir(parents=True)
    (folder / "renamed.safetensors").write_bytes(LORA)  # no sidecar: Civitai by hash
    node = loaders.TrainedWords()
    assert node.trained_words("loras/renamed.safetensors") == ("inkstyle",)
    asked = len(civitai.requests_to(r"/api/v1/model-versions/by-hash.*"))
    assert asked >= 1
    assert node.trained_words("loras/renamed.safetensors") == ("inkstyle",)
    assert len(civitai.requests_to(r"/api/v1/model-versions/by-hash.*")) == asked


def test_trained_words_refuses_a_name_comfyui_does_not_list(comfy, loaders):
    service = pack_module("nodes.service")
    with pytest.raises(service.ModelShelfNodeError):
        loaders.TrainedWords().trained_words("loras/../../etc/passwd")
