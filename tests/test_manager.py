"""The download manager: queue, concurrency limit, progress, cancel, retry, record."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import pytest

from modelshelf.download.manager import DownloadManager, DownloadRequest, Job
from modelshelf.errors import IntegrityError, NotFoundError, UserCancelledError
from modelshelf.settings import load_settings

TIMEOUT = 10.0


@dataclass
class FakeResult:
    path: str
    size: int


class ScriptedRunner:
    """A runner whose jobs block until the test releases them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.started: dict[str, threading.Event] = {}
        self.release: dict[str, threading.Event] = {}
        self.fail_with: dict[str, Exception] = {}
        self.calls: list[str] = []

    def events(self, ref):
        with self.lock:
            self.started.setdefault(ref, threading.Event())
            self.release.setdefault(ref, threading.Event())
            return self.started[ref], self.release[ref]

    def __call__(self, request, on_progress, cancel):
        started, release = self.events(request.ref)
        with self.lock:
            self.calls.append(request.ref)
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            on_progress(0, 100)
            started.set()
            while not release.wait(0.01):
                if cancel.is_set():
                    raise UserCancelledError("Download cancelled.")
            on_progress(50, 100)
            on_progress(100, 100)
            if request.ref in self.fail_with:
                raise self.fail_with.pop(request.ref)
            return FakeResult(path=f"/models/{request.ref}.safetensors", size=100)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def settings(tmp_path):
    return load_settings({"home": tmp_path / "home"})


def wait_for(predicate, timeout=TIMEOUT):
    done = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return True
        done.wait(0.01)
    raise AssertionError("condition not reached in time")


def test_runs_jobs_with_a_concurrency_limit_and_reports_progress(settings):
    runner = ScriptedRunner()
    manager = DownloadManager(settings, max_concurrent=2, runner=runner)
    seen: list[Job] = []
    manager.subscribe(seen.append)
    ids = [manager.submit(DownloadRequest(ref=f"m{i}")) for i in range(3)]
    for ref in ("m0", "m1"):
        assert runner.events(ref)[0].wait(TIMEOUT)
    # the third waits for a free slot
    assert manager.job(ids[2]).state == "queued"
    assert runner.max_running == 2
    runner.events("m0")[1].set()
    assert manager.wait(ids[0], TIMEOUT).state == "done"
    assert runner.events("m2")[0].wait(TIMEOUT)
    runner.events("m1")[1].set()
    runner.events("m2")[1].set()
    for job_id in ids:
        job = manager.wait(job_id, TIMEOUT)
        assert job.state == "done"
        assert job.result["path"].endswith(".safetensors")
        assert (job.bytes_done, job.bytes_total) == (100, 100)
    assert runner.max_running == 2
    wait_for(lambda: [j.state for j in seen if j.id in ids].count("done") == 3)
    states = [j.state for j in seen if j.id == ids[0]]
    assert states[0] == "queued" and "running" in states and states[-1] == "done"
    assert any(j.bytes_done == 50 and j.bytes_total == 100 for j in seen if j.id == ids[0])
    manager.shutdown()


def test_cancel_running_and_queued_then_retry(settings):
    runner = ScriptedRunner()
    manager = DownloadManager(settings, max_concurrent=1, runner=runner)
    a = manager.submit(DownloadRequest(ref="a"))
    b = manager.submit(DownloadRequest(ref="b"))
    assert runner.events("a")[0].wait(TIMEOUT)
    assert manager.cancel(b).state == "cancelled"
    manager.cancel(a)
    job = manager.wait(a, TIMEOUT)
    assert job.state == "cancelled" and job.exit_code == 130
    assert runner.calls == ["a"]  # b never started
    runner.events("a")[1].set()
    runner.events("b")[1].set()
    assert manager.retry(a).state in {"queued", "running"}
    assert manager.wait(a, TIMEOUT).state == "done"
    assert manager.wait(manager.retry(b).id, TIMEOUT).state == "done"
    assert manager.job(a).attempts == 2
    with pytest.raises(Exception, match="only a failed"):
        manager.retry(a)
    with pytest.raises(NotFoundError):
        manager.cancel("nope")
    manager.shutdown()


def test_failure_keeps_the_sentence_and_exit_code(settings):
    runner = ScriptedRunner()
    runner.fail_with["x"] = IntegrityError("The file's SHA256 did not match; nothing was placed.")
    runner.fail_with["y"] = ZeroDivisionError("bug")
    runner.events("x")[1].set()
    runner.events("y")[1].set()
    manager = DownloadManager(settings, runner=runner)
    x = manager.wait(manager.submit(DownloadRequest(ref="x")), TIMEOUT)
    y = manager.wait(manager.submit(DownloadRequest(ref="y")), TIMEOUT)
    assert (x.state, x.exit_code) == ("failed", 5)
    assert "SHA256" in x.error
    assert (y.state, y.exit_code) == ("failed", 1)
    assert "ZeroDivisionError" in y.error
    # retry after the cause is gone
    assert manager.wait(manager.retry(x.id).id, TIMEOUT).state == "done"
    manager.shutdown()


