"""The sidebar's ``/modelshelf/...`` routes with aiohttp's test client, on the fake Civitai.

Each route answers; a path in a parameter, another Origin, a foreign Host and a hostile
file name are refused; no answer ever contains the API key.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient, TestServer
from comfyui_catalogue import LORA
from comfyui_web import make_app
from fakes.civitai import FakeCivitai

TOKEN = FakeCivitai.valid_token
Scenario = Callable[[TestClient], Awaitable[None]]


@pytest.fixture
def run(comfy, comfy_catalogue):
    """Run a scenario against a fresh app on the stubbed ComfyUI; collects every body."""
    bodies: list[str] = []

    def runner(scenario: Scenario) -> list[str]:
        async def main() -> None:
            async with TestClient(TestServer(make_app(comfy))) as client:
                original = client._request

                async def recording(method, path, **kw):
                    response = await original(method, path, **kw)
                    bodies.append(await response.text())
                    return response

                client._request = recording
                await scenario(client)

        asyncio.run(main())
        return bodies

    return runner


async def poll_job(client: TestClient, job_id: str, states: set[str]) -> dict:
    """Long-poll the downloads route until ``job_id`` reaches one of ``states``."""
    since, deadline = 0, time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = await (
            await client.get(f"/api/modelshelf/downloads?since={since}&timeout=5")
        ).json()
        since = answer["revision"]
        for job in answer["jobs"]:
            if job["id"] == job_id and job["state"] in states:
                return job
    raise AssertionError(f"job {job_id} never reached {states}")


def test_every_route_answers(run, comfy, monkeypatch):
    monkeypatch.setenv("CIVITAI_API_TOKEN", TOKEN)
    seen: dict[str, object] = {}

    async def scenario(client: TestClient) -> None:
        options = await (await client.get("/api/modelshelf/options")).json()
        assert "LORA" in options["providers"]["civitai"]["types"]
        response = await client.get("/api/modelshelf/search?query=Ink&types=LORA")
        assert response.status == 200, await response.text()
        page = await response.json()
        assert [c["name"] for c in page["items"]] == ["Ink Style"]
        detail = await (await client.get("/api/modelshelf/model/civitai/10")).json()
        assert detail["version"]["trained_words"] == ["inkstyle"]
        assert detail["version"]["files"][0]["name"] == "ink_style.safetensors"
        by_version = await (await client.get("/modelshelf/version/200")).json()
        assert by_version["id"] == 20 and by_version["version"]["id"] == 200
        job = await (await client.post("/api/modelshelf/downloads", json={"ref": "10@100"})).json()
        assert job["label"] in ("Queued", "Downloading", "Done")
        done = await poll_job(client, job["id"], {"done", "failed"})
        assert done["label"] == "Done", done
        seen["library"] = await (await client.get("/api/modelshelf/library")).json()
        words = await client.get(
            "/api/modelshelf/trained-words?folder=loras&name=ink_style.safetensors"
        )
        seen["words"] = await words.json()
        again = await (await client.get("/api/modelshelf/search?query=Ink")).json()
        seen["badge"] = again["items"][0]["badge"]
        seen["settings"] = await (await client.get("/api/modelshelf/settings")).json()

    bodies = run(scenario)
    assert (comfy.models("loras") / "ink_style.safetensors").read_bytes() == LORA
    assert seen["library"]["folders"]["loras"] == 1
    assert seen["words"] == {"words": ["inkstyle"]}
    assert seen["badge"] == "installed"
    assert seen["settings"]["civitai_token_set"] is True
    assert any(e == "modelshelf.download" and d["label"] == "Done" for e, d in comfy.events)
    assert ("modelshelf.refresh", {"folders": ["loras"]}) in comfy.events
    assert "ink_style.safetensors" in comfy.folder_paths.get_filename_list("loras")
    assert not any(TOKEN in body for body in bodies)


def test_cancel_and_retry(run, comfy, fake_storage):
    fake_storage.throttle(128 * 1024)
    states: list[str] = []

    async def scenario(client: TestClient) -> None:
        job = await (await client.post("/api/modelshelf/downloads", json={"ref": "60@600"})).json()
        await poll_job(client, job["id"], {"running"})
        cancelled = await (
            await client.post(f"/api/modelshelf/downloads/{job['id']}/cancel")
        ).json()
        states.append((await poll_job(client, job["id"], {"cancelled"}))["label"])
        assert cancelled["id"] == job["id"]
        fake_storage.throttle(None)
        retried = await client.post(f"/api/modelshelf/downloads/{job['id']}/retry")
        assert retried.status == 200
        states.append((await poll_job(client, job["id"], {"done", "failed"}))["label"])

    run(scenario)
    assert states == ["Cancelled", "Done"]
    assert (comfy.models("checkpoints") / "big.safetensors").is_file()


@pytest.mark.parametrize(
    "path",
    [
        "/api/modelshelf/trained-words?folder=loras&name=../../../etc/passwd",
        "/api/modelshelf/trained-words?folder=loras&name=/etc/passwd",
        "/api/modelshelf/trained-words?folder=/etc&name=passwd",
        "/api/modelshelf/trained-words?folder=loras&name=ink%00.safetensors",
        "/api/modelshelf/model/civitai/..%2F..%2Fetc",
        "/api/modelshelf/search?provider=../../etc",
        "/api/modelshelf/downloads?since=-1",
    ],
)
def test_a_path_or_hostile_name_in_a_parameter_is_refused(run, comfy, path):
    statuses: list[int] = []

    async def scenario(client: TestClient) -> None:
        response = await client.get(path)
        statuses.append(response.status)
        assert "error" in await response.json()

    run(scenario)
    assert statuses[0] in (400, 404)


@pytest.mark.parametrize(
    "ref",
    ["/etc/passwd", "https://evil.example/models/10", "file:///etc/passwd", "../10", 7, None],
)
def test_a_download_of_anything_but_a_model_reference_is_refused(run, comfy, ref):
    async def scenario(client: TestClient) -> None:
        response = await client.post("/api/modelshelf/downloads", json={"ref": ref})
        assert response.status == 400, await response.text()

    run(scenario)
    assert not any(p.is_file() for p in comfy.base.rglob("*"))


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1:1"},
        {"Host": "evil.example:8188", "Origin": "http://evil.example:8188"},  # DNS rebinding
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_request_from_another_site_is_refused(run, comfy, comfy_catalogue, headers):
    async def scenario(client: TestClient) -> None:
        for method, path, body in (
            ("POST", "/api/modelshelf/downloads", {"ref": "10@100"}),
            ("POST", "/api/modelshelf/settings", {"civitai_token": "stolen"}),
            ("GET", "/api/modelshelf/search?query=Ink", None),
        ):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status == 403, (path, await response.text())

    run(scenario)
    assert comfy_catalogue.requests_to(r".*") == []
    assert not (comfy.models("loras") / "ink_style.safetensors").exists()


def test_a_same_origin_request_is_served(run, comfy):
    async def scenario(client: TestClient) -> None:
        origin = f"http://{client.host}:{client.port}"
        response = await client.get("/api/modelshelf/settings", headers={"Origin": origin})
        assert response.status == 200

    run(scenario)


def test_settings_store_a_key_but_never_answer_with_it(run, comfy, isolated_home):
    secret = "ms-secret-key-1234567890"

    async def scenario(client: TestClient) -> None:
        response = await client.post("/api/modelshelf/settings", json={"civitai_token": secret})
        assert await response.json() == {
            "civitai_token_set": True,
            "novita_key_set": False,
            "nsfw": False,
        }
        await client.get("/api/modelshelf/settings")
        await client.get("/api/modelshelf/search?query=Ink")
        bad = await client.post("/api/modelshelf/settings", json={"civitai_token": 5})
        assert bad.status == 400

    bodies = run(scenario)
    settings_file = isolated_home / "settings.json"
    assert json.loads(settings_file.read_text())["civitai_token"] == secret
    assert stat.S_IMODE(os.stat(settings_file).st_mode) == 0o600
    assert not any(secret in body for body in bodies)
