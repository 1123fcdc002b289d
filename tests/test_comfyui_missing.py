"""The sidebar's "Missing models" routes with aiohttp's test client, on the fake Civitai.

A workflow (UI format, as ``app.graph.serialize()`` gives it) naming one installed LoRA,
a missing checkpoint known by its SHA256, one of our loaders by version id and a bare
file name (a guess): the plan says each; "Download all" queues the missing ones (not the
guess unless ticked) into ComfyUI's folders. An image with A1111 infotext, sent raw and
as a form. Refused: another Origin, a body over 64 MiB, something that is not a workflow.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from comfyui_catalogue import CKPT, LORA, VAE
from comfyui_web import make_app
from fakes.factory import autov3
from resolve_images import png
from test_comfyui_routes import poll_job

Scenario = Callable[[TestClient], Awaitable[None]]
SHA_CKPT = hashlib.sha256(CKPT).hexdigest()


def workflow() -> dict:
    """A saved UI-format graph: ComfyUI's own loaders and one of ours."""
    return {
        "last_node_id": 4,
        "nodes": [
            {
                "id": 1,
                "type": "CheckpointLoaderSimple",
                "mode": 0,
                "widgets_values": ["real_v2.safetensors"],
                "properties": {
                    "models": [
                        {
                            "name": "real_v2.safetensors",
                            "directory": "checkpoints",
                            "hash": SHA_CKPT,
                            "hash_type": "SHA256",
                        }
                    ]
                },
            },
            {
                "id": 2,
                "type": "LoraLoader",
                "mode": 0,
                "widgets_values": ["ink_style.safetensors", 0.8, 1],
            },
            {"id": 3, "type": "ModelShelfLoadVae", "mode": 0, "widgets_values": ["40@400"]},
            {
                "id": 4,
                "type": "CheckpointLoaderSimple",
                "mode": 0,
                "widgets_values": ["big.safetensors"],
            },
        ],
        "links": [],
        "version": 0.4,
    }


@pytest.fixture
def run(comfy, comfy_catalogue):
    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            async with TestClient(TestServer(make_app(comfy))) as client:
                await scenario(client)

        asyncio.run(main())

    return runner


async def install_ink(client: TestClient) -> None:
    """Download the LoRA through the sidebar's route, so the library knows it."""
    job = await (await client.post("/api/modelshelf/downloads", json={"ref": "10@100"})).json()
    assert (await poll_job(client, job["id"], {"done", "failed"}))["state"] == "done"


def by_name(answer: dict) -> dict[str, dict]:
    return {item["name"]: item for item in answer["items"]}


def test_a_workflow_lists_what_it_needs_and_download_all_fetches_the_missing(run, comfy):
    seen: dict[str, object] = {}

    async def scenario(client: TestClient) -> None:
        await install_ink(client)
        response = await client.post("/api/modelshelf/missing", json={"workflow": workflow()})
        assert response.status == 200, await response.text()
        answer = await response.json()
        seen["first"] = answer
        items = by_name(answer)
        guess = items["big.safetensors"]["index"]
        started = await (
            await client.post(
                "/api/modelshelf/missing/download", json={"plan_id": answer["plan_id"]}
            )
        ).json()
        seen["started"] = started
        for entry in started["jobs"]:
            done = await poll_job(client, entry["job"]["id"], {"done", "failed"})
            assert done["label"] == "Done", done
        again = await (
            await client.post("/modelshelf/missing", json={"workflow": workflow()})
        ).json()
        seen["again"] = again
        ticked = await (
            await client.post(
                "/api/modelshelf/missing/download",
                json={"plan_id": again["plan_id"], "accept": [guess]},
            )
        ).json()
        seen["ticked"] = ticked
        for entry in ticked["jobs"]:
            await poll_job(client, entry["job"]["id"], {"done", "failed"})

    run(scenario)
    first = by_name(seen["first"])
    assert {name: (i["label"], i["kind"]) for name, i in first.items()} == {
        "ink_style.safetensors": ("Installed", "lora"),
        "real_v2.safetensors": ("Missing", "checkpoint"),
        "clear.safetensors": ("Missing", "vae"),
        "big.safetensors": ("Guess", "checkpoint"),
    }
    assert first["ink_style.safetensors"]["installed_as"] == ["loras/ink_style.safetensors"]
    ckpt = first["real_v2.safetensors"]
    assert ckpt["how"] == f"by SHA256 {SHA_CKPT[:12].upper()}…"
    assert (ckpt["folder"], ckpt["file_name"]) == ("checkpoints", "real_v2.safetensors")
    assert first["clear.safetensors"]["how"] == "by version id 400"
    assert first["clear.safetensors"]["folder"] == "vae"
    assert first["big.safetensors"]["guess"] and not first["big.safetensors"]["can_download"]
    assert seen["first"]["missing"] == 3
    # no filesystem path in the answer: folder keys and listed names only
    assert str(comfy.base) not in str(seen["first"])
    # Download all: the two exact ones, not the guess
    started = seen["started"]
    assert sorted(e["job"]["ref"] for e in started["jobs"]) == ["20@200", "40@400"]
    assert started["errors"] == []
    assert (comfy.models("checkpoints") / "real_v2.safetensors").read_bytes() == CKPT
    assert (comfy.models("vae") / "clear.safetensors").read_bytes() == VAE
    assert (comfy.models("loras") / "ink_style.safetensors").read_bytes() == LORA
    again = by_name(seen["again"])
    assert [again[n]["label"] for n in ("real_v2.safetensors", "clear.safetensors")] == [
        "Installed"
    ] * 2
    assert seen["again"]["missing"] == 1
    # the ticked guess is downloaded on request
    assert [e["job"]["ref"] for e in seen["ticked"]["jobs"]] == ["60@600"]
    assert (comfy.models("checkpoints") / "big.safetensors").is_file()
    refreshed = [d for e, d in comfy.events if e == "modelshelf.refresh"]
    assert {"folders": ["checkpoints"]} in refreshed and {"folders": ["vae"]} in refreshed