def test_listener_errors_are_not_fatal(settings):
    runner = ScriptedRunner()
    runner.events("ok")[1].set()
    manager = DownloadManager(settings, runner=runner)
    good: list[str] = []

    def bad(job):
        raise RuntimeError("listener bug")

    manager.subscribe(bad)
    unsubscribe = manager.subscribe(lambda j: good.append(j.state))
    job = manager.wait(manager.submit(DownloadRequest(ref="ok")), TIMEOUT)
    assert job.state == "done"
    wait_for(lambda: good and good[-1] == "done")  # listeners run after the state changes
    unsubscribe()
    count = len(good)
    runner.events("ok2")[1].set()
    manager.wait(manager.submit(DownloadRequest(ref="ok2")), TIMEOUT)
    assert len(good) == count
    manager.shutdown()


def test_record_survives_a_restart_and_running_jobs_come_back_interrupted(settings):
    runner = ScriptedRunner()
    first = DownloadManager(settings, runner=runner)
    runner.events("done")[1].set()
    done_id = first.submit(DownloadRequest(ref="done", file_id=7, host_dir="/srv/a1111"))
    assert first.wait(done_id, TIMEOUT).state == "done"
    running_id = first.submit(DownloadRequest(ref="running"))
    assert runner.events("running")[0].wait(TIMEOUT)
    # the process "dies": read the record as it is now, without shutting down
    record = json.loads((settings.home / "downloads.json").read_text("utf-8"))
    states = {j["id"]: j["state"] for j in record["jobs"]}
    assert states == {done_id: "done", running_id: "running"}

    for raw in record["jobs"]:  # as left by a process that is gone
        raw["owner"] = "otherhost:1:dead"
    copy = settings.home / "copy.json"
    copy.write_text(json.dumps(record), "utf-8")
    runner2 = ScriptedRunner()
    second = DownloadManager(settings, runner=runner2, store_path=copy)
    jobs = {j.id: j for j in second.jobs()}
    assert jobs[done_id].state == "done"
    assert jobs[done_id].request == DownloadRequest(ref="done", file_id=7, host_dir="/srv/a1111")
    assert jobs[running_id].state == "interrupted"
    assert "retry" in jobs[running_id].error
    runner2.events("running")[1].set()
    second.retry(running_id)
    assert second.wait(running_id, TIMEOUT).state == "done"
    assert runner2.calls == ["running"]
    second.shutdown()
    runner.events("running")[1].set()
    first.shutdown()


def test_shutdown_interrupts_running_jobs(settings):
    runner = ScriptedRunner()
    manager = DownloadManager(settings, max_concurrent=1, runner=runner)
    a = manager.submit(DownloadRequest(ref="a"))
    b = manager.submit(DownloadRequest(ref="b"))
    assert runner.events("a")[0].wait(TIMEOUT)
    manager.shutdown()
    assert manager.job(a).state == "interrupted"
    assert manager.job(b).state == "interrupted"
    reloaded = DownloadManager(settings, runner=ScriptedRunner())
    assert {j.state for j in reloaded.jobs()} == {"interrupted"}


def test_speed_and_eta_from_progress(settings):
    gate = threading.Event()
    seen: list[Job] = []

    def runner(request, on_progress, cancel):
        on_progress(0, 1000)
        gate.wait(0.05)  # let the clock move so a speed can be computed
        on_progress(500, 1000)
        return {"path": "p", "size": 1000}

    manager = DownloadManager(settings, runner=runner)
    manager.subscribe(seen.append)
    job = manager.wait(manager.submit(DownloadRequest(ref="s")), TIMEOUT)
    assert job.state == "done"
    wait_for(lambda: any(j.state == "done" for j in seen))  # listeners run on their own thread
    mid = [j for j in seen if j.bytes_done == 500][0]
    assert mid.speed and mid.speed > 0
    assert mid.eta == pytest.approx(500 / mid.speed)
    manager.shutdown()


def test_unreadable_record_is_ignored(settings):
    settings.home.mkdir(parents=True)
    (settings.home / "downloads.json").write_text("{not json", "utf-8")
    manager = DownloadManager(settings, runner=ScriptedRunner())
    assert manager.jobs() == []


