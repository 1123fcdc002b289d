"""What a person sees of the command line, run in process against the fake services.

Tables at 80 columns never cut a word, ``show`` says what a file is and what limits it,
help without a command, flags after the command, one unit for sizes, refusals that say
something the person did not already type.
"""

from __future__ import annotations

import json

import pytest
from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version

TRAINED = ["quiet comedy style", "sunlit watercolour washes", "extraordinarilylongtriggerword"]
LONG_WORDS = [
    ", ".join(TRAINED),
    "TextualInversion",
    "SDXL 1.0",
    "Illustrious",
    "a_creator_with_a_very_long_name_indeed",
]


@pytest.fixture
def narrow(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("MODELSHELF_MAX_RETRY_WAIT", "0.05")


def words_of(*texts: str) -> set[str]:
    return {w.strip(",") for t in texts for w in t.split() if w.strip(",")}


def assert_no_word_cut(out: str, words: set[str]) -> None:
    """Each word is whole, or visibly shortened ("abc…"); none is split over two lines."""
    tokens = {t.strip(",") for t in out.split()}
    for word in words:
        whole = word in tokens
        shortened = any(t.endswith("…") and word.startswith(t[:-1]) for t in tokens)
        assert whole or shortened, (word, out)
    for token in tokens:  # no fragment of a word that is not shown as shortened
        if token.endswith("…") or token in words:
            continue
        assert not any(token in w and token != w for w in words if len(token) > 3), (token, out)


def add_long_models(fake):
    words = TRAINED
    for i, (name, base) in enumerate(
        [
            ("Wonderful Extraordinary Embedding Collection", "SDXL 1.0"),
            ("Tiny", "Illustrious"),
        ]
    ):
        mid = 7700 + i
        v = make_version(
            mid * 10,
            mid,
            [make_file(mid * 100, f"e{i}.safetensors", b"x" * 10)],
            name="v1",
            base_model=base,
            trained_words=words,
            model_type="TextualInversion",
        )
        fake.add_model(make_model(mid, name, "TextualInversion", [v], creator=LONG_WORDS[4]))


def test_search_table_at_80_columns_never_cuts_a_word(fake_civitai, narrow, run_cli):
    add_long_models(fake_civitai)
    code, out, err = run_cli("search", "--type", "TextualInversion")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    lines = [line for line in out.splitlines() if not line.startswith("More results")]
    body = "\n".join(lines)
    expected = words_of(
        "Wonderful Extraordinary Embedding Collection Tiny",
        *LONG_WORDS,
        "7700 7701",
    )
    assert_no_word_cut(body, expected)
    assert "TextualInversion" in body.split()  # the type column keeps its word whole


def test_search_table_keeps_the_real_catalogue_readable(fake_civitai, narrow, run_cli):
    code, out, _ = run_cli("search", "--json")
    items = json.loads(out)["items"]
    code, out, _ = run_cli("search")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    body = "\n".join(line for line in out.splitlines() if not line.startswith("More results"))
    expected = words_of(
        *(i["name"] for i in items),
        *(i["type"] for i in items),
        *(i["creator"] or "" for i in items),
    )
    assert_no_word_cut(body, expected)


# -- show ---------------------------------------------------------------------------------------


@pytest.fixture
def detailed(fake_civitai):
    data = make_safetensors(6000)
    files = [
        make_file(8801, "main.safetensors", data, type="Model"),
        make_file(8802, "dataset.zip", b"zip", type="Training Data", primary=False),
        make_file(8803, "vae.safetensors", b"vae", type="VAE", primary=False),
    ]
    images = [
        make_image(f"{fake_civitai.url}/img/sfw.png", nsfw_level=1, image_id=1),
        make_image(f"{fake_civitai.url}/img/racy.png", nsfw_level=8, image_id=2),
    ]
    gated = make_version(
        8890, 8800, files, name="v2", images=images, early_access_deadline="2099-01-01T00:00:00Z"
    )
    gated["usageControl"] = "Generation"
    gated["requireAuth"] = True
    fake_civitai.add_model(make_model(8800, "Detailed", "LORA", [gated]))
    return data


def test_show_tells_file_type_hash_and_what_limits_a_download(fake_civitai, detailed, run_cli):
    import hashlib

    code, out, err = run_cli("show", "8800")
    assert code == 0, err
    sha = hashlib.sha256(detailed).hexdigest().upper()
    assert f"SHA256 {sha}" in out
    assert "Training Data," in out and "VAE," in out and "Model," in out
    access = next(line for line in out.splitlines() if line.strip().startswith("Access:"))
    assert "early access until 2099-01-01" in access
    assert "downloads disabled by the creator (Generation only)" in access
    assert "login required" in access
    assert "KiB" in out and " KB" not in out and " MB" not in out


def test_show_lists_nsfw_previews_only_with_nsfw(fake_civitai, detailed, run_cli):
    code, out, _ = run_cli("show", "8800")
    assert "sfw.png" in out and "racy.png" not in out
    assert "1 hidden as NSFW" in out and "--nsfw lists them" in out
    code, out, _ = run_cli("show", "8800", "--nsfw")
    assert "racy.png" in out and "hidden" not in out
    code, out, _ = run_cli("show", "8800", "--json")
    (version,) = json.loads(out)["item"]["versions"]
    assert [i["url"].rsplit("/", 1)[1] for i in version["images"]] == ["sfw.png"]
    assert [f["type"] for f in version["files"]] == ["Model", "Training Data", "VAE"]


# -- the smaller things ------------------------------------------------------------------------


def test_modelshelf_alone_prints_help_with_environment_and_exit_statuses(run_cli):
    code, out, err = run_cli()
    assert code == 0 and err == ""
    assert out.startswith("usage: modelshelf")
    for text in ("MODELSHELF_HOME", "CIVITAI_API_TOKEN", "MODELSHELF_MODELS_DIR", "130"):
        assert text in out
    assert "exit statuses:" in out and "not found" in out


def test_verbose_works_after_the_command_too():
    from modelshelf.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["scan", "--models-dir", "m", "-v"]).verbose is True
    assert parser.parse_args(["-v", "scan", "--models-dir", "m"]).verbose is True
    assert parser.parse_args(["scan", "--models-dir", "m"]).verbose is False
    assert parser.parse_args(["show", "1", "--verbose"]).verbose is True


