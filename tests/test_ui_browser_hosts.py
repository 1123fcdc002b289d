"""The Model Shelf tab inside a WebUI-like page, in Chromium, under Gradio 4.x and 3.41.2.

tests/a1111_page.py serves the tab as A1111's ``create_ui`` does (its Blocks rendered in a
tab of the page, ``javascript/modelshelf.js`` and ``style.css`` injected into the page);
it runs under this Python's Gradio and under A1111's own Gradio 3.41.2 (``.venvs/gradio3``;
missing locally: skipped, in CI: a failure). A person searches, opens a model, sends its
trained words to the txt2img prompt, downloads the file and watches the queue (the poll:
3.41's ``every=`` loop, 4.x's Timer) reach "Done", and the WebUI's extra-networks refresh
button is clicked for them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from browser import WAIT, launch  # noqa: E402
from fakes.civitai import FakeCivitai  # noqa: E402
from fakes.storage import FakeStorage  # noqa: E402
from ui_support import ARTIFACTS, LORA_ID, TRAINED, add_catalogue, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GRADIO3 = Path(
    os.environ.get("MODELSHELF_GRADIO3_PYTHON", ROOT / ".venvs" / "gradio3" / "bin" / "python")
)


def serve_page(python: Path, data: Path, env: dict[str, str]):
    """Start tests/a1111_page.py; returns (process, url)."""
    port = free_port()
    proc = subprocess.Popen(
        [str(python), str(ROOT / "tests" / "a1111_page.py"), str(data), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if line.startswith("ready "):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(180) or proc.poll() is not None:
        proc.kill()
        raise AssertionError("the WebUI-like page did not start:\n" + "".join(lines[-60:]))
    url = next(line.split()[1] for line in lines if line.startswith("ready "))
    return proc, url


def tab(page, name: str):
    """A tab's button: role "tab" in 4.x, a plain button of the tab bar in 3.41."""
    return (
        page.locator(".tab-nav button, [role=tab]")
        .filter(has_text=re.compile(rf"^\s*{re.escape(name)}\s*$"))
        .first
    )


@pytest.mark.parametrize("gradio", ["this", "3.41"])
def test_the_tab_in_a_webui_page(gradio, tmp_path):
    python = Path(sys.executable)
    if gradio == "3.41":
        if not GRADIO3.exists():
            if os.environ.get("CI"):
                raise AssertionError(f"{GRADIO3} is missing: run tests/env/setup.sh")
            pytest.skip(f"no Gradio 3.41 environment at {GRADIO3}")
        python = GRADIO3
    civitai, storage = FakeCivitai(), FakeStorage()
    civitai.start()
    storage.start()
    add_catalogue(civitai, storage)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        PYTHONPATH=str(ROOT),
        MODELSHELF_HOME=str(tmp_path / "home"),
        MODELSHELF_CIVITAI_URL=civitai.url,
        NO_PROXY="127.0.0.1,127.0.0.2,localhost",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    data = tmp_path / "webui"
    proc, url = serve_page(python, data, env)
    try:
        with sync_api.sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(WAIT)
            page.goto(url)
            tab(page, "Model Shelf").click()
            page.get_by_label("Search", exact=True).fill("Shelf Ink")
            page.get_by_role("button", name="Search", exact=True).click()
            page.locator(f'[data-modelshelf-open^="{LORA_ID}"]').click()
            detail = page.locator("#modelshelf_detail")
            detail.get_by_role("button", name="Send to txt2img").click()
            page.wait_for_function(
                "(w) => document.querySelector('#txt2img_prompt textarea').value === w",
                arg=", ".join(TRAINED),
            )
            page.locator("#modelshelf_files").get_by_role("button", name="Download").click()
            tab(page, "Downloads").click()
            row = page.locator(".modelshelf-job", has_text="shelf_lora.safetensors")
            row.locator(".modelshelf-job-state", has_text="Done").wait_for()
            # the download's end made the page click the WebUI's extra-networks refresh
            page.wait_for_function(
                "() => Number(document.querySelector('#refresh_count input').value) > 0"
            )
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = "gradio3" if gradio == "3.41" else "gradio4"
            page.screenshot(path=str(ARTIFACTS / f"10-webui-{name}.png"), full_page=True)
            browser.close()
        assert (data / "models" / "Lora" / "shelf_lora.safetensors").is_file()
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        civitai.stop()
        storage.stop()
