"""Planning a download: resolve the REF, pick the file, find its folder, check what is there.

:func:`plan` does everything that needs no download (the catalogue API lookups, the file
choice, the target folder, the already-installed check) and is what ``--dry-run``
shows: it never touches the download endpoint or the storage host and writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..layout import layout_key
from ..names import safe_filename
from .choose import FilePreference, choose_file

if TYPE_CHECKING:
    from ..layout import HostLayout
    from ..providers.base import DownloadSource, Provider
    from ..refs import Ref
    from ..settings import Settings
    from ..types import Model, ModelFile, ModelVersion

__all__ = ["DownloadPlan", "DownloadResult", "existing_sidecars", "plan"]

log = logging.getLogger(__name__)

WarnFn = Callable[[str], None]
ProviderGetter = Callable[[str], "Provider"]


@dataclass
class DownloadResult:
    """What a download (or a dry run) did; ``to_json`` is the CLI's ``--json`` document."""

    path: Path
    sha256: str | None
    size: int | None
    model_id: int | str | None
    version_id: int | str | None
    file_id: int | None
    sidecars: list[Path] = field(default_factory=list)
    already_installed: bool = False
    dry_run: bool = False
    provider: str = "civitai"
    model_name: str | None = None
    version_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "size": self.size,
            "model_id": self.model_id,
            "version_id": self.version_id,
            "file_id": self.file_id,
            "sidecars": [str(p) for p in self.sidecars],
            "already_installed": self.already_installed,
            "dry_run": self.dry_run,
        }


@dataclass
class DownloadPlan:
    """Everything decided before a byte is downloaded."""

    provider: str  # the provider the bytes come from (civitai for civitai-backed Novita)
    model: Model | None
    version: ModelVersion
    file: ModelFile
    folder: str  # the layout's folder key (loras, checkpoints, ...)
    target_dir: Path
    path: Path  # where the file goes (if the server does not name it otherwise)
    expected_sha256: str | None
    expected_size: int | None  # from sizeKB: approximate
    already_installed: bool
    source_factory: Callable[[], DownloadSource] = field(repr=False)
    source_provider: Provider | None = field(default=None, repr=False)
    requested_ref: str = ""
    local_sha256: str | None = None  # SHA256 of the file already at ``path``, if hashed

    @property
    def model_id(self) -> int | str | None:
        return (
            self.version.model_id
            if self.version.model_id is not None
            else (self.model.id if self.model else None)
        )

    def result(self, *, dry_run: bool) -> DownloadResult:
        """The result this plan gives when nothing is (or need be) downloaded."""
        return DownloadResult(
            path=self.path,
            sha256=(self.local_sha256 or self.expected_sha256)
            if self.already_installed
            else self.expected_sha256,
            size=self.path.stat().st_size if self.already_installed else self.expected_size,
            model_id=self.model_id,
            version_id=self.version.id,
            file_id=self.file.id,
            sidecars=existing_sidecars(self.path) if self.already_installed else [],
            already_installed=self.already_installed,
            dry_run=dry_run,
            provider=self.provider,
            model_name=self.version.model_name or (self.model.name if self.model else None),
            version_name=self.version.name,
        )


def existing_sidecars(model_path: Path) -> list[Path]:
    """The sidecar files next to ``model_path`` that exist."""
    from ..sidecars import sidecar_paths

    return sidecar_paths(model_path)


def _parse(ref_or_text: Ref | str, settings: Settings) -> Ref:
    from ..refs import Ref, parse_ref

    if isinstance(ref_or_text, Ref):
        return ref_or_text
    return parse_ref(ref_or_text, settings.civitai_url)


def _prefer_from(ref: Ref, prefer: FilePreference | None, settings: Settings) -> FilePreference:
    base = prefer or FilePreference.from_settings(settings)
    params = getattr(ref, "file_params", None) or {}
    return FilePreference(
        format=params.get("format") or base.format,
        fp=params.get("fp") or base.fp,
        size=params.get("size") or base.size,
    )


