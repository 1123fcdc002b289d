"""Choosing the file of a version to download."""

from __future__ import annotations

import pytest

from modelshelf.download.choose import FilePreference, choose_file
from modelshelf.errors import BadInputError, DownloadsDisabledError, NotFoundError, UnsafeFileError
from modelshelf.settings import load_settings
from modelshelf.types import ModelFile, ModelVersion


def mf(fid, name, *, primary=False, type="Model", format="SafeTensor", fp=None, size=None, **kw):
    return ModelFile(
        id=fid, name=name, primary=primary, type=type, format=format, fp=fp, size=size, **kw
    )


def version(*files, mode=None):
    return ModelVersion(
        id=10, name="v1", model_id=1, model_name="Thing", files=list(files), model_mode=mode
    )


def test_primary_file_by_default():
    v = version(mf(1, "a.safetensors"), mf(2, "b.safetensors", primary=True))
    assert choose_file(v).id == 2


def test_file_id_picks_that_file_even_if_not_primary():
    v = version(mf(1, "a.safetensors", primary=True), mf(2, "cfg.yaml", type="Config"))
    assert choose_file(v, file_id="2").id == 2
    assert choose_file(v, file_id=2).id == 2


def test_unknown_file_id_is_not_found_and_lists_files():
    v = version(mf(1, "a.safetensors", primary=True))
    with pytest.raises(NotFoundError, match=r"no file 99.*1 \(a.safetensors\)"):
        choose_file(v, file_id=99)
    with pytest.raises(BadInputError):
        choose_file(v, file_id="abc")


def test_safetensor_preferred_over_primary_pickle():
    v = version(
        mf(1, "a.ckpt", primary=True, format="PickleTensor"),
        mf(2, "a.safetensors"),
        mf(3, "training.zip", type="Training Data", format="Other"),
    )
    assert choose_file(v).id == 2
    assert choose_file(v, prefer=FilePreference(format="PickleTensor")).id == 1
    # no preference: the primary
    assert choose_file(v, prefer=FilePreference(format=None)).id == 1


def test_fp_and_size_preferences():
    v = version(
        mf(1, "full32.safetensors", primary=True, fp="fp32", size="full"),
        mf(2, "pruned16.safetensors", type="Pruned Model", fp="fp16", size="pruned"),
        mf(3, "full16.safetensors", fp="fp16", size="full"),
    )
    assert choose_file(v).id == 1
    assert choose_file(v, prefer=FilePreference(fp="fp16")).id in {2, 3}
    assert choose_file(v, prefer=FilePreference(fp="fp16", size="full")).id == 3
    assert choose_file(v, prefer=FilePreference(size="pruned")).id == 2
    # type "Pruned Model" counts as pruned even without metadata.size
    v2 = version(mf(1, "f.safetensors", primary=True), mf(2, "p.safetensors", type="Pruned Model"))
    assert choose_file(v2, prefer=FilePreference(size="Pruned")).id == 2


def test_preference_never_switches_to_another_kind_of_file():
    v = version(
        mf(1, "model.safetensors", primary=True, fp="fp32"),
        mf(2, "vae.safetensors", type="VAE", fp="fp16"),
    )
    assert choose_file(v, prefer=FilePreference(fp="fp16")).id == 1


def test_preference_from_settings(tmp_path):
    s = load_settings({"home": tmp_path, "prefer_fp": "fp16", "prefer_format": "SafeTensor"})
    p = FilePreference.from_settings(s)
    assert (p.format, p.fp, p.size) == ("SafeTensor", "fp16", None)


def test_danger_refused_unless_allowed():
    v = version(mf(1, "evil.ckpt", primary=True, format="PickleTensor", pickle_scan="Danger"))
    with pytest.raises(UnsafeFileError, match="--allow-unsafe") as info:
        choose_file(v)
    assert info.value.exit_code == 2
    warnings: list[str] = []
    assert choose_file(v, allow_unsafe=True, warn=warnings.append).id == 1
    assert any("Danger" in w for w in warnings)
    assert any("PickleTensor" in w for w in warnings)


def test_virus_danger_refused_even_by_file_id():
    v = version(mf(1, "a.safetensors", primary=True), mf(2, "b.safetensors", virus_scan="Danger"))
    with pytest.raises(UnsafeFileError):
        choose_file(v, file_id=2)


def test_safe_variant_wins_over_dangerous_primary():
    v = version(
        mf(1, "a.safetensors", primary=True, pickle_scan="Danger"),
        mf(2, "b.safetensors", pickle_scan="Success"),
    )
    assert choose_file(v).id == 2


def test_pickle_warns_safetensor_does_not():
    warnings: list[str] = []
    v = version(mf(1, "old.ckpt", primary=True, format=None))
    choose_file(v, warn=warnings.append)
    assert len(warnings) == 1 and "old.ckpt" in warnings[0]
    warnings.clear()
    choose_file(version(mf(1, "new.safetensors", primary=True)), warn=warnings.append)
    assert warnings == []


def test_no_files_is_downloads_disabled_and_archived_is_not_found():
    with pytest.raises(NotFoundError, match="archived") as gone:
        choose_file(version(mode="Archived"))
    assert gone.value.exit_code == 3
    with pytest.raises(DownloadsDisabledError, match="no downloadable files") as info:
        choose_file(version())
    assert info.value.exit_code == 4
