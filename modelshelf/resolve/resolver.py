"""Resources → Civitai versions and installed files, strongest evidence first.

Order: the library database (no API call: a version id, a hash or, for a resource named
only by file name, a file of that name), then Civitai with at most one call per resource:
version id / AIR / a Civitai URL (``/models?ids=`` once when several carry a model id,
else ``/model-versions/{id}``), full SHA256s (one bulk ``POST /model-versions/by-hash``
per 100), AutoV2 / AutoV3 / AutoV1 (``GET /model-versions/by-hash/{hash}``), and for a
bare file name a search shown as a guess. Independent calls run on a few threads. The
provider's response cache answers repeated look-ups without any HTTP.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInputError, ModelShelfError, NotFoundError
from .types import ResolvedResource, Resource, name_key

if TYPE_CHECKING:
    from ..library.db import LibraryDB, LibraryFile
    from ..types import ModelFile, ModelVersion

__all__ = ["LibraryIndex", "resolve_resources"]

log = logging.getLogger(__name__)

SEARCH_TYPES = {
    "checkpoint": ["Checkpoint"],
    "lora": ["LORA", "LoCon", "DoRA"],
    "lycoris": ["LoCon", "LORA"],
    "embedding": ["TextualInversion"],
    "hypernetwork": ["Hypernetwork"],
    "vae": ["VAE"],
    "controlnet": ["Controlnet"],
    "upscaler": ["Upscaler"],
    "unet": ["Checkpoint"],
}
SHORT_HASH_ORDER = ("autov2", "autov3", "sha256_12", "autov1")


class LibraryIndex:
    """The library database read once, indexed by version id, hashes and file name.

    Only files still on disk count. ``None`` library: an empty index.
    """

    def __init__(self, db: LibraryDB | None):
        self.by_version: dict[int, list[LibraryFile]] = defaultdict(list)
        self.by_hash: dict[tuple[str, str], list[LibraryFile]] = defaultdict(list)
        self.by_name: dict[str, list[LibraryFile]] = defaultdict(list)
        files = db.all_files() if db is not None else []
        for f in files:
            if not os.path.isfile(f.path):
                continue
            if f.version_id is not None:
                self.by_version[f.version_id].append(f)
            for kind, value in (
                ("sha256", f.sha256),
                ("autov2", f.autov2 or (f.sha256[:10] if f.sha256 else None)),
                ("autov3", f.autov3),
                ("autov1", f.autov1),
                ("sha256_12", f.sha256[:12] if f.sha256 else None),
            ):
                if value:
                    self.by_hash[(kind, value.upper())].append(f)
            self.by_name[name_key(f.path.name)].append(f)

    def match(self, res: Resource) -> tuple[list[LibraryFile], str | None]:
        """Library files that are ``res`` by its strongest evidence, and that evidence."""
        if res.version_id and self.by_version.get(res.version_id):
            return self.by_version[res.version_id], "air" if res.air else "version-id"
        for kind in ("sha256", *SHORT_HASH_ORDER):
            value = res.hashes.get(kind)
            if value and self.by_hash.get((kind, value)):
                how = "autov2" if kind == "sha256_12" else kind
                return self.by_hash[(kind, value)], how
        return [], None

    def same_name(self, res: Resource) -> list[LibraryFile]:
        return self.by_name.get(name_key(res.name), []) if res.name else []


def _is_name_only(res: Resource) -> bool:
    return not res.hashes and res.version_id is None and not res.url


def resolve_resources(
    resources: list[Resource],
    *,
    provider: Any,
    library_db: LibraryDB | None = None,
    index: LibraryIndex | None = None,
    civitai_root: str | None = None,
    workers: int = 4,
) -> list[ResolvedResource]:
    """Resolve each resource (same order); see the module docstring.

    ``provider`` is a :class:`~modelshelf.providers.civitai.CivitaiProvider` (or any
    object with its ``get_version``, ``get_models``, ``get_version_by_hash``,
    ``get_versions_by_hashes`` and ``search_page``). Expected failures of one look-up make
    that resource ``not-found`` or ``error``; they never stop the others.
    """
    index = index if index is not None else LibraryIndex(library_db)
    results: list[ResolvedResource | None] = [None] * len(resources)
    pending: list[int] = []
    for i, res in enumerate(resources):
        files, how = index.match(res)
        if not files and _is_name_only(res):
            files, how = index.same_name(res), "file-name"
        if files:
            results[i] = ResolvedResource(
                res, "installed", how=how, confidence="exact", installed_at=[f.path for f in files]
            )
        else:
            pending.append(i)

    found: dict[int, tuple[ModelVersion, str, str]] = {}  # i -> (version, how, confidence)
    failed: dict[int, ModelShelfError] = {}
    jobs: list[tuple[list[int], Callable[[], dict[int, tuple[ModelVersion, str, str]]]]] = []

    by_version: list[tuple[int, int, int | None, str]] = []  # (i, version id, model id, how)
    sha_indices: list[int] = []
    for i in pending:
        res = resources[i]
        version_id, model_id, how = res.version_id, res.model_id, "air" if res.air else "version-id"
        if version_id is None and res.url:
            version_id, model_id = _ids_from_url(res.url, civitai_root)
            how = "url"
        if version_id is not None:
            by_version.append((i, version_id, model_id, how))
        elif "sha256" in res.hashes:
            sha_indices.append(i)
        elif any(k in res.hashes for k in SHORT_HASH_ORDER):
            jobs.append(([i], _short_hash_job(provider, i, res)))
        elif res.name:
            jobs.append(([i], _search_job(provider, i, res)))
        elif model_id is not None:
            jobs.append(([i], _latest_job(provider, i, model_id, how)))

    with_model = [v for v in by_version if v[2] is not None]
    if len(with_model) >= 2:
        jobs.append(([v[0] for v in with_model], _models_job(provider, with_model)))
        by_version = [v for v in by_version if v[2] is None]
    for i, version_id, _model_id, how in by_version:
        jobs.append(([i], _version_job(provider, i, version_id, how)))
    for start in range(0, len(sha_indices), 100):
        chunk = sha_indices[start : start + 100]
        jobs.append((chunk, _bulk_sha_job(provider, chunk, resources)))

    if jobs:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs)))) as pool:
            futures = [(indices, pool.submit(job)) for indices, job in jobs]
            for indices, future in futures:
                try:
                    found.update(future.result())
                except ModelShelfError as exc:
                    for i in indices:
                        failed[i] = exc

    for i in pending:
        res = resources[i]
        if i in found:
            version, how, confidence = found[i]
            result = _finish(res, version, how, confidence, index)
        elif i in failed:
            error = failed[i]
            status = "not-found" if isinstance(error, (NotFoundError, BadInputError)) else "error"
            result = ResolvedResource(res, status, reason=str(error))
        else:
            result = ResolvedResource(res, "not-found", reason=_why_not_found(res))
        conflict = _conflict(res, result, index)
        if conflict is not None:
            result.conflict = conflict
        results[i] = result
    return [r for r in results if r is not None]


def _ids_from_url(url: str, civitai_root: str | None) -> tuple[int | None, int | None]:
    from ..refs import parse_ref

    try:
        ref = parse_ref(url, civitai_root)
    except BadInputError:
        return None, None
    return ref.version_id, ref.model_id


def _why_not_found(res: Resource) -> str:
    if res.url:
        host = res.url.split("//", 1)[-1].split("/", 1)[0]
        return (
            f"it is hosted at {host}, not on Civitai, and the workflow gives no hash Civitai "
            "knows; download it from that address"
        )
    if res.hashes:
        shown = ", ".join(f"{k} {v}" for k, v in res.hashes.items())
        return f"Civitai knows no file with {shown}"
    return "the file gives no name, hash or version to look up"


def _version_job(provider: Any, i: int, version_id: int, how: str):
    def run() -> dict[int, tuple[ModelVersion, str, str]]:
        return {i: (provider.get_version(version_id), how, "exact")}

    return run


def _latest_job(provider: Any, i: int, model_id: int, how: str):
    def run() -> dict[int, tuple[ModelVersion, str, str]]:
        model = provider.get_model(model_id)
        if not model.versions:
            raise NotFoundError(f"Model {model_id} has no published version.")
        return {i: (_with_model(model.versions[0], model), how, "exact")}

    return run


def _with_model(version: ModelVersion, model: Any) -> ModelVersion:
    version.model_id = version.model_id if version.model_id is not None else model.id
    version.model_name = version.model_name or model.name
    version.model_type = version.model_type or model.type
    return version


def _models_job(provider: Any, items: list[tuple[int, int, int | None, str]]):
    def run() -> dict[int, tuple[ModelVersion, str, str]]:
        models = provider.get_models([m for _i, _v, m, _h in items if m is not None])
        versions = {v.id: _with_model(v, m) for m in models for v in m.versions}
        out: dict[int, tuple[ModelVersion, str, str]] = {}
        for i, version_id, _model_id, how in items:
            if version_id in versions:
                out[i] = (versions[version_id], how, "exact")
            else:  # not in the listing (unpublished, filtered): ask for the version itself
                try:
                    out[i] = (provider.get_version(version_id), how, "exact")
                except NotFoundError:
                    continue
        return out

    return run


def _bulk_sha_job(provider: Any, indices: list[int], resources: list[Resource]):
    def run() -> dict[int, tuple[ModelVersion, str, str]]:
        wanted = {i: resources[i].hashes["sha256"] for i in indices}
        versions = provider.get_versions_by_hashes(list(dict.fromkeys(wanted.values())))
        out: dict[int, tuple[ModelVersion, str, str]] = {}
        for i, sha in wanted.items():
            for version in versions:
                if any((f.hashes.sha256 or "").upper() == sha for f in version.files):
                    out[i] = (version, "sha256", "exact")
                    break
        return out

    return run


def _short_hash_job(provider: Any, i: int, res: Resource):
    kind = next(k for k in SHORT_HASH_ORDER if k in res.hashes)
    value = res.hashes[kind]
    if kind == "sha256_12":  # A1111's TI hash: look up the AutoV2 it starts with
        kind, value = "autov2", value[:10]

    def run() -> dict[int, tuple[ModelVersion, str, str]]:
        return {i: (provider.get_version_by_hash(value), kind, "exact")}

    return run


def _search_job(provider: Any, i: int, res: Resource):
    from ..types import SearchQuery

    stem = Path(str(res.name).replace("\\", "/")).name
    query_text = name_key(stem).strip() or stem

    def run() -> dict[int, tuple[ModelVersion, str, str]]:
        query = SearchQuery(query=query_text[:200], types=SEARCH_TYPES.get(res.kind, []), limit=5)
        page = provider.search_page(query)
        want = name_key(stem)
        best = None
        for model in page.items:
            for version in model.versions:
                if any(name_key(f.name) == want for f in version.files):
                    best = _with_model(version, model)
                    break
            if best is not None:
                break
        if best is None and page.items and page.items[0].versions:
            best = _with_model(page.items[0].versions[0], page.items[0])
        if best is None:
            raise NotFoundError(f"A Civitai search for {query_text!r} found nothing.")
        return {i: (best, "name-search", "guess")}

    return run


def _pick_file(version: ModelVersion, res: Resource) -> ModelFile | None:
    """The version's file the evidence names (hash, then name), else its primary file."""
    for f in version.files:
        h = f.hashes
        have = {
            "sha256": (h.sha256 or "").upper(),
            "autov2": (h.autov2 or (h.sha256 or "")[:10]).upper(),
            "autov3": (h.autov3 or "").upper(),
            "autov1": (h.autov1 or "").upper(),
            "sha256_12": (h.sha256 or "")[:12].upper(),
        }
        if any(have.get(k) and have[k] == v for k, v in res.hashes.items()):
            return f
    if res.name:
        for f in version.files:
            if name_key(f.name) == name_key(res.name):
                return f
    return version.primary_file


def _finish(
    res: Resource, version: ModelVersion, how: str, confidence: str, index: LibraryIndex
) -> ResolvedResource:
    file = _pick_file(version, res)
    installed = list(index.by_version.get(version.id, []))
    if not installed and file is not None and file.hashes.sha256:
        installed = list(index.by_hash.get(("sha256", file.hashes.sha256.upper()), []))
    status = "installed" if installed and confidence == "exact" else "available"
    return ResolvedResource(
        res,
        status,
        how=how,
        confidence=confidence,
        version=version,
        file=file,
        installed_at=[f.path for f in installed] if status == "installed" else [],
    )


def _conflict(res: Resource, result: ResolvedResource, index: LibraryIndex) -> Path | None:
    """A library file with the resource's name whose content is another file."""
    if result.status == "installed" or not res.name:
        return None
    want = (result.file.hashes.sha256 or "").upper() if result.file else ""
    for f in index.same_name(res):
        if not f.sha256:
            continue
        if want and f.sha256.upper() == want:
            continue
        if not want and not res.hashes:
            continue
        return f.path
    return None
