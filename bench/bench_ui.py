"""The Gradio UI's costs, printed (never asserted).

1. Click "Search" to 100 cards shown in Chromium, beside the fake server's own answer time
   (the UI's server runs without the response cache, so every search reaches the server).
2. What the A1111 tab adds to the WebUI's start: import + tab build, against the same run
   with the tab skipped (stubs of the WebUI's modules), under this Python's Gradio and under
   A1111's Gradio 3.41.2 (``.venvs/gradio3``, when present). Byte code is compiled first
   (a WebUI's second start); the cost of an empty ``gr.Blocks`` (Gradio's own, paid by every
   tab) is printed beside it.
3. CPU while a download runs (``--size-mib``, default 1024): Chromium with the Downloads view
   open, and the UI server process (its own subprocess) against the same download with the
   page away (the download's own work): the difference is the server's UI work.

    python bench/bench_ui.py [--size-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from browser import launch as launch_chromium  # noqa: E402


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples by the processes alive at both."""
    return sum(after[p] - before[p] for p in before if p in after)


def chromium_pids() -> list[int]:
    """The Chromium processes this bench started (its descendants: other Chromiums on the
    machine, such as another test run's, are not ours to count)."""
    parents: dict[int, int] = {}
    names: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
                names[int(entry.name)] = (entry / "cmdline").read_bytes()[:200]
            except (OSError, IndexError, ValueError):
                pass
    ours = {os.getpid()}
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in ours} - ours
        grew = bool(more)
        ours |= more
    return [pid for pid in ours if b"chromium" in names.get(pid, b"")]


def _compile_ahead(prefix: Path) -> None:
    """Byte-compile the package into ``prefix`` and use it (PYTHONDONTWRITEBYTECODE-proof)."""
    import compileall

    sys.pycache_prefix = str(prefix)
    for folder in (ROOT / "modelshelf", ROOT / "scripts"):
        compileall.compile_dir(str(folder), quiet=1)


def bench_start(runs: int) -> None:
    """Import + tab build of scripts/model_shelf.py under this interpreter's Gradio."""
    import shutil

    import gradio as gr  # the WebUI has imported Gradio long before extensions load

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    _compile_ahead(tmp / "pycache")
    sys.path.insert(0, str(ROOT / "tests" / "a1111_stubs"))
    from modules import paths, script_callbacks

    paths.script_path = paths.data_path = str(tmp)
    paths.models_path = str(tmp / "models")
    os.environ["MODELSHELF_HOME"] = str(tmp / "home")
    with_tab, without, empty = [], [], []
    for _ in range(runs + 1):  # the first run warms Gradio itself up; not counted
        for name in [m for m in sys.modules if m.startswith("modelshelf")]:
            del sys.modules[name]
        script_callbacks.clear_callbacks()
        began = time.perf_counter()
        runpy.run_path(str(ROOT / "scripts" / "model_shelf.py"))
        script_callbacks.ui_tabs_callback()
        with_tab.append(time.perf_counter() - began)
        script_callbacks.script_unloaded_callback()
        began = time.perf_counter()
        script_callbacks.clear_callbacks()  # the same start with the extension skipped
        without.append(time.perf_counter() - began)
        began = time.perf_counter()
        with gr.Blocks(analytics_enabled=False):  # what any extension's tab costs at least
            pass
        empty.append(time.perf_counter() - began)
    shutil.rmtree(tmp, ignore_errors=True)
    added = statistics.median(with_tab[1:]) - statistics.median(without[1:])
    floor = statistics.median(empty[1:])
    print(
        f"extension start, Gradio {gr.__version__} (import + tab build): {added * 1000:.0f} ms "
        f"median of {runs} (target < 150 ms; skipped: {statistics.median(without) * 1000:.2f} "
        f"ms; of it Gradio's own empty gr.Blocks: {floor * 1000:.0f} ms, Model Shelf "
        f"{(added - floor) * 1000:.0f} ms)",
        flush=True,
    )


