"""library/updates.py: newer versions found with batched /models?ids= calls."""

from __future__ import annotations

import pytest
from fakes.factory import make_file, make_model, make_safetensors, make_version

from modelshelf.library.db import LibraryDB
from modelshelf.library.updates import check_updates, latest_version
from modelshelf.providers.civitai import CivitaiProvider
from modelshelf.settings import load_settings
from modelshelf.types import Model, ModelVersion


def version(fake, model_id: int, version_id: int, name: str, **kw) -> dict:
    data = make_safetensors(100 + version_id % 1000)
    return make_version(
        version_id,
        model_id,
        [make_file(version_id * 10, f"{name}.safetensors", data, version_id=version_id)],
        name=name,
        images=[],
        root=fake.url,
        **kw,
    )


@pytest.fixture
def library(fake_civitai, tmp_path):
    """150 identified models on disk; models 1 and 2 have a newer version on Civitai."""
    fake = fake_civitai
    db = LibraryDB(tmp_path / "lib.sqlite3")
    for mid in range(1, 151):
        newest = [version(fake, mid, mid * 100 + 2, "v2")] if mid in (1, 2) else []
        fake.add_model(
            make_model(
                mid, f"model {mid}", "LORA", [*newest, version(fake, mid, mid * 100 + 1, "v1")]
            )
        )
        db.upsert_file(
            tmp_path / f"m{mid}.safetensors",
            size=1,
            mtime=1.0,
            sha256=f"{mid:064X}",
            model_id=mid,
            version_id=mid * 100 + 1,
        )
    return db


def test_updates_listed_with_two_batched_calls(fake_civitai, library, tmp_path):
    fake_civitai.clear_requests()
    check = check_updates(library, CivitaiProvider(load_settings()))
    calls = fake_civitai.requests_to(r"/api/v1/models", "GET")
    assert len(calls) == 2
    assert [len(c.param("ids").split(",")) for c in calls] == [100, 50]
    got = sorted(
        (u.model_id, u.installed_version_id, u.latest_version_id, u.latest_version_name)
        for u in check.updates
    )
    assert got == [(1, 101, 102, "v2"), (2, 201, 202, "v2")]
    assert check.checked_models == 150 and check.missing_models == []

    # the answer is kept: the UIs ask the database without the network
    fake_civitai.clear_requests()
    assert sorted(u.model_id for u in library.updates()) == [1, 2]
    assert fake_civitai.requests == []
    # once the new version sits beside the old one, model 1 is up to date
    library.upsert_file(
        tmp_path / "m1_v2.safetensors",
        size=1,
        mtime=1.0,
        sha256="ab" * 32,
        model_id=1,
        version_id=102,
    )
    assert [u.model_id for u in library.updates()] == [2]
    assert library.installed_versions(102) == [tmp_path / "m1_v2.safetensors"]


def test_model_gone_from_civitai_is_reported_missing(fake_civitai, library):
    del fake_civitai.models[3]
    check = check_updates(library, CivitaiProvider(load_settings()))
    assert check.missing_models == [3]


def test_latest_version_skips_unpublished_and_uses_index():
    model = Model(
        id=1,
        name="m",
        versions=[
            ModelVersion(id=3, name="draft", status="Draft", index=0),
            ModelVersion(id=2, name="v2", status="Published", index=1),
            ModelVersion(id=1, name="v1", status="Published", index=2),
        ],
    )
    assert latest_version(model).id == 2
    assert latest_version(Model(id=2, name="empty")) is None
