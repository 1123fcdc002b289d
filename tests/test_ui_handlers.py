"""The Gradio UI's handlers against the fake Civitai and storage, in a real Gradio install.

The browser tests (test_ui_browser.py) drive the same handlers through the page; these
check what each handler returns, including every failure as one sentence.
"""

from __future__ import annotations

import json
import re

import pytest

gr = pytest.importorskip("gradio")

from ui_support import (  # noqa: E402
    LORA_FILE,
    LORA_ID,
    LORA_VERSION,
    NSFW_ID,
    TRAINED,
    add_catalogue,
    image_url,
)

from modelshelf.gradio_ui.browse import BrowseHandlers, BrowseState, DetailState  # noqa: E402
from modelshelf.gradio_ui.context import UIContext  # noqa: E402
from modelshelf.gradio_ui.downloads import DownloadHandlers  # noqa: E402
from modelshelf.gradio_ui.library import LibraryHandlers  # noqa: E402
from modelshelf.layout import resolve_layout  # noqa: E402
from modelshelf.settings import load_settings  # noqa: E402
from modelshelf.shelf import Shelf  # noqa: E402


@pytest.fixture
def ctx(fake_civitai, fake_storage, tmp_path):
    add_catalogue(fake_civitai, fake_storage)
    layout = resolve_layout(tmp_path / "models", layout="a1111")
    shelf = Shelf(load_settings({"max_retry_wait": 0.05, "max_retries": 1}), layout)
    try:
        yield UIContext(shelf=shelf, page_size=20)
    finally:
        shelf.close()


def payload(text: str) -> dict:
    """The JSON a poll put into its hidden button for the page script."""
    return json.loads(text)


def is_update(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update"


def search(h: BrowseHandlers, text: str = "", **filters):
    return h.search(BrowseState(), "civitai", text, filters)


def test_search_pages_forward_and_back_by_cursor(ctx, fake_civitai):
    h = BrowseHandlers(ctx)
    state, grid, label, prev, nxt, msg = search(h, "Shelf")
    assert msg == ""
    first = re.findall(r'data-modelshelf-open="([^"]+)"', grid)
    assert len(first) == 20 and label == "Page 1"
    assert prev["interactive"] is False and nxt["interactive"] is True
    state, grid2, label2, prev, _, _ = h.page(state, +1)
    second = re.findall(r'data-modelshelf-open="([^"]+)"', grid2)
    assert label2 == "Page 2" and second and not set(second) & set(first)
    assert prev["interactive"] is True
    state, grid1, label1, *_ = h.page(state, -1)
    assert label1 == "Page 1"
    assert re.findall(r'data-modelshelf-open="([^"]+)"', grid1) == first
    sent = [r.param("cursor") for r in fake_civitai.requests_to(r"/api/v1/models$")]
    assert sent[0] is None and sent[1]  # page 2 was asked by cursor, never by page number
    assert all(r.param("page") is None for r in fake_civitai.requests_to(r"/api/v1/models$"))


def test_filters_reach_the_query(ctx, fake_civitai):
    h = BrowseHandlers(ctx)
    search(
        h,
        "ink",
        types=["LORA"],
        base_models=["SD 1.5"],
        sort="Newest",
        period="Month",
        tag="style",
        creator="inkmaker",
        primary_only=True,
        no_credit=True,
        commercial="Image",
        nsfw="R",
    )
    req = fake_civitai.requests_to(r"/api/v1/models$")[-1]
    assert req.params("types") == ["LORA"] and req.params("baseModels") == ["SD 1.5"]
    assert req.param("sort") == "Newest" and req.param("period") == "Month"
    assert req.param("tag") == "style" and req.param("username") == "inkmaker"
    assert req.param("primaryFileOnly") == "true"  # licence flags are filtered by the core
    assert req.param("nsfw") == "true"


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {"error": "boom"}), (200, "<html><body>Cloudflare</body></html>")],
)
def test_a_broken_server_is_a_sentence(ctx, fake_civitai, status, body):
    fake_civitai.fail_next(r"/api/v1/models", status, body, times=10)
    state, grid, *_, msg = search(BrowseHandlers(ctx), "ink")
    assert is_update(grid)  # the grid keeps what it showed
    text = re.sub("<[^>]+>", "", msg)
    assert 'role="alert"' in msg and "Traceback" not in msg and text.strip().endswith(".")


def test_a_pasted_url_of_another_site_is_a_sentence(ctx):
    h = BrowseHandlers(ctx)
    out = h.search(BrowseState(), "civitai", "https://example.org/models/12", {})
    assert out[-1] == "ref"
    opened = h.open("https://example.org/models/12", "civitai", "PG-13", False)
    assert "Traceback" not in opened[-1] and "alert" in opened[-1]
    assert "civitai" in opened[-1].lower()


