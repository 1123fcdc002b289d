"""What each ``/modelshelf/...`` route does (blocking; :mod:`.routes` runs them off the loop).

Each handler takes ``(query, match_info, body)`` of plain strings/JSON and returns a
JSON-ready value built by :mod:`modelshelf.views`; bad values raise
:class:`guard.RefusedError`, core failures raise the core's errors.
"""

from __future__ import annotations

from typing import Any

from . import guard, host, service

__all__ = [
    "cancel_download",
    "download_changes",
    "get_settings",
    "library",
    "model",
    "options",
    "retry_download",
    "search",
    "set_settings",
    "start_download",
    "trained_words",
    "version",
]

PROVIDERS = ("civitai", "novita")
MAX_POLL_SECONDS = 25.0
MAX_CURSOR = 512
MAX_TEXT = 200
LIBRARY_KEYS = (
    "checkpoints",
    "diffusion_models",
    "loras",
    "embeddings",
    "vae",
    "controlnet",
    "upscale_models",
    "hypernetworks",
    "text_encoders",
)
Query = dict[str, str]


def _text(query: Query, name: str, limit: int = MAX_TEXT) -> str | None:
    value = (query.get(name) or "").strip()
    if not value:
        return None
    if len(value) > limit or not value.isprintable():
        raise guard.RefusedError(400, f"{name} is too long or holds control characters.")
    return value


def _list(query: Query, name: str) -> list[str]:
    value = _text(query, name, 2000) or ""
    return [part.strip() for part in value.split(",") if part.strip()]


def _bool(query: Query, name: str) -> bool | None:
    value = (query.get(name) or "").strip().lower()
    if not value:
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise guard.RefusedError(400, f"{name} must be true or false.")


def _provider(value: str | None) -> str:
    provider = (value or "civitai").strip().lower()
    if provider not in PROVIDERS:
        raise guard.RefusedError(400, "provider must be civitai or novita.")
    return provider


def _max_nsfw(query: Query) -> int:
    from ..modelshelf import views

    levels = [level for _name, level in views.NSFW_LEVELS]
    value = guard.int_param(query.get("max_nsfw"), "max_nsfw", required=False)
    if value is None:
        return 2
    if value not in levels:
        raise guard.RefusedError(400, f"max_nsfw must be one of {levels}.")
    return value


def options(query: Query, _match: Query, _body: dict) -> dict[str, Any]:
    """The filters each provider supports, and the NSFW levels."""
    from ..modelshelf import views

    return views.search_options()


def search(query: Query, _match: Query, _body: dict) -> dict[str, Any]:
    """One page of results as cards (``views.model_card``) with installed/update badges."""
    from ..modelshelf import views
    from ..modelshelf.types import SearchQuery

    provider = _provider(query.get("provider"))
    limit = guard.int_param(query.get("limit"), "limit", required=False)
    if limit is not None and limit > 100:
        raise guard.RefusedError(400, "limit must be 1 to 100.")
    wanted = SearchQuery(
        query=_text(query, "query"),
        types=_list(query, "types"),
        base_models=_list(query, "base_models"),
        sort=_text(query, "sort"),
        period=_text(query, "period"),
        tag=_text(query, "tag"),
        username=_text(query, "username"),
        nsfw=_bool(query, "nsfw"),
        limit=limit or 20,
        primary_file_only=_bool(query, "primary_file_only"),
        allow_commercial_use=_text(query, "commercial_use"),
        visibility=_text(query, "visibility"),
        source=_text(query, "source"),
        is_sdxl=_bool(query, "is_sdxl"),
        is_inpainting=_bool(query, "is_inpainting"),
    )
    shelf = service.get_shelf()
    page = shelf.search(wanted, provider=provider, cursor=_text(query, "cursor", MAX_CURSOR))
    badges = shelf.badges(page.items)
    max_nsfw = _max_nsfw(query)
    return {
        "provider": provider,
        "items": [
            views.model_card(m, badge=badges.get(m.id), max_nsfw=max_nsfw) for m in page.items
        ],
        "next_cursor": page.next_cursor,
    }


def _detail(shelf: Any, found: Any, version_id: int | None, max_nsfw: int) -> dict[str, Any]:
    from ..modelshelf import views

    installed = [
        p.name for v in found.versions if isinstance(v.id, int) for p in shelf.installed(v.id)
    ]
    return views.model_detail(found, version_id, max_nsfw=max_nsfw, installed=installed)


def model(query: Query, match: Query, _body: dict) -> dict[str, Any]:
    """A model's detail (``views.model_detail``): versions, files, words, previews."""
    provider = _provider(match.get("provider"))
    shelf = service.get_shelf()
    if provider == "novita":
        model_id: Any = _text(match, "model_id")
        if (
            not model_id
            or not model_id.replace("_", "").replace("-", "").replace(".", "").isalnum()
        ):
            raise guard.RefusedError(400, "model_id is not a Novita model id.")
    else:
        model_id = guard.int_param(match.get("model_id"), "model_id")
    version_id = guard.int_param(query.get("version_id"), "version_id", required=False)
    found = shelf.model(model_id, provider=provider)
    return _detail(shelf, found, version_id, _max_nsfw(query))