def infotext_png() -> bytes:
    text = (
        "ink portrait, <lora:ink_style:0.7>\nNegative prompt: blurry\n"
        f"Steps: 20, Sampler: Euler a, Model hash: {SHA_CKPT[:10]}, Model: real_v2, "
        f'Lora hashes: "ink_style: {autov3(LORA)}", Version: v1.9.0'
    )
    return png({"parameters": text})


@pytest.mark.parametrize("form", [False, True])
def test_an_image_with_infotext_is_read_raw_or_as_a_form(run, comfy, form):
    answers: list[dict] = []

    async def scenario(client: TestClient) -> None:
        if form:
            data = aiohttp.FormData()
            data.add_field("note", "ignored")
            data.add_field("file", infotext_png(), filename="x.png", content_type="image/png")
            response = await client.post("/api/modelshelf/missing", data=data)
        else:
            response = await client.post(
                "/api/modelshelf/missing",
                data=infotext_png(),
                headers={"Content-Type": "image/png"},
            )
        assert response.status == 200, await response.text()
        answers.append(await response.json())

    run(scenario)
    items = {i["kind"]: i for i in answers[0]["items"]}
    assert items["checkpoint"]["how"] == f"by AUTOV2 {SHA_CKPT[:10].upper()}"
    assert items["checkpoint"]["model_name"] == "Real Checkpoint"
    assert (items["lora"]["how"], items["lora"]["weight"]) == (f"by AUTOV3 {autov3(LORA)}", 0.7)
    assert {i["label"] for i in answers[0]["items"]} == {"Missing"}
    assert not any(comfy.base.rglob("*.safetensors"))  # checking downloads nothing


@pytest.mark.parametrize(
    "kwargs, sentence",
    [
        ({"json": {"workflow": {"foo": 1}}}, "That workflow is JSON but not a ComfyUI workflow"),
        ({"json": {"graph": []}}, "Send a workflow"),
        ({"json": [1, 2]}, "Send a workflow"),
        ({"data": b"\x00\x01\xfe\xff" * 10}, "That file is not a PNG, JPEG or WebP image"),
        ({"data": b'{"nodes": 3}'}, "That file is JSON but not a ComfyUI workflow"),
        ({"data": b""}, "Send a workflow"),
        (
            {"data": b"{bad", "headers": {"Content-Type": "application/json"}},
            "The request body is not JSON",
        ),
    ],
)
def test_what_is_not_a_workflow_or_an_image_gets_one_sentence(run, comfy, kwargs, sentence):
    async def scenario(client: TestClient) -> None:
        response = await client.post("/api/modelshelf/missing", **kwargs)
        assert response.status == 400
        answer = await response.json()
        assert answer["error"].startswith(sentence), answer
        assert "Traceback" not in answer["error"]

    run(scenario)


def test_a_body_over_64_mib_is_refused_with_a_sentence(run, comfy):
    async def scenario(client: TestClient) -> None:
        big = bytes(64 * 1024 * 1024 + 1)
        response = await client.post(
            "/api/modelshelf/missing", data=big, headers={"Content-Type": "image/png"}
        )
        assert response.status == 413
        assert "larger than 64 MiB" in (await response.json())["error"]

    run(scenario)


def test_a_streamed_form_is_cut_at_the_limit(run, comfy, monkeypatch):
    from comfyui_stubs import pack_module

    monkeypatch.setattr(pack_module("nodes.missing"), "MAX_BODY", 1024 * 1024)

    async def chunks():
        for _ in range(4):
            yield b"\x89PNG" + bytes(512 * 1024)

    async def scenario(client: TestClient) -> None:
        data = aiohttp.FormData()
        data.add_field("file", chunks(), filename="big.png", content_type="image/png")
        response = await client.post("/api/modelshelf/missing", data=data)
        assert response.status == 413
        assert "larger than 64 MiB" in (await response.json())["error"]

    run(scenario)


def test_missing_routes_refuse_another_origin(run, comfy, comfy_catalogue):
    async def scenario(client: TestClient) -> None:
        for path, body in (
            ("/api/modelshelf/missing", {"workflow": workflow()}),
            ("/api/modelshelf/missing/download", {"plan_id": "abc"}),
        ):
            response = await client.post(path, json=body, headers={"Origin": "http://evil.example"})
            assert response.status == 403
            assert "other sites" in (await response.json())["error"]

    run(scenario)
    assert comfy_catalogue.requests_to(r".*") == []


@pytest.mark.parametrize(
    "body, status",
    [
        ({"plan_id": "0123456789abcdef"}, 404),
        ({"plan_id": "../../etc"}, 400),
        ({"plan_id": 5}, 400),
        ({}, 400),
    ],
)
def test_download_all_needs_a_checked_list(run, comfy, body, status):
    async def scenario(client: TestClient) -> None:
        response = await client.post("/api/modelshelf/missing/download", json=body)
        assert response.status == status
        assert (await response.json())["error"]

    run(scenario)


def test_download_all_refuses_a_bad_accept_list(run, comfy):
    async def scenario(client: TestClient) -> None:
        answer = await (
            await client.post("/api/modelshelf/missing", json={"workflow": workflow()})
        ).json()
        for accept in ("all", [True], [-1], ["0"]):
            response = await client.post(
                "/api/modelshelf/missing/download",
                json={"plan_id": answer["plan_id"], "accept": accept},
            )
            assert response.status == 400, accept

    run(scenario)
    assert not any(comfy.base.rglob("*.safetensors"))
