"""Resolving what images and workflows name against the fake Civitai, and downloading it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from fakes.factory import file_hashes, make_file, make_model, make_safetensors, make_version
from fakes.storage import link_storage
from resolve_images import INFOTEXT, png, with_user_comment

from modelshelf.library.db import LibraryDB
from modelshelf.resolve import download_missing, plan_for_files
from modelshelf.settings import load_settings

CKPT = make_safetensors(40 * 1024)
LORA = make_safetensors(8 * 1024, {"ss_network_dim": "4"})
LYCO = make_safetensors(9 * 1024, {"ss_network_dim": "2"})
VAE = make_safetensors(12 * 1024)
TI = make_safetensors(2 * 1024)
BLOBS = {2000: CKPT, 1000: LORA, 1100: LYCO, 4000: VAE, 3000: TI}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest().upper()


def infotext() -> str:
    return INFOTEXT.format(
        ckpt=sha(CKPT)[:10].lower(),
        vae=sha(VAE)[:10].lower(),
        lora=file_hashes(LORA)["AutoV3"].lower(),
        lyco=file_hashes(LYCO)["AutoV3"].lower(),
        ti=sha(TI)[:12].lower(),
    )


def catalogue(fake) -> None:
    def add(model_id, version_id, file_id, name, data, model_type, file_type="Model"):
        f = make_file(file_id, name, data, type=file_type)
        v = make_version(version_id, model_id, [f], name="v1", model_type=model_type, images=[])
        fake.add_model(make_model(model_id, name.split(".")[0].title(), model_type, versions=[v]))

    add(20, 200, 2000, "boleromix_XL_V1.3.safetensors", CKPT, "Checkpoint")
    add(10, 100, 1000, "add-detail-xl.safetensors", LORA, "LORA")
    add(11, 110, 1100, "inkwash.safetensors", LYCO, "LoCon")
    add(40, 400, 4000, "sdxl_vae.safetensors", VAE, "VAE")
    add(30, 300, 3000, "negativeXL_D.safetensors", TI, "TextualInversion")


@pytest.fixture
def civitai(fake_civitai, fake_storage):
    catalogue(fake_civitai)
    link_storage(fake_civitai, fake_storage, BLOBS)
    fake_civitai.clear_requests()
    return fake_civitai


def api_calls(fake):
    return [(r.method, r.path) for r in fake.requests if r.path.startswith("/api/v1/")]


def settings_for(fake):
    return load_settings({"civitai_url": fake.url})


def states(plan):
    return {i.resolved.resource.name: (i.state, i.resolved.how) for i in plan.items}


def test_a1111_png_resolves_each_kind_by_its_hash(civitai, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(png({"parameters": infotext()}))
    plan = plan_for_files([image], settings=settings_for(civitai))
    assert states(plan) == {
        "boleromix_XL_V1.3": ("download", "autov2"),
        "add-detail-xl": ("download", "autov3"),
        "inkwash": ("download", "autov3"),
        "sdxl_vae.safetensors": ("download", "autov2"),
        "negativeXL_D": ("download", "autov2"),  # TI hashes: 12 hex of SHA256 → its AutoV2
    }
    calls = api_calls(civitai)
    assert len(calls) == 5 and all(
        p.startswith("/api/v1/model-versions/by-hash/") for _m, p in calls
    )
    by_name = {i.resolved.resource.name: i for i in plan.items}
    assert by_name["add-detail-xl"].resolved.version.id == 100
    assert by_name["add-detail-xl"].resolved.resource.weight == 0.8
    assert by_name["negativeXL_D"].size == len(TI)
    assert by_name["boleromix_XL_V1.3"].ref == "20@200"

    civitai.clear_requests()  # the response cache knows them all now: no HTTP at all
    again = plan_for_files([image], settings=settings_for(civitai))
    assert states(again) == states(plan) and api_calls(civitai) == []


def test_library_answers_installed_without_api_and_flags_same_name_other_file(civitai, tmp_path):
    settings = settings_for(civitai)
    lora_dir = tmp_path / "models" / "loras"
    lora_dir.mkdir(parents=True)
    installed = lora_dir / "whatever_name.safetensors"
    installed.write_bytes(LORA)
    impostor = lora_dir / "inkwash.safetensors"
    impostor.write_bytes(b"not the same file" * 100)
    with LibraryDB(settings.library_path) as db:
        for path, data in ((installed, LORA), (impostor, impostor.read_bytes())):
            st = path.stat()
            db.upsert_file(
                path,
                size=st.st_size,
                mtime=st.st_mtime_ns,
                sha256=sha(data),
                autov3=file_hashes(data).get("AutoV3"),
                folder="loras",
            )
    image = tmp_path / "a.jpg"
    image.write_bytes(with_user_comment("JPEG", infotext()))
    plan = plan_for_files([image], settings=settings)
    by_name = {i.resolved.resource.name: i for i in plan.items}
    lora = by_name["add-detail-xl"]
    assert lora.state == "installed" and lora.resolved.installed_at == [installed]
    assert lora.line().endswith(f"installed at {installed}")
    ink = by_name["inkwash"]
    assert ink.state == "download" and ink.resolved.conflict == impostor
    assert "a different file with this name" in ink.line()
    hashes_asked = [p.rsplit("/", 1)[1] for _m, p in api_calls(civitai)]
    assert file_hashes(LORA)["AutoV3"] not in hashes_asked and len(hashes_asked) == 4


def test_several_sha256_go_in_one_bulk_call_and_airs_in_one_models_call(civitai):
    workflow = {
        "nodes": [
            {
                "id": i,
                "type": "LoraLoader",
                "widgets_values": [name, 1, 1],
                "properties": {"models": [{"name": name, "hash": sha(data), "directory": "loras"}]},
            }
            for i, (name, data) in enumerate(
                [("a.safetensors", LORA), ("b.safetensors", LYCO), ("c.safetensors", VAE)]
            )
        ]
        + [
            {"id": 9, "type": "ModelShelfLoadCheckpoint", "widgets_values": [air]}
            for air in (
                "urn:air:sdxl:checkpoint:civitai:20@200",
                "urn:air:sdxl:embedding:civitai:30@300",
            )
        ]
    }
    plan = plan_for_files([workflow], settings=settings_for(civitai))
    assert sorted(api_calls(civitai)) == [
        ("GET", "/api/v1/models"),
        ("POST", "/api/v1/model-versions/by-hash"),
    ]
    got = {i.resolved.version_id: (i.state, i.resolved.how) for i in plan.items}
    assert got == {
        100: ("download", "sha256"),
        110: ("download", "sha256"),
        400: ("download", "sha256"),
        200: ("download", "air"),
        300: ("download", "air"),
    }


def test_bare_file_names_are_guesses_and_unknown_hashes_say_why(civitai):
    text = (
        "x <lora:add-detail-xl:1>\nSteps: 20, Model: mystery, Model hash: 0123456789, "
        'Lora hashes: "add-detail-xl: 000000000000"'
    )
    workflow = {"4": {"class_type": "VAELoader", "inputs": {"vae_name": "sdxl_vae.safetensors"}}}
    plan = plan_for_files([text, workflow], settings=settings_for(civitai))
    by_name = {i.resolved.resource.name: i for i in plan.items}
    assert by_name["mystery"].state == "not-found"
    assert "Civitai" in by_name["mystery"].line() and "0123456789" in by_name["mystery"].line()
    vae = by_name["sdxl_vae.safetensors"]
    assert (vae.state, vae.resolved.how, vae.resolved.confidence) == (
        "guess",
        "name-search",
        "guess",
    )
    assert vae.resolved.version.id == 400
    assert plan.to_download() == [] and len(plan.to_download(accept_guesses=True)) == 1


def test_download_missing_through_the_shelf_into_comfyui(civitai, tmp_path):
    from modelshelf.layout import resolve_layout
    from modelshelf.shelf import Shelf

    settings = settings_for(civitai)
    layout = resolve_layout(models_dir=tmp_path / "models", layout="comfyui")
    image = tmp_path / "a.webp"
    image.write_bytes(with_user_comment("WEBP", infotext()))
    seen = []
    with Shelf(settings, layout) as shelf:
        plan = plan_for_files(
            [image],
            settings=settings,
            layout=layout,
            provider=shelf.provider("civitai"),
            library=shelf.library,
        )
        outcomes = download_missing(
            plan, shelf.download, on_progress=lambda d, t: seen.append((d, t))
        )
    assert all(o.error is None for o in outcomes) and len(outcomes) == 5
    models = tmp_path / "models"
    for folder, name, data in [
        ("checkpoints", "boleromix_XL_V1.3.safetensors", CKPT),
        ("loras", "add-detail-xl.safetensors", LORA),
        ("loras", "inkwash.safetensors", LYCO),
        ("vae", "sdxl_vae.safetensors", VAE),
        ("embeddings", "negativeXL_D.safetensors", TI),
    ]:
        assert (models / folder / name).read_bytes() == data
    total = sum(len(d) for d in BLOBS.values())
    assert seen[-1][0] == seen[-1][1] and abs(seen[-1][1] - total) < 8
    assert all(b[0] <= a[0] for a, b in zip(seen[1:], seen[:-1], strict=True))  # never goes back
    assert plan.complete
    again = plan_for_files([image], settings=settings, layout=layout)
    assert {i.state for i in again.items} == {"installed"}


# -- the command line ------------------------------------------------------------------


@pytest.fixture
def cli(civitai, run_cli):
    """``cli(*args, stdin="")``: ``modelshelf resolve ARGS`` in-process against the fake."""
    env = {"MODELSHELF_CIVITAI_URL": civitai.url}
    return lambda *args, stdin="": run_cli("resolve", *args, env=env, stdin=stdin)


def a1111_tree(root: Path) -> Path:
    (root / "modules").mkdir(parents=True)
    (root / "webui.py").write_text("# A1111\n")
    return root


def test_cli_downloads_into_an_a1111_tree_then_reports_installed(tmp_path, cli):
    host = a1111_tree(tmp_path / "webui")
    image = tmp_path / "a.png"
    image.write_bytes(png({"parameters": infotext()}))
    listing = cli(str(image), "--host-dir", str(host))
    assert listing.code == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert any(
        line.startswith("lora")
        and "add-detail-xl" in line
        and "weight 0.8" in line
        and "by AUTOV3" in line
        and f"will download (8.1 KiB) to {host / 'models' / 'Lora'}" in line
        for line in lines
    ), listing.stdout
    assert "5 to download" in lines[-1]

    done = cli(str(image), "--host-dir", str(host), "--download", "--json")
    assert done.code == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["complete"] is True and doc["missing"] == []
    assert {d["ok"] for d in doc["downloads"]} == {True} and len(doc["downloads"]) == 5
    assert (
        host / "models" / "Stable-diffusion" / "boleromix_XL_V1.3.safetensors"
    ).read_bytes() == CKPT
    assert (host / "embeddings" / "negativeXL_D.safetensors").read_bytes() == TI
    assert (host / "models" / "VAE" / "sdxl_vae.safetensors").read_bytes() == VAE
    assert (host / "models" / "Lora" / "add-detail-xl.json").is_file()  # sidecars too

    again = cli(str(image), "--host-dir", str(host))
    assert again.code == 0
    assert "5 of 5 installed" in again.stdout.splitlines()[-1]


def test_cli_partial_result_exits_non_zero_and_names_what_is_missing(tmp_path, cli):
    text = (
        "x <lora:add-detail-xl:0.5>\nSteps: 20, Model: mystery, Model hash: 0123456789, "
        f'Lora hashes: "add-detail-xl: {file_hashes(LORA)["AutoV3"]}"'
    )
    proc = cli("-", "--models-dir", str(tmp_path / "m"), "--download", stdin=text)
    assert proc.code == 3, proc.stderr
    assert "missing: mystery" in proc.stdout.splitlines()[-1]
    assert (tmp_path / "m" / "loras" / "add-detail-xl.safetensors").read_bytes() == LORA


def test_cli_bad_file_is_one_sentence(tmp_path, cli):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    proc = cli(str(bad))
    assert proc.code == 2 and proc.stdout == ""
    assert proc.stderr.startswith("modelshelf: ") and len(proc.stderr.splitlines()) == 1
    assert "Traceback" not in proc.stderr
