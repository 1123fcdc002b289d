"""Settings precedence (flag > environment > settings file) and the 0600 settings file."""

from __future__ import annotations

import json
import stat
from dataclasses import fields
from pathlib import Path

import pytest

from modelshelf.cli import main
from modelshelf.errors import BadInputError
from modelshelf.settings import Settings, load_settings, save_settings_file
from modelshelf.settings_keys import KEYS, LAYOUT_NAMES


def test_file_then_env_then_override(isolated_home, monkeypatch):
    save_settings_file(isolated_home, {"civitai_token": "from-file", "nsfw": True})
    assert load_settings().civitai_token == "from-file"
    assert load_settings().nsfw is True
    monkeypatch.setenv("CIVITAI_TOKEN", "from-env-alias")
    assert load_settings().civitai_token == "from-env-alias"
    monkeypatch.setenv("CIVITAI_API_TOKEN", "from-env")
    assert load_settings().civitai_token == "from-env"
    assert load_settings({"civitai_token": "from-flag"}).civitai_token == "from-flag"


def test_settings_file_is_private_and_repr_hides_keys(isolated_home):
    path = save_settings_file(isolated_home, {"civitai_token": "s3cret", "novita_key": "n0v"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    settings = load_settings()
    assert "s3cret" not in repr(settings) and "n0v" not in repr(settings)


def test_urls_from_environment_lose_trailing_slash(monkeypatch):
    monkeypatch.setenv("MODELSHELF_CIVITAI_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("MODELSHELF_MAX_RETRY_WAIT", "0.5")
    s = load_settings()
    assert s.civitai_url == "http://127.0.0.1:9"
    assert s.max_retry_wait == 0.5


# -- every key is checked; the file and the key (or the variable) are named -------------


def write(home, text: str):
    path = home / "settings.json"
    path.write_text(text, encoding="utf-8")
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("modelshelf: ") and "Traceback" not in err[0]
    return err[0]


def test_the_key_table_is_the_settings_dataclass():
    from modelshelf.layout import LAYOUT_KINDS

    assert {k.name for k in KEYS} == {f.name for f in fields(Settings)} - {"home"}
    defaults = Settings(home=Path("/x"))
    for key in KEYS:
        assert getattr(defaults, key.name) == key.default, key.name
        assert key.description and key.type in {"bool", "int", "float", "str", "url", "path"}
    assert LAYOUT_NAMES == LAYOUT_KINDS


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"connections": "x"}', ["'connections'", "whole number from 1 to 16", "'x'"]),
        ('{"connections": -3}', ["'connections'", "from 1 to 16", "'-3'"]),
        ('{"connections": 2.5}', ["'connections'"]),
        ('{"nsfw": "maybe"}', ["'nsfw'", "true or false"]),
        ('{"layout": "invokeai"}', ["'layout'", "a1111, forge, sdnext, comfyui"]),
        ('{"prefer_fp": "fp7"}', ["'prefer_fp'", "fp16"]),
        ('{"civitai_url": "ftp://x"}', ["'civitai_url'", "http://"]),
        ('{"models_dir": "relative/dir"}', ["'models_dir'", "absolute folder path"]),
        ('{"max_retry_wait": true}', ["'max_retry_wait'"]),
        ('{"connections": ', ["not valid JSON", "line 1"]),
        ("[1, 2]", ["one JSON object"]),
    ],
)
def test_a_bad_settings_file_is_one_sentence_and_exit_2(isolated_home, capsys, text, words):
    path = write(isolated_home, text)
    with pytest.raises(BadInputError):
        load_settings()
    assert main(["search", "anything"]) == 2  # every command, before any request
    line = one_error_line(capsys)
    assert str(path) in line
    for word in words:
        assert word in line, line


def test_a_secret_is_never_repeated_in_the_message(isolated_home, capsys):
    write(isolated_home, '{"civitai_token": 12345678901}')
    assert main(["search", "x"]) == 2
    line = one_error_line(capsys)
    assert "12345678901" not in line and "'civitai_token'" in line


