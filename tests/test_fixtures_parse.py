"""Every real Civitai sample in tests/data/real parses into the typed results, exactly."""

from __future__ import annotations

import json

import pytest
from fakes.fixtures import REAL_FIXTURES

from modelshelf.providers.civitai_parse import (
    parse_commercial_use,
    parse_model,
    parse_page,
    parse_stats,
    parse_version,
)


def load(name: str):
    return json.loads((REAL_FIXTURES / name).read_text("utf-8"))


def test_every_fixture_is_covered():
    names = {p.name for p in REAL_FIXTURES.glob("*.json")}
    covered = {
        "civitai_enums.json", "civitai_model_lora_flux.json",
        "civitai_model_lora_illustrious.json", "civitai_model_lora_krea2_2026.json",
        "civitai_model_version_lora_flux.json",
        "civitai_model_version_lora_flux_with_creator.json",
        "civitai_models_checkpoint_page.json",
        "novita_v3_model_page.json",  # parsed by the Novita provider's tests
    }  # fmt: skip
    assert names == covered


def test_model_lora_flux():
    model = parse_model(load("civitai_model_lora_flux.json"))
    assert (model.id, model.name, model.type) == (
        1231067, "Vivid Impressions Storybook Style", "LORA"
    )  # fmt: skip
    assert model.creator.username == "PixelPawsAI"
    assert model.allow_commercial_use == ["Image", "RentCivit", "Rent", "Sell"]
    assert model.stats.download_count == 2183 and model.stats.tipped_amount_count == 360
    version = model.versions[0]
    assert (version.id, version.name, version.base_model) == (1387174, "v1.0", "Flux.1 D")
    assert version.model_id == 1231067 and version.model_name == model.name
    f = version.files[0]
    assert f.name == "pp-storybook_rank2_bf16.safetensors" and f.primary
    assert f.hashes.autov2 == "9753338AB6" and f.hashes.autov3 == "34A22376739D"
    assert model.base_models == ["Flux.1 D"]
    assert "sfwOnly" in model.extra and "cosmetic" in model.extra


def test_model_lora_illustrious():
    model = parse_model(load("civitai_model_lora_illustrious.json"))
    assert model.id == 1580878 and model.creator.username == "alericiviai"
    assert model.nsfw_level == 7 and len(model.versions) == 2
    first = model.versions[0]
    assert (first.id, first.name, first.nsfw_level) == (1967584, "v1.5", 5)
    assert len(first.images) == 4 and first.trained_words
    hashes = first.files[0].hashes
    assert all([hashes.sha256, hashes.autov1, hashes.autov2, hashes.autov3, hashes.crc32,
                hashes.blake3])  # fmt: skip
    assert len(hashes.sha256) == 64 and hashes.sha256 == hashes.sha256.upper()


def test_model_krea_2026():
    raw = load("civitai_model_lora_krea2_2026.json")
    model = parse_model(raw)
    assert (model.id, model.name, model.user_id) == (2833924, "Mihaila Krea", 3205088)
    assert model.allow_commercial_use == [] and model.allow_different_license is False
    assert model.base_models == ["Krea 2"] and model.creator.username == "kestinek"
    assert model.stats.rating is None and model.stats.comment_count == 0
    version = model.versions[0]
    assert (version.id, version.name, version.base_model, version.nsfw_level) == (
        3198110, "V1", "Krea 2", 0
    )  # fmt: skip
    assert version.trained_words == [] and version.extra["flags"] == 0
    f = version.files[0]
    assert f.name == "Mihaila Krea V1.safetensors"
    assert f.extra["overrideName"] == "Mihaila Krea V1.safetensors"
    assert f.hashes.sha256.startswith("5B4CD3D7DB3E") and f.hashes.autov3 == "C26973DE6B79"


