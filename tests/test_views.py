"""The views both UIs render: cards, details, jobs, the sanitiser, NSFW placeholders."""

from __future__ import annotations

import base64
import json

from fakes.fixtures import REAL_FIXTURES

from modelshelf import views
from modelshelf.download.jobs import DownloadRequest, Job
from modelshelf.providers.civitai_parse import parse_model
from modelshelf.types import Image, Model, ModelVersion


def real_model(name: str) -> Model:
    return parse_model(json.loads((REAL_FIXTURES / name).read_text("utf-8")))


def test_sanitiser_drops_scripts_handlers_and_images_and_opens_links_apart():
    html = views.sanitize_html(
        '<p onclick="steal()">Hi<script>alert(1)</script><style>p{}</style>'
        '<a href="https://example.org/x" onmouseover="y()">site</a>'
        '<a href="javascript:alert(1)">bad</a><img src="https://img/x.png" onerror="z()"></p>'
    )
    assert "script" not in html and "alert" not in html and "onclick" not in html
    assert "onmouseover" not in html and "<img" not in html and "javascript:" not in html
    assert 'href="https://example.org/x"' in html and 'target="_blank"' in html
    assert "noopener" in html
    assert views.sanitize_html(None) == ""


def test_real_fixtures_make_cards_and_details():
    for name in ("civitai_model_lora_flux.json", "civitai_model_lora_illustrious.json"):
        model = real_model(name)
        card = views.model_card(model, badge="installed")
        assert card["name"] == model.name and card["badge"] == "installed"
        assert card["ref"] == f"{model.id}@{model.versions[0].id}"
        json.dumps(card)  # JSON-ready
        detail = views.model_detail(model)
        assert detail["version"]["id"] == model.versions[0].id
        assert detail["version"]["files"][0]["size_text"].endswith("iB")
        json.dumps(detail)


def version_with(images: list[Image]) -> Model:
    version = ModelVersion(id=2, name="v", images=images)
    return Model(id=1, name="m", versions=[version])


def test_an_image_above_the_limit_has_no_url_but_a_placeholder():
    images = [
        Image(url="https://image.civitai.com/x/abc/width=832/1.jpeg", nsfw_level=8,
              blurhash="U5IiO6s-4Vn+0~EO^5xa00VsL#IU_O?E7yWC", width=832, height=1216),
        Image(url="https://image.civitai.com/x/abc/width=832/2.jpeg", nsfw_level=1),
    ]  # fmt: skip
    detail = views.model_detail(version_with(images), max_nsfw=2)
    hidden, shown = detail["version"]["images"]
    assert hidden["hidden"] and hidden["url"] is None
    png = base64.b64decode(hidden["placeholder"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert shown["url"] == "https://image.civitai.com/x/abc/anim=false,width=320/2.jpeg"
    # the card skips the hidden image for its thumbnail
    assert views.model_card(version_with(images))["thumbnail"]["url"] == shown["url"]
    # an image with no rating at all is treated as X
    unknown = views.model_detail(version_with([Image(url="https://h/u.png")]))
    assert unknown["version"]["images"][0]["hidden"]
    # asked for on purpose, it is given
    assert views.reveal_image_url(version_with(images), 2, 0).endswith("/1.jpeg")


def test_a_broken_blurhash_gives_no_placeholder():
    model = version_with([Image(url="https://h/x.png", nsfw_level=16, blurhash="%%bad")])
    image = views.model_detail(model)["version"]["images"][0]
    assert image["hidden"] and image["placeholder"] is None


def test_job_rows_say_state_progress_and_speed():
    job = Job(id="j1", request=DownloadRequest(ref="10@100"), state="running",
              bytes_done=512 * 1024, bytes_total=1024 * 1024, speed=256 * 1024, eta=2.0,
              name="ink.safetensors")  # fmt: skip
    row = views.job_view(job)
    assert row["label"] == "Downloading" and row["percent"] == 50.0
    assert row["speed_text"] == "256.0 KiB/s" and row["eta_text"] == "2 s"
    assert row["can_cancel"] and not row["can_retry"] and row["name"] == "ink.safetensors"
    job.state, job.error = "failed", "The file's hash does not match; nothing was saved."
    failed = views.job_view(job)
    assert failed["label"] == "Failed" and failed["error"].startswith("The file's hash")
    assert failed["can_retry"] and failed["speed_text"] == ""


def test_search_options_list_every_filter_once_for_all_front_ends():
    options = views.search_options()
    civitai = options["providers"]["civitai"]
    assert "LORA" in civitai["types"] and "Most Downloaded" in civitai["sorts"]
    assert "SDXL 1.0" in civitai["base_models"] and "AllTime" in civitai["periods"]
    assert "lora" in options["providers"]["novita"]["types"]
    assert [level["name"] for level in options["nsfw_levels"]][:3] == ["PG", "PG-13", "R"]
    assert options["default_max_nsfw"] == 2
    json.dumps(options)
