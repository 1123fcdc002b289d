"""REF parsing: every accepted form, hostile input, and resolving a REF to a version."""

from __future__ import annotations

import pytest

from modelshelf.errors import BadInputError, NotFoundError
from modelshelf.refs import Ref, parse_ref, resolve_version
from modelshelf.types import Model, ModelVersion


def ids(ref: Ref) -> tuple:
    return (ref.provider, ref.model_id, ref.version_id, ref.file_id, ref.novita_id)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345", ("civitai", 12345, None, None, None)),
        ("  12345 ", ("civitai", 12345, None, None, None)),
        ("12345@67890", ("civitai", 12345, 67890, None, None)),
        ("2147483647", ("civitai", 2147483647, None, None, None)),
        ("https://civitai.com/models/12345", ("civitai", 12345, None, None, None)),
        ("https://www.civitai.com/models/12345/", ("civitai", 12345, None, None, None)),
        ("https://civitai.red/models/12345/some-slug", ("civitai", 12345, None, None, None)),
        (
            "https://civitai.com/models/12345/some-slug?modelVersionId=67890",
            ("civitai", 12345, 67890, None, None),
        ),
        ("civitai.com/models/12345?modelVersionId=67890", ("civitai", 12345, 67890, None, None)),
        ("http://CIVITAI.COM/models/12345", ("civitai", 12345, None, None, None)),
        ("https://civitai.com/api/download/models/67890", ("civitai", None, 67890, None, None)),
        (
            "https://civitai.com/api/download/models/67890?fileId=555",
            ("civitai", None, 67890, 555, None),
        ),
        ("https://civitai.com/api/v1/models/12345", ("civitai", 12345, None, None, None)),
        ("https://civitai.com/api/v1/model-versions/67890", ("civitai", None, 67890, None, None)),
        ("https://civitai.com/model-versions/67890", ("civitai", None, 67890, None, None)),
        ("urn:air:sdxl:lora:civitai:12345@67890", ("civitai", 12345, 67890, None, None)),
        ("air:sdxl:lora:civitai:12345@67890", ("civitai", 12345, 67890, None, None)),
        ("sdxl:lora:civitai:12345@67890", ("civitai", 12345, 67890, None, None)),
        ("urn:air:flux1:lora:civitai:1231067@1387174", ("civitai", 1231067, 1387174, None, None)),
        ("urn:air:sd1:checkpoint:civitai:4201", ("civitai", 4201, None, None, None)),
        ("urn:air:sdxl:lora:civitai:12345@67890+555", ("civitai", 12345, 67890, 555, None)),
        ("URN:AIR:SDXL:LORA:CIVITAI:12345@67890", ("civitai", 12345, 67890, None, None)),
        ("novita:55199", ("novita", None, None, None, "55199")),
        ("novita:GoodHands-beta2_39807", ("novita", None, None, None, "GoodHands-beta2_39807")),
    ],
)
def test_accepted_forms(text, expected):
    ref = parse_ref(text)
    assert ids(ref) == expected
    assert ref.text == text.strip()


def test_download_url_keeps_its_file_selectors():
    ref = parse_ref("https://civitai.com/api/download/models/67890?type=Model&format=SafeTensor")
    assert ref.version_id == 67890
    assert ref.file_params == {"type": "Model", "format": "SafeTensor"}


def test_air_format_suffix_is_kept():
    ref = parse_ref("urn:air:sdxl:lora:civitai:12345@67890+555.safetensors")
    assert ids(ref) == ("civitai", 12345, 67890, 555, None)
    assert ref.file_params == {"format": "safetensors"}


def test_configured_root_is_accepted_with_its_port_and_path():
    root = "http://127.0.0.1:8765"
    assert parse_ref(f"{root}/models/42?modelVersionId=7", root).version_id == 7
    assert parse_ref("http://127.0.0.1:8765/api/download/models/9", root).version_id == 9
    prefixed = "https://mirror.example/civitai"
    assert parse_ref("https://mirror.example/civitai/models/5", prefixed).model_id == 5
    with pytest.raises(BadInputError):
        parse_ref(f"{root}/models/42")  # not configured: refused


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "0",
        "-5",
        "2147483648",
        "99999999999999999999999",
        "12345@",
        "@67890",
        "12345@-1",
        "12345@67890@1",
        "1.5",
        "١٢٣",  # Arabic-Indic digits are digits to str.isdigit, not to us
        "１２３",  # full-width digits
        "12345\x00",
        "https://evil.example/models/12345",
        "https://civitai.com.evil.example/models/12345",
        "https://evil.example/civitai.com/models/12345",
        "ftp://civitai.com/models/12345",
        "javascript:alert(1)",
        "https://civitai.com/",
        "https://civitai.com/models/",
        "https://civitai.com/models/abc",
        "https://civitai.com/models/0",
        "https://civitai.com/models/12345?modelVersionId=abc",
        "https://civitai.com/models/12345?modelVersionId=99999999999",
        "https://civitai.com/api/download/models/67890?fileId=x",
        "https://civitai.com/images/12345",
        "https://civitai.com:99999/models/1",
        "http://[::1/models/1",
        "urn:air:sdxl:lora:huggingface:12345@67890",
        "urn:air:sdxl:lora:civitai:abc",
        "urn:air:sdxl:lora:civitai:2147483648",
        "novita:",
        "novita: spaced",
        "novita:../../etc/passwd",
        "x" * 5000,
        "1" * 5000,
        "/models/" + "9" * 3000,
        "%00%ff",
        "\u202e12345",
    ],
)
def test_hostile_or_unknown_input_is_bad_input_listing_the_forms(text):
    with pytest.raises(BadInputError) as info:
        parse_ref(text)
    message = str(info.value)
    assert "12345@67890" in message and "novita:ID" in message and "urn:air" in message
    assert "\n" not in message and len(message) < 600
    assert info.value.exit_code == 2


