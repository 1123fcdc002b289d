"""The "Get models" view's handlers against the fake Civitai and storage, in a real Gradio.

Check renders what the core's plan says (installed / will download / not found / guess);
Download all queues each missing file with the Shelf, so the Downloads view follows it;
bad input is one sentence. The browser test (test_ui_browser_getmodels.py) drives the
same handlers through the page.
"""

from __future__ import annotations

import json
import re
import time

import pytest

gr = pytest.importorskip("gradio")

from resolve_images import png  # noqa: E402
from ui_support import (  # noqa: E402
    BIG_ID,
    LORA_ID,
    VAE_ID,
    add_catalogue,
    add_getmodels_models,
    getmodels_infotext,
)

from modelshelf.gradio_ui.context import UIContext  # noqa: E402
from modelshelf.gradio_ui.getmodels import GetModelsHandlers, list_html  # noqa: E402
from modelshelf.layout import resolve_layout  # noqa: E402
from modelshelf.settings import load_settings  # noqa: E402
from modelshelf.shelf import Shelf  # noqa: E402


@pytest.fixture
def world(fake_civitai, fake_storage, tmp_path):
    add_catalogue(fake_civitai, fake_storage, fillers=0)
    add_getmodels_models(fake_civitai, fake_storage)
    models = tmp_path / "models"
    layout = resolve_layout(models, layout="a1111")
    shelf = Shelf(load_settings({"max_retry_wait": 0.05, "max_retries": 1}), layout)
    try:
        yield GetModelsHandlers(UIContext(shelf=shelf)), shelf, models
    finally:
        shelf.close()


