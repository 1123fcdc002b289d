"""What a download leaves behind: preview, A1111 user metadata and .civitai.info."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fakes.fixtures import REAL_FIXTURES
from fakes.httpserver import FakeHTTPServer, Reply

from modelshelf.errors import IntegrityError, NotFoundError
from modelshelf.http import RetryPolicy, build_session
from modelshelf.providers.civitai_parse import parse_model, parse_version
from modelshelf.sidecars import (
    SD_VERSION_BY_BASE_MODEL,
    atomic_write_bytes,
    civitai_info,
    http_image_fetcher,
    image_extension,
    merge_user_metadata,
    pick_preview,
    sd_version,
    sidecar_paths,
    small_image_url,
    user_metadata,
    write_sidecars,
)
from modelshelf.types import Image, ModelVersion

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x02" * 32
HTML = b"<!DOCTYPE html><html><body>Just a moment...</body></html>"
NO_RETRY = RetryPolicy(max_retries=0, sleep=lambda s: None)


def real_version_json() -> dict:
    return json.loads((REAL_FIXTURES / "civitai_model_version_lora_flux.json").read_text())


def real_version_and_model():
    model = parse_model(json.loads((REAL_FIXTURES / "civitai_model_lora_flux.json").read_text()))
    return parse_version(real_version_json()), model


@pytest.fixture
def server():
    with FakeHTTPServer() as srv:
        yield srv


def image_path_on(server: FakeHTTPServer, segment: str, name: str) -> str:
    return f"{server.url}/xG1nkqKTMzGDvpLrqFT7WA/42b875cf/{segment}/{name}"


def fetcher(session=None):
    session = session or build_session()
    return http_image_fetcher(session, policy=NO_RETRY)


def files_in(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# ---------------------------------------------------------------- choosing the preview


def test_pick_preview_follows_the_nsfw_setting():
    v = ModelVersion(
        id=1,
        name="v1",
        images=[
            Image(url="u/x-rated.jpeg", nsfw_level=16),
            Image(url="u/sfw-video.mp4", nsfw_level=1, type="video"),
            Image(url="u/old-mature.jpeg", nsfw_level=None, nsfw="Mature"),
            Image(url="u/old-sfw.jpeg", nsfw_level=None, nsfw="None"),
            Image(url="u/pg.jpeg", nsfw_level=1),
        ],
    )
    assert pick_preview(v, nsfw=True).url == "u/x-rated.jpeg"
    assert pick_preview(v, nsfw=False).url == "u/old-sfw.jpeg"
    v.images = [v.images[0], v.images[1], v.images[2], Image(url="u/pg13.jpeg", nsfw_level=2)]
    assert pick_preview(v, nsfw=False).url == "u/sfw-video.mp4"  # only a video is allowed
    v.images = [Image(url="u/r.jpeg", nsfw_level=4), Image(url="u/old.jpeg", nsfw=True)]
    assert pick_preview(v, nsfw=False) is None
    assert pick_preview(ModelVersion(id=2, name="x"), nsfw=True) is None


def test_small_image_url():
    base = "https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/42b875cf-c62b"
    assert small_image_url(f"{base}/width=832/56547310.jpeg") == f"{base}/width=450/56547310.jpeg"
    assert small_image_url(f"{base}/original=true/a.png", 300) == f"{base}/width=300/a.png"
    assert small_image_url(f"{base}/anim=false,width=1024/a.mp4?x=1", still=True) == (
        f"{base}/anim=false,width=450/a.mp4?x=1"
    )
    assert small_image_url("https://example.com/some/pic.png") == "https://example.com/some/pic.png"
    assert small_image_url("not a url") == "not a url"


# ---------------------------------------------------------------- previews over HTTP


def test_preview_is_the_small_rendition_fetched_without_auth(server, tmp_path):
    server.add_route(
        "GET",
        r"/.*/width=450/56547310\.jpeg",
        lambda r, m: Reply(200, PNG, {"Content-Type": "image/png"}),
    )
    version, model = real_version_and_model()
    version.images[0].url = image_path_on(server, "width=832", "56547310.jpeg")
    session = build_session()
    session.headers["Authorization"] = "Bearer SECRET-KEY"  # the provider's session
    model_path = tmp_path / "storybook.safetensors"
    model_path.write_bytes(b"model")

    written = write_sidecars(
        model_path,
        version,
        model=model,
        version_json=real_version_json(),
        fetch_image=fetcher(session),
    )

    preview = tmp_path / "storybook.preview.png"
    assert preview.read_bytes() == PNG
    assert preview in written
    assert {tmp_path / "storybook.json", tmp_path / "storybook.civitai.info"} <= set(written)
    assert len(server.requests) == 1
    assert "width=450" in server.requests[0].path
    assert server.requests[0].headers.get("Authorization") is None
    assert not [n for n in files_in(tmp_path) if n.endswith(".tmp")]


@pytest.mark.parametrize(
    ("body", "content_type", "ext"),
    [(JPEG, "image/jpeg", "jpg"), (WEBP, "image/webp", "webp"), (PNG, None, "png")],
)
def test_preview_extension_comes_from_the_image(server, tmp_path, body, content_type, ext):
    headers = {"Content-Type": content_type} if content_type else {}
    server.add_route("GET", r"/.*", lambda r, m: Reply(200, body, headers))
    v = ModelVersion(
        id=5,
        name="v",
        images=[Image(url=image_path_on(server, "width=512", "p.jpeg"), nsfw_level=1)],
    )
    model_path = tmp_path / "m.safetensors"
    write_sidecars(model_path, v, fetch_image=fetcher())
    assert (tmp_path / f"m.preview.{ext}").read_bytes() == body


def test_preview_choice_respects_nsfw_over_http(server, tmp_path):
    server.add_route(
        "GET", r"/.*/sfw\.jpeg", lambda r, m: Reply(200, JPEG, {"Content-Type": "image/jpeg"})
    )
    server.add_route(
        "GET", r"/.*/nsfw\.jpeg", lambda r, m: Reply(200, PNG, {"Content-Type": "image/png"})
    )
    images = [
        Image(url=image_path_on(server, "width=900", "nsfw.jpeg"), nsfw_level=8),
        Image(url=image_path_on(server, "width=900", "sfw.jpeg"), nsfw_level=1),
    ]
    v = ModelVersion(id=9, name="v", images=images)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    write_sidecars(tmp_path / "a/m.safetensors", v, nsfw=False, fetch_image=fetcher())
    write_sidecars(tmp_path / "b/m.safetensors", v, nsfw=True, fetch_image=fetcher())
    assert (tmp_path / "a/m.preview.jpg").read_bytes() == JPEG
    assert (tmp_path / "b/m.preview.png").read_bytes() == PNG


def test_html_instead_of_an_image_writes_no_preview(server, tmp_path):
    server.add_route("GET", r"/.*", lambda r, m: Reply(200, HTML, {"Content-Type": "text/html"}))
    v = ModelVersion(
        id=3, name="v", images=[Image(url=image_path_on(server, "width=64", "p.png"), nsfw_level=1)]
    )
    model_path = tmp_path / "m.safetensors"
    written = write_sidecars(model_path, v, fetch_image=fetcher())
    assert not [n for n in files_in(tmp_path) if ".preview." in n]
    assert sorted(p.name for p in written) == ["m.civitai.info", "m.json"]


def test_html_or_json_with_an_image_content_type_is_refused(server, tmp_path):
    server.add_route(
        "GET", r"/.*/h\.png", lambda r, m: Reply(200, HTML, {"Content-Type": "image/png"})
    )
    server.add_route(
        "GET", r"/.*/j\.png", lambda r, m: Reply(200, b'{"a": 1}', {"Content-Type": "image/png"})
    )
    for name in ("h.png", "j.png"):
        url = image_path_on(server, "width=64", name)
        v = ModelVersion(id=3, name="v", images=[Image(url=url, nsfw_level=1)])
        write_sidecars(tmp_path / "m.safetensors", v, fetch_image=fetcher())
        assert not [n for n in files_in(tmp_path) if ".preview." in n]
    with pytest.raises(IntegrityError, match="web page or JSON"):
        image_extension(HTML, "image/png", "http://x/p.png")


def test_a_404_small_rendition_falls_back_to_the_original(server, tmp_path):
    server.add_route("GET", r"/.*/width=450/.*", lambda r, m: Reply(404, b"nope"))
    server.add_route(
        "GET",
        r"/.*/width=1024/p\.jpeg",
        lambda r, m: Reply(200, JPEG, {"Content-Type": "image/jpeg"}),
    )
    v = ModelVersion(
        id=3,
        name="v",
        images=[Image(url=image_path_on(server, "width=1024", "p.jpeg"), nsfw_level=1)],
    )
    write_sidecars(tmp_path / "m.safetensors", v, fetch_image=fetcher())
    assert (tmp_path / "m.preview.jpg").read_bytes() == JPEG
    assert [r.path.split("/")[-2] for r in server.requests] == ["width=450", "width=1024"]


def test_a_missing_preview_does_not_fail_the_other_sidecars(server, tmp_path):
    v = ModelVersion(
        id=3,
        name="v",
        images=[Image(url=image_path_on(server, "width=64", "gone.png"), nsfw_level=1)],
    )
    written = write_sidecars(tmp_path / "m.safetensors", v, fetch_image=fetcher())
    assert sorted(p.name for p in written) == ["m.civitai.info", "m.json"]
    assert len(server.requests) == 2  # small rendition, then the original
    with pytest.raises(NotFoundError):
        fetcher()(v.images[0].url)


@pytest.mark.parametrize("own", ["m.png", "m.jpeg", "m.webp", "m.gif", "m.preview.jpg", "m.PNG"])
def test_the_persons_own_preview_is_never_replaced(server, tmp_path, own):
    server.add_route("GET", r"/.*", lambda r, m: Reply(200, PNG, {"Content-Type": "image/png"}))
    (tmp_path / own).write_bytes(b"mine")
    v = ModelVersion(
        id=3, name="v", images=[Image(url=image_path_on(server, "width=64", "p.png"), nsfw_level=1)]
    )
    written = write_sidecars(tmp_path / "m.safetensors", v, fetch_image=fetcher())
    assert (tmp_path / own).read_bytes() == b"mine"
    assert tmp_path / own in written
    assert server.requests == []
    assert not (tmp_path / "m.preview.png").exists() or own == "m.preview.png"


def test_image_fetcher_caps_size_and_refuses_json(server):
    server.add_route(
        "GET",
        r"/big\.png",
        lambda r, m: Reply(200, PNG + b"\x00" * 4000, {"Content-Type": "image/png"}),
    )
    server.add_route("GET", r"/api\.png", lambda r, m: Reply(200, {"error": "nope"}))
    small_cap = http_image_fetcher(build_session(), max_bytes=1000, policy=NO_RETRY)
    with pytest.raises(IntegrityError, match="larger"):
        small_cap(server.url + "/big.png")
    with pytest.raises(IntegrityError, match="application/json"):
        fetcher()(server.url + "/api.png")
    body, ct = fetcher()(server.url + "/big.png")
    assert body.startswith(PNG) and ct == "image/png"


# ---------------------------------------------------------------- user metadata (.json)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("SD 1.5", "SD1"),
        ("SD 1.4", "SD1"),
        ("SD 2.1 768", "SD2"),
        ("SD 2.0", "SD2"),
        ("SDXL 1.0", "SDXL"),
        ("Pony", "SDXL"),
        ("Illustrious", "SDXL"),
        ("NoobAI", "SDXL"),
        ("SD 3.5 Large", "SD3"),
        ("SD 3", "SD3"),
        ("Flux.1 D", "Unknown"),
        ("Pony V7", "Unknown"),
        ("Some Future Model", "Unknown"),
        (None, "Unknown"),
        ("SDXL 2.0 Future", "SDXL"),
    ],
)
def test_sd_version_mapping(base, expected):
    assert sd_version(base) == expected
    assert set(SD_VERSION_BY_BASE_MODEL.values()) <= {"SD1", "SD2", "SDXL", "SD3", "Unknown"}


def test_user_metadata_from_the_real_fixture():
    version, model = real_version_and_model()
    data = user_metadata(version, model, "ab" * 32)
    assert data["activation text"] == "ppstorybook"
    assert data["sd version"] == "Unknown"  # Flux.1 D
    assert data["preferred weight"] == 0
    assert data["modelId"] == 1231067 and data["modelVersionId"] == version.id
    assert data["sha256"] == "AB" * 32
    assert "https://civitai.com/models/1231067?modelVersionId=" in data["notes"]
    assert version.name in data["notes"]
    assert "support me" in data["description"]
    assert "<" not in data["description"] and "&quot;" not in data["description"]
    assert len(data["description"]) <= 1001
    v2 = ModelVersion(id=2, name="v", trained_words=[" a ", "", "b c"], base_model="SDXL 1.0")
    assert user_metadata(v2, None, None)["activation text"] == "a, b c"
    assert "sha256" not in user_metadata(v2, None, None)


def test_json_merge_keeps_what_the_person_wrote(tmp_path):
    path = tmp_path / "m.json"
    mine = {
        "activation text": "my words",
        "notes": "my notes",
        "description": "",
        "my own key": [1, 2],
        "modelVersionId": 1,
    }
    path.write_text(json.dumps(mine), encoding="utf-8")
    ours = {
        "activation text": "trained",
        "notes": "civitai url",
        "description": "Ünïcode description",
        "sd version": "SDXL",
        "modelVersionId": 99,
        "sha256": "AA",
    }
    assert merge_user_metadata(path, ours) is True
    got = json.loads(path.read_text(encoding="utf-8"))
    assert got["activation text"] == "my words"
    assert got["notes"] == "my notes"
    assert got["my own key"] == [1, 2]
    assert got["description"] == "Ünïcode description"  # was empty: filled
    assert got["sd version"] == "SDXL"
    assert got["modelVersionId"] == 99 and got["sha256"] == "AA"  # refreshed
    assert "Ünïcode" in path.read_text(encoding="utf-8")  # UTF-8, not \\u escapes
    assert merge_user_metadata(path, ours) is False  # nothing new: not rewritten


@pytest.mark.parametrize("content", [b"{broken", b"[1, 2]", b"\xff\xfe\x00bad"])
def test_invalid_json_is_left_alone(tmp_path, content, caplog):
    path = tmp_path / "m.json"
    path.write_bytes(content)
    assert merge_user_metadata(path, {"activation text": "x"}) is False
    assert path.read_bytes() == content
    assert "leaving" in caplog.text
    v = ModelVersion(id=3, name="v")
    written = write_sidecars(tmp_path / "m.safetensors", v)
    assert path.read_bytes() == content
    assert tmp_path / "m.civitai.info" in written


# ---------------------------------------------------------------- .civitai.info


def test_civitai_info_has_no_token_anywhere(tmp_path):
    vj = real_version_json()
    vj["downloadUrl"] = "https://civitai.com/api/download/models/1387174?token=SECRET1&type=Model"
    vj["files"][0]["downloadUrl"] = (
        "https://civitai.com/api/download/models/1?type=Model&token=SECRET2"
    )
    vj["images"][0]["url"] += "?token=SECRET3"
    vj["description"] = '<a href="https://x.test/?a=1&amp;token=SECRET4">x</a>'
    vj["nested"] = [
        {"u": "https://s3.test/f?X-Amz-Signature=SECRET5&X-Amz-Credential=SECRET6&ok=1"}
    ]
    vj["token"] = "SECRET7"
    written = write_sidecars(tmp_path / "m.safetensors", parse_version(vj), version_json=vj)
    text = (tmp_path / "m.civitai.info").read_text(encoding="utf-8")
    assert tmp_path / "m.civitai.info" in written
    assert "token=" not in text.lower() and "SECRET" not in text
    info = json.loads(text)
    assert info["downloadUrl"] == "https://civitai.com/api/download/models/1387174?type=Model"
    assert info["files"][0]["downloadUrl"].endswith("?type=Model")
    assert info["model"]["name"] == "Vivid Impressions Storybook Style"  # Civitai Helper reads it
    assert info["images"][0]["url"].startswith("https://image.civitai.com/")
    assert info["nested"][0]["u"] == "https://s3.test/f?ok=1"
    assert vj["downloadUrl"].endswith("SECRET1&type=Model")  # the input is not modified
    assert civitai_info({"a": "no url"}) == {"a": "no url"}


def test_civitai_info_built_from_types_when_no_raw_json(tmp_path):
    version, model = real_version_and_model()
    version.files[0].download_url = "https://civitai.com/api/download/models/5?token=SECRET"
    write_sidecars(tmp_path / "m.safetensors", version, model=model)
    info = json.loads((tmp_path / "m.civitai.info").read_text(encoding="utf-8"))
    assert info["id"] == version.id and info["modelId"] == 1231067
    assert info["model"]["type"] == "LORA"
    assert info["trainedWords"] == ["ppstorybook"]
    assert "SECRET" not in json.dumps(info)


# ---------------------------------------------------------------- files


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "m.json"
    target.write_bytes(b"old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert files_in(tmp_path) == {"m.json"}


def test_sidecar_paths_lists_only_this_models_sidecars(tmp_path):
    names = [
        "m.safetensors",
        "m.preview.png",
        "m.png",
        "m.json",
        "m.civitai.info",
        "m.txt",
        "m.description.txt",
        "m.yaml",
        "m2.json",
        "m.other.json",
        "m.ckpt",
        "m.safetensors.part",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    got = {p.name for p in sidecar_paths(tmp_path / "m.safetensors")}
    assert got == {
        "m.preview.png",
        "m.png",
        "m.json",
        "m.civitai.info",
        "m.txt",
        "m.description.txt",
        "m.yaml",
    }
    assert sidecar_paths(tmp_path / "missing" / "x.safetensors") == []