def test_detail_sanitises_and_hides_what_is_above_the_nsfw_limit(ctx, fake_civitai):
    h = BrowseHandlers(ctx)
    detail, box, header, version, words, files, gallery, msg = h.open(
        f"{LORA_ID}", "civitai", "PG-13", True
    )
    assert msg == "" and box["visible"] is True
    assert "<script" not in header and "onclick" not in header and 'target="_blank"' in header
    for word in TRAINED:
        assert f'data-modelshelf-copy="{word}"' in words
    assert 'data-modelshelf-send="txt2img"' in words  # inside a WebUI only
    assert f'data-modelshelf-file="{LORA_FILE}"' in files and ">Download<" in files
    assert str(ctx.shelf.layout.folders["loras"][0]) in files  # the folder, before starting
    hidden = image_url(fake_civitai, "ink-2")
    assert "ink-1" in gallery and "ink-2" not in gallery and hidden not in gallery
    assert "data:image/png;base64" in gallery and 'data-modelshelf-reveal="1"' in gallery
    gallery2, msg2 = h.reveal(detail, "1")
    assert "ink-2/anim=false,width=320" in gallery2 and msg2 == ""
    assert version["value"] == LORA_VERSION


def test_cards_of_an_x_rated_model_carry_no_image_url(ctx, fake_civitai):
    _, grid, *_ = search(BrowseHandlers(ctx), "Veiled", nsfw="PG-13")
    assert f'data-modelshelf-open="{NSFW_ID}' in grid
    assert "veiled-x" not in grid and "modelshelf-blur" in grid


def test_download_runs_in_the_queue_and_the_badge_turns_installed(ctx, fake_civitai):
    h = BrowseHandlers(ctx)
    downloads = DownloadHandlers(ctx)
    revision, block = downloads.full()
    assert payload(block)["jobs"] == []
    msg = h.download(f"{LORA_ID}@{LORA_VERSION}|{LORA_FILE}")
    assert "Queued" in msg
    job = ctx.shelf.downloads()[-1]
    done = ctx.shelf.wait_for_download(job.id, timeout=60)
    assert done.state == "done", done.error
    placed = ctx.shelf.layout.folders["loras"][0] / "shelf_lora.safetensors"
    assert placed.is_file()
    assert (placed.parent / "shelf_lora.json").is_file()
    assert (placed.parent / "shelf_lora.civitai.info").is_file()
    revision2, block2 = downloads.tick(revision, wait=0)
    rows = payload(block2)["jobs"]
    assert rows[-1]["state"] == "done" and rows[-1]["label"] == "Done"
    assert revision2["jobs"] > revision["jobs"]
    assert is_update(downloads.tick(revision2, wait=0.3)[1])  # nothing new: no page update
    _, grid, *_ = search(h, "Shelf Ink")
    assert ">Installed<" in grid


def test_a_gated_download_fails_as_a_sentence_and_can_be_retried(ctx):
    downloads = DownloadHandlers(ctx)
    BrowseHandlers(ctx).download("7003@7103|7203")
    job = ctx.shelf.downloads()[-1]
    failed = ctx.shelf.wait_for_download(job.id, timeout=60)
    assert failed.state == "failed" and failed.error and "\n" not in failed.error
    assert downloads.action(f"retry:{job.id}") == ""
    assert "alert" in downloads.action("explode:1")


def test_bad_download_arguments_are_sentences(ctx):
    h = BrowseHandlers(ctx)
    assert "alert" in h.download("|")
    assert "alert" in h.download("https://evil.example/x|1")


def test_library_scan_counts_and_links_an_unknown_file(ctx, tmp_path):
    loras = ctx.shelf.layout.folders["loras"][0]
    loras.mkdir(parents=True)
    (loras / "mystery.safetensors").write_bytes(b"not on civitai" * 10)
    lib = LibraryHandlers(ctx)
    assert "Scanning" in lib.scan()
    lib.scan_task.join(60)
    assert lib.scan_task.state == "done", lib.scan_task.error
    page = lib.render()
    assert "1</b> unknown" in page and 'data-modelshelf-link="0"' in page
    body, msg = lib.link(f"0|{LORA_ID}@{LORA_VERSION}")
    assert "Linked" in msg and "0</b> unknown" in body
    _, msg = lib.link("5|1@2")
    assert "out of date" in msg


def test_detail_and_reveal_without_a_model_are_sentences(ctx):
    h = BrowseHandlers(ctx)
    assert "alert" in h.show(DetailState(), 1, "PG", False)[-1]
    assert "alert" in h.reveal(DetailState(), "x")[1]


def test_a_poll_waits_for_a_change_and_answers_with_it(ctx):
    """The long-poll: a tick started before the download answers with the new job."""
    import threading

    downloads = DownloadHandlers(ctx)
    since, _ = downloads.full()
    answer = {}
    waiting = threading.Thread(target=lambda: answer.update(out=downloads.tick(since, wait=60)))
    waiting.start()
    BrowseHandlers(ctx).download(f"{LORA_ID}@{LORA_VERSION}|{LORA_FILE}")
    waiting.join(90)
    state, block = answer["out"]
    assert not is_update(block)
    assert [j["name"] for j in payload(block)["jobs"]] and state["jobs"] > since["jobs"]


def test_the_ui_nsfw_levels_are_the_views(ctx):
    from modelshelf import views
    from modelshelf.gradio_ui import context

    assert [tuple(x) for x in views.NSFW_LEVELS] == list(context.NSFW_LEVELS)
