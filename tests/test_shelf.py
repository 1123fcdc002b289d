"""The front-end API: one Shelf against the fake Civitai and storage, real folders."""

from __future__ import annotations

import threading

import pytest
from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version
from fakes.httpserver import Reply
from fakes.storage import link_storage

from modelshelf.errors import BadInputError
from modelshelf.layout import resolve_layout
from modelshelf.settings import load_settings
from modelshelf.shelf import STATE_LABELS, Shelf
from modelshelf.types import SearchQuery

TIMEOUT = 20
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LORA_V1 = make_safetensors(48 * 1024, {"v": "1"})
LORA_V2 = make_safetensors(48 * 1024, {"v": "2"})


@pytest.fixture
def civitai(fake_civitai, fake_storage):
    image = [make_image(f"{fake_civitai.url}/img/1.png", image_id=1)]
    v2 = make_version(
        502, 50, [make_file(5020, "ink_v2.safetensors", LORA_V2)], name="v2", images=image,
        trained_words=["inkstyle"],
    )  # fmt: skip
    v1 = make_version(
        501, 50, [make_file(5010, "ink_v1.safetensors", LORA_V1)], name="v1", images=image
    )
    fake_civitai.add_model(make_model(50, "Ink Style", "LORA", versions=[v2, v1]))
    fake_civitai.add_route(
        "GET", r"/img/.*", lambda req, m: Reply(200, PNG, {"Content-Type": "image/png"})
    )
    link_storage(fake_civitai, fake_storage, {5010: LORA_V1, 5020: LORA_V2})
    return fake_civitai


@pytest.fixture
def shelf(civitai, tmp_path):
    settings = load_settings({"max_retry_wait": 0.05, "max_retries": 1})
    with Shelf(settings, resolve_layout(models_dir=tmp_path / "models")) as shelf:
        yield shelf


def test_search_detail_and_lookup_share_one_session(shelf, civitai):
    page = shelf.search(SearchQuery(query="Ink", limit=5))
    assert [m.id for m in page.items if m.id == 50] == [50]
    assert shelf.model(50).versions[0].id == 502
    model, version = shelf.lookup("50@501")
    assert (model.id, version.id) == (50, 501)
    assert shelf.provider("civitai") is shelf.provider("civitai")


def test_queued_download_uses_the_given_layout_and_reports_revisions(shelf, tmp_path):
    seen_threads: list[str] = []
    shelf.on_download_change(lambda job: seen_threads.append(threading.current_thread().name))
    revision0, _ = shelf.download_changes(0)
    job = shelf.start_download("50@501")
    assert STATE_LABELS[job.state] in ("Queued", "Downloading", "Done")
    done = shelf.wait_for_download(job.id, TIMEOUT)
    assert done.state == "done", done.error
    target = tmp_path / "models" / "loras" / "ink_v1.safetensors"
    assert target.read_bytes() == LORA_V1
    assert (target.parent / "ink_v1.json").is_file()
    revision, changed = shelf.download_changes(revision0)
    assert revision > revision0 and [j.id for j in changed] == [job.id]
    assert changed[0].revision == revision and changed[0].bytes_done == len(LORA_V1)
    # nothing new since: a long-poll with no change returns the same revision, no jobs
    assert shelf.download_changes(revision, timeout=0.05) == (revision, [])
    assert seen_threads and all(name == "modelshelf-download-events" for name in seen_threads)


def test_badges_come_from_the_library(shelf):
    model = shelf.model(50)
    assert shelf.badges([model]) == {}
    shelf.download("50@501")
    assert shelf.badges([model]) == {50: "update"}
    assert shelf.installed(501) and not shelf.installed(502)
    shelf.download("50@502")
    assert shelf.badges([model]) == {50: "installed"}


def test_trained_words_from_the_sidecar_and_then_by_hash(shelf, civitai, tmp_path):
    result = shelf.download("50@502")
    assert shelf.trained_words(result.path) == ["inkstyle"]
    # a copy with no sidecars is asked about once by hash; then its sidecar answers
    copy = tmp_path / "models" / "loras" / "renamed.safetensors"
    copy.write_bytes(LORA_V2)
    before = len(civitai.requests_to(r"/api/v1/model-versions/by-hash/.*"))
    assert shelf.trained_words(copy) == ["inkstyle"]
    assert shelf.trained_words(copy) == ["inkstyle"]
    assert len(civitai.requests_to(r"/api/v1/model-versions/by-hash/.*")) == before + 1


def test_link_refuses_a_file_that_is_not_a_model(shelf, tmp_path):
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0")
    with pytest.raises(BadInputError, match="not a model file"):
        shelf.link(other, "50@501")
    assert not list(tmp_path.glob("passwd.*"))


def test_scan_of_a_missing_folder_is_a_sentence(civitai, tmp_path):
    layout = resolve_layout(models_dir=tmp_path / "nowhere")
    with Shelf(load_settings(), layout) as shelf, pytest.raises(BadInputError, match="check the"):
        shelf.scan()


def test_a_closed_shelf_refuses_work(civitai, tmp_path):
    shelf = Shelf(load_settings(), resolve_layout(models_dir=tmp_path / "m"))
    shelf.close()
    with pytest.raises(Exception, match="closed"):
        shelf.search(SearchQuery())


def test_planning_stops_when_cancelled(shelf):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Exception, match="Cancelled"):
        shelf.plan_download("novita:12345", cancel=cancel)


def test_a_failed_trained_words_lookup_is_not_repeated_at_once(shelf, civitai, tmp_path):
    from modelshelf.errors import NetworkError

    folder = tmp_path / "models" / "loras"
    folder.mkdir(parents=True)
    lone = folder / "lone.safetensors"
    lone.write_bytes(make_safetensors(1024, {"lone": "1"}))
    civitai.fail_next(r"/api/v1/model-versions/by-hash/.*", 503, {"error": "down"}, times=10)
    with pytest.raises(NetworkError):
        shelf.trained_words(lone)
    asked = len(civitai.requests_to(r"/api/v1/model-versions/by-hash/.*"))
    assert shelf.trained_words(lone) == []
    assert len(civitai.requests_to(r"/api/v1/model-versions/by-hash/.*")) == asked
