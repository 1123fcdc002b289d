"""Safe file names from hostile server input (modelshelf.names)."""

from __future__ import annotations

import os

import pytest

from modelshelf.errors import BadInputError
from modelshelf.names import (
    distinct_name,
    filename_from_content_disposition,
    filename_from_signed_url,
    inside,
    safe_filename,
)

FB = "model-42.safetensors"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x", "x"),
        ("/abs/path/lora.safetensors", "lora.safetensors"),
        ("CON.safetensors", "_CON.safetensors"),
        ("nul", "_nul"),
        ("lpt9.txt", "_lpt9.txt"),
        ("COM1", "_COM1"),
        ("console.safetensors", "console.safetensors"),
        ("a\x00b\x1fc\x7f.safetensors", "a_b_c_.safetensors"),
        ('what<>:"|?*.ckpt', "what_______.ckpt"),
        ("trailing. . ", "trailing"),
        (".hidden.safetensors", "hidden.safetensors"),
        ("真实模型名.safetensors", "真实模型名.safetensors"),
        ("  spaced name.pt  ", "spaced name.pt"),
    ],
)
def test_safe_filename_cleans_hostile_names(raw, expected):
    assert safe_filename(raw, fallback=FB) == expected


@pytest.mark.parametrize("raw", ["", "   ", ".", "..", "...", "/", "\\", "../..", None, "\x01\x02"])
def test_empty_or_dots_fall_back(raw):
    assert safe_filename(raw, fallback=FB) == FB


def test_fallback_is_cleaned_too_and_never_empty():
    assert safe_filename("..", fallback="../x.bin") == "x.bin"
    assert safe_filename("", fallback="") == "download"


def test_long_names_keep_extension_and_fit_200_utf8_bytes():
    name = safe_filename("é" * 500 + ".safetensors", fallback=FB)
    assert name.endswith(".safetensors")
    assert len(name.encode("utf-8")) <= 200
    name.encode("utf-8").decode("utf-8")  # not cut inside a character
    ascii_name = safe_filename("a" * 500 + ".ckpt", fallback=FB)
    assert len(ascii_name.encode()) == 200 and ascii_name.endswith(".ckpt")


def test_content_disposition_quoted_utf8_mis_decoded_as_latin1():
    raw = 'attachment; filename="真实模型名.safetensors"'.encode().decode("latin-1")
    assert filename_from_content_disposition(raw) == "真实模型名.safetensors"


def test_content_disposition_forms():
    cd = filename_from_content_disposition
    assert cd('attachment; filename="a b.safetensors"') == "a b.safetensors"
    assert cd("attachment; filename=plain.ckpt") == "plain.ckpt"
    assert cd('attachment; filename="q\\"uote.pt"') == 'q"uote.pt'
    star = "attachment; filename=\"fallback.bin\"; filename*=UTF-8''%E7%9C%9F%E5%AE%9E.safetensors"
    assert cd(star) == "真实.safetensors"
    assert cd("attachment; filename*=utf-8''caf%C3%A9.pt") == "café.pt"
    assert cd("attachment") is None
    assert cd(None) is None
    assert cd('attachment; filename=""') is None


def test_content_disposition_latin1_name_is_left_alone():
    assert filename_from_content_disposition('attachment; filename="caf\xe9.pt"') == "café.pt"


def test_filename_from_signed_urls():
    r2 = (
        "https://x.r2.cloudflarestorage.com/k?X-Amz-Expires=86400&response-content-disposition="
        "attachment%3B%20filename%3D%22%E7%9C%9F%E5%AE%9E.safetensors%22&X-Amz-Signature=abc"
    )
    assert filename_from_signed_url(r2) == "真实.safetensors"
    b2 = "https://f.backblazeb2.com/file/b/k?Authorization=3_x&b2ContentDisposition=attachment%3B%20filename%3D%22lora.safetensors%22"
    assert filename_from_signed_url(b2) == "lora.safetensors"
    assert filename_from_signed_url("https://x/k?X-Amz-Signature=abc") is None


def test_inside_refuses_escapes(tmp_path):
    assert inside(tmp_path, "a.safetensors") == (tmp_path / "a.safetensors").resolve()
    for bad in ("../x", "..", "", "a/b", "a\\b", "/etc/passwd"):
        with pytest.raises(BadInputError):
            inside(tmp_path, bad)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "models").mkdir()
    os.symlink(outside / "t.bin", tmp_path / "models" / "link.bin")
    with pytest.raises(BadInputError):
        inside(tmp_path / "models", "link.bin")
    assert sorted(os.listdir(outside)) == []


def test_distinct_name(tmp_path):
    assert distinct_name(tmp_path, "m.safetensors") == "m.safetensors"
    (tmp_path / "m.safetensors").write_bytes(b"1")
    assert distinct_name(tmp_path, "m.safetensors") == "m (2).safetensors"
    (tmp_path / "m (2).safetensors").write_bytes(b"2")
    assert distinct_name(tmp_path, "m.safetensors") == "m (3).safetensors"
    assert distinct_name(tmp_path, "noext") == "noext"
