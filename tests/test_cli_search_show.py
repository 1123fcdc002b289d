"""``modelshelf search`` and ``show`` (in-process, ``run_cli``) against the fake servers."""

from __future__ import annotations

import json
import re
import socket

import pytest
from cli_runner import CliResult
from fakes.factory import make_file, make_model, make_version

RETRY_LINE = re.compile(r"modelshelf: .+; retrying( in \d+ s)? \(\d+ of \d+\)…$")

ITEM_KEYS = {"id", "name", "type", "creator", "nsfw", "tags", "versions"}
VERSION_KEYS = {"id", "name", "base_model", "trained_words", "files", "images"}
FILE_KEYS = {
    "id",
    "name",
    "type",
    "size_kb",
    "sha256",
    "primary",
    "format",
    "fp",
    "size",
    "pickle_scan",
    "virus_scan",
}
IMAGE_KEYS = {"url", "nsfw_level", "width", "height", "type"}


def assert_one_line_error(result: CliResult, code: int) -> str:
    assert result.code == code, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if not RETRY_LINE.match(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("modelshelf: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def assert_item_shape(item: dict) -> None:
    assert set(item) == ITEM_KEYS
    for version in item["versions"]:
        assert set(version) == VERSION_KEYS
        for file in version["files"]:
            assert set(file) == FILE_KEYS
        for image in version["images"]:
            assert set(image) == IMAGE_KEYS


def test_search_table_is_readable_in_an_80_column_pipe(fake_civitai, run_cli):
    result = run_cli("search", "--type", "LORA")
    assert result.code == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    assert "Vivid" in out and "PixelPawsAI" in out and "ppstorybook" in out
    assert "Flux.1 D" in out and "1231067" in out
    assert "Checkpoint" not in out  # filtered by type
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "\x1b[" not in out  # no colour codes in a pipe
    (request,) = fake_civitai.requests_to("/api/v1/models")
    assert request.params("types") == ["LORA"]


def test_search_json_has_exactly_the_documented_keys(fake_civitai, run_cli):
    result = run_cli("search", "--json", "--limit", "3")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)  # one document and nothing else
    assert set(data) == {"provider", "items", "next_cursor"}
    assert data["provider"] == "civitai"
    assert len(data["items"]) == 3 and data["next_cursor"]
    for item in data["items"]:
        assert_item_shape(item)
    first = data["items"][0]["versions"][0]
    assert first["files"][0]["sha256"] and first["images"][0]["url"].startswith("https://")
    nxt = run_cli("search", "--json", "--limit", "3", "--cursor", data["next_cursor"])
    later = json.loads(nxt.stdout)
    assert {i["id"] for i in later["items"]}.isdisjoint({i["id"] for i in data["items"]})


def test_search_sends_the_filters(fake_civitai, run_cli):
    result = run_cli(
        "search",
        "hands",
        "--base-model",
        "SD 1.5",
        "--sort",
        "most downloaded",
        "--period",
        "week",
        "--nsfw",
        "--primary-file-only",
        "--json",
    )
    assert result.code == 0, result.stderr
    request = fake_civitai.requests_to("/api/v1/models")[-1]
    assert request.param("query") == "hands"
    assert request.params("baseModels") == ["SD 1.5"]
    assert request.param("sort") == "Most Downloaded"
    assert request.param("period") == "Week"
    assert request.param("nsfw") == "true"
    assert request.param("primaryFileOnly") == "true"


def test_novita_search_json_and_filters(fake_novita, run_cli):
    result = run_cli("search", "--provider", "novita", "--type", "locon", "--no-sdxl", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["provider"] == "novita" and data["next_cursor"] is None
    (item,) = data["items"]
    assert_item_shape(item)
    assert (item["id"], item["type"], item["name"]) == (55199, "locon", "GoodHands-beta2")
    assert item["versions"][0]["files"][0]["name"] == "GoodHands-beta2_39807.safetensors"
    request = fake_novita.requests_to("/v3/model")[-1]
    assert request.param("filter.types") == "locon"
    assert request.param("filter.is_sdxl") == "false"
    assert request.param("pagination.limit") == "20"
    assert request.headers["Authorization"] == f"Bearer {fake_novita.key}"


def test_show_lists_every_version_with_words_files_and_images(fake_civitai, run_cli):
    data = make_safetensors_bytes()
    versions = [
        make_version(
            9002,
            9000,
            [make_file(9102, "two.safetensors", data, fp="bf16")],
            name="v2",
            trained_words=["alpha word"],
        ),
        make_version(9001, 9000, [make_file(9101, "one.ckpt", data)], name="v1"),
    ]
    fake_civitai.add_model(make_model(9000, "Two Versions", versions=versions, creator="maker"))
    result = run_cli("show", "9000")
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "Two Versions" in out and "maker" in out
    assert "Version v2 (id 9002)" in out and "Version v1 (id 9001)" in out
    assert "alpha word" in out and "testword" in out
    assert "9102" in out and "bf16" in out and "Success" in out
    assert "https://" in out  # preview image URLs, whole on one line
    as_json = json.loads(run_cli("show", "9000@9001", "--json").stdout)
    assert set(as_json) == {"provider", "item", "selected_version_id"}
    assert as_json["selected_version_id"] == 9001
    assert_item_shape(as_json["item"])
    assert [v["id"] for v in as_json["item"]["versions"]] == [9002, 9001]


def test_show_accepts_urls_and_airs(fake_civitai, run_cli):
    for ref in (
        f"{fake_civitai.url}/models/1231067?modelVersionId=1387174",
        "https://civitai.com/models/1231067",
        "urn:air:flux1:lora:civitai:1231067@1387174",
    ):
        result = run_cli("show", ref, "--json")
        assert result.code == 0, (ref, result.stderr)
        assert json.loads(result.stdout)["item"]["id"] == 1231067


def test_show_novita_model(fake_novita, run_cli):
    result = run_cli("show", "novita:114600")
    assert result.code == 0, result.stderr
    assert "1A805277C8" not in result.stdout  # AutoV2 is no sha256; not shown as one
    assert "realisticVisionV40_v40VAE-inpainting" in result.stdout
    assert "next-app-static" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("show", "not a ref"),
        ("show", "https://evil.example/models/1"),
        ("search", "--limit", "0"),
        ("search", "--limit", "abc"),
        ("search", "--provider", "nowhere"),
        ("frobnicate",),
    ],
)
def test_bad_usage_exits_2_with_one_line(args, fake_civitai, run_cli):
    line = assert_one_line_error(run_cli(*args), 2)
    assert "--help" in line or "model reference" in line


