"""Choosing which file of a version to download.

The version's primary file by default; ``file_id`` for another one. A
:class:`FilePreference` (format, fp, size) can make another file of the same kind win, as
Civitai's own download endpoint does with ``?format=&fp=&size=``. Files whose pickle or
virus scan says ``Danger`` are refused unless the caller allows them; a PickleTensor file
(arbitrary code when loaded) gets a warning through ``warn``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import BadInputError, DownloadsDisabledError, NotFoundError, UnsafeFileError

if TYPE_CHECKING:
    from ..settings import Settings
    from ..types import ModelFile, ModelVersion

__all__ = ["FilePreference", "UnsafeFileError", "choose_file", "is_pickle", "is_unsafe"]

# File types that are interchangeable variants of "the model" (Civitai's file.type).
MODEL_TYPES = frozenset({"model", "pruned model"})
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")


@dataclass
class FilePreference:
    """Which variant of a model file to prefer (None: no preference)."""

    format: str | None = "SafeTensor"  # SafeTensor, PickleTensor, GGUF, ...
    fp: str | None = None  # fp16, fp32, bf16, ...
    size: str | None = None  # pruned, full

    @classmethod
    def from_settings(cls, settings: Settings) -> FilePreference:
        """The preference in ``settings`` (``prefer_format``, ``prefer_fp``, ``prefer_size``)."""
        return cls(
            format=settings.prefer_format or None,
            fp=settings.prefer_fp or None,
            size=settings.prefer_size or None,
        )


def is_unsafe(file: ModelFile) -> bool:
    """Whether the pickle scan or the virus scan of ``file`` says Danger."""
    return any((s or "").strip().lower() == "danger" for s in (file.pickle_scan, file.virus_scan))


def is_pickle(file: ModelFile) -> bool:
    """Whether ``file`` is a pickle (PickleTensor, or a .ckpt/.pt/.bin name without a format)."""
    if file.format:
        return file.format.strip().lower() == "pickletensor"
    return file.name.lower().endswith(PICKLE_SUFFIXES)


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.strip().lower() == b.strip().lower()


def _size_of(file: ModelFile) -> str | None:
    if file.size:
        return file.size
    return "pruned" if (file.type or "").lower() == "pruned model" else None


def _candidates(version: ModelVersion, primary: ModelFile) -> list[ModelFile]:
    """Files that are variants of the primary one (same kind), primary first."""
    kind = (primary.type or "").lower()
    group = MODEL_TYPES if kind in MODEL_TYPES else frozenset({kind})
    others = [f for f in version.files if f is not primary and (f.type or "").lower() in group]
    return [primary, *others]


def _score(file: ModelFile, prefer: FilePreference, primary: ModelFile) -> tuple[int, ...]:
    return (
        0 if is_unsafe(file) else 1,
        1 if prefer.format and _same(file.format, prefer.format) else 0,
        1 if prefer.fp and _same(file.fp, prefer.fp) else 0,
        1 if prefer.size and _same(_size_of(file), prefer.size) else 0,
        1 if file is primary else 0,
    )


def _label(version: ModelVersion) -> str:
    name = version.model_name or (f"model {version.model_id}" if version.model_id else "model")
    return f"{name} ({version.name}, version {version.id})"


def choose_file(
    version: ModelVersion,
    *,
    file_id: int | str | None = None,
    prefer: FilePreference | None = None,
    allow_unsafe: bool = False,
    warn: Callable[[str], None] | None = None,
) -> ModelFile:
    """The file of ``version`` to download.

    Raises :class:`NotFoundError` for an unknown ``file_id``,
    :class:`NotFoundError` when the version is archived (its files are gone),
    :class:`DownloadsDisabledError` when it has no files otherwise, and
    :class:`UnsafeFileError` for a Danger scan unless ``allow_unsafe``.
    """
    if not version.files:
        if (version.model_mode or "").lower() == "archived":  # gone for good: not found (3)
            raise NotFoundError(
                f"{_label(version)} is archived and has no files to download; "
                "pick another version or model."
            )
        raise DownloadsDisabledError(
            f"{_label(version)} has no downloadable files; pick another version or model."
        )
    if file_id is not None:
        chosen = _by_id(version, file_id)
    else:
        primary = version.primary_file
        assert primary is not None  # files is not empty
        prefer = prefer or FilePreference()
        chosen = max(_candidates(version, primary), key=lambda f: _score(f, prefer, primary))
    if is_unsafe(chosen):
        if not allow_unsafe:
            raise UnsafeFileError(
                f"Civitai's scan flagged {chosen.name} (file {chosen.id}) as dangerous "
                f"(pickle scan: {chosen.pickle_scan or 'n/a'}, virus scan: "
                f"{chosen.virus_scan or 'n/a'}); it was not downloaded "
                "(use --allow-unsafe to download it anyway)."
            )
        if warn:
            warn(f"Downloading {chosen.name} although its scan says Danger (allowed by you).")
    if warn and is_pickle(chosen):
        warn(
            f"{chosen.name} is a PickleTensor file: loading it can run code; "
            "prefer a SafeTensor file when there is one."
        )
    return chosen


def _by_id(version: ModelVersion, file_id: int | str) -> ModelFile:
    try:
        wanted = int(file_id)
    except (TypeError, ValueError):
        raise BadInputError(f"File id {file_id!r} is not a number; use a file id.") from None
    for f in version.files:
        if f.id == wanted:
            return f
    known = ", ".join(f"{f.id} ({f.name})" for f in version.files)
    raise NotFoundError(
        f"{_label(version)} has no file {wanted}; its files are: {known}.",
    )