def version(query: Query, match: Query, _body: dict) -> dict[str, Any]:
    """The detail of the model a Civitai version belongs to, with that version selected."""
    version_id = guard.int_param(match.get("version_id"), "version_id")
    shelf = service.get_shelf()
    found, _version = shelf.lookup(f"{shelf.version(version_id).model_id}@{version_id}")
    if found is None:
        raise guard.RefusedError(404, "That version's model could not be read.")
    return _detail(shelf, found, version_id, _max_nsfw(query))


def _ref(body: dict) -> str:
    from ..modelshelf.refs import parse_ref

    ref = body.get("ref")
    if not isinstance(ref, str) or not ref.strip() or len(ref) > 4096:
        raise guard.RefusedError(400, "ref must be a model reference.")
    parse_ref(ref, service.get_shelf().settings.civitai_url)  # BadInputError → 400
    return ref.strip()


def start_download(_query: Query, _match: Query, body: dict) -> dict[str, Any]:
    """Queue a download of ``ref`` (``file_id`` optional) into ComfyUI's folder for it."""
    from ..modelshelf import views

    ref = _ref(body)
    file_id = body.get("file_id")
    if file_id is not None and (
        not isinstance(file_id, int) or isinstance(file_id, bool) or not 1 <= file_id <= 2147483647
    ):
        raise guard.RefusedError(400, "file_id must be a whole number.")
    return views.job_view(service.get_shelf().start_download(ref, file_id=file_id))


def _job_id(match: Query) -> str:
    job_id = match.get("job_id") or ""
    if not guard.re_full(job_id):
        raise guard.RefusedError(400, "That is not a download id.")
    return job_id


def cancel_download(_query: Query, match: Query, _body: dict) -> dict[str, Any]:
    from ..modelshelf import views

    return views.job_view(service.get_shelf().cancel_download(_job_id(match)))


def retry_download(_query: Query, match: Query, _body: dict) -> dict[str, Any]:
    from ..modelshelf import views

    return views.job_view(service.get_shelf().retry_download(_job_id(match)))


def download_changes(query: Query, _match: Query, _body: dict) -> dict[str, Any]:
    """Jobs changed after revision ``since``; waits up to ``timeout`` s (max 25) for one."""
    from ..modelshelf import views

    since = 0 if query.get("since") in (None, "", "0") else guard.int_param(query["since"], "since")
    try:
        timeout = min(MAX_POLL_SECONDS, max(0.0, float(query.get("timeout") or 0)))
    except ValueError:
        raise guard.RefusedError(400, "timeout must be a number of seconds.") from None
    revision, jobs = service.get_shelf().download_changes(since or 0, timeout)
    return {"revision": revision, "jobs": [views.job_view(job) for job in jobs]}


def library(_query: Query, _match: Query, _body: dict) -> dict[str, Any]:
    """Each model folder key ComfyUI has, with the number of files it lists."""
    layout = service.get_shelf().layout
    return {
        "folders": {
            key: len(host.local_names(key)) for key in LIBRARY_KEYS if key in layout.folders
        }
    }


def trained_words(query: Query, _match: Query, _body: dict) -> dict[str, Any]:
    """The trained words of a file ComfyUI lists (folder key + its listed name, no path)."""
    from pathlib import Path

    key = query.get("folder") or ""
    if key not in LIBRARY_KEYS:
        raise guard.RefusedError(400, "folder must be one of ComfyUI's model folder keys.")
    name = guard.plain_name(query.get("name"), host.local_names(key))
    folder_paths = host.comfy_module("folder_paths")
    path = folder_paths.get_full_path(key, name) if folder_paths is not None else None
    if not path:
        raise guard.RefusedError(404, "That file is no longer there; refresh the lists.")
    return {"words": list(service.get_shelf().trained_words(Path(path)))}


def get_settings(_query: Query, _match: Query, _body: dict) -> dict[str, Any]:
    """What the sidebar may know of the settings: never a key, only whether one is set."""
    settings = service.get_shelf().settings
    return {
        "civitai_token_set": bool(settings.civitai_token),
        "novita_key_set": bool(settings.novita_key),
        "nsfw": bool(settings.nsfw),
    }


def set_settings(_query: Query, _match: Query, body: dict) -> dict[str, Any]:
    """Save keys typed into the sidebar into the settings file (mode 0600), then reload."""
    from ..modelshelf.settings import save_settings_file

    updates: dict[str, Any] = {}
    for name in ("civitai_token", "novita_key"):
        if name in body:
            value = body[name]
            if value is not None and (
                not isinstance(value, str) or len(value) > 512 or not value.strip().isprintable()
            ):
                raise guard.RefusedError(400, f"{name} must be text.")
            updates[name] = value.strip() if value and value.strip() else None
    if not updates:
        raise guard.RefusedError(400, "Nothing to change.")
    save_settings_file(service.get_shelf().settings.home, updates)
    service.reset_shelf()
    return get_settings({}, {}, {})