def test_not_found_exits_3(fake_civitai, run_cli):
    assert_one_line_error(run_cli("show", "424242"), 3)
    assert_one_line_error(run_cli("show", "1231067@424242"), 3)


def test_novita_without_or_with_a_wrong_key_exits_4(fake_novita, run_cli):
    line = assert_one_line_error(
        run_cli("search", "--provider", "novita", env={"NOVITA_API_KEY": ""}), 4
    )
    assert "NOVITA_API_KEY" in line
    wrong = run_cli("search", "--provider", "novita", env={"NOVITA_API_KEY": "wrong-key-123"})
    line = assert_one_line_error(wrong, 4)
    assert "INVALID_API_KEY" in line and "wrong-key-123" not in line


def test_network_failure_exits_6(fake_civitai, run_cli):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, never listening
        result = run_cli("search", env={"MODELSHELF_CIVITAI_URL": dead})
    assert_one_line_error(result, 6)
    fake_civitai.fail_next("/api/v1/models", 503, {"error": "overloaded"}, times=20)
    assert_one_line_error(run_cli("search", "--no-cache"), 6)


def test_cached_repeat_makes_no_request_and_no_cache_asks_again(fake_civitai, run_cli):
    assert run_cli("search", "--json", "--limit", "2").code == 0
    assert run_cli("search", "--json", "--limit", "2").code == 0
    assert len(fake_civitai.requests_to("/api/v1/models")) == 1
    assert run_cli("search", "--json", "--limit", "2", "--no-cache").code == 0
    assert run_cli("--no-cache", "search", "--json", "--limit", "2").code == 0
    assert len(fake_civitai.requests_to("/api/v1/models")) == 3


def test_novita_cached_repeat_makes_no_request(fake_novita, run_cli):
    for _ in range(2):
        assert run_cli("search", "--provider", "novita", "--json").code == 0
    assert len(fake_novita.requests_to("/v3/model")) == 1


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch, capsys, fake_civitai):
    from modelshelf import cli as cli_package
    from modelshelf.cli import search

    def boom(args, ctx):
        raise RuntimeError("kaput")

    monkeypatch.setattr(search, "run_search", boom)
    assert cli_package.main(["search"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "modelshelf: Unexpected RuntimeError; run with --debug for the traceback."
    ]
    assert cli_package.main(["--debug", "search"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "kaput" in err


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    from modelshelf import cli as cli_package
    from modelshelf.cli import search

    def interrupted(args, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(search, "run_search", interrupted)
    assert cli_package.main(["search"]) == 130
    assert capsys.readouterr().err == "modelshelf: Interrupted.\n"


def test_missing_command_modules_are_skipped(monkeypatch):
    from modelshelf import cli as cli_package

    monkeypatch.setattr(cli_package, "MODULES", ("search", "no_such_module"))
    parser = cli_package.build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert set(actions[0].choices) == {"search"}


def make_safetensors_bytes() -> bytes:
    header = json.dumps({"__metadata__": {}}).encode()
    return len(header).to_bytes(8, "little") + header + b"\0" * 64