def _resolve(
    ref: Ref, settings: Settings, providers: ProviderGetter | None = None
) -> tuple[str, Provider, Model | None, ModelVersion, Any]:
    """(provider name, provider, model, version, novita target or None) for ``ref``."""
    from ..providers import get_provider
    from ..refs import Ref, resolve_version

    get = providers or (lambda name: get_provider(name, settings))
    if ref.provider == "novita":
        from ..providers.novita_target import resolve_novita

        novita = get("novita")
        n_model, n_version = resolve_version(ref, novita)
        target = resolve_novita(n_version, model=n_model)
        if not target.via_civitai:
            return "novita", novita, n_model, n_version, target
        ref = Ref("civitai", None, target.civitai_version_id, text=ref.text)
    civitai = get("civitai")
    model, version = resolve_version(ref, civitai)
    if model is not None:
        version.model_name = version.model_name or model.name
        version.model_type = version.model_type or model.type
        if version.model_id is None and isinstance(model.id, int):
            version.model_id = model.id
        version.model_mode = version.model_mode or model.mode
    return "civitai", civitai, model, version, None


def _installed_sha256(path: Path, settings: Settings) -> str | None:
    """SHA256 of ``path`` (from the library database when its size and mtime match)."""
    st = path.stat()
    try:
        from ..library.db import LibraryDB

        with LibraryDB(settings.library_path) as db:
            known = db.get(path)
        if known and known.sha256 and known.size == st.st_size and known.mtime_ns == st.st_mtime_ns:
            return known.sha256.upper()
    except Exception as exc:  # the library is an optimisation here, never a failure
        log.debug("library lookup failed: %s", exc)
    from ..hashing import sha256_file

    return sha256_file(path)


def _local_hash(path: Path, file: ModelFile, settings: Settings) -> tuple[str | None, bool]:
    """(SHA256 of the file at ``path`` or None, whether it is exactly ``file``).

    Exactly: the same SHA256, or for a provider that lists only an AutoV2 (Novita), the
    same AutoV2. A file whose size is far from the listed one is not hashed.
    """
    if not path.is_file():
        return None, False
    want_full = (file.hashes.sha256 or "").upper()
    want_short = (file.hashes.autov2 or "").upper()
    if not want_full and not want_short:
        return None, False
    size = file.approx_size
    if size is not None and abs(path.stat().st_size - size) > 1024:
        return None, False
    have = (_installed_sha256(path, settings) or "").upper() or None
    if have is None:
        return None, False
    return have, (have == want_full if want_full else have.startswith(want_short))


def plan(
    ref_or_text: Ref | str,
    *,
    settings: Settings,
    layout: HostLayout,
    file_id: int | str | None = None,
    prefer: FilePreference | None = None,
    allow_unsafe: bool = False,
    warn: WarnFn | None = None,
    providers: ProviderGetter | None = None,
) -> DownloadPlan:
    """Decide what ``download`` would do; contacts only the catalogue API, writes nothing.

    ``providers(name)`` gives the provider to ask (a front end's long-lived ones); by
    default a new one is made. A :func:`~modelshelf.cancel.cancel_scope` stops the paging.
    """
    ref = _parse(ref_or_text, settings)
    wanted_file = file_id if file_id is not None else getattr(ref, "file_id", None)
    name, provider, model, version, novita_target = _resolve(ref, settings, providers)
    file = choose_file(
        version,
        file_id=wanted_file if name == "civitai" else None,
        prefer=_prefer_from(ref, prefer, settings),
        allow_unsafe=allow_unsafe,
        warn=warn,
    )
    model_type = version.model_type or (model.type if model else None) or "Other"
    key = layout_key(layout, model_type, file.type)  # a plain folder takes any type: other/
    folder = layout.dir_for(key)
    filename = safe_filename(file.name, fallback=f"model-{version.id}.safetensors")
    path = folder / filename
    local_sha256, installed = _local_hash(path, file, settings)

    if novita_target is not None:
        from ..providers import get_provider
        from .novita_source import novita_download_source

        def source_factory() -> DownloadSource:
            return novita_download_source(
                novita_target,
                provider,
                model=model,
                fresh_provider=lambda: get_provider("novita", settings, use_cache=False),
            )
    else:

        def source_factory() -> DownloadSource:
            return provider.resolve_download(version, file)

    return DownloadPlan(
        provider=name,
        model=model,
        version=version,
        file=file,
        folder=key,
        target_dir=folder,
        path=path,
        expected_sha256=(file.hashes.sha256 or "").upper() or None,
        expected_size=file.approx_size,
        already_installed=installed,
        source_factory=source_factory,
        source_provider=provider,
        requested_ref=getattr(ref, "text", "") or str(ref_or_text),
        local_sha256=local_sha256,
    )
