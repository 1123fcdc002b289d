"""Where files go: type → folder key, each host layout, detection and host configuration."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelshelf.errors import BadInputError, UnsupportedTypeError
from modelshelf.layout import (
    FOLDER_KEYS,
    HostLayout,
    a1111_layout,
    comfyui_layout,
    detect_layout,
    folder_key,
    layout_for_models_dir,
    resolve_layout,
    target_dir,
)

# DESIGN.md "Where files go": (Civitai type, file type) → (A1111 path under the data dir,
# ComfyUI path under the install). "UNet"/"Diffusion Model" files of a checkpoint.
DESIGN_TABLE = [
    ("Checkpoint", "Model", "models/Stable-diffusion", "models/checkpoints"),
    ("Checkpoint", "Pruned Model", "models/Stable-diffusion", "models/checkpoints"),
    ("Checkpoint", "UNet", "models/Stable-diffusion", "models/diffusion_models"),
    ("Checkpoint", "Diffusion Model", "models/Stable-diffusion", "models/diffusion_models"),
    ("Checkpoint", "VAE", "models/VAE", "models/vae"),
    ("LORA", "Model", "models/Lora", "models/loras"),
    ("LoCon", "Model", "models/Lora", "models/loras"),
    ("DoRA", None, "models/Lora", "models/loras"),
    ("TextualInversion", "Model", "embeddings", "models/embeddings"),
    ("TextualInversion", "Negative", "embeddings", "models/embeddings"),
    ("LORA", "Negative", "embeddings", "models/embeddings"),
    ("Hypernetwork", "Model", "models/hypernetworks", "models/hypernetworks"),
    ("VAE", "Model", "models/VAE", "models/vae"),
    ("Controlnet", "Model", "models/ControlNet", "models/controlnet"),
    ("Upscaler", "Model", "models/ESRGAN", "models/upscale_models"),
    # Novita type names
    ("checkpoint", None, "models/Stable-diffusion", "models/checkpoints"),
    ("lora", None, "models/Lora", "models/loras"),
    ("locon", None, "models/Lora", "models/loras"),
    ("lyco", None, "models/Lora", "models/loras"),
    ("vae", None, "models/VAE", "models/vae"),
    ("controlnet", None, "models/ControlNet", "models/controlnet"),
    ("upscaler", None, "models/ESRGAN", "models/upscale_models"),
    ("textualinversion", None, "embeddings", "models/embeddings"),
]
REFUSED_TYPES = ["Poses", "Wildcards", "AestheticGradient", "Workflows", "Detection", "Other"]


def make_tree(root: Path, *entries: str) -> Path:
    """Create files (``name``) and folders (``name/``) under ``root``."""
    for entry in entries:
        path = root / entry
        if entry.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("# fake\n")
    return root


@pytest.fixture
def a1111_root(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "webui", "webui.py", "launch.py", "modules/")


@pytest.fixture
def comfy_root(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "ComfyUI", "main.py", "comfy/", "folder_paths.py")


@pytest.mark.parametrize(("model_type", "file_type", "a1111", "comfy"), DESIGN_TABLE)
def test_design_table_for_every_layout(a1111_root, comfy_root, model_type, file_type, a1111, comfy):
    a = detect_layout(a1111_root)
    c = detect_layout(comfy_root)
    assert target_dir(a, model_type, file_type) == a1111_root.resolve() / a1111
    assert target_dir(c, model_type, file_type) == comfy_root.resolve() / comfy
    # Forge reads the same folders as A1111 (embeddings in the data dir too)
    forge = make_tree(a1111_root.parent / "forge", "webui.py", "modules/", "modules_forge/")
    f = detect_layout(forge)
    assert f.kind == "forge"
    assert target_dir(f, model_type, file_type) == forge.resolve() / a1111


@pytest.mark.parametrize("model_type", REFUSED_TYPES)
def test_types_without_a_home_are_refused_with_a_sentence(model_type, comfy_root):
    with pytest.raises(UnsupportedTypeError) as err:
        folder_key(model_type)
    text = str(err.value)
    assert repr(model_type) in text and "--models-dir" in text and text.endswith(".")
    assert err.value.exit_code == 2
    with pytest.raises(UnsupportedTypeError):
        target_dir(detect_layout(comfy_root), model_type, "Model")


@pytest.mark.parametrize("file_type", ["Training Data", "Archive"])
def test_non_model_file_types_are_refused(file_type):
    with pytest.raises(UnsupportedTypeError, match=file_type):
        folder_key("LORA", file_type)


def test_new_file_type_values_fall_back_to_the_model_type():
    assert folder_key("LORA", "Some Future Type") == "loras"
    assert folder_key("Checkpoint", "Text Encoder") == "text_encoders"
    assert folder_key("Checkpoint", "Config") == "checkpoints"


def test_motion_modules_have_a_comfy_key_but_no_a1111_folder(a1111_root, comfy_root):
    comfy = detect_layout(comfy_root)
    assert target_dir(comfy, "MotionModule") == comfy_root.resolve() / "models/animatediff_models"
    with pytest.raises(UnsupportedTypeError, match="MotionModule"):
        target_dir(detect_layout(a1111_root), "MotionModule")
    make_tree(a1111_root, "extensions/sd-webui-animatediff/")
    got = target_dir(detect_layout(a1111_root), "MotionModule")
    assert got == a1111_root.resolve() / "extensions/sd-webui-animatediff/model"


@pytest.mark.parametrize(
    "hostile",
    [
        "../../etc",
        "/etc/passwd",
        "Checkpoint/../../x",
        "LORA\x00",
        "loras",
        "checkpoints",
        "\u202eLORA",
        "x" * 5000,
        "",
        "   ",
        "C:\\Windows",
    ],
)
def test_hostile_model_types_never_map_outside_the_layout(hostile, comfy_root):
    layout = detect_layout(comfy_root)
    allowed = {d for dirs in layout.folders.values() for d in dirs}
    try:
        got = target_dir(layout, hostile)
    except UnsupportedTypeError as exc:
        text = str(exc)
        assert "\x00" not in text and len(text) < 300
    else:
        assert got in allowed


def test_every_key_we_map_to_is_a_folder_key():
    for model_type, file_type, _, _ in DESIGN_TABLE:
        assert folder_key(model_type, file_type) in FOLDER_KEYS
    assert folder_key("MotionModule") in FOLDER_KEYS


def test_comfy_defaults_include_extra_default_dirs(comfy_root):
    layout = detect_layout(comfy_root)
    models = comfy_root.resolve() / "models"
    assert layout.folders["controlnet"] == [models / "controlnet", models / "t2i_adapter"]
    assert layout.folders["diffusion_models"] == [models / "diffusion_models", models / "unet"]
    assert layout.folders["text_encoders"] == [models / "text_encoders", models / "clip"]
    assert layout.dir_for("clip_vision") == models / "clip_vision"


def test_a1111_scans_lycoris_and_every_upscaler_folder(a1111_root):
    layout = detect_layout(a1111_root)
    root = a1111_root.resolve()
    scanned = layout.scan_dirs()
    dirs = [d for _, d in scanned]
    assert len(dirs) == len(set(dirs))  # checkpoints and diffusion_models share a folder
    assert ("loras", root / "models/LyCORIS") in scanned
    for name in ("ESRGAN", "RealESRGAN", "BSRGAN", "DAT", "SwinIR"):
        assert ("upscale_models", root / "models" / name) in scanned
    assert layout.dir_for("embeddings") == root / "embeddings"
    with pytest.raises(UnsupportedTypeError, match="A1111|AUTOMATIC1111"):
        layout.dir_for("text_encoders")


def test_forge_keeps_text_encoders(tmp_path):
    forge = make_tree(tmp_path / "forge", "launch.py", "modules/", "modules_forge/")
    layout = detect_layout(forge)
    assert (
        target_dir(layout, "Checkpoint", "Text Encoder") == forge.resolve() / "models/text_encoder"
    )


# ---------------------------------------------------------------- A1111 flags


def test_a1111_flags_as_strings(tmp_path):
    data = tmp_path / "data"
    layout = a1111_layout(
        data,
        ckpt_dir=str(tmp_path / "ckpts"),
        lora_dir=tmp_path / "loras",
        embeddings_dir=str(tmp_path / "emb"),
        vae_dir="relative/vae",
        hypernetwork_dir=str(tmp_path / "hn"),
        controlnet_dir=str(tmp_path / "cn"),
        esrgan_dir=str(tmp_path / "up"),
        text_encoder_dir=str(tmp_path / "te"),
    )
    assert target_dir(layout, "Checkpoint") == tmp_path / "ckpts"
    assert target_dir(layout, "LORA") == tmp_path / "loras"
    assert target_dir(layout, "TextualInversion") == tmp_path / "emb"
    assert target_dir(layout, "VAE") == data / "relative/vae"  # relative to the data dir
    assert target_dir(layout, "Hypernetwork") == tmp_path / "hn"
    assert target_dir(layout, "Controlnet") == tmp_path / "cn"
    assert target_dir(layout, "Upscaler") == tmp_path / "up"
    assert target_dir(layout, "Checkpoint", "Text Encoder") == tmp_path / "te"
    # the host's defaults are still scanned
    assert ("checkpoints", data / "models/Stable-diffusion") in layout.scan_dirs()


def test_a1111_flags_as_lists_first_entry_is_the_target(tmp_path):
    layout = a1111_layout(
        tmp_path,
        kind="forge",
        ckpt_dir=[str(tmp_path / "a"), str(tmp_path / "b")],
        lora_dir=[tmp_path / "l1", tmp_path / "l2"],
        models_dir=str(tmp_path / "M"),
    )
    assert layout.dir_for("checkpoints") == tmp_path / "a"
    assert tmp_path / "b" in layout.folders["checkpoints"]
    assert layout.folders["loras"][:2] == [tmp_path / "l1", tmp_path / "l2"]
    assert layout.dir_for("vae") == tmp_path / "M/VAE"
    assert layout.dir_for("embeddings") == tmp_path / "embeddings"  # data dir, not models


def test_webui_user_commandline_args_are_honoured(a1111_root, tmp_path):
    (a1111_root / "webui-user.sh").write_text(
        "#!/bin/bash\n"
        '#export COMMANDLINE_ARGS="--ckpt-dir /nope"\n'
        f"export COMMANDLINE_ARGS=\"--xformers --ckpt-dir '{tmp_path}/my ckpts' "
        f'--lora-dir {tmp_path}/L --data-dir {tmp_path}/D"\n'
    )
    layout = detect_layout(a1111_root)
    assert layout.dir_for("checkpoints") == tmp_path / "my ckpts"
    assert layout.dir_for("loras") == tmp_path / "L"
    assert layout.dir_for("embeddings") == tmp_path / "D/embeddings"
    assert layout.dir_for("vae") == tmp_path / "D/models/VAE"


# ---------------------------------------------------------------- SD.Next


def test_sdnext_defaults_and_config_json(tmp_path):
    root = make_tree(tmp_path / "sdnext", "installer.py", "launch.py", "modules/")
    layout = detect_layout(root)
    r = root.resolve()
    assert layout.kind == "sdnext"
    assert layout.dir_for("embeddings") == r / "models/embeddings"
    assert layout.dir_for("controlnet") == r / "models/control"
    assert layout.dir_for("diffusion_models") == r / "models/UNET"
    (root / "config.json").write_text(
        json.dumps(
            {
                "ckpt_dir": str(tmp_path / "big/ckpt"),
                "lora_dir": "elsewhere/lora",
                "embeddings_dir": str(tmp_path / "emb"),
                "control_dir": "",
                "te_dir": str(tmp_path / "te"),
                "sd_model_checkpoint": "x.safetensors",
            }
        )
    )
    layout = detect_layout(root)
    assert layout.dir_for("checkpoints") == tmp_path / "big/ckpt"
    assert layout.dir_for("loras") == r / "elsewhere/lora"
    assert layout.dir_for("embeddings") == tmp_path / "emb"
    assert layout.dir_for("controlnet") == r / "models/control"  # empty setting: default
    assert layout.dir_for("text_encoders") == tmp_path / "te"


def test_sdnext_broken_config_json_falls_back_to_defaults(tmp_path):
    root = make_tree(tmp_path / "sdnext", "installer.py", "modules/")
    (root / "config.json").write_text("{not json")
    assert detect_layout(root).dir_for("loras") == root.resolve() / "models/Lora"


# ---------------------------------------------------------------- ComfyUI yaml


def test_comfy_extra_model_paths_yaml(comfy_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SHARED_MODELS", str(tmp_path / "shared"))
    (comfy_root / "extra_model_paths.yaml").write_text(
        """
