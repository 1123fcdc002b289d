"""`modelshelf ui` in Chromium: the Library view and Novita browsing, against the fakes.

Library: a models folder with a LoRA Civitai knows in an older version and a file it does
not know; "Scan" shows the counts, "Check for updates" lists the newer version, "Update"
downloads it beside the old one, "Link" names the unknown file. Novita: with a key the
Novita catalogue shows as cards; without one, a sentence says where to set the key.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from browser import WAIT, launch  # noqa: E402
from fakes.civitai import FakeCivitai  # noqa: E402
from fakes.factory import make_file, make_model, make_safetensors, make_version  # noqa: E402
from fakes.novita import FakeNovita  # noqa: E402
from fakes.storage import FakeStorage, link_storage  # noqa: E402
from ui_support import ARTIFACTS, LORA_ID, LORA_VERSION, add_catalogue, run_ui  # noqa: E402

OLD_ID, OLD_V1, OLD_V2 = 8001, 8101, 8102
OLD_DATA = make_safetensors(4096, {"release": "v1"})
NEW_DATA = make_safetensors(4096, {"release": "v2"})


@contextmanager
def environment(**env: str):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def browser_page(url: str):
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(WAIT)
        page.goto(url)
        page.get_by_role("button", name="Search", exact=True).wait_for()
        try:
            yield page
        finally:
            browser.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_library_scan_update_and_link(tmp_path):
    civitai, storage = FakeCivitai(), FakeStorage()
    civitai.start()
    storage.start()
    add_catalogue(civitai, storage)
    old_file = make_file(8201, "ink_old.safetensors", OLD_DATA)
    new_file = make_file(8202, "ink_new.safetensors", NEW_DATA)
    civitai.add_model(
        make_model(
            OLD_ID,
            "Shelf Aging LoRA",
            "LORA",
            versions=[  # newest first, as Civitai lists them
                make_version(OLD_V2, OLD_ID, [new_file], name="v2"),
                make_version(OLD_V1, OLD_ID, [old_file], name="v1"),
            ],
        )
    )
    link_storage(civitai, storage, {8201: OLD_DATA, 8202: NEW_DATA})
    models = tmp_path / "models"
    loras = models / "Lora"
    loras.mkdir(parents=True)
    (loras / "ink_old.safetensors").write_bytes(OLD_DATA)
    (loras / "mystery.safetensors").write_bytes(make_safetensors(2048, {"who": "nobody"}))
    try:
        with (
            environment(
                MODELSHELF_HOME=str(tmp_path / "home"),
                MODELSHELF_CIVITAI_URL=civitai.url,
                MODELSHELF_MAX_RETRY_WAIT="0.05",
                NO_PROXY="127.0.0.1,127.0.0.2,localhost",
            ),
            run_ui(models) as ui,
            browser_page(ui.url) as page,
        ):
            page.get_by_role("tab", name="Library").click()
            page.get_by_role("button", name="Scan", exact=True).click()
            counts = page.locator("#modelshelf_library .modelshelf-counts")
            counts.wait_for()
            page.wait_for_function(
                "() => /2\\s*files · 1\\s*identified · 1\\s*unknown/.test("
                "document.querySelector('#modelshelf_library .modelshelf-counts').textContent)"
            )
            page.get_by_role("button", name="Check for updates").click()
            row = page.locator("#modelshelf_library tr", has_text="Shelf Aging LoRA")
            try:
                row.get_by_role("button", name="Update").wait_for()
            except sync_api.TimeoutError:
                shot(page, "11-library-failed")
                raise AssertionError(page.locator("#modelshelf_root").inner_text()) from None
            assert "v2" in row.inner_text()
            # the "Checking Civitai…" line goes once the check has finished
            page.locator("#modelshelf_library_msg", has_text="Checking Civitai").wait_for(
                state="detached"
            )
            shot(page, "11-library")
            row.get_by_role("button", name="Update").click()
            page.locator("#modelshelf_library_msg").get_by_text("Queued").wait_for()
            page.get_by_role("tab", name="Downloads").click()
            job = page.locator(".modelshelf-job", has_text="ink_new.safetensors")
            job.locator(".modelshelf-job-state", has_text="Done").wait_for()
            assert (loras / "ink_new.safetensors").read_bytes() == NEW_DATA
            assert (loras / "ink_old.safetensors").read_bytes() == OLD_DATA  # kept beside

            page.get_by_role("tab", name="Library").click()
            unknown = page.locator("#modelshelf_library tr", has_text="mystery.safetensors")
            unknown.locator("input.modelshelf-ref").fill(f"{LORA_ID}@{LORA_VERSION}")
            unknown.get_by_role("button", name="Link").click()
            page.locator("#modelshelf_library_msg").get_by_text("Linked").wait_for()
            page.wait_for_function(
                "() => /0\\s*unknown/.test("
                "document.querySelector('#modelshelf_library .modelshelf-counts').textContent)"
            )
            assert (loras / "mystery.json").is_file()
            shot(page, "12-library-linked")
    finally:
        civitai.stop()
        storage.stop()


@pytest.mark.parametrize("with_key", [True, False], ids=["key", "no-key"])
def test_novita_browsing(tmp_path, with_key):
    novita, civitai = FakeNovita(), FakeCivitai()
    novita.start()
    civitai.start()
    env = {
        "MODELSHELF_HOME": str(tmp_path / "home"),
        "MODELSHELF_CIVITAI_URL": civitai.url,
        "MODELSHELF_NOVITA_URL": novita.url,
        "NOVITA_API_KEY": novita.key if with_key else "",
        "NO_PROXY": "127.0.0.1,127.0.0.2,localhost",
    }
    try:
        with environment(**env), run_ui(tmp_path / "models") as ui, browser_page(ui.url) as page:
            page.get_by_role("radio", name="Novita").check()
            page.get_by_role("button", name="Search", exact=True).click()
            if with_key:
                page.wait_for_function(
                    "() => document.querySelectorAll('.modelshelf-card').length > 0"
                )
                names = page.locator(".modelshelf-card-name").all_inner_texts()
                assert len(names) == min(len(novita.models), 24)
                assert novita.requests_to(r"/v3/model")
                shot(page, "13-novita")
            else:
                alert = page.locator("#modelshelf_browse_msg [role=alert]")
                alert.wait_for()
                text = alert.inner_text()
                assert "NOVITA_API_KEY" in text and "settings" in text, text
                assert text.strip().endswith(".")
                assert page.locator(".modelshelf-card").count() == 0
                assert not novita.requests_to(r"/v3/model")  # refused before asking
                shot(page, "14-novita-no-key")
    finally:
        novita.stop()
        civitai.stop()