def bench_start_gradio3(runs: int) -> None:
    python = ROOT / ".venvs" / "gradio3" / "bin" / "python"
    if not python.exists():
        print(f"extension start, Gradio 3.41: skipped ({python} is missing)")
        return
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [str(python), __file__, "--start-only", "--runs", str(runs)]
    subprocess.run(cmd, check=False, env=env, timeout=600)


SERVER = """
import sys
from pathlib import Path
from modelshelf.gradio_ui import UIContext, standalone_blocks
from modelshelf.layout import resolve_layout
from modelshelf.shelf import Shelf

models, port = Path(sys.argv[1]), int(sys.argv[2])
shelf = Shelf(None, resolve_layout(models, layout="a1111"), use_cache=False)
demo = standalone_blocks(UIContext(shelf=shelf, page_size=100))
demo.queue()
demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
print("ready", flush=True)
sys.stdin.read()  # until the bench closes our stdin
demo.close()
shelf.close()
"""


@contextlib.contextmanager
def serve(models: Path):
    """The standalone page, 100 cards a page and no response cache, in its own process."""
    from ui_support import free_port

    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(models), str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError("the UI server did not start")
        yield proc, f"http://127.0.0.1:{port}/"
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


# In the page: the time of the click on "Search", and of the first frame after the 100th card
# is in the document (measured by the page's own clock: Playwright's waits are not counted).
CLOCK = """() => {
  window.benchClicked = 0; window.benchShown = 0;
  document.addEventListener("click", (e) => {
    if (e.target.closest("#modelshelf_search")) window.benchClicked = performance.now();
  }, { capture: true, once: true });
  const seen = new MutationObserver(() => {
    if (document.querySelectorAll(".modelshelf-card").length !== 100) return;
    seen.disconnect();
    requestAnimationFrame(() => setTimeout(() => { window.benchShown = performance.now(); }));
  });
  seen.observe(document.body, { childList: true, subtree: true });
}"""


def _big_model(civitai, model_id: int, file_id: int, size_mib: int, digest: str) -> None:
    from fakes.factory import make_file, make_model, make_version

    big = make_file(file_id, f"bench_big_{model_id}.safetensors", b"")
    big["hashes"] = {"SHA256": digest}
    big["sizeKB"] = size_mib * 1024
    version = make_version(
        model_id + 10, model_id, [big], name="v1", model_type="Checkpoint", images=[]
    )
    civitai.add_model(
        make_model(model_id, f"Bench Big {model_id}", "Checkpoint", versions=[version])
    )


