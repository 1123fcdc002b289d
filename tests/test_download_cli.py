"""``modelshelf download`` against the fake services.

In-process (``run_cli``), except where a real process is the point: SIGKILL mid-download,
and the progress bar on a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import CliResult, process_env
from fakes.civitai import FakeCivitai
from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version
from fakes.storage import link_storage
from test_download_service import CKPT, LORA, add_catalogue, all_files

RETRY_LINE = re.compile(r"modelshelf: .+; retrying( in \d+ s)? \(\d+ of \d+\)…$")

TOKEN = FakeCivitai.valid_token
DOWNLOAD_KEYS = {"path", "sha256", "size", "model_id", "version_id", "file_id", "sidecars"}


BIG = make_safetensors(3 * 1024 * 1024)


@pytest.fixture
def civitai(fake_civitai, fake_storage):
    add_catalogue(fake_civitai)
    image = [make_image(f"{fake_civitai.url}/img/6.png", image_id=6)]
    big_file = make_file(6000, "big.safetensors", BIG)
    big = make_version(600, 60, [big_file], name="v1", model_type="Checkpoint", images=image)
    fake_civitai.add_model(make_model(60, "Big", "Checkpoint", versions=[big]))
    link_storage(fake_civitai, fake_storage, {1000: LORA, 2000: CKPT, 6000: BIG})
    return fake_civitai


@pytest.fixture
def env(civitai) -> dict[str, str]:
    """The variables every run adds to the test's isolated environment."""
    return {"MODELSHELF_CIVITAI_URL": civitai.url, "CIVITAI_API_TOKEN": TOKEN}


@pytest.fixture
def cli(run_cli, env):
    """``cli(*args, env=None)``: ``modelshelf download ARGS`` in-process (``env`` adds to it)."""
    base = env

    def run(*args: str, env: dict[str, str | None] | None = None) -> CliResult:
        return run_cli("download", *args, env={**base, **(env or {})})

    return run


def assert_one_line_error(proc, code):
    assert proc.code == code, (proc.code, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    lines = [line for line in lines if not RETRY_LINE.match(line)]  # "retrying (1 of 4)…"
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("modelshelf: ")
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def assert_no_key_anywhere(proc, *folders):
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file() and path.name != "settings.json":
                assert TOKEN.encode() not in path.read_bytes(), path


def test_dry_run_json(cli, civitai, tmp_path, isolated_home):
    models = tmp_path / "models"
    proc = cli("10", "--models-dir", str(models), "--dry-run", "--json")
    assert proc.code == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert DOWNLOAD_KEYS | {"already_installed", "dry_run"} <= set(doc)
    assert doc["path"] == str(models / "loras" / "ink_style.safetensors")
    assert (doc["model_id"], doc["version_id"], doc["file_id"]) == (10, 100, 1000)
    assert doc["size"] == len(LORA) and doc["dry_run"] is True
    assert doc["already_installed"] is False and doc["sidecars"] == []
    assert not models.exists()
    assert civitai.requests_to(r"/api/download/models/.*") == []
    assert_no_key_anywhere(proc, isolated_home, tmp_path)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["not a ref!"], 2),
        (["30"], 2),  # the scan says Danger
        (["999"], 3),
        (["10", "--file", "1234"], 3),
    ],
)
def test_errors_are_one_line_with_the_right_status(cli, tmp_path, args, code, isolated_home):
    models = tmp_path / "models"
    proc = cli(*args, "--models-dir", str(models))
    assert_one_line_error(proc, code)
    assert not models.exists()
    assert_no_key_anywhere(proc, isolated_home, tmp_path)