def test_a_long_trained_word_is_shortened_with_an_ellipsis():
    from modelshelf.cli.render import _trained_words
    from modelshelf.types import Model, ModelVersion

    word = "a" * 39 + "bcdef"
    model = Model(id=1, name="m", versions=[ModelVersion(id=2, name="v", trained_words=[word])])
    assert _trained_words(model) == "a" * 39 + "…"


def test_ctrl_c_during_a_download_says_that_running_it_again_resumes(
    fake_civitai, monkeypatch, tmp_path, run_cli
):
    import modelshelf.download.service as service

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(service, "download", interrupted)
    code, out, err = run_cli("download", "1", "--models-dir", str(tmp_path))
    assert code == 130 and out == ""
    assert err == (
        "modelshelf: interrupted; run the same command again to resume the download "
        "(the part already fetched is kept).\n"
    )


# -- refusals -----------------------------------------------------------------------------------


@pytest.fixture
def poses(fake_civitai):
    poses = make_file(4400, "p.zip", b"zip-bytes", format="Other")
    fake_civitai.add_model(
        make_model(44, "Poses", "Poses", versions=[make_version(440, 44, [poses], name="v1")])
    )


def test_a_type_without_a_home_goes_to_other_in_a_plain_folder(poses, tmp_path, run_cli):
    code, out, err = run_cli(
        "download", "44", "--models-dir", str(tmp_path / "m"), "--dry-run", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["path"] == str(tmp_path / "m" / "other" / "p.zip")


def test_a_type_without_a_home_in_a_host_is_refused_with_new_advice(poses, tmp_path, run_cli):
    host = tmp_path / "ComfyUI"
    (host / "custom_nodes").mkdir(parents=True)
    code, out, err = run_cli("download", "44", "--host-dir", str(host))
    assert code == 2 and out == ""
    assert "'Poses' has no model folder in this ComfyUI layout" in err
    assert "--models-dir DIR puts it in DIR/other" in err
    assert not (host / "models").exists()


def test_an_archived_model_is_not_found(fake_civitai, tmp_path, run_cli):
    raw = make_model(55, "Old", "LORA", versions=[make_version(550, 55, [], name="v1")])
    raw["mode"] = "Archived"
    fake_civitai.add_model(raw)
    code, _, err = run_cli("download", "55", "--models-dir", str(tmp_path / "m"))
    assert code == 3 and "archived" in err
    assert not (tmp_path / "m").exists()


def test_download_uses_the_models_dir_setting(fake_civitai, tmp_path, run_cli):
    fake_civitai.add_model(
        make_model(
            66,
            "Ink",
            "LORA",
            [make_version(660, 66, [make_file(6600, "ink.safetensors", b"i" * 2048)], name="v")],
        )
    )
    assert run_cli("config", "set", "models_dir", str(tmp_path / "shelf")).code == 0
    code, out, err = run_cli("download", "66", "--dry-run")
    assert code == 0, err
    assert out == (
        f"Would download {tmp_path / 'shelf' / 'loras' / 'ink.safetensors'} (2.0 KiB, SHA256 "
        f"{json.loads(run_cli('download', '66', '--dry-run', '--json').stdout)['sha256']}; "
        "not installed).\n"
    )