def text_of(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", fragment)).strip()


def rows(body: str) -> dict[str, tuple[str, str]]:
    """name → (state, visible text of the row)."""
    out = {}
    for state, row in re.findall(r'<tr data-state="([^"]+)">(.*?)</tr>', body, re.S):
        name = re.findall(r'class="modelshelf-fname">([^<]+)', row)[0].strip()
        out[name] = (state, text_of(row))
    return out


def wait_jobs_done(shelf, count: int, deadline: float = 60.0):
    """Follow the queue's revisions (a long poll) until ``count`` jobs have finished."""
    end = time.monotonic() + deadline
    revision = 0
    while time.monotonic() < end:
        jobs = shelf.downloads()
        if len(jobs) >= count and all(j.state in ("done", "failed") for j in jobs):
            return jobs
        revision, _ = shelf.download_changes(since=revision, timeout=1.0)
    raise AssertionError([(j.id, j.state, j.error) for j in shelf.downloads()])


def test_check_lists_each_model_with_what_happens_to_it(world, tmp_path):
    h, _, models = world
    image = tmp_path / "picture.png"
    image.write_bytes(png({"parameters": getmodels_infotext()}))
    state, body, message, button, accepted = h.check(str(image), "")
    assert message == "" and accepted == "" and button["interactive"] is True
    found = rows(body)
    assert found["shelf_big"][0] == "download"
    assert "Shelf Big Checkpoint v1" in found["shelf_big"][1]
    assert "by AUTOV2" in found["shelf_big"][1]
    assert f"Will download (3.0 MiB) to {models / 'Stable-diffusion'}" in found["shelf_big"][1]
    assert found["shelf_lora"][0] == "download" and "weight 0.7" in found["shelf_lora"][1]
    assert "by AUTOV3" in found["shelf_lora"][1]
    assert found["mystery_ti"][0] == "not-found"
    assert "Not found: " in found["mystery_ti"][1] and "0123456789" in found["mystery_ti"][1]
    assert found["shelf_vae.safetensors"][0] == "guess"
    assert "Use this guess" in found["shelf_vae.safetensors"][1]
    assert "2 to download" in text_of(body) and "1 guessed" in text_of(body)
    assert [r["state"] for r in state["plan"]["resources"]].count("download") == 2


def test_download_all_queues_the_missing_then_a_recheck_says_installed(world, fake_civitai):
    h, shelf, models = world
    text = getmodels_infotext(vae_by_name=False)
    state, *_ = h.check(None, text)
    state, body, message, button = h.download_all(state, "")
    assert "Queued 2 models" in text_of(message) and "Downloads" in message
    assert button["interactive"] is False
    assert text_of(body).count("Queued") == 2
    jobs = wait_jobs_done(shelf, 2)
    assert {j.state for j in jobs} == {"done"}, [j.error for j in jobs]
    assert (models / "Stable-diffusion" / "shelf_big.safetensors").is_file()
    assert (models / "Lora" / "shelf_lora.safetensors").is_file()
    # a second click queues nothing twice
    _, _, again, _ = h.download_all(state, "")
    assert len(shelf.downloads()) == 2 and "Nothing is missing" in again
    _, body, _, button, _ = h.check(None, text)
    found = rows(body)
    assert found["shelf_big"][0] == "installed"
    assert (
        f"Installed at {models / 'Stable-diffusion' / 'shelf_big.safetensors'}"
        in (found["shelf_big"][1])
    )
    assert found["shelf_lora"][0] == "installed"
    assert found["mystery_ti"][0] == "not-found" and button["interactive"] is False


def test_a_guess_is_downloaded_only_when_ticked(world):
    h, shelf, models = world
    state, body, *_ = h.check(None, getmodels_infotext(unknown_ti=False))
    index = re.findall(r'data-modelshelf-guess="(\d+)"', body)
    assert len(index) == 1
    state, body, _, button = h.download_all(state, "")
    assert len(shelf.downloads()) == 2 and button["interactive"] is True  # the guess is left
    assert rows(body)["shelf_vae.safetensors"][0] == "guess"
    state, body, message, button = h.download_all(state, index[0])
    assert "Queued shelf_vae.safetensors" in text_of(message) and button["interactive"] is False
    jobs = wait_jobs_done(shelf, 3)
    assert {j.state for j in jobs} == {"done"}
    assert (models / "VAE" / "shelf_vae.safetensors").is_file()
    refs = {j.request.ref for j in jobs}
    assert refs == {f"{BIG_ID}@7104", f"{LORA_ID}@7101", f"{VAE_ID}@7105"}


@pytest.mark.parametrize(
    ("what", "data", "expected"),
    [
        ("truncated", png({"parameters": "Steps: 20"})[:60], "truncated"),
        ("not-an-image", b"\xff\xfe\x00garbage\x00" * 10, "not a PNG, JPEG or WebP"),
        ("no-metadata", png({}), "no generation data"),
        ("json-not-workflow", b'{"hello": "world"}', "not a ComfyUI workflow"),
    ],
    ids=lambda value: value if isinstance(value, str) else "data",
)
def test_a_bad_file_is_the_cores_sentence(world, tmp_path, what, data, expected):
    h, shelf, _ = world
    path = tmp_path / f"{what}.png"
    path.write_bytes(data)
    state, body, message, button, _ = h.check(path, None)
    shown = text_of(body)
    assert expected in shown and 'role="alert"' in body and "Traceback" not in body
    assert shown.endswith(".") and button["interactive"] is False
    _, _, message, _ = h.download_all(state, "")
    assert shelf.downloads() == []


def test_nothing_given_and_a_stale_page_are_sentences(world):
    h, shelf, _ = world
    state, body, message, button, _ = h.check(None, "   ")
    assert "paste its parameters" in message and button["interactive"] is False
    _, _, message, _ = h.download_all({}, "")
    assert "out of date" in message and shelf.downloads() == []


def test_a_broken_server_is_a_sentence_per_model(world, fake_civitai):
    h, _, _ = world
    fake_civitai.fail_next(r"/api/v1/model-versions/by-hash", 500, {"error": "boom"}, times=50)
    _, body, message, _, _ = h.check(None, getmodels_infotext(vae_by_name=False))
    assert message == ""
    found = rows(body)
    assert found["shelf_big"][0] == "error"
    assert found["shelf_big"][1].split("Look-up failed: ", 1)[1].endswith(".")
    assert "Traceback" not in body


def test_an_uploaded_file_in_any_gradio_shape(world, tmp_path):
    """4.x hands a path string, 3.41 a temp file object with .name, `binary` gives bytes."""
    h, _, _ = world
    data = png({"parameters": getmodels_infotext(unknown_ti=False, vae_by_name=False)})
    path = tmp_path / "drop.png"
    path.write_bytes(data)

    class TempFile:
        name = str(path)

    for value in (str(path), TempFile(), data, {"path": str(path)}):
        _, body, message, _, _ = h.check(value, "")
        assert set(rows(body)) == {"shelf_big", "shelf_lora"}, value


def test_the_list_escapes_what_a_file_says():
    plan = {
        "resources": [
            {
                "kind": "lora",
                "name": "<img src=x onerror=alert(1)>",
                "state": "not-found",
                "reason": "<b>no</b>",
            }
        ],
        "errors": [],
    }
    body = list_html(plan)
    assert "<img src" not in body and "<b>no" not in body
    assert "&lt;img src=x" in body and "&lt;b&gt;no" in body


def test_a_workflow_json_file_is_read_too(world, tmp_path):
    h, _, _ = world
    workflow = {
        "4": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "shelf_big.safetensors"},
        },
        "9": {"class_type": "VAELoader", "inputs": {"vae_name": "shelf_vae.safetensors"}},
    }
    path = tmp_path / "workflow.json"
    path.write_text(json.dumps(workflow), "utf-8")
    _, body, message, button, _ = h.check(str(path), "")
    found = rows(body)
    assert message == "" and set(found) == {"shelf_big.safetensors", "shelf_vae.safetensors"}
    assert found["shelf_vae.safetensors"][0] == "guess" and button["interactive"] is True