def test_network_failure_is_status_6(cli, tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = {"MODELSHELF_CIVITAI_URL": f"http://127.0.0.1:{port}"}
    proc = cli("10", "--models-dir", str(tmp_path / "m"), "--no-cache", env=dead)
    assert_one_line_error(proc, 6)


def test_usage_errors_are_status_2(cli, tmp_path):
    proc = cli("10", "--models-dir", str(tmp_path), "--host-dir", str(tmp_path))
    assert_one_line_error(proc, 2)
    proc = cli("10")  # nowhere to put it
    assert_one_line_error(proc, 2)
    proc = cli("10", "--models-dir", str(tmp_path), "--connections", "0")
    assert_one_line_error(proc, 2)


def test_download_json_then_already_installed(cli, civitai, fake_storage, tmp_path, isolated_home):
    models = tmp_path / "models"
    proc = cli("10", "--models-dir", str(models), "--json")
    assert proc.code == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert DOWNLOAD_KEYS | {"already_installed"} <= set(doc)
    target = models / "loras" / "ink_style.safetensors"
    assert doc["path"] == str(target) and target.read_bytes() == LORA
    assert doc["already_installed"] is False and doc["size"] == len(LORA)
    assert sorted(Path(p).name for p in doc["sidecars"]) == [
        "ink_style.civitai.info",
        "ink_style.json",
        "ink_style.preview.png",
    ]
    assert proc.stderr == ""  # not a terminal: no progress bar
    again = cli("10", "--models-dir", str(models), "--json")
    assert again.code == 0, again.stderr
    assert json.loads(again.stdout)["already_installed"] is True
    assert len(civitai.requests_to(r"/api/download/models/100")) == 1
    human = cli("10", "--models-dir", str(models))
    assert human.code == 0 and human.stdout.startswith("Already installed: ")
    assert all("Authorization" not in r.headers for r in fake_storage.gets())
    for proc_ in (proc, again, human):
        assert_no_key_anywhere(proc_, isolated_home, tmp_path)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (
            lambda c, s: c.download_rules.__setitem__(100, {"early_access_deadline": "2099-01-01"}),
            4,
        ),
        (lambda c, s: c.download_rules.__setitem__(100, {"disabled": True}), 4),
        (lambda c, s: s.fault("corrupt", times=None), 5),
        (lambda c, s: s.fault("status", times=None, status=503), 6),
    ],
)
def test_download_failures(cli, civitai, fake_storage, tmp_path, isolated_home, setup, code):
    setup(civitai, fake_storage)
    models = tmp_path / "models"
    (models / "loras").mkdir(parents=True)
    proc = cli("10", "--models-dir", str(models))
    assert_one_line_error(proc, code)
    if code != 6:  # a network failure keeps its .part for a resume
        assert all_files(models) == set()
    assert not (models / "loras" / "ink_style.safetensors").exists()
    assert_no_key_anywhere(proc, isolated_home, tmp_path)


def test_needs_key_without_one(cli, civitai, tmp_path):
    civitai.download_rules[100] = {"require_auth": True}
    proc = cli("10", "--models-dir", str(tmp_path / "m"), env={"CIVITAI_API_TOKEN": None})
    assert_one_line_error(proc, 4)
    assert "key" in proc.stderr.lower()


def test_killed_download_resumes_with_range(cli, civitai, fake_storage, tmp_path, isolated_home):
    models = tmp_path / "models"
    part_dir = models / "checkpoints"
    # the body pauses past the first 1 MiB buffer: that much is on disk, the rest is not
    hold = fake_storage.hold(after=1_200_000)
    args = ["download", "60", "--models-dir", str(models), "--connections", "1", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelshelf", *args],
        env=process_env(MODELSHELF_CIVITAI_URL=civitai.url, CIVITAI_API_TOKEN=TOKEN),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert hold.reached.wait(30), "the download never got mid-body"
        deadline = time.monotonic() + 30
        grown = 0
        while time.monotonic() < deadline and grown == 0:
            parts = list(part_dir.glob("*.part")) if part_dir.exists() else []
            grown = parts[0].stat().st_size if parts else 0
            time.sleep(0.02)  # polling the file for the written buffer, with a deadline
        assert proc.poll() is None, "the download ended while held"
        assert grown >= 1024 * 1024
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    hold.release()
    assert not (part_dir / "big.safetensors").exists()
    fake_storage.clear_requests()
    again = cli("60", "--models-dir", str(models), "--json")
    assert again.code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert Path(doc["path"]).read_bytes() == BIG
    ranges = [r.headers.get("Range") for r in fake_storage.gets()]
    starts = [int(r.split("=")[1].split("-")[0]) for r in ranges if r]
    assert starts and starts[0] >= grown, ranges
    assert all_files(models) == {
        "checkpoints/big.safetensors",
        "checkpoints/big.json",
        "checkpoints/big.civitai.info",
        "checkpoints/big.preview.png",
    }
    assert_no_key_anywhere(again, isolated_home, tmp_path)


def test_progress_bar_only_on_a_terminal(env, tmp_path):
    import pty

    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "modelshelf",
                "download",
                "10",
                "--models-dir",
                str(tmp_path / "m"),
                "--json",
            ],
            env=process_env(**env),
            stdout=subprocess.PIPE,
            stderr=slave,
            timeout=60,
        )
    finally:
        os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["size"] == len(LORA)  # stdout stays pure JSON
    assert b"kB" in seen or b"bytes" in seen  # rich's download column on stderr
    assert b"ink_style.safetensors" in seen  # labelled with the file, not the REF
