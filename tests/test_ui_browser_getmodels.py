"""The "Get models" view of `modelshelf ui` in Debian's Chromium, against the fake servers.

A person drops a PNG whose A1111 parameters name a checkpoint and a LoRA of the fake
Civitai, an embedding it does not know and a VAE by file name only (a guess): the list
says what is missing, "Download all" (with the guess ticked) queues them, the Downloads
view shows each one Done, and a second "Check" says Installed. A broken file reads as
the core's sentence. Screenshots go to tests/artifacts/ (MODELSHELF_TEST_ARTIFACTS).
"""

from __future__ import annotations

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from browser import WAIT, launch, require_chromium  # noqa: E402
from fakes.civitai import FakeCivitai  # noqa: E402
from fakes.storage import FakeStorage  # noqa: E402
from resolve_images import png  # noqa: E402
from ui_support import (  # noqa: E402
    ARTIFACTS,
    add_catalogue,
    add_getmodels_models,
    getmodels_infotext,
    run_ui,
    ui_env,
)

require_chromium()

FILES = ("shelf_big.safetensors", "shelf_lora.safetensors", "shelf_vae.safetensors")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    models = tmp_path_factory.mktemp("models")
    civitai, storage = FakeCivitai(), FakeStorage()
    civitai.start()
    storage.start()
    add_catalogue(civitai, storage, fillers=0)
    add_getmodels_models(civitai, storage)
    try:
        with run_ui(models, env=ui_env(home, civitai.url)) as ui:
            yield civitai, storage, ui
    finally:
        civitai.stop()
        storage.stop()


@pytest.fixture(scope="module")
def page(world):
    _, _, ui = world
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(WAIT)
        pg.goto(ui.url)
        pg.get_by_role("tab", name="Get models").click()
        pg.get_by_role("button", name="Check", exact=True).wait_for()
        yield pg
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def drop(page, tmp_path, name: str, data: bytes) -> None:
    """Choose a file in the "Image or workflow" box and wait until Gradio has it."""
    path = tmp_path / name
    path.write_bytes(data)
    box = page.locator("#modelshelf_gm_file")
    clear = box.get_by_role("button", name="Clear")
    if clear.count():
        clear.first.click()
    box.locator("input[type=file]").set_input_files(str(path))
    box.get_by_text(name).first.wait_for()
    # uploaded: the file's link points at the server's copy
    box.locator(f"a[download='{name}'][href*='file=']").first.wait_for()


def row(page, name: str):
    return page.locator("#modelshelf_gm_list tr", has_text=name)


def check(page) -> None:
    """Press Check and wait for a new answer (the list is replaced)."""
    page.evaluate(
        "() => { const l = document.querySelector('#modelshelf_gm_list .modelshelf-getmodels');"
        " if (l) l.setAttribute('data-old', '1'); }"
    )
    page.get_by_role("button", name="Check", exact=True).click()
    try:
        page.locator("#modelshelf_gm_list .modelshelf-getmodels:not([data-old])").wait_for()
    except Exception:
        shot(page, "debug")
        raise


def test_drop_an_image_download_all_then_installed(page, world, tmp_path):
    _, _, ui = world
    drop(page, tmp_path, "from-a-friend.png", png({"parameters": getmodels_infotext()}))
    check(page)
    big = row(page, "shelf_big")
    big.get_by_text("Will download (3.0 MiB)").wait_for()
    assert "by AUTOV2" in big.inner_text() and "Shelf Big Checkpoint" in big.inner_text()
    assert "weight 0.7" in row(page, "shelf_lora").inner_text()
    assert "Not found:" in row(page, "mystery_ti").inner_text()
    guess = row(page, "shelf_vae.safetensors")
    assert "Guess" in guess.inner_text()
    shot(page, "20-getmodels-checked")
    guess.get_by_label("Use this guess").check()
    page.get_by_role("button", name="Download all").click()
    page.locator("#modelshelf_gm_msg").get_by_text("Queued 3 models").wait_for()
    assert page.locator("#modelshelf_gm_list").get_by_text("Queued").count() == 3
    assert page.get_by_role("button", name="Download all").is_disabled()
    shot(page, "21-getmodels-queued")
    page.get_by_role("tab", name="Downloads").click()
    for name in FILES:
        job = page.locator(".modelshelf-job", has_text=name)
        job.locator(".modelshelf-job-state", has_text="Done").wait_for()
    shot(page, "22-getmodels-downloads")
    for folder, name in zip(("Stable-diffusion", "Lora", "VAE"), FILES, strict=True):
        assert (ui.models_dir / folder / name).is_file()
    page.get_by_role("tab", name="Get models").click()
    check(page)
    for name in ("shelf_big", "shelf_lora", "shelf_vae.safetensors"):
        row(page, name).get_by_text("Installed at").wait_for()
    assert str(ui.models_dir / "Lora" / "shelf_lora.safetensors") in (
        row(page, "shelf_lora").inner_text()
    )
    assert "Not found:" in row(page, "mystery_ti").inner_text()
    assert page.get_by_role("button", name="Download all").is_disabled()
    shot(page, "23-getmodels-installed")


def test_pasted_parameters_alone_are_enough(page):
    page.locator("#modelshelf_gm_file").get_by_role("button", name="Clear").first.click()
    page.get_by_label("Parameters").fill(getmodels_infotext(unknown_ti=False, vae_by_name=False))
    check(page)
    row(page, "shelf_lora").get_by_text("Installed at").wait_for()
    assert page.locator("#modelshelf_gm_list tr[data-state]").count() == 2
    page.get_by_label("Parameters").fill("")


def test_a_broken_file_is_the_cores_sentence(page, tmp_path):
    drop(page, tmp_path, "cut-short.png", png({"parameters": "Steps: 20"})[:60])
    check(page)
    alert = page.locator("#modelshelf_gm_list [role=alert]")
    alert.wait_for()
    text = alert.inner_text().strip()
    assert "cut-short.png" in text and "truncated" in text and text.endswith(".")
    assert "Traceback" not in page.locator("body").inner_text()
    shot(page, "24-getmodels-bad-file")