a111:
    base_path: ../webui/
    checkpoints: models/Stable-diffusion
    loras: |
        models/Lora
        models/LyCORIS
    unet: models/unet-legacy
    clip: models/clip-legacy
    upscale_models: |
         models/ESRGAN
         models/RealESRGAN
shared:
    base_path: $SHARED_MODELS
    is_default: true
    loras: |
        first
        second
    animatediff_models: motion
relative:
    vae: my_vaes
    embeddings: /abs/emb
empty_section:
"""
    )
    layout = detect_layout(comfy_root)
    root = comfy_root.resolve()
    webui = root.parent / "webui"
    shared = tmp_path / "shared"
    # is_default: ComfyUI inserts each line at the front, so the last line ends first
    assert layout.folders["loras"][:2] == [shared / "second", shared / "first"]
    assert layout.folders["loras"][2:] == [
        root / "models/loras",
        webui / "models/Lora",
        webui / "models/LyCORIS",
    ]
    assert layout.dir_for("checkpoints") == root / "models/checkpoints"
    assert webui / "models/Stable-diffusion" in layout.folders["checkpoints"]
    assert webui / "models/unet-legacy" in layout.folders["diffusion_models"]
    assert webui / "models/clip-legacy" in layout.folders["text_encoders"]
    assert "unet" not in layout.folders and "clip" not in layout.folders
    assert layout.folders["upscale_models"][1:] == [
        webui / "models/ESRGAN",
        webui / "models/RealESRGAN",
    ]
    assert layout.dir_for("animatediff_models") == shared / "motion"
    assert layout.folders["vae"][-1] == root / "my_vaes"  # relative to the yaml's folder
    assert layout.folders["embeddings"][-1] == Path("/abs/emb")
    assert target_dir(layout, "LORA") == shared / "second"


def test_comfy_is_default_moves_an_existing_path_first(comfy_root):
    root = comfy_root.resolve()
    (comfy_root / "extra_paths.yaml").write_text(
        f"mine:\n    is_default: true\n    checkpoints: {root}/models/other\n"
    )
    assert detect_layout(comfy_root).dir_for("checkpoints") == root / "models/other"


@pytest.mark.parametrize(
    "text", ["a: [unclosed\n", "loras: models\n  bad: indent\n", "- just\n- a list\n"]
)
def test_broken_comfy_yaml_is_a_clear_error(comfy_root, text):
    (comfy_root / "extra_model_paths.yaml").write_text(text)
    with pytest.raises(BadInputError) as err:
        detect_layout(comfy_root)
    assert "extra_model_paths.yaml" in str(err.value)
    assert "--models-dir" in str(err.value)


def test_comfy_explicit_extra_configs(tmp_path):
    cfg = tmp_path / "cfg" / "paths.yaml"
    cfg.parent.mkdir()
    cfg.write_text("x:\n    base_path: ~/models\n    vae: v\n")
    layout = comfyui_layout(tmp_path / "comfy", extra_configs=[cfg])
    assert layout.folders["vae"][-1] == Path(os.path.expanduser("~/models")) / "v"


# ---------------------------------------------------------------- detection and resolve


@pytest.mark.parametrize(
    ("entries", "kind"),
    [
        (("folder_paths.py",), "comfyui"),
        (("main.py", "comfy/"), "comfyui"),
        (("custom_nodes/",), "comfyui"),
        (("webui.py", "modules/", "modules_forge/"), "forge"),
        (("installer.py", "launch.py", "webui.py", "modules/"), "sdnext"),
        (("webui.py", "modules/"), "a1111"),
        (("launch.py", "modules/"), "a1111"),
        (("ComfyUI/main.py", "ComfyUI/comfy/", "python_embeded/"), "comfyui"),
    ],
)
def test_detection_of_fake_host_trees(tmp_path, entries, kind):
    root = make_tree(tmp_path / "host", *entries)
    layout = detect_layout(root)
    assert layout.kind == kind
    assert layout.root is not None and layout.root.is_dir()


@pytest.mark.parametrize("entries", [(), ("main.py",), ("webui.py",), ("modules/",)])
def test_unrecognised_folder_is_refused(tmp_path, entries):
    root = make_tree(tmp_path / "nothing", *entries)
    root.mkdir(exist_ok=True)
    with pytest.raises(BadInputError) as info:
        detect_layout(root)
    text = str(info.value)
    # it says what it looked for, and that --layout can say which host it is
    assert "modules_forge/" in text and "webui.py or launch.py with modules/" in text
    assert "--layout a1111|forge|sdnext|comfyui" in text and "--models-dir" in text


def test_resolve_layout(tmp_path, comfy_root):
    with pytest.raises(BadInputError, match="--models-dir DIR .* --host-dir DIR"):
        resolve_layout()
    with pytest.raises(BadInputError, match="not both"):
        resolve_layout(models_dir=tmp_path, host_dir=comfy_root)
    with pytest.raises(BadInputError, match="Unknown layout"):
        resolve_layout(models_dir=tmp_path, layout="invokeai")
    plain = resolve_layout(models_dir=tmp_path / "m")
    assert isinstance(plain, HostLayout) and plain.kind == "comfyui" and plain.root is None
    assert target_dir(plain, "LORA") == tmp_path / "m/loras"
    a = resolve_layout(models_dir=tmp_path / "m", layout="a1111")
    assert target_dir(a, "TextualInversion") == tmp_path / "m/embeddings"
    assert target_dir(a, "Checkpoint") == tmp_path / "m/Stable-diffusion"
    assert resolve_layout(host_dir=comfy_root).kind == "comfyui"
    # --layout forces the kind of a host folder that detection would not recognise
    (tmp_path / "m").mkdir()
    forced = resolve_layout(host_dir=tmp_path / "m", layout="a1111")
    assert forced.dir_for("loras") == (tmp_path / "m").resolve() / "models/Lora"
    with pytest.raises(BadInputError, match="not a folder"):
        resolve_layout(host_dir=tmp_path / "missing")


def test_models_dir_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(BadInputError, match="is a file"):
        layout_for_models_dir(f)


def test_webui_user_bat_and_forge_neo_list_flags(tmp_path):
    root = make_tree(tmp_path / "neo", "webui.py", "modules/", "modules_forge/")
    (root / "webui-user.bat").write_text(
        "@echo off\r\n"
        'set COMMANDLINE_ARGS=--ckpt-dirs "D:\\My Models\\ckpt" E:\\ckpt2 --lora-dirs rel\\lora\r\n'
        "call webui.bat\r\n"
    )
    layout = detect_layout(root)
    assert layout.kind == "forge"
    # quotes, spaces and backslashes survive (a drive path is only absolute on Windows)
    r = root.resolve()
    assert layout.folders["checkpoints"][:2] == [r / "D:\\My Models\\ckpt", r / "E:\\ckpt2"]
    assert layout.dir_for("loras") == root.resolve() / "rel\\lora"  # relative to the host


@pytest.mark.parametrize("kind", ["comfyui", "a1111"])
def test_plain_models_dir_puts_types_without_a_home_in_other(tmp_path, kind):
    layout = layout_for_models_dir(tmp_path / "m", kind)
    for model_type, file_type in [("Poses", None), ("Wildcards", "Archive"), ("../../x", None)]:
        assert target_dir(layout, model_type, file_type) == tmp_path / "m/other"
    assert target_dir(layout, "LORA") != tmp_path / "m/other"
    assert ("other", tmp_path / "m/other") in layout.scan_dirs()


def test_layout_key_names_the_folder_target_dir_uses(tmp_path, comfy_root):
    from modelshelf.layout import layout_key

    plain = layout_for_models_dir(tmp_path / "m")
    assert layout_key(plain, "Poses") == "other"
    assert layout_key(plain, "Checkpoint", "UNet") == "diffusion_models"
    host = detect_layout(comfy_root)
    assert layout_key(host, "LoCon") == "loras"
    with pytest.raises(UnsupportedTypeError):
        layout_key(host, "Poses")


@pytest.mark.parametrize("kind", ["a1111", "forge", "sdnext", "comfyui"])
def test_a_relative_models_dir_is_taken_from_the_working_folder(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    layout = resolve_layout(models_dir="rel", layout=kind)
    lora = layout.dir_for("loras")
    assert lora.is_absolute() and lora.parent == tmp_path / "rel"  # not rel/rel/Lora
    assert all(d.is_absolute() for dirs in layout.folders.values() for d in dirs)
    monkeypatch.chdir("/")  # a later chdir changes nothing
    assert layout.dir_for("loras") == lora


def test_a_host_layout_made_by_hand_holds_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layout = HostLayout("comfyui", Path("host"), {"loras": [Path("host/models/loras")]})
    assert layout.root == tmp_path / "host"
    assert layout.dir_for("loras") == tmp_path / "host/models/loras"


def _imported_modules(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports (at any depth of the file), as absolute names."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_layout_modules_import_each_other_in_one_direction():
    import modelshelf.layout as pkg

    folder = Path(pkg.__file__).parent
    order = ["base", "comfy", "detect"]  # each may import only those before it
    for i, name in enumerate(order):
        imported = _imported_modules(folder / f"{name}.py", "modelshelf.layout")
        later = {f"modelshelf.layout.{n}" for n in order[i:]} | {"modelshelf.layout"}
        assert not imported & later, (name, imported & later)
    stray = [p.name for p in folder.parent.glob("layout_*.py")]
    assert stray == []  # the old cyclic modules are gone
