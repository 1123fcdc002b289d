"""`modelshelf ui` end to end in Debian's Chromium (Playwright), against the fake servers.

A person's path: search, filter, page forward and back, open a model, copy a trained word,
see that an X-rated preview is never requested until revealed, download with progress,
cancel and retry, find the file and its sidecars in place and the card marked
"Installed"; and bad input, which must read as a sentence on the page. Screenshots go to
tests/artifacts/ (MODELSHELF_TEST_ARTIFACTS).
"""

from __future__ import annotations

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from browser import WAIT, launch, require_chromium  # noqa: E402
from fakes.civitai import FakeCivitai  # noqa: E402
from fakes.storage import FakeStorage  # noqa: E402
from ui_support import (  # noqa: E402
    ARTIFACTS,
    BIG_ID,
    LORA_ID,
    add_catalogue,
    image_requests,
    run_ui,
    ui_env,
)

require_chromium()



@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    models = tmp_path_factory.mktemp("models")
    civitai, storage = FakeCivitai(), FakeStorage()
    civitai.start()
    storage.start()
    add_catalogue(civitai, storage)
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
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui.url.rstrip("/"))
        pg = context.new_page()
        pg.set_default_timeout(WAIT)
        pg.goto(ui.url)
        pg.get_by_role("button", name="Search", exact=True).wait_for()
        yield pg
        browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def search(page, text: str) -> None:
    page.get_by_label("Search", exact=True).fill(text)
    page.get_by_role("button", name="Search", exact=True).click()


def card_names(page) -> list[str]:
    return page.locator(".modelshelf-card .modelshelf-card-name").all_inner_texts()


def wait_names(page, predicate) -> list[str]:
    page.wait_for_function("() => document.querySelectorAll('.modelshelf-card').length > 0")
    deadline_names = card_names(page)
    for _ in range(300):
        if predicate(deadline_names):
            return deadline_names
        page.wait_for_timeout(100)
        deadline_names = card_names(page)
    raise AssertionError(f"cards never matched: {deadline_names}")


def test_search_then_next_and_previous_page(page, world):
    civitai, _, _ = world
    search(page, "Shelf")
    first = wait_names(page, lambda names: len(names) == 24)
    page.get_by_text("Page 1").wait_for()
    shot(page, "01-search")
    page.get_by_role("button", name="Next page").click()
    page.get_by_text("Page 2").wait_for()
    second = wait_names(page, lambda names: names and names[0] not in first)
    assert len(second) == 34 - 24
    page.get_by_role("button", name="Previous page").click()
    page.get_by_text("Page 1").wait_for()
    assert wait_names(page, lambda names: names == first) == first
    # the X-rated model's card is there, its image was never asked for
    assert "Shelf Veiled" in first + second
    assert image_requests(civitai, "veiled-x") == []


def test_a_filter_narrows_the_results(page):
    page.get_by_text("Filters").click()
    page.get_by_label("Creator").fill("inkmaker")
    search(page, "")
    names = wait_names(page, lambda n: len(n) == 2)
    assert sorted(names) == ["Shelf Ink LoRA", "Shelf Veiled"]
    page.get_by_label("Creator").fill("")


def test_open_a_model_copy_a_word_and_reveal_on_purpose(page, world):
    civitai, _, ui = world
    search(page, "Shelf Ink")
    wait_names(page, lambda n: n == ["Shelf Ink LoRA"])
    page.locator(f'[data-modelshelf-open^="{LORA_ID}"]').click()
    detail = page.locator("#modelshelf_detail")
    detail.get_by_text("Trained words").wait_for()
    assert detail.locator("script").count() == 0
    link = detail.locator(".modelshelf-desc a")
    assert link.get_attribute("target") == "_blank" and link.get_attribute("onclick") is None
    detail.get_by_role("button", name="shelfstyle").click()
    page.wait_for_function("async () => (await navigator.clipboard.readText()) === 'shelfstyle'")
    # the folder is shown before any download starts
    assert str(ui.models_dir / "Lora") in detail.locator(".modelshelf-target").first.inner_text()
    assert image_requests(civitai, "ink-1") and image_requests(civitai, "ink-2") == []
    shot(page, "02-detail")
    detail.get_by_role("button", name="reveal").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.modelshelf-shot img')]"
        ".some(i => i.src.includes('ink-2/anim=false,width=320') && i.complete)"
    )
    assert [r.path for r in image_requests(civitai, "ink-2")][0].endswith(
        "anim=false,width=320/ink-2.png"
    )


