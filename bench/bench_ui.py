"""The Gradio UI's costs, printed (never asserted).

1. Click "Search" to 100 cards shown in Chromium, beside the fake server's own answer time.
2. What the A1111 tab adds to the WebUI's start: import + tab build, against the same run
   with the tab skipped (stubs of the WebUI's modules).
3. CPU of the page (Chromium) and the server's UI work while a download runs with the
   Downloads view open (``--size-mib``, default 1024), in % of one core; the download's own
   work is measured as the reference with the page closed.

    python bench/bench_ui.py [--size-mib 1024] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import runpy
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"chromium" in (entry / "cmdline").read_bytes()[:200]:
                    out.append(int(entry.name))
            except OSError:
                pass
    return out


def bench_start(runs: int) -> None:
    import shutil

    import gradio as gr  # noqa: F401 - the WebUI has imported Gradio long before extensions

    stubs = ROOT / "tests" / "a1111_stubs"
    sys.path.insert(0, str(stubs))
    from modules import paths, script_callbacks

    tmp = Path(tempfile.mkdtemp())
    paths.script_path = paths.data_path = str(tmp)
    paths.models_path = str(tmp / "models")
    os.environ["MODELSHELF_HOME"] = str(tmp / "home")
    with_tab, without = [], []
    for _ in range(runs):
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
    shutil.rmtree(tmp, ignore_errors=True)
    added = statistics.median(with_tab) - statistics.median(without)
    print(
        f"extension start (import + tab build): {added * 1000:.0f} ms median of {runs} "
        f"(target < 150 ms; skipped: {statistics.median(without) * 1000:.2f} ms)"
    )


class _Served:
    def __init__(self, url: str):
        self.url = url
        self.process = type("P", (), {"pid": os.getpid()})()  # the UI runs in this process


@contextlib.contextmanager
def serve(models: Path):
    """The standalone page with 100 cards a page, served from this process."""
    from ui_support import free_port

    from modelshelf.gradio_ui import UIContext, standalone_blocks
    from modelshelf.layout import resolve_layout
    from modelshelf.shelf import Shelf

    shelf = Shelf(None, resolve_layout(models, layout="a1111"))
    demo = standalone_blocks(UIContext(shelf=shelf, page_size=100))
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield _Served(f"http://127.0.0.1:{port}/")
    finally:
        demo.close()
        shelf.close()


def bench_page(size_mib: int, runs: int) -> None:
    from fakes.civitai import FakeCivitai
    from fakes.factory import make_file, make_image, make_model, make_version
    from fakes.storage import FakeStorage, link_storage
    from playwright.sync_api import sync_playwright
    from ui_support import add_catalogue, image_url

    tmp = Path(tempfile.mkdtemp())
    civitai, storage = FakeCivitai(), FakeStorage()
    civitai.start()
    storage.start()
    add_catalogue(civitai, storage, fillers=120)
    blob = tmp / "big.safetensors"
    with open(blob, "wb") as fh:  # a sparse file of the size asked
        fh.truncate(size_mib * 1024 * 1024)
    big = make_file(9901, "bench_big.safetensors", b"")
    import hashlib

    digest = hashlib.sha256()
    with open(blob, "rb") as fh:
        while chunk := fh.read(1 << 24):
            digest.update(chunk)
    big["hashes"] = {"SHA256": digest.hexdigest().upper()}
    big["sizeKB"] = size_mib * 1024
    civitai.add_model(
        make_model(
            9900,
            "Bench Big",
            "Checkpoint",
            versions=[
                make_version(
                    9910,
                    9900,
                    [big],
                    name="v1",
                    model_type="Checkpoint",
                    images=[make_image(image_url(civitai, "bench"))],
                )
            ],
        )
    )
    link_storage(civitai, storage, {9901: blob})
    os.environ.update(
        MODELSHELF_HOME=str(tmp / "home"),
        MODELSHELF_CIVITAI_URL=civitai.url,
        NO_PROXY="127.0.0.1,127.0.0.2,localhost",
    )
    (tmp / "models").mkdir()
    with serve(tmp / "models") as ui, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(ui.url)
        page.get_by_role("button", name="Search", exact=True).wait_for()
        clicks, server = [], []
        for _ in range(runs):
            query = "Shelf"
            page.reload()  # an empty grid each time
            page.get_by_role("button", name="Search", exact=True).wait_for()
            page.get_by_label("Search", exact=True).fill(query)
            before = page.evaluate(
                "() => (document.querySelector('.modelshelf-card') || {}).outerHTML || ''"
            )
            began = time.perf_counter()
            page.get_by_role("button", name="Search", exact=True).click()
            page.wait_for_function(
                "(b) => document.querySelectorAll('.modelshelf-card').length === 100"
                " && document.querySelector('.modelshelf-card').outerHTML !== b",
                arg=before,
            )
            clicks.append(time.perf_counter() - began)
            t0 = time.perf_counter()
            import requests

            requests.get(
                f"{civitai.url}/api/v1/models",
                params={"query": "Shelf", "limit": 100, "nsfw": "true"},
                timeout=30,
            ).raise_for_status()
            server.append(time.perf_counter() - t0)
        click, srv = statistics.median(clicks), statistics.median(server)
        print(
            f"Search to 100 cards shown: {click * 1000:.0f} ms; the server alone "
            f"{srv * 1000:.0f} ms; UI on top {max(0.0, click - srv) * 1000:.0f} ms (target < 300)"
        )

        storage.throttle(16 * 1024 * 1024)  # per connection: the download lasts ~16 s
        page.locator("#modelshelf_search_text textarea").fill("9900@9910")
        page.get_by_role("button", name="Search", exact=True).click()
        page.locator("#modelshelf_files").get_by_role("button", name="Download").click()
        page.get_by_role("tab", name="Downloads").click()
        row = page.locator(".modelshelf-job", has_text="bench_big.safetensors")
        row.locator(".modelshelf-job-state", has_text="Downloading").wait_for(timeout=60_000)
        pids = chromium_pids()
        c0, s0, t0 = cpu_by_pid(pids), cpu_by_pid([ui.process.pid]), time.perf_counter()
        row.locator(".modelshelf-job-state", has_text="Done").wait_for(timeout=1_800_000)
        wall = time.perf_counter() - t0
        page_cpu = cpu_delta(c0, cpu_by_pid(pids))
        server_cpu = cpu_delta(s0, cpu_by_pid([ui.process.pid]))
        print(
            f"{size_mib} MiB download in {wall:.1f} s with the Downloads view open: Chromium "
            f"{100 * page_cpu / wall:.1f}% of a core; the server process (download + hashing "
            f"+ UI) {100 * server_cpu / wall:.1f}%"
        )
        browser.close()
    civitai.stop()
    storage.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bench_start(args.runs)
    bench_page(args.size_mib, args.runs)


if __name__ == "__main__":
    main()