def test_bad_environment_values_name_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("MODELSHELF_CONNECTIONS", "lots")
    assert main(["search", "x"]) == 2
    line = one_error_line(capsys)
    assert "MODELSHELF_CONNECTIONS" in line and "'lots'" in line
    monkeypatch.setenv("MODELSHELF_CONNECTIONS", "8")
    monkeypatch.setenv("MODELSHELF_MAX_RETRY_WAIT", "-1")
    with pytest.raises(BadInputError, match="MODELSHELF_MAX_RETRY_WAIT"):
        load_settings()


def test_good_values_are_parsed_and_normalised(isolated_home, monkeypatch):
    write(isolated_home, '{"connections": "8", "nsfw": "yes", "prefer_format": "gguf"}')
    monkeypatch.setenv("MODELSHELF_LAYOUT", "Forge")
    s = load_settings()
    assert (s.connections, s.nsfw, s.prefer_format, s.layout) == (8, True, "GGUF", "forge")


# -- modelshelf config -----------------------------------------------------------------------


def test_config_set_get_list_unset(isolated_home, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["config", "set", "connections", "8"]) == 0
    assert main(["config", "set", "models_dir", "my models"]) == 0  # kept absolute
    assert main(["config", "set", "civitai_token", "tok-sekrit-123"]) == 0
    out = capsys.readouterr().out
    assert "tok-sekrit-123" not in out
    path = isolated_home / "settings.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved == {
        "connections": 8,
        "models_dir": str(tmp_path / "my models"),
        "civitai_token": "tok-sekrit-123",
    }
    assert main(["config", "get", "connections"]) == 0
    assert capsys.readouterr().out.strip() == "8"
    assert main(["config", "get", "civitai_token"]) == 0
    assert capsys.readouterr().out.strip() == "(set, hidden)"
    assert main(["config", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    rows = {r["key"]: r for r in listed["settings"]}
    assert rows["civitai_token"]["value"] is None and rows["civitai_token"]["is_set"] is True
    assert rows["connections"] == {**rows["connections"], "value": 8, "source": "file"}
    assert rows["nsfw"]["source"] == "default" and listed["file"] == str(path)
    assert main(["config", "list"]) == 0
    table = capsys.readouterr().out
    assert "tok-sekrit-123" not in table and "(set, hidden)" in table
    assert main(["config", "unset", "connections"]) == 0
    assert "connections" not in json.loads(path.read_text())
    assert load_settings().connections == 4


def test_config_set_refuses_bad_values_and_unknown_keys(isolated_home, capsys):
    assert main(["config", "set", "connections", "-3"]) == 2
    assert "from 1 to 16" in one_error_line(capsys)
    assert main(["config", "set", "conections", "3"]) == 2
    assert "'conections' is not a setting" in one_error_line(capsys)
    assert not (isolated_home / "settings.json").exists()


def test_config_repairs_a_file_other_commands_refuse(isolated_home, capsys):
    write(isolated_home, '{"connections": "x", "nsfw": true}')
    assert main(["config", "set", "connections", "2"]) == 0
    assert json.loads((isolated_home / "settings.json").read_text()) == {
        "connections": 2,
        "nsfw": True,
    }
    write(isolated_home, "{broken")
    assert main(["config", "set", "connections", "2"]) == 2  # never overwrites what it cannot read
    assert "not valid JSON" in one_error_line(capsys)
    assert (isolated_home / "settings.json").read_text() == "{broken"


def test_the_models_dir_setting_is_the_default_folder(isolated_home, tmp_path, capsys):
    from modelshelf.cli.common import Context
    from modelshelf.layout import resolve_layout

    save_settings_file(isolated_home, {"models_dir": str(tmp_path / "m"), "layout": "a1111"})
    layout = resolve_layout(settings=Context().settings)
    assert layout.dir_for("loras") == tmp_path / "m" / "Lora"
    # a flag wins over the setting, and the setting's layout goes with the setting's folder
    flagged = resolve_layout(models_dir=tmp_path / "f", settings=Context().settings)
    assert flagged.dir_for("loras") == tmp_path / "f" / "loras"
    save_settings_file(isolated_home, {"host_dir": str(tmp_path)})
    with pytest.raises(BadInputError, match="both models_dir and host_dir"):
        resolve_layout(settings=Context().settings)