def test_version_lora_flux():
    version = parse_version(load("civitai_model_version_lora_flux.json"))
    assert version.air == "urn:air:flux1:lora:civitai:1231067@1387174"
    assert (version.id, version.model_id, version.model_name, version.model_type) == (
        1387174, 1231067, "Vivid Impressions Storybook Style", "LORA"
    )  # fmt: skip
    assert version.model_nsfw is False and version.model_mode is None
    assert version.base_model_type is None and version.early_access_deadline is None
    assert version.trained_words == ["ppstorybook"]
    assert version.extra["usageControl"] == "Download" and version.extra["uploadType"] == "Created"
    f = version.files[0]
    assert f.size_kb == 18829.1484375 and f.approx_size == 19281048
    assert f.hashes.sha256 == "9753338AB693CA82BF89ED77A5D1912879E40051463EC6E330FB9866CE798668"
    assert f.format == "SafeTensor" and f.fp is None and f.size is None
    assert version.images[0].nsfw_level == 1 and version.images[0].width == 832
    assert version.images[0].meta["steps"] == 23


def test_version_with_creator():
    version = parse_version(load("civitai_model_version_lora_flux_with_creator.json"))
    assert (version.id, version.model_id) == (1255556, 1117241)
    assert version.model_name == "Enchanted Whimsy style (Flux)"
    assert version.air == "urn:air:flux1:lora:civitai:1117241@1255556"
    assert version.files[0].hashes.autov3 == "BF82986F8597"
    assert version.extra["creator"]["username"] == "PixelPawsAI"


def test_checkpoint_page():
    page = parse_page(load("civitai_models_checkpoint_page.json"))
    assert len(page.items) == 10 and page.next_cursor == "22138|364671|25494"
    assert page.next_page.startswith("https://api.civitai.com/api/v1/models?")
    assert (page.current_page, page.page_size) == (1, 10)
    assert page.items[0].name == "majicMIX realistic 麦橘写实" and page.items[0].id == 43331
    assert sum(len(m.versions) for m in page.items) == 123
    types = {f.type for m in page.items for v in m.versions for f in v.files}
    assert {"Model", "Pruned Model", "Training Data"} <= types
    formats = {f.format for m in page.items for v in m.versions for f in v.files}
    assert {"SafeTensor", "PickleTensor", "Diffusers", "Other"} <= formats
    urls = [f.download_url for m in page.items for v in m.versions for f in v.files]
    assert any("type=" in u and "format=" in u for u in urls)


def test_enums_lists_types():
    enums = load("civitai_enums.json")
    assert "LORA" in enums["ModelType"] and "Illustrious" in enums["BaseModel"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sell", ["Sell"]),
        ("{Image,RentCivit}", ["Image", "RentCivit"]),
        (["Image", "Rent"], ["Image", "Rent"]),
        ([], []),
        ("None", []),
        (None, []),
        (42, []),
    ],
)
def test_commercial_use_forms(value, expected):
    assert parse_commercial_use(value) == expected


def test_tolerant_parsing_of_odd_values():
    model = parse_model(
        {
            "id": "5", "name": None, "type": "BrandNewType", "mode": "TakenDown",
            "stats": {"downloadCount": None, "rating": "4.5"}, "tags": [{"name": "a"}, "b", 3],
            "creator": None, "newField": {"x": 1},
            "modelVersions": [
                {"id": 9, "files": [{"id": 1, "name": "f.bin", "metadata": None,
                                     "hashes": {"SHA256": "ab", "Weird": "cd"}}],
                 "images": [{"url": "u", "nsfwLevel": "Mature"}], "trainedWords": None},
                "garbage",
            ],
        }
    )  # fmt: skip
    assert (model.id, model.name, model.type, model.mode) == (5, "", "BrandNewType", "TakenDown")
    assert model.tags == ["a", "b"] and model.extra == {"newField": {"x": 1}}
    assert model.stats.download_count is None and model.stats.rating == 4.5
    version = model.versions[0]
    assert len(model.versions) == 1 and version.model_mode == "TakenDown"
    f = version.files[0]
    assert f.primary is False and f.hashes.sha256 == "AB" and f.hashes.extra == {"Weird": "CD"}
    assert version.images[0].nsfw_level == 4 and version.trained_words == []
    assert version.primary_file is f
    empty = parse_page({"items": None, "metadata": {"nextCursor": 200}})
    assert empty.items == [] and empty.next_cursor == "200"
    assert parse_page(None).next_cursor is None
    assert parse_stats({"thumbsUpCount": "12"}).thumbs_up_count == 12
    assert parse_version({}).id == 0