def bench_page(size_mib: int, runs: int, parts: set[str]) -> None:
    import hashlib

    import requests
    from fakes.civitai import FakeCivitai
    from fakes.storage import FakeStorage, link_storage
    from playwright.sync_api import sync_playwright
    from ui_support import add_catalogue

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    civitai, storage = FakeCivitai(), FakeStorage()
    civitai.start()
    storage.start()
    add_catalogue(civitai, storage, fillers=120)
    blob = tmp / "big.safetensors"
    with open(blob, "wb") as fh:  # a sparse file of the size asked
        fh.truncate(size_mib * 1024 * 1024)
    digest = hashlib.sha256()
    with open(blob, "rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
    for model_id, file_id in ((9900, 9901), (9920, 9921)):  # page open, then page away
        _big_model(civitai, model_id, file_id, size_mib, digest.hexdigest().upper())
    link_storage(civitai, storage, {9901: blob, 9921: blob})
    os.environ.update(
        MODELSHELF_HOME=str(tmp / "home"),
        MODELSHELF_CIVITAI_URL=civitai.url,
        NO_PROXY="127.0.0.1,127.0.0.2,localhost",
    )
    models = tmp / "models"
    models.mkdir()
    with serve(models) as (server, url), sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        search_button = page.get_by_role("button", name="Search", exact=True)
        search_button.wait_for()
        clicks, alone = [], []
        for run in range(runs + 1 if "search" in parts else 0):  # the first: a warm-up
            page.reload()  # an empty grid each time
            search_button.wait_for()
            # settled: the queue's first snapshot is in (the page's own start is not counted)
            page.wait_for_function(
                "() => (document.querySelector('#modelshelf_jobs_data') || {}).textContent"
                " && document.querySelector('#modelshelf_jobs_data').textContent.includes('{')"
            )
            page.get_by_label("Search", exact=True).fill("Shelf")
            page.evaluate(CLOCK)
            search_button.click()
            took = (
                page.wait_for_function(
                    "() => window.benchShown && window.benchShown - window.benchClicked"
                ).json_value()
                / 1000
            )
            t0 = time.perf_counter()
            requests.get(
                f"{civitai.url}/api/v1/models",
                params={"query": "Shelf", "limit": 100, "nsfw": "true"},
                timeout=30,
            ).raise_for_status()
            if run:
                clicks.append(took)
                alone.append(time.perf_counter() - t0)
        if clicks:
            click, srv = statistics.median(clicks), statistics.median(alone)
            print(
                f"Search to 100 cards shown: {click * 1000:.0f} ms median of {runs}; the server "
                f"alone {srv * 1000:.0f} ms; UI on top {max(0.0, click - srv) * 1000:.0f} ms "
                "(target < 300)",
                flush=True,
            )

        storage.throttle(16 * 1024 * 1024)  # per connection: the download lasts ~16 s
        figures = {}
        for model_id, watched in ((9900, True), (9920, False)) if "download" in parts else ():
            page.goto(url)
            search_button.wait_for()
            page.get_by_label("Search", exact=True).fill(f"{model_id}@{model_id + 10}")
            search_button.click()
            page.locator("#modelshelf_files").get_by_role("button", name="Download").click()
            page.get_by_role("tab", name="Downloads").click()
            name = f"bench_big_{model_id}.safetensors"
            row = page.locator(".modelshelf-job", has_text=name)
            row.locator(".modelshelf-job-state", has_text="Downloading").wait_for(timeout=60_000)
            if not watched:
                page.goto("about:blank")  # the page away: the server does the download only
            pids = chromium_pids()
            c0, s0, t0 = cpu_by_pid(pids), cpu_by_pid([server.pid]), time.perf_counter()
            placed = models / "Stable-diffusion" / name
            if watched:
                row.locator(".modelshelf-job-state", has_text="Done").wait_for(timeout=1_800_000)
            else:
                deadline = time.monotonic() + 1800
                while not placed.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)  # a bench, not a test: nothing to wait on but the disk
            wall = time.perf_counter() - t0
            figures[watched] = (
                100 * cpu_delta(c0, cpu_by_pid(pids)) / wall,
                100 * cpu_delta(s0, cpu_by_pid([server.pid])) / wall,
                wall,
            )
        if not figures:
            browser.close()
            return
        (c_on, s_on, w_on), (_, s_off, w_off) = figures[True], figures[False]
        ui_work = max(0.0, s_on - s_off)
        print(
            f"{size_mib} MiB download, Downloads view open ({w_on:.1f} s): Chromium {c_on:.1f}% "
            f"of a core; UI server process {s_on:.1f}%; the same download with the page away "
            f"({w_off:.1f} s): {s_off:.1f}%; so the server's UI work is ~{ui_work:.1f}% and "
            f"page + UI work {c_on + ui_work:.1f}% (target < 5%)",
            flush=True,
        )
        browser.close()
    civitai.stop()
    storage.stop()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--parts", default="start,search,download", help="which figures (comma-separated)"
    )
    parser.add_argument("--start-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.start_only:
        bench_start(args.runs)
        return
    parts = set(args.parts.split(","))
    if "start" in parts:
        bench_start_gradio3(args.runs)
        bench_start(args.runs)
    if parts & {"search", "download"}:
        bench_page(args.size_mib, args.runs, parts)


if __name__ == "__main__":
    main()
