"""Settings precedence (flag > environment > settings file) and the 0600 settings file."""

from __future__ import annotations

import stat

from modelshelf.settings import load_settings, save_settings_file


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
