"""``modelshelf scan``, ``link`` and ``updates`` against the fake Civitai.

In-process (``run_cli``), except Ctrl-C: a real SIGINT needs a real process.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import CliResult, process_env
from fakes.factory import make_file, make_image, make_model, make_safetensors, make_version
from fakes.httpserver import Reply

from modelshelf.library.db import LibraryDB
from modelshelf.library.scan import scan_library

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SCAN_KEYS = {"scanned", "hashed", "identified", "unknown", "items"}


def ok_json(result: CliResult) -> dict:
    assert result.code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def publish(fake, model_id: int, data: bytes, name: str, versions_before=()):
    vid = model_id * 10
    v = make_version(
        vid,
        model_id,
        [make_file(vid * 10, name, data, version_id=vid, root=fake.url)],
        name="v1",
        trained_words=("shelfword",),
        images=[make_image(f"{fake.url}/img/{vid}.png", image_id=vid)],
        root=fake.url,
    )
    fake.add_model(make_model(model_id, f"Model {model_id}", "LORA", [*versions_before, v]))
    return v


@pytest.fixture
def models(tmp_path) -> Path:
    root = tmp_path / "models"
    (root / "loras").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    (root / "loras" / "known.safetensors").write_bytes(make_safetensors(400))
    (root / "loras" / "stranger.safetensors").write_bytes(make_safetensors(401))
    (root / "checkpoints" / "base.ckpt").write_bytes(b"PK\x03\x04" + b"\x01" * 5000)
    return root


def test_scan_offline_json_and_rescan_reads_nothing(models, run_cli):
    first = ok_json(run_cli("scan", "--models-dir", str(models), "--no-identify", "--json"))
    assert set(first) == SCAN_KEYS
    assert first["scanned"] == 3 and first["hashed"] == 3
    assert first["identified"] == 0 and first["unknown"] == 3
    item = next(i for i in first["items"] if i["path"].endswith("base.ckpt"))
    assert set(item) == {"path", "sha256", "model_id", "version_id"}
    assert item["model_id"] is None and item["version_id"] is None
    assert len(item["sha256"]) == 64
    second = ok_json(run_cli("scan", "--models-dir", str(models), "--no-identify", "--json"))
    assert second["hashed"] == 0 and second["scanned"] == 3


def test_scan_identifies_and_fills_cards(fake_civitai, models, run_cli):
    fake_civitai.add_route(
        "GET", r"/img/.*", lambda r, m: Reply(200, PNG, {"Content-Type": "image/png"})
    )
    publish(
        fake_civitai, 5, (models / "loras" / "known.safetensors").read_bytes(), "known.safetensors"
    )
    out = ok_json(run_cli("scan", "--models-dir", str(models), "--json"))
    assert out["identified"] == 1 and out["unknown"] == 2
    known = next(i for i in out["items"] if i["path"].endswith("known.safetensors"))
    assert (known["model_id"], known["version_id"]) == (5, 50)
    meta = json.loads((models / "loras" / "known.json").read_text())
    assert "shelfword" in meta["activation text"] and meta["modelVersionId"] == 50
    assert (models / "loras" / "known.civitai.info").exists()
    assert (models / "loras" / "known.preview.png").read_bytes() == PNG
    assert not (models / "loras" / "stranger.json").exists()

    readable = run_cli("scan", "--models-dir", str(models))
    assert readable.code == 0, readable.stderr
    assert "3 model files: 0 hashed now" in readable.stdout
    assert "1 identified, 2 unknown" in readable.stdout


def test_link_then_updates(fake_civitai, models, run_cli):
    fake_civitai.add_route(
        "GET", r"/img/.*", lambda r, m: Reply(200, PNG, {"Content-Type": "image/png"})
    )
    # Civitai knows the stranger under other bytes: only a manual link can say what it is
    old = publish(fake_civitai, 8, make_safetensors(999), "stranger.safetensors")
    stranger = models / "loras" / "stranger.safetensors"
    linked = ok_json(run_cli("link", str(stranger), "8@80", "--json"))
    assert (linked["model_id"], linked["version_id"]) == (8, 80)
    assert linked["file_id"] is None  # its hash is not one of the version's files
    assert str(stranger.with_name("stranger.json")) in linked["sidecars"]
    assert json.loads(stranger.with_name("stranger.json").read_text())["modelVersionId"] == 80

    none_yet = ok_json(run_cli("updates", "--json"))
    assert none_yet == {"updates": []}

    newer = make_version(
        81,
        8,
        [make_file(810, "stranger_v2.safetensors", make_safetensors(5), version_id=81)],
        name="v2",
        images=[],
    )
    fake_civitai.add_model(make_model(8, "Model 8", "LORA", [newer, old]))
    found = ok_json(run_cli("updates", "--models-dir", str(models), "--json"))
    assert found == {
        "updates": [
            {
                "path": str(stranger),
                "model_id": 8,
                "installed_version_id": 80,
                "latest_version_id": 81,
                "latest_version_name": "v2",
            }
        ]
    }
    # the last check is kept: --offline answers with no server at all
    fake_civitai.stop()
    offline = ok_json(run_cli("updates", "--offline", "--json"))
    assert offline == found
    readable = run_cli("updates", "--offline")
    assert "modelshelf download 8@81" in readable.stdout


def test_link_errors_are_one_line(fake_civitai, models, tmp_path, run_cli):
    missing = run_cli("link", str(tmp_path / "nope.safetensors"), "8@80")
    assert missing.code == 3 and missing.stdout == ""
    assert missing.stderr.startswith("modelshelf: ") and missing.stderr.count("\n") == 1
    bad_ref = run_cli("link", str(models / "checkpoints" / "base.ckpt"), "not a ref")
    assert bad_ref.code == 2


def test_scan_needs_a_location(run_cli):
    result = run_cli("scan", "--json")
    assert result.code == 2 and result.stdout == ""


def test_keyboard_interrupt_keeps_the_database_consistent(tmp_path, monkeypatch):
    import modelshelf.library.scan as scan_mod

    root = tmp_path / "loras"
    root.mkdir()
    for i in range(8):
        (root / f"f{i}.safetensors").write_bytes(make_safetensors(2000 + i))
    real = scan_mod.hash_files

    def two_then_ctrl_c(paths, workers=None, **kw):
        for n, item in enumerate(real(paths, workers, **kw)):
            if n == 2:
                raise KeyboardInterrupt  # Ctrl-C arrives in the main thread
            yield item

    monkeypatch.setattr(scan_mod, "hash_files", two_then_ctrl_c)
    db = LibraryDB(tmp_path / "lib.sqlite3")
    with pytest.raises(KeyboardInterrupt):
        scan_library(db, [("loras", root)], workers=2)
    db.close()

    with sqlite3.connect(tmp_path / "lib.sqlite3") as conn:
        rows = conn.execute("SELECT sha256 FROM files").fetchall()
    assert len(rows) == 2 and all(r[0] for r in rows)  # what was hashed was committed
    monkeypatch.setattr(scan_mod, "hash_files", real)
    resumed = scan_library(LibraryDB(tmp_path / "lib.sqlite3"), [("loras", root)])
    assert resumed.hashed == 6 and resumed.scanned == 8


def test_ctrl_c_during_a_batch_write_leaves_no_half_batch(tmp_path, monkeypatch):
    root = tmp_path / "loras"
    root.mkdir()
    for i in range(8):
        (root / f"f{i}.safetensors").write_bytes(make_safetensors(3000 + i))
    db = LibraryDB(tmp_path / "lib.sqlite3")
    real_execute = db._conn

    class CtrlCOnInsert:
        """The connection, with Ctrl-C arriving in the middle of the batch insert."""

        def __getattr__(self, name):
            return getattr(real_execute, name)

        def __enter__(self):
            return real_execute.__enter__()

        def __exit__(self, *exc):
            return real_execute.__exit__(*exc)

        def executemany(self, sql, rows):
            rows = list(rows)
            real_execute.executemany(sql, rows[:3])  # some rows in, then the signal
            raise KeyboardInterrupt

    monkeypatch.setattr(db, "_conn", CtrlCOnInsert())
    with pytest.raises(KeyboardInterrupt):
        scan_library(db, [("loras", root)], workers=2)
    monkeypatch.undo()
    db.close()

    with sqlite3.connect(tmp_path / "lib.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM files").fetchone()[0] == 0  # rolled back
    resumed = scan_library(LibraryDB(tmp_path / "lib.sqlite3"), [("loras", root)])
    assert resumed.hashed == 8 and resumed.scanned == 8


def test_ctrl_c_keeps_the_database_and_the_next_scan_continues(tmp_path, isolated_home, run_cli):
    """A real SIGINT to `modelshelf scan` mid-way: exit 130, one line, nothing lost."""
    import signal
    import time

    loras = tmp_path / "models" / "loras"
    loras.mkdir(parents=True)
    for i in range(10):
        (loras / f"a_{i:02}.safetensors").write_bytes(make_safetensors(1024 + i))
    with open(loras / "b_big.ckpt", "wb") as fh:  # sparse: seconds of hashing, no disk
        fh.truncate(2 * 2**30)
    for i in range(5):
        (loras / f"c_{i:02}.safetensors").write_bytes(make_safetensors(2048 + i))
    args = [sys.executable, "-m", "modelshelf", "scan", "--models-dir", str(tmp_path / "models")]
    # A child inherits an ignored SIGINT (pytest started in the background, nohup) and Python
    # then never raises KeyboardInterrupt; a handler is not inherited, so set one while starting.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [*args, "--no-identify", "--workers", "1"],
            env=process_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    db_path = isolated_home / "library.sqlite3"
    deadline = time.monotonic() + 60
    hashed_before = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=1) as conn:
                    hashed_before = conn.execute("SELECT count(*) FROM files").fetchone()[0]
            except sqlite3.OperationalError:
                hashed_before = 0
            if hashed_before >= 10:  # the small files are in; the big one is being read
                break
        time.sleep(0.01)  # polling interval, not synchronisation
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert "run the same scan again to continue" in err  # says what running it again does
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        names = {Path(p).name for (p,) in conn.execute("SELECT path FROM files")}
    assert {f"a_{i:02}.safetensors" for i in range(10)} <= names
    assert "b_big.ckpt" not in names  # interrupted mid-read: not recorded half-done
    with open(loras / "b_big.ckpt", "r+b") as fh:  # the rescan need not read 2 GiB again
        fh.truncate(4096)
    again = ok_json(
        run_cli("scan", "--models-dir", str(tmp_path / "models"), "--no-identify", "--json")
    )
    assert again["scanned"] == 16
    assert again["hashed"] == 16 - len(names)  # only what was not done before


# -- relative and missing folders (in process) ------------------------------------------------


@pytest.mark.parametrize("command", [["scan"], ["updates", "--offline"]])
def test_a_folder_that_does_not_exist_is_exit_2(command, tmp_path, run_cli):
    code, out, err = run_cli(*command, "--models-dir", str(tmp_path / "nope"))
    assert code == 2 and out == ""
    assert err.startswith("modelshelf: None of the model folders exists: ") and err.count("\n") == 1
    assert str(tmp_path / "nope") in err


def test_relative_a1111_folder_is_scanned_and_checked_for_updates(
    fake_civitai, tmp_path, monkeypatch, run_cli
):
    monkeypatch.chdir(tmp_path)
    lora = tmp_path / "sd" / "Lora" / "mine.safetensors"
    lora.parent.mkdir(parents=True)
    data = make_safetensors(402)
    lora.write_bytes(data)
    old = publish(fake_civitai, 9, data, "mine.safetensors")
    elsewhere = tmp_path / "other" / "loras" / "far.safetensors"  # identified, another folder
    elsewhere.parent.mkdir(parents=True)
    far = make_safetensors(403)
    elsewhere.write_bytes(far)
    publish(fake_civitai, 7, far, "far.safetensors")
    code, _, err = run_cli("scan", "--models-dir", "other", "--no-enrich")
    assert code == 0, err

    code, out, err = run_cli(
        "scan", "--models-dir", "sd", "--layout", "a1111", "--no-enrich", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert [i["path"] for i in doc["items"]] == [str(lora)]  # found, with its absolute path
    assert doc["identified"] == 1
    assert not (tmp_path / "sd" / "sd").exists()

    code, out, _ = run_cli("updates", "--models-dir", "sd", "--layout", "a1111")
    assert out == "All 1 identified model file is at its newest version.\n"  # not 2: this folder

    newer = make_version(
        91, 9, [make_file(910, "mine_v2.safetensors", b"x", version_id=91)], name="v2"
    )
    fake_civitai.add_model(make_model(9, "Model 9", "LORA", [newer, old]))
    code, out, _ = run_cli("updates", "--models-dir", "sd", "--layout", "a1111", "--json")
    assert [u["path"] for u in json.loads(out)["updates"]] == [str(lora)]


def test_one_file_is_one_model_file(tmp_path, run_cli):
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "a.safetensors").write_bytes(make_safetensors(1))
    code, out, _ = run_cli("scan", "--models-dir", str(tmp_path), "--no-identify")
    assert code == 0 and out.startswith("1 model file: 1 hashed now")
