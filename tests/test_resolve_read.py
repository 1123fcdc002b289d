"""Reading generation data: real image files, real samples, hostile inputs."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from resolve_images import INFOTEXT, comfy_webp, png, png_chunk, with_user_comment

from modelshelf.errors import BadInputError
from modelshelf.resolve import extract_resources, read_source
from modelshelf.resolve.readers import PNG_SIGNATURE

DATA = Path(__file__).parent / "data" / "resolve"
HASHES = {"ckpt": "afaf521da2", "vae": "735e4c3a44", "lora": "9c783c8ce46c", "lyco": "0123456789ab"}
TEXT = INFOTEXT.format(ti="fff5d51ab655", **HASHES)

API = {
    "4": {
        "class_type": "CheckpointLoaderSimple",
        "inputs": {"ckpt_name": "sd_xl_base_1.0.safetensors"},
    },
    "10": {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "detail/add-detail-xl.safetensors",
            "strength_model": 0.7,
            "model": ["4", 0],
        },
    },
    "11": {"class_type": "VAELoader", "inputs": {"vae_name": "sdxl_vae.safetensors"}},
    "12": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "canny.safetensors"}},
    "13": {"class_type": "UpscaleModelLoader", "inputs": {"model_name": "4x-UltraSharp.pth"}},
    "14": {
        "class_type": "DualCLIPLoader",
        "inputs": {
            "clip_name1": "clip_l.safetensors",
            "clip_name2": "t5xxl_fp16.safetensors",
            "type": "flux",
        },
    },
    "15": {"class_type": "UNETLoader", "inputs": {"unet_name": "flux1-dev.safetensors"}},
    "6": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": "a cat, (embedding:EasyNegative:1.2)"},
    },
    "20": {
        "class_type": "ModelShelfLoadLora",
        "inputs": {"reference": "urn:air:sdxl:lora:civitai:10@100"},
    },
}


def kinds(resources):
    return sorted((r.kind, r.name or "") for r in resources)


def by_name(resources, name):
    return next(r for r in resources if r.name == name)


@pytest.mark.parametrize("mode", ["text", "zip", "itxt"])
def test_png_parameters_every_chunk_kind(tmp_path, mode):
    path = tmp_path / "a1111.png"
    path.write_bytes(png({"parameters": TEXT + ", Note: ü"}, mode=mode))
    meta, resources = extract_resources(path)
    assert meta.kind == "png" and meta.texts["parameters"].endswith("ü")
    ckpt = by_name(resources, "boleromix_XL_V1.3")
    assert ckpt.kind == "checkpoint" and ckpt.hashes == {"autov2": "AFAF521DA2"}
    lora = by_name(resources, "add-detail-xl")
    assert lora.weight == 0.8 and lora.hashes == {"autov3": "9C783C8CE46C"}
    assert by_name(resources, "inkwash").kind == "lycoris"
    assert by_name(resources, "sdxl_vae.safetensors").hashes == {"autov2": "735E4C3A44"}
    ti = by_name(resources, "negativeXL_D")
    assert ti.kind == "embedding" and ti.hashes == {"sha256_12": "FFF5D51AB655"}
    assert len(resources) == 5


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
@pytest.mark.parametrize("encoding", ["utf-16-be", "utf-16-le", "ascii"])
def test_exif_user_comment(tmp_path, fmt, encoding):
    text = TEXT if encoding == "ascii" else TEXT.replace("masterpiece", "傑作")
    path = tmp_path / f"a1111.{fmt.lower()}"
    path.write_bytes(with_user_comment(fmt, text, encoding=encoding))
    meta, resources = extract_resources(path)
    assert meta.kind == fmt.lower().replace("jpeg", "jpeg")
    assert meta.texts["parameters"] == text
    assert by_name(resources, "add-detail-xl").hashes["autov3"] == "9C783C8CE46C"


def test_comfyui_png_both_chunks(tmp_path):
    workflow = json.loads(
        (DATA / "comfyui_examples_wan22_text_to_video_5B.json").read_text("utf-8")
    )
    path = tmp_path / "comfy.png"
    path.write_bytes(png({"prompt": json.dumps(API), "workflow": json.dumps(workflow)}))
    _meta, resources = extract_resources(path)
    got = kinds(resources)
    for expected in [
        ("checkpoint", "sd_xl_base_1.0.safetensors"),
        ("lora", "detail/add-detail-xl.safetensors"),
        ("vae", "sdxl_vae.safetensors"),
        ("controlnet", "canny.safetensors"),
        ("upscaler", "4x-UltraSharp.pth"),
        ("clip", "clip_l.safetensors"),
        ("clip", "t5xxl_fp16.safetensors"),
        ("unet", "flux1-dev.safetensors"),
        ("embedding", "EasyNegative"),
        ("unet", "wan2.2_ti2v_5B_fp16.safetensors"),
        ("clip", "umt5_xxl_fp8_e4m3fn_scaled.safetensors"),
        ("vae", "wan2.2_vae.safetensors"),
    ]:
        assert expected in got
    assert by_name(resources, "detail/add-detail-xl.safetensors").weight == 0.7
    ours = next(r for r in resources if r.version_id == 100)
    assert ours.kind == "lora" and ours.model_id == 10


def test_comfyui_webp_exif_tags(tmp_path):
    workflow = json.loads((DATA / "comfyui_examples_img2img_workflow.json").read_text("utf-8"))
    path = tmp_path / "anim.webp"
    path.write_bytes(comfy_webp({"4": API["4"]}, workflow))
    _meta, resources = extract_resources(path)
    assert kinds(resources) == [
        ("checkpoint", "sd_xl_base_1.0.safetensors"),
        ("checkpoint", "v1-5-pruned-emaonly-fp16.safetensors"),
    ]


def test_ui_workflow_properties_models_subgraphs_and_modes():
    sha = "A" * 64
    workflow = {
        "nodes": [
            {
                "id": 1,
                "type": "LoraLoaderModelOnly",
                "mode": 0,
                "widgets_values": ["speed.safetensors", 0.9],
                "properties": {
                    "models": [
                        {
                            "name": "speed.safetensors",
                            "url": "https://civitai.com/api/download/models/555",
                            "directory": "loras",
                            "hash": sha.lower(),
                            "hash_type": "SHA256",
                        }
                    ]
                },
            },
            {
                "id": 2,
                "type": "LoraLoader",
                "mode": 4,
                "widgets_values": ["bypassed.safetensors", 1, 1],
            },
            {"id": 3, "type": "Note", "widgets_values": ["see model.safetensors"]},
            {"id": 4, "type": "ModelShelfLoadCheckpoint", "widgets_values": ["12@34"]},
            {"id": 5, "type": "SomePack Loader", "widgets_values": {"ckpt_name": "x.ckpt"}},
        ],
        "definitions": {
            "subgraphs": [
                {"nodes": [{"id": 9, "type": "VAELoader", "widgets_values": ["ae.safetensors"]}]}
            ]
        },
        "models": [
            {
                "name": "clip_l.safetensors",
                "directory": "text_encoders",
                "url": "https://huggingface.co/x",
            }
        ],
    }
    _meta, resources = extract_resources(workflow)
    speed = by_name(resources, "speed.safetensors")
    assert speed.weight == 0.9 and speed.hashes == {"sha256": sha}
    assert speed.url.endswith("/555") and speed.directory == "loras"
    names = {r.name for r in resources}
    assert "bypassed.safetensors" not in names and "model.safetensors" not in names
    assert {"x.ckpt", "ae.safetensors", "clip_l.safetensors"} <= names
    ckpt = next(r for r in resources if r.version_id == 34)
    assert ckpt.kind == "checkpoint" and ckpt.model_id == 12


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "civitai_generator_resources.txt",
            [("checkpoint", 1714314, None, "Plant Milk \U0001f33f - Model Suite")],
        ),
        (
            "civitai_air_resources.txt",
            [("checkpoint", 67890, 12345, "Generic Model"), ("lora", 22222, 11111, "Generic Lora")],
        ),
    ],
)
def test_real_civitai_resources(name, expected):
    _meta, resources = extract_resources(DATA / name)
    assert [(r.kind, r.version_id, r.model_id, r.name) for r in resources] == expected


def test_real_one_line_infotext_and_addnet():
    _meta, resources = extract_resources(DATA / "lora_hashes_one_line.txt")
    assert by_name(resources, "GenericModel").hashes == {"autov2": "23D793A158"}
    assert by_name(resources, "generic_lora_a").hashes == {"autov3": "BED61886A493"}
    assert by_name(resources, "generic_lora_b").hashes == {}
    _meta, resources = extract_resources(DATA / "addnet.txt")
    cool = by_name(resources, "coolLora")
    assert cool.weight == 0.8 and cool.hashes == {"autov3": "A68C0549F355"}
    assert by_name(resources, "deliberate_v3").hashes == {"autov2": "AADDDD3D75"}


def test_real_comfyui_example_workflows():
    _meta, resources = extract_resources(DATA / "comfyui_examples_img2img_workflow.json")
    assert kinds(resources) == [("checkpoint", "v1-5-pruned-emaonly-fp16.safetensors")]


def test_civitai_extension_hashes_and_pasted_text():
    text = (
        "a photo <lora:film:0.6>\nSteps: 20, Model: dream, "
        'Hashes: {"model": "1234567890", "lora:film": "abcdef0123", '
        '"embed:bad-hands": "fedcba9876"}'
    )
    _meta, resources = extract_resources(text)
    assert by_name(resources, "dream").hashes == {"autov2": "1234567890"}
    film = by_name(resources, "film")
    assert film.weight == 0.6 and film.hashes == {"autov2": "ABCDEF0123"}
    assert by_name(resources, "bad-hands").kind == "embedding"


# -- hostile input ---------------------------------------------------------------------


def one_sentence(exc: BadInputError) -> str:
    text = str(exc)
    assert "\n" not in text and text.endswith(".") and len(text) < 300
    return text


def test_truncated_png(tmp_path):
    data = png({"parameters": TEXT})
    path = tmp_path / "cut.png"
    path.write_bytes(data[:20])
    with pytest.raises(BadInputError) as err:
        read_source(path)
    assert "truncated" in one_sentence(err.value)


def test_fifty_megabyte_chunk_is_not_read(tmp_path):
    path = tmp_path / "huge.png"
    with open(path, "wb") as f:
        f.write(PNG_SIGNATURE)
        f.write(png_chunk(b"tEXt", b"", length=50 * 1024 * 1024)[:8])
        f.truncate(50 * 1024 * 1024 + 64)
    with pytest.raises(BadInputError) as err:
        read_source(path)
    assert "50 MiB" in one_sentence(err.value)


def test_zip_bomb_text_chunk():
    bomb = zlib.compress(b"A" * (40 * 1024 * 1024), 9)
    data = PNG_SIGNATURE + png_chunk(b"zTXt", b"parameters\0\0" + bomb) + png_chunk(b"IEND", b"")
    with pytest.raises(BadInputError) as err:
        read_source(data)
    assert "inflates" in one_sentence(err.value)


def test_invalid_utf8(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"Steps: 20, Model: \xff\xfe\xfa")
    with pytest.raises(BadInputError) as err:
        read_source(path)
    one_sentence(err.value)
    data = (
        PNG_SIGNATURE
        + png_chunk(b"iTXt", b"parameters\0\0\0\0\0\xff\xfe")
        + png_chunk(b"IEND", b"")
    )
    with pytest.raises(BadInputError) as err:
        read_source(data)
    assert "UTF-8" in one_sentence(err.value)


@pytest.mark.parametrize(
    "text", ['{"a": 1}', "[1, 2]", '{"nodes": "x"}', "{not json", "[" + "1" * 5000 + "]"]
)
def test_json_that_is_not_a_workflow(text):
    with pytest.raises(BadInputError) as err:
        extract_resources(text)
    one_sentence(err.value)


def test_image_without_metadata(tmp_path):
    path = tmp_path / "plain.png"
    path.write_bytes(png({}))
    with pytest.raises(BadInputError) as err:
        extract_resources(path)
    assert "no generation data" in one_sentence(err.value)


def test_hostile_names_stay_names():
    text = (
        "x <lora:../../etc/passwd:1>\nSteps: 1, Model: ../../outside, "
        'Lora hashes: "../../etc/passwd: '
        '0123456789ab", Civitai resources: [{"type": "lora", "modelVersionId": "1; DROP"}, 7, null]'
    )
    _meta, resources = extract_resources(text)
    assert {r.name for r in resources} == {"../../etc/passwd", "../../outside"}
    assert all(r.version_id is None for r in resources)
