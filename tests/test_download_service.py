"""``download REF`` end to end: fake Civitai, fake Novita, fake storage, real folders."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from fakes.civitai import FakeCivitai
from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version
from fakes.httpserver import Reply
from fakes.storage import link_storage

from modelshelf.download.service import download, plan
from modelshelf.errors import (
    DownloadsDisabledError,
    EarlyAccessError,
    IntegrityError,
    NeedsApiKeyError,
    NotFoundError,
    UnsafeFileError,
    UnsupportedTypeError,
)
from modelshelf.layout import resolve_layout
from modelshelf.library.db import LibraryDB
from modelshelf.settings import load_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LORA = make_safetensors(64 * 1024, {"ss_network_dim": "8"})
CKPT = make_safetensors(96 * 1024)


def all_files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def add_catalogue(fake: FakeCivitai) -> None:
    """A LoRA (10), a checkpoint (20), a dangerous file (30), a Poses model (40)."""
    image = [make_image(f"{fake.url}/img/1.png", image_id=1)]
    fake.add_model(
        make_model(
            10,
            "Ink Style",
            "LORA",
            versions=[
                make_version(
                    100,
                    10,
                    [make_file(1000, "ink_style.safetensors", LORA)],
                    name="v1",
                    images=image,
                    trained_words=["inkstyle"],
                )
            ],
        )
    )
    fake.add_model(
        make_model(
            20,
            "Real Checkpoint",
            "Checkpoint",
            versions=[
                make_version(
                    200,
                    20,
                    [make_file(2000, "real_v2.safetensors", CKPT)],
                    name="v2",
                    images=image,
                    model_type="Checkpoint",
                )
            ],
        )
    )
    evil = make_file(3000, "evil.ckpt", b"pickle", format="PickleTensor", pickle="Danger")
    evil_version = make_version(300, 30, [evil], name="v1")
    fake.add_model(make_model(30, "Evil", "LORA", versions=[evil_version]))
    poses = make_file(4000, "p.zip", b"z", format="Other")
    fake.add_model(
        make_model(40, "Poses", "Poses", versions=[make_version(400, 40, [poses], name="v1")])
    )
    fake.add_route("GET", r"/img/.*", lambda req, m: Reply(200, PNG, {"Content-Type": "image/png"}))


@pytest.fixture
def civitai(fake_civitai):
    add_catalogue(fake_civitai)
    return fake_civitai


@pytest.fixture
def settings(civitai):
    return load_settings({"max_retry_wait": 0.05, "max_retries": 1})


def download_requests(fake: FakeCivitai) -> list:
    return fake.requests_to(r"/api/download/models/.*")


# -- no download needed --------------------------------------------------------------------


def test_dry_run_plans_the_layout_path_and_writes_nothing(civitai, settings, tmp_path):
    models = tmp_path / "models"
    result = download(
        "10", settings=settings, layout=resolve_layout(models_dir=models), dry_run=True
    )
    assert result.dry_run and not result.already_installed
    assert result.path == models / "loras" / "ink_style.safetensors"
    assert result.sha256 == hashlib.sha256(LORA).hexdigest().upper()
    assert result.size == len(LORA)
    assert (result.model_id, result.version_id, result.file_id) == (10, 100, 1000)
    assert not models.exists()
    assert download_requests(civitai) == []
    assert not settings.library_path.exists()


def test_targets_follow_the_layout(civitai, settings, tmp_path):
    a1111 = resolve_layout(models_dir=tmp_path / "m", layout="a1111")
    assert plan("20", settings=settings, layout=a1111).path == (
        tmp_path / "m" / "Stable-diffusion" / "real_v2.safetensors"
    )
    assert plan("10@100", settings=settings, layout=a1111).target_dir == tmp_path / "m" / "Lora"
    comfy = resolve_layout(models_dir=tmp_path / "c")
    assert plan("20", settings=settings, layout=comfy).folder == "checkpoints"


def test_danger_scan_is_refused_before_any_download(civitai, settings, tmp_path):
    models = tmp_path / "models"
    with pytest.raises(UnsafeFileError, match="--allow-unsafe"):
        download("30", settings=settings, layout=resolve_layout(models_dir=models))
    assert download_requests(civitai) == [] and not models.exists()
    # allowed explicitly: it is planned (with a warning)
    warnings: list[str] = []
    p = plan(
        "30",
        settings=settings,
        layout=resolve_layout(models_dir=models),
        allow_unsafe=True,
        warn=warnings.append,
    )
    assert p.file.id == 3000 and any("Danger" in w for w in warnings)


def test_type_without_a_folder_goes_to_other_in_a_plain_folder(civitai, settings, tmp_path):
    # DESIGN: a plain --models-dir takes any type into DIR/other
    planned = plan("40", settings=settings, layout=resolve_layout(models_dir=tmp_path / "m"))
    assert planned.target_dir == tmp_path / "m" / "other" and planned.folder == "other"


def test_type_without_a_folder_is_refused_in_a_host(civitai, settings, tmp_path):
    host = tmp_path / "ComfyUI"
    (host / "custom_nodes").mkdir(parents=True)
    with pytest.raises(UnsupportedTypeError) as info:
        download("40", settings=settings, layout=resolve_layout(host_dir=host))
    text = str(info.value)
    assert "'Poses'" in text and "ComfyUI layout" in text and "DIR/other" in text
    assert download_requests(civitai) == []
    assert not (host / "models").exists()


def test_archived_version_without_files(civitai, settings, tmp_path):
    raw = make_model(50, "Old", "LORA", versions=[make_version(500, 50, [], name="v1")])
    raw["mode"] = "Archived"
    civitai.add_model(raw)
    with pytest.raises(NotFoundError, match="archived") as info:
        download("50", settings=settings, layout=resolve_layout(models_dir=tmp_path / "m"))
    assert info.value.exit_code == 3


def test_unknown_model_and_file(civitai, settings, tmp_path):
    layout = resolve_layout(models_dir=tmp_path / "m")
    with pytest.raises(NotFoundError):
        download("999", settings=settings, layout=layout)
    with pytest.raises(NotFoundError, match="no file 1234"):
        download("10", settings=settings, layout=layout, file_id=1234)


def test_already_installed_downloads_nothing(civitai, settings, tmp_path):
    models = tmp_path / "models"
    target = models / "loras" / "ink_style.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(LORA)
    result = download("10", settings=settings, layout=resolve_layout(models_dir=models))
    assert result.already_installed and result.path == target
    assert result.sha256 == hashlib.sha256(LORA).hexdigest().upper()
    assert download_requests(civitai) == []
    with LibraryDB(settings.library_path) as db:  # recorded with its ids all the same
        assert db.get(target).version_id == 100
    assert all_files(models) == {"loras/ink_style.safetensors"}
    # same name, other bytes: not "installed"
    target.write_bytes(LORA[:-1] + b"x")
    again = plan("10", settings=settings, layout=resolve_layout(models_dir=models))
    assert not again.already_installed


# -- Novita --------------------------------------------------------------------------------


def test_novita_public_model_is_its_civitai_version(civitai, fake_novita, tmp_path):
    from fakes.novita import make_novita_model

    fake_novita.add_model(make_novita_model(777001, "InkStyle", civitai_version_id=100))
    settings = load_settings({"max_retry_wait": 0.05})
    p = plan("novita:777001", settings=settings, layout=resolve_layout(models_dir=tmp_path / "m"))
    assert p.provider == "civitai"
    assert (p.version.id, p.file.id, p.model_id) == (100, 1000, 10)
    assert p.path == tmp_path / "m" / "loras" / "ink_style.safetensors"


def test_novita_model_without_url_or_civitai_id_is_refused(fake_novita, tmp_path):
    from fakes.novita import make_novita_model

    fake_novita.add_model(make_novita_model(777002, "Lonely"))
    settings = load_settings({"max_retry_wait": 0.05})
    with pytest.raises(DownloadsDisabledError, match="not a Civitai model"):
        plan("novita:777002", settings=settings, layout=resolve_layout(models_dir=tmp_path / "m"))


def test_novita_private_model_downloads_from_its_url(fake_novita, tmp_path):
    content = make_safetensors(20 * 1024)
    fake_novita.add_private(
        888001, "my-trained-lora", content, cover_url=f"{fake_novita.url}/img/888001.png"
    )
    settings = load_settings({"max_retry_wait": 0.05})
    models = tmp_path / "m"
    result = download("novita:888001", settings=settings, layout=resolve_layout(models_dir=models))
    assert result.path == models / "loras" / "my-trained-lora.safetensors"
    assert result.path.read_bytes() == content
    assert result.sha256 == hashlib.sha256(content).hexdigest().upper()
    file_requests = fake_novita.requests_to(r"/files/.*")
    assert file_requests and all(r.headers.get("Authorization") is None for r in file_requests)
    # second time: already installed (by its AutoV2), nothing fetched
    fake_novita.clear_requests()
    again = download("novita:888001", settings=settings, layout=resolve_layout(models_dir=models))
    assert again.already_installed
    assert fake_novita.requests_to(r"/files/.*") == []


# -- real downloads through the fake storage ----------------------------------------------


@pytest.fixture
def storage(civitai, fake_storage):
    link_storage(civitai, fake_storage, {1000: LORA, 2000: CKPT})
    return fake_storage


@pytest.fixture
def authed(civitai):
    return load_settings(
        {"civitai_token": FakeCivitai.valid_token, "max_retry_wait": 0.05, "max_retries": 1}
    )


def test_download_places_the_file_with_sidecars_and_records_it(civitai, storage, authed, tmp_path):
    host = tmp_path / "webui"
    (host / "models" / "Lora").mkdir(parents=True)
    layout = resolve_layout(models_dir=host / "models", layout="a1111")
    seen: list[tuple[int, int | None]] = []
    result = download(
        "10", settings=authed, layout=layout, on_progress=lambda d, t: seen.append((d, t))
    )
    target = host / "models" / "Lora" / "ink_style.safetensors"
    assert result.path == target and target.read_bytes() == LORA
    assert result.sha256 == hashlib.sha256(LORA).hexdigest().upper()
    assert (result.size, result.model_id, result.version_id, result.file_id) == (
        len(LORA),
        10,
        100,
        1000,
    )
    assert not result.already_installed
    assert seen and seen[-1][0] == len(LORA)
    assert all_files(host) == {
        "models/Lora/ink_style.safetensors",
        "models/Lora/ink_style.json",
        "models/Lora/ink_style.civitai.info",
        "models/Lora/ink_style.preview.png",
    }
    assert sorted(p.name for p in result.sidecars) == sorted(
        ["ink_style.json", "ink_style.civitai.info", "ink_style.preview.png"]
    )
    meta = json.loads((target.parent / "ink_style.json").read_text("utf-8"))
    assert meta["activation text"] == "inkstyle" and meta["modelVersionId"] == 100
    info = json.loads((target.parent / "ink_style.civitai.info").read_text("utf-8"))
    assert info["id"] == 100
    for path in host.rglob("*"):
        assert not path.is_file() or FakeCivitai.valid_token.encode() not in path.read_bytes()
    # the key went to Civitai only, never to the storage host
    endpoint = civitai.requests_to(r"/api/download/models/100")
    assert [r.headers.get("Authorization") for r in endpoint] == [
        f"Bearer {FakeCivitai.valid_token}"
    ]
    assert storage.gets() and all("Authorization" not in r.headers for r in storage.gets())
    with LibraryDB(authed.library_path) as db:
        row = db.get(target)
    assert row is not None and (row.version_id, row.file_id, row.model_id) == (100, 1000, 10)
    assert row.sha256 == result.sha256 and row.folder == "loras"
    # a second run finds it installed and asks nothing of the download endpoint
    again = download("10@100", settings=authed, layout=layout)
    assert again.already_installed and again.path == target
    assert len(civitai.requests_to(r"/api/download/models/100")) == 1
    assert len(again.sidecars) == 3


def test_no_sidecars(civitai, storage, authed, tmp_path):
    models = tmp_path / "m"
    download("20", settings=authed, layout=resolve_layout(models_dir=models), sidecars=False)
    assert all_files(models) == {"checkpoints/real_v2.safetensors"}


def test_a_missing_preview_is_told_and_the_rest_is_placed(civitai, storage, authed, tmp_path):
    civitai.fail_next(r"/img/", 404, times=10)
    models = tmp_path / "m"
    warnings: list[str] = []
    result = download(
        "10", settings=authed, layout=resolve_layout(models_dir=models), warn=warnings.append
    )
    assert result.path.read_bytes() == LORA
    assert all_files(models) == {
        "loras/ink_style.safetensors",
        "loras/ink_style.json",
        "loras/ink_style.civitai.info",
    }
    assert [w for w in warnings if w.startswith("No preview image was saved")], warnings
    assert all(".." not in w for w in warnings)


REFUSALS = [
    ({"early_access_deadline": "2099-01-01T00:00:00Z"}, EarlyAccessError, True, 4),
    ({"require_auth": True}, NeedsApiKeyError, False, 4),
    ({"disabled": True}, DownloadsDisabledError, True, 4),
    ({"archived": True}, NotFoundError, True, 3),  # gone for good
]


@pytest.mark.parametrize(("rule", "error", "with_key", "code"), REFUSALS)
def test_refusals_leave_the_folder_unchanged(
    civitai, storage, tmp_path, rule, error, with_key, code
):
    civitai.download_rules[100] = rule
    token = FakeCivitai.valid_token if with_key else None
    settings = load_settings({"civitai_token": token, "max_retry_wait": 0.05, "max_retries": 1})
    models = tmp_path / "m"
    (models / "loras").mkdir(parents=True)
    (models / "loras" / "mine.safetensors").write_bytes(b"keep")
    with pytest.raises(error) as info:
        download("10", settings=settings, layout=resolve_layout(models_dir=models))
    assert info.value.exit_code == code
    assert all_files(models) == {"loras/mine.safetensors"}
    assert storage.gets() == []
    if token:
        assert token not in str(info.value)


@pytest.mark.parametrize(("rule", "error", "with_key", "code"), REFUSALS)
def test_a_refusal_creates_no_folder(civitai, storage, tmp_path, rule, error, with_key, code):
    civitai.download_rules[100] = rule
    token = FakeCivitai.valid_token if with_key else None
    settings = load_settings({"civitai_token": token, "max_retry_wait": 0.05, "max_retries": 1})
    (tmp_path / "m").mkdir()
    with pytest.raises(error):
        download("10", settings=settings, layout=resolve_layout(models_dir=tmp_path / "m"))
    assert list((tmp_path / "m").iterdir()) == []  # no empty loras/ left behind


def test_corrupt_bytes_are_never_placed(civitai, storage, authed, tmp_path):
    storage.fault("corrupt", times=None)
    models = tmp_path / "m"
    with pytest.raises(IntegrityError) as info:
        download("10", settings=authed, layout=resolve_layout(models_dir=models))
    assert info.value.exit_code == 5
    assert all_files(models) == set()


def test_connection_drop_is_resumed(civitai, storage, authed, tmp_path):
    storage.fault("drop", after=10_000)
    models = tmp_path / "m"
    result = download("10", settings=authed, layout=resolve_layout(models_dir=models))
    assert result.path.read_bytes() == LORA
    ranges = [r.headers.get("Range") for r in storage.gets()]
    assert any(r and not r.startswith("bytes=0-") for r in ranges), ranges
    assert all_files(models) >= {"loras/ink_style.safetensors"}
    assert not any(name.endswith((".part", ".lock")) for name in all_files(models))


def test_cancel_keeps_the_part_and_places_nothing(civitai, storage, authed, tmp_path):
    from modelshelf.errors import UserCancelledError

    storage.throttle(64 * 1024)
    cancel = threading.Event()

    def progress(done, total):
        if done > 0:
            cancel.set()

    models = tmp_path / "m"
    with pytest.raises(UserCancelledError):
        download(
            "10",
            settings=authed,
            layout=resolve_layout(models_dir=models),
            on_progress=progress,
            cancel=cancel,
        )
    assert not (models / "loras" / "ink_style.safetensors").exists()
    assert any(name.endswith(".part") for name in all_files(models))
    storage.throttle(None)
    result = download("10", settings=authed, layout=resolve_layout(models_dir=models))
    assert result.path.read_bytes() == LORA
    assert not any(name.endswith(".part") for name in all_files(models))