def test_download_shows_progress_and_places_the_file(page, world):
    _, _, ui = world
    page.locator("#modelshelf_files").get_by_role("button", name="Download").click()
    page.locator("#modelshelf_detail_msg").get_by_text("Queued").wait_for()
    page.get_by_role("tab", name="Downloads").click()
    row = page.locator(".modelshelf-job", has_text="shelf_lora.safetensors")
    row.locator(".modelshelf-job-state", has_text="Done").wait_for()
    placed = ui.models_dir / "Lora" / "shelf_lora.safetensors"
    assert placed.is_file()
    assert (placed.parent / "shelf_lora.json").is_file()
    assert (placed.parent / "shelf_lora.civitai.info").is_file()
    assert list(placed.parent.glob("shelf_lora.preview.*"))
    shot(page, "03-downloads")
    page.get_by_role("tab", name="Browse").click()
    page.locator(".modelshelf-card", has_text="Shelf Ink LoRA").get_by_text("Installed").wait_for()
    shot(page, "04-installed")


def test_cancel_and_retry_a_running_download(page, world):
    _, storage, ui = world
    storage.throttle(256 * 1024)
    try:
        search(page, "Big Checkpoint")
        wait_names(page, lambda n: n == ["Shelf Big Checkpoint"])
        page.locator(f'[data-modelshelf-open^="{BIG_ID}"]').click()
        page.locator("#modelshelf_detail").get_by_text("shelf_big.safetensors").wait_for()
        page.locator("#modelshelf_files").get_by_role("button", name="Download").click()
        page.get_by_role("tab", name="Downloads").click()
        row = page.locator(".modelshelf-job", has_text="shelf_big.safetensors")
        row.locator(".modelshelf-job-state", has_text="Downloading").wait_for()
        page.wait_for_function(
            "() => { const f = document.querySelector('.modelshelf-job .modelshelf-bar-fill');"
            " return f && parseFloat(f.style.width) > 0; }"
        )
        shot(page, "05-progress")
        row.get_by_role("button", name="Cancel").click()
        row.locator(".modelshelf-job-state", has_text="Cancelled").wait_for()
        assert not (ui.models_dir / "Stable-diffusion" / "shelf_big.safetensors").exists()
    finally:
        storage.throttle(None)
    row.get_by_role("button", name="Retry").click()
    row.locator(".modelshelf-job-state", has_text="Done").wait_for()
    assert (ui.models_dir / "Stable-diffusion" / "shelf_big.safetensors").is_file()


def test_gated_download_fails_as_a_sentence(page):
    page.get_by_role("tab", name="Browse").click()
    search(page, "7003@7103")
    page.locator("#modelshelf_detail").get_by_text("Early access").first.wait_for()
    page.locator("#modelshelf_files").get_by_role("button", name="Download").click()
    page.get_by_role("tab", name="Downloads").click()
    row = page.locator(".modelshelf-job", has_text="early.safetensors")
    row.locator(".modelshelf-job-state", has_text="Failed").wait_for()
    assert row.locator(".modelshelf-job-error").inner_text().strip().endswith(".")
    page.get_by_role("tab", name="Browse").click()


@pytest.mark.parametrize(
    ("what", "text"),
    [("url-of-another-site", "https://example.org/models/12"), ("garbage", "\x00<b>%%%")],
)
def test_bad_input_is_a_sentence(page, what, text):
    search(page, text)
    msg = page.locator(
        "#modelshelf_detail_msg [role=alert], #modelshelf_browse_msg [role=alert], #modelshelf_grid"
    )
    msg.first.wait_for()
    body = page.locator("body").inner_text()
    assert "Traceback" not in body
    shot(page, f"06-bad-{what}")


@pytest.mark.parametrize(
    ("status", "body"), [(500, {"error": "boom"}), (200, "<html>Cloudflare</html>")]
)
def test_a_broken_server_is_a_sentence_and_no_spinner_stays(page, world, status, body):
    civitai, _, _ = world
    civitai.fail_next(r"/api/v1/models", status, body, times=20)
    try:
        search(page, f"broken {status}")
        alert = page.locator("#modelshelf_browse_msg [role=alert]")
        alert.wait_for()
        assert alert.inner_text().strip().endswith(".")
        page.wait_for_function(
            "() => !document.querySelector('#modelshelf_grid .pending, "
            "#modelshelf_browse_msg .pending, .generating')"
        )
        assert page.get_by_role("button", name="Search", exact=True).is_enabled()
        shot(page, f"07-server-{status}")
    finally:
        civitai.clear_faults()