def test_default_runner_downloads_through_the_service(fake_novita, tmp_path):
    from fakes.factory import make_safetensors

    content = make_safetensors(8 * 1024)
    fake_novita.add_private(
        888002, "queued-lora", content, cover_url=f"{fake_novita.url}/img/888002.png"
    )
    settings = load_settings({"max_retry_wait": 0.05})
    manager = DownloadManager(settings)
    models = tmp_path / "models"
    job_id = manager.submit(DownloadRequest(ref="novita:888002", models_dir=str(models)))
    job = manager.wait(job_id, TIMEOUT)
    assert job.state == "done", job.error
    assert job.result["path"] == str(models / "loras" / "queued-lora.safetensors")
    assert (models / "loras" / "queued-lora.safetensors").read_bytes() == content
    assert job.bytes_done == job.bytes_total == len(content)
    # a bad request fails with the service's sentence and exit code
    bad = manager.wait(manager.submit(DownloadRequest(ref="novita:888002")), TIMEOUT)
    assert (bad.state, bad.exit_code) == ("failed", 2)
    assert "--models-dir" in bad.error
    manager.shutdown()


def test_a_token_in_a_url_ref_is_not_saved(settings):
    runner = ScriptedRunner()
    manager = DownloadManager(settings, runner=runner)
    url = "https://civitai.com/api/download/models/100?token=secret-token-123&fileId=7"
    job_id = manager.submit(DownloadRequest(ref=url))
    assert runner.events(manager.job(job_id).request.ref)[0].wait(TIMEOUT)
    record = (settings.home / "downloads.json").read_text("utf-8")
    assert "secret-token-123" not in record and "fileId=7" in record
    manager.cancel(job_id)
    manager.shutdown()


def test_revisions_grow_and_a_long_poll_returns_only_what_changed(settings):
    runner = ScriptedRunner()
    manager = DownloadManager(settings, runner=runner)
    start = manager.revision
    a = manager.submit(DownloadRequest(ref="a"))
    assert runner.events("a")[0].wait(TIMEOUT)
    revision, changed = manager.changes(start)
    assert revision > start and [j.id for j in changed] == [a]
    # a long-poll that sees a change returns as soon as it happens
    got: list[tuple[int, list[Job]]] = []
    poller = threading.Thread(target=lambda: got.append(manager.changes(revision, 30)))
    poller.start()
    runner.events("a")[1].set()
    poller.join(TIMEOUT)
    assert got and got[0][0] > revision and got[0][1][-1].id == a
    assert manager.wait(a, TIMEOUT).state == "done"
    final, _ = manager.changes(0)
    assert manager.changes(final, 0.01) == (final, [])
    manager.shutdown()


def test_bytes_done_never_goes_backwards(settings):
    seen: list[int] = []

    def runner(request, on_progress, cancel):
        on_progress(600, 1000)
        on_progress(200, 1000)  # a range restarted from its start
        on_progress(1000, 1000)
        return {"path": "p", "size": 1000}

    manager = DownloadManager(settings, runner=runner)
    manager.subscribe(lambda job: seen.append(job.bytes_done))
    assert manager.wait(manager.submit(DownloadRequest(ref="r")), TIMEOUT).state == "done"
    wait_for(lambda: 1000 in seen)
    assert seen == sorted(seen)
    manager.shutdown()


HOLDER = """
import sys, threading
from modelshelf.download.manager import DownloadManager, DownloadRequest
from modelshelf.settings import load_settings

release = threading.Event()
def runner(request, on_progress, cancel):
    on_progress(1, 10)
    print("running", flush=True)
    release.wait()
    return {"path": "p", "size": 10}

manager = DownloadManager(load_settings({"home": sys.argv[1]}), runner=runner)
manager.submit(DownloadRequest(ref="held-by-the-other-process"))
sys.stdin.read()  # until the test closes it or kills this process
"""


def test_two_processes_share_the_record_without_interrupting_each_other(settings):
    import subprocess
    import sys

    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(settings.home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout.readline().strip() == "running"
        runner = ScriptedRunner()
        mine = DownloadManager(settings, runner=runner)
        assert mine.jobs() == []  # the other process's running job is not ours to interrupt
        runner.events("mine")[1].set()
        assert mine.wait(mine.submit(DownloadRequest(ref="mine")), TIMEOUT).state == "done"
        record = json.loads((settings.home / "downloads.json").read_text("utf-8"))
        states = {j["request"]["ref"]: j["state"] for j in record["jobs"]}
        assert states == {"held-by-the-other-process": "running", "mine": "done"}
        mine.shutdown()
    finally:
        other.kill()
        other.wait(TIMEOUT)
    # the other process is gone: its job comes back interrupted, ready to retry
    later = DownloadManager(settings, runner=ScriptedRunner())
    states = {j.request.ref: j.state for j in later.jobs()}
    assert states == {"held-by-the-other-process": "interrupted", "mine": "done"}
    later.shutdown()


def test_a_failure_outside_our_errors_still_reads_as_a_sentence(settings):
    import errno

    def runner(request, on_progress, cancel):
        raise OSError(errno.ENOSPC, "No space left on device", "/models/x.safetensors")

    manager = DownloadManager(settings, runner=runner)
    job = manager.wait(manager.submit(DownloadRequest(ref="full")), TIMEOUT)
    assert job.state == "failed" and job.error.startswith("The disk is full")
    manager.shutdown()
