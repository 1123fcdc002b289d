"""The sidebar's real JavaScript in Chromium, on our real routes and the fake Civitai.

The page serves the files of ``WEB_DIRECTORY`` with stand-ins for ComfyUI's ``app`` and
``api`` (tests/data/comfyui_page). Search, open a model, download with progress events,
cancel and retry, drag a card onto the canvas. Screenshots go to the test's tmp folder
(``MODELSHELF_SCREENSHOTS`` to keep them elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from comfyui_web import make_app, serve

playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture
def page(comfy, comfy_catalogue):
    with serve(make_app(comfy, page=True)) as url, playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.goto(url + "/")
            tab.wait_for_function("window.__ready === true")
            yield tab
            assert errors == []
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    default = Path(__file__).resolve().parent / "artifacts"  # beside the Gradio UI's shots
    folder = Path(os.environ.get("MODELSHELF_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_search_open_download_and_drag_onto_the_canvas(page, comfy, shots):
    expect = playwright_api.expect
    assert page.evaluate("window.__app.extensionManager.tabs[0].title") == "Model Shelf"
    page.get_by_role("textbox", name="Search").fill("Ink")
    page.get_by_role("button", name="Search").click()
    card = page.locator(".ms-card", has_text="Ink Style")
    expect(card).to_be_visible()
    expect(card).to_contain_text("LORA")
    page.screenshot(path=str(shots / "comfyui_search.png"))

    # drag the card onto the canvas: our loader node with the reference filled in
    page.evaluate(
        """() => {
          const card = document.querySelector('.ms-card');
          const canvas = document.getElementById('canvas');
          const dt = new DataTransfer();
          card.dispatchEvent(new DragEvent('dragstart', {dataTransfer: dt, bubbles: true}));
          canvas.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true,
            cancelable: true, clientX: 700, clientY: 200}));
          canvas.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true,
            cancelable: true, clientX: 700, clientY: 200}));
        }"""
    )
    nodes = page.evaluate("window.__app.graph._nodes.map(n => [n.type, n.widgets[0].value, n.pos])")
    assert nodes and nodes[0][:2] == ["ModelShelfLoadLora", "10@100"]
    assert nodes[0][2][0] > 200

    card.click()
    detail = page.locator(".ms-detail")
    expect(detail).to_contain_text("Trained words")
    expect(detail).to_contain_text("inkstyle")
    expect(detail.locator(".ms-file")).to_contain_text("ink_style.safetensors")
    page.screenshot(path=str(shots / "comfyui_detail.png"))

    detail.get_by_role("button", name="Download").click()
    job = page.locator(".ms-job", has_text="ink_style.safetensors")
    expect(job.locator(".ms-state")).to_have_text("Done", timeout=20000)
    assert (comfy.models("loras") / "ink_style.safetensors").is_file()
    page.wait_for_function("window.__app.refreshed > 0")  # lists refreshed after the download
    page.screenshot(path=str(shots / "comfyui_done.png"))


def test_download_progress_cancel_and_retry(page, comfy, fake_storage, shots):
    expect = playwright_api.expect
    fake_storage.throttle(256 * 1024)
    page.get_by_role("textbox", name="Search").fill("Big")
    page.get_by_role("button", name="Search").click()
    page.locator(".ms-card", has_text="Big Ckpt").click()
    page.locator(".ms-detail").get_by_role("button", name="Download").click()
    job = page.locator(".ms-job", has_text="big.safetensors")
    expect(job.locator(".ms-state")).to_have_text("Downloading", timeout=15000)
    page.wait_for_function(
        "Number(document.querySelector('.ms-job progress')?.value) > 0", timeout=15000
    )
    page.screenshot(path=str(shots / "comfyui_downloading.png"))
    job.get_by_role("button", name="Cancel").click()
    expect(job.locator(".ms-state")).to_have_text("Cancelled", timeout=15000)
    assert not (comfy.models("checkpoints") / "big.safetensors").exists()
    fake_storage.throttle(None)
    job.get_by_role("button", name="Retry").click()
    expect(job.locator(".ms-state")).to_have_text("Done", timeout=20000)
    assert (comfy.models("checkpoints") / "big.safetensors").is_file()
    page.screenshot(path=str(shots / "comfyui_retried.png"))