def test_non_text_is_bad_input():
    with pytest.raises(BadInputError):
        parse_ref(None)  # type: ignore[arg-type]


class FakeProvider:
    """Records calls; knows model 1 with versions 11 (latest) and 10, and model 2 with 20."""

    name = "civitai"

    def __init__(self):
        self.calls: list[tuple[str, object]] = []
        self.models = {
            1: Model(1, "one", versions=[ModelVersion(11, "v2"), ModelVersion(10, "v1")]),
            2: Model(2, "two", versions=[ModelVersion(20, "only", model_id=2)]),
            3: Model(3, "empty"),
        }
        self.hidden_versions = {12: ModelVersion(12, "unlisted", model_id=1)}

    def get_model(self, model_id):
        self.calls.append(("model", model_id))
        try:
            return self.models[int(model_id)]
        except (KeyError, ValueError):
            raise NotFoundError(f"no model {model_id}") from None

    def get_version(self, version_id):
        self.calls.append(("version", version_id))
        for model in self.models.values():
            for version in model.versions:
                if version.id == version_id:
                    version.model_id = model.id
                    return version
        if version_id in self.hidden_versions:
            return self.hidden_versions[version_id]
        raise NotFoundError(f"no version {version_id}")


def test_model_ref_resolves_to_the_latest_version():
    provider = FakeProvider()
    model, version = resolve_version(parse_ref("1"), provider)
    assert model.name == "one" and version.id == 11 and version.model_id == 1
    assert provider.calls == [("model", 1)]


def test_model_at_version_uses_the_models_listing_when_it_has_the_version():
    provider = FakeProvider()
    model, version = resolve_version(parse_ref("1@10"), provider)
    assert (model.id, version.id) == (1, 10)
    assert provider.calls == [("model", 1)]


def test_version_missing_from_listing_is_fetched_and_checked():
    provider = FakeProvider()
    model, version = resolve_version(parse_ref("1@12"), provider)
    assert (model.id, version.id) == (1, 12)
    with pytest.raises(NotFoundError, match="does not belong to model 2"):
        resolve_version(parse_ref("2@10"), FakeProvider())


def test_version_ref_fetches_its_model_unless_asked_not_to():
    provider = FakeProvider()
    model, version = resolve_version(parse_ref("https://civitai.com/model-versions/20"), provider)
    assert (model.id, version.id) == (2, 20)
    assert provider.calls == [("version", 20), ("model", 2)]
    lean = FakeProvider()
    model, version = resolve_version(parse_ref("urn:air:sd1:lora:civitai:2@20"), lean)
    model, version = resolve_version(Ref("civitai", None, 20), lean, with_model=False)
    assert model is None and version.id == 20


def test_unknown_ids_and_empty_models_are_not_found():
    with pytest.raises(NotFoundError):
        resolve_version(parse_ref("99"), FakeProvider())
    with pytest.raises(NotFoundError, match="no published version"):
        resolve_version(parse_ref("3"), FakeProvider())
    with pytest.raises(NotFoundError):
        resolve_version(parse_ref("1@999"), FakeProvider())


def test_novita_ref_uses_the_novita_id():
    provider = FakeProvider()
    provider.models[55199] = Model(55199, "hands", versions=[ModelVersion(55199, "beta2")])
    model, version = resolve_version(parse_ref("novita:55199"), provider)
    assert (model.id, version.id) == (55199, 55199)
    assert provider.calls == [("model", "55199")]


def test_refusal_never_echoes_a_token():
    with pytest.raises(BadInputError) as err:
        parse_ref("https://example.com/models/1?token=s3cretvalue&x=1")
    assert "s3cretvalue" not in str(err.value)


def test_old_api_host_download_urls_are_accepted():
    ref = parse_ref("https://api.civitai.com/api/download/models/67890?type=Model")
    assert (ref.provider, ref.version_id, ref.file_params) == ("civitai", 67890, {"type": "Model"})
