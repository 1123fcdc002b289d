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
from browser import launch, require_chromium
from comfyui_web import make_app, serve

playwright_api = pytest.importorskip("playwright.sync_api")
require_chromium()


@pytest.fixture
def page(comfy, comfy_catalogue):
    with serve(make_app(comfy, page=True)) as url, playwright_api.sync_playwright() as p:
        browser = launch(p)
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


# -- Missing models ---------------------------------------------------------------------
def _add_nodes(page, nodes: list[dict]) -> None:
    """Put ComfyUI nodes on the stand-in canvas (no graph-loaded hook: the person built it)."""
    page.evaluate(
        """(nodes) => {
          for (const d of nodes) {
            const node = window.LiteGraph.createNode(d.type);
            node.widgets = d.values.map((value, i) => ({name: `w${i}`, value}));
            node.properties = d.properties || {};
            window.__app.graph.add(node);
          }
        }""",
        nodes,
    )


def test_missing_models_check_workflow_and_download_all(page, comfy, fake_storage, shots):
    import hashlib

    from comfyui_catalogue import CKPT
    from comfyui_stubs import pack_module

    expect = playwright_api.expect
    pack_module("nodes.service").get_shelf().download("10@100")  # the LoRA is installed
    sha = hashlib.sha256(CKPT).hexdigest()
    _add_nodes(
        page,
        [
            {
                "type": "CheckpointLoaderSimple",
                "values": ["real_v2.safetensors"],
                "properties": {
                    "models": [
                        {
                            "name": "real_v2.safetensors",
                            "hash": sha,
                            "hash_type": "SHA256",
                            "directory": "checkpoints",
                        }
                    ]
                },
            },
            {"type": "LoraLoader", "values": ["ink_style.safetensors", 0.8, 1]},
            {"type": "CheckpointLoaderSimple", "values": ["big.safetensors"]},
            {"type": "VAELoader", "values": ["mystery_vae.safetensors"]},
        ],
    )
    section = page.locator(".ms-missing")
    section.get_by_role("button", name="Check workflow").click()
    rows = section.locator(".ms-item")
    expect(rows).to_have_count(4)

    def badge(name: str):
        return section.locator(".ms-item", has_text=name).locator(".ms-badge")

    expect(badge("real_v2.safetensors")).to_have_text("Missing")
    expect(badge("ink_style.safetensors")).to_have_text("Installed")
    expect(badge("big.safetensors")).to_have_text("Guess")
    expect(badge("mystery_vae.safetensors")).to_have_text("Not found")
    expect(section.locator(".ms-item", has_text="real_v2")).to_contain_text("by SHA256")
    expect(section.locator(".ms-item", has_text="real_v2")).to_contain_text(
        "to checkpoints/real_v2.safetensors"
    )
    expect(section.locator(".ms-count")).to_have_text("3")
    page.screenshot(path=str(shots / "comfyui_missing_list.png"))

    # tick the guess too; throttled so the progress shows
    fake_storage.throttle(1024 * 1024)
    section.locator(".ms-item", has_text="big.safetensors").get_by_role(
        "checkbox", name="Download this guess"
    ).check()
    assert page.evaluate("window.__app.refreshed") == 0
    section.get_by_role("button", name="Download all").click()
    big = section.locator(".ms-item", has_text="big.safetensors")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.ms-item')].some(r =>
             r.textContent.includes('big.safetensors') &&
             Number(r.querySelector('progress')?.value) > 0)""",
        timeout=15000,
    )
    expect(big.locator(".ms-state")).to_have_text("Downloading")
    expect(page.locator(".ms-downloads .ms-job")).to_have_count(2)  # in the Downloads list too
    page.screenshot(path=str(shots / "comfyui_missing_downloading.png"))

    # all ended: lists refreshed, checked again, the three now installed
    expect(section.locator(".ms-missing-status")).to_have_text(
        "1 model not installed.", timeout=30000
    )
    assert page.evaluate("window.__app.refreshed") > 0
    for name in ("real_v2.safetensors", "big.safetensors", "ink_style.safetensors"):
        expect(badge(name)).to_have_text("Installed")
    expect(section.locator(".ms-count")).to_have_text("1")
    assert (comfy.models("checkpoints") / "real_v2.safetensors").read_bytes() == CKPT
    assert (comfy.models("checkpoints") / "big.safetensors").is_file()
    labels = page.locator(".ms-downloads .ms-job .ms-state").all_text_contents()
    assert labels == ["Done", "Done"]
    page.screenshot(path=str(shots / "comfyui_missing_done.png"))


def test_an_opened_workflow_with_our_nodes_is_checked_at_once(page, comfy, shots):
    expect = playwright_api.expect
    page.evaluate(
        """() => window.__app.loadGraphData({nodes: [
             {id: 1, type: "ModelShelfLoadVae", widgets_values: ["40@400"]},
             {id: 2, type: "ModelShelfLoadLora", widgets_values: ["10@100", 1, 1]}]})"""
    )
    section = page.locator(".ms-missing")
    expect(section.locator(".ms-count")).to_have_text("2")
    expect(section.locator(".ms-item .ms-badge")).to_have_text(["Missing", "Missing"])
    assert page.evaluate("window.__app.extensionManager.tabs[0].iconBadge()") == "2"
    toasts = page.evaluate("window.__app.toasts.map(t => t.detail)")
    assert any("needs 2 models" in t for t in toasts), toasts
    page.screenshot(path=str(shots / "comfyui_missing_opened.png"))

    # a workflow without our nodes: nothing checked, the old list goes
    page.evaluate(
        """() => window.__app.loadGraphData({nodes: [
             {id: 1, type: "CheckpointLoaderSimple", widgets_values: ["x.safetensors"]}]})"""
    )
    expect(section.locator(".ms-item")).to_have_count(0)
    expect(section.locator(".ms-count")).to_be_hidden()
    assert page.evaluate("window.__app.extensionManager.tabs[0].iconBadge()") is None


def test_an_image_dropped_on_the_sidebar_is_checked(page, comfy, shots):
    import base64
    import hashlib
    import json

    from comfyui_catalogue import CKPT
    from resolve_images import png

    expect = playwright_api.expect

    text = (
        "portrait\nSteps: 20, Sampler: Euler, "
        f"Model hash: {hashlib.sha256(CKPT).hexdigest()[:10]}, Model: real_v2"
    )
    data = base64.b64encode(png({"parameters": text})).decode()
    dropped = page.evaluate(
        """(data) => {
          let seen = 0;  // ComfyUI's own document drop handler must not get it
          document.addEventListener('drop', () => { seen += 1; });
          const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
          const dt = new DataTransfer();
          dt.items.add(new File([bytes], 'found.png', {type: 'image/png'}));
          const zone = document.querySelector('.ms-drop');
          const init = {dataTransfer: dt, bubbles: true, cancelable: true};
          zone.dispatchEvent(new DragEvent('dragover', init));
          zone.dispatchEvent(new DragEvent('drop', init));
          return seen;
        }""",
        data,
    )
    assert dropped == 0
    section = page.locator(".ms-missing")
    row = section.locator(".ms-item")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("real_v2")
    expect(row).to_contain_text("Real Checkpoint")
    expect(row).to_contain_text("by AUTOV2")
    expect(row.locator(".ms-badge")).to_have_text("Missing")
    page.screenshot(path=str(shots / "comfyui_missing_dropped.png"))

    # a file chosen with the picker; JSON that is not a workflow: one sentence
    section.locator("input[type=file]").set_input_files(
        files=[
            {
                "name": "notes.json",
                "mimeType": "application/json",
                "buffer": json.dumps({"hello": 1}).encode(),
            }
        ]
    )
    expect(section.locator(".ms-missing-status")).to_contain_text(
        "That file is JSON but not a ComfyUI workflow"
    )
    section.locator("input[type=file]").set_input_files(
        files=[
            {
                "name": "wf.json",
                "mimeType": "application/json",
                "buffer": json.dumps(
                    {
                        "nodes": [
                            {"id": 1, "type": "ModelShelfLoadVae", "widgets_values": ["40@400"]}
                        ]
                    }
                ).encode(),
            }
        ]
    )
    expect(section.locator(".ms-item")).to_contain_text("Clear VAE")
