"""The fake Civitai download endpoint ``/api/download/models/{versionId}`` (api.md §1.9).

Check order and bodies as the real handler: bad parameters 400; missing/unpublished 404
``File not found``; archived 410; downloads disabled 401; login required 401; early
access 403 (with ``deadline``); no grant 403; success **307** to
``fake.download_target(version_id, file)`` (unset → 404 ``File not found``).

Per-version rules: ``fake.download_rules[vid] = {"require_auth": bool,
"early_access_deadline": iso, "early_access_granted": bool, "disabled": bool,
"archived": bool, "no_grant": bool}``. A browser-like User-Agent gets plain-text errors,
a redirect to ``/login?...`` when login is required and to ``/model-versions/{id}`` for
early access, like the real site.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .httpserver import Recorded, Reply

if TYPE_CHECKING:
    from .civitai import FakeCivitai

_FILE_PARAMS = {
    "type": (
        "Model",
        "Pruned Model",
        "Negative",
        "Training Data",
        "VAE",
        "Config",
        "Archive",
        "UNet",
        "Diffusion Model",
        "Text Encoder",
        "Vision Encoder",
        "CLIPVision",
        "ControlNet",
        "Workflow",
        "Upscaler",
        "Enhancement LoRA",
        "Other",
    ),
    "format": ("SafeTensor", "PickleTensor", "GGUF", "Diffusers", "Core ML", "ONNX", "Other"),
    "size": ("full", "pruned"),
    "fp": None,  # free text
    "quantType": None,
}
MSG_DISABLED = "The creator of this asset has disabled downloads on this file"
MSG_LOGIN = "The creator of this asset requires you to be logged in to download it"
MSG_EARLY = "This asset is in Early Access. You can use Buzz to access it now!"
MSG_NO_GRANT = "You do not have access to download this file"


def _parse_iso(text: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class DownloadMixin:
    """Adds ``_download`` to :class:`fakes.civitai.FakeCivitai`."""

    def _download(self: FakeCivitai, req: Recorded, m: re.Match[str]) -> Reply:  # type: ignore[misc]
        browser = self.is_browser(req)

        def error(status: int, body: dict[str, Any]) -> Reply:
            if browser:
                return Reply(status, str(body.get("message") or body.get("error")))
            return Reply(status, body)

        if not m[1].isdigit():
            return error(400, {"error": "Invalid modelVersionId"})
        version_id = int(m[1])
        for name, allowed in _FILE_PARAMS.items():
            value = req.param(name)
            if value is not None and allowed is not None and value not in allowed:
                return error(400, {"error": f"Invalid {name}: {value}"})
        file_id = req.param("fileId")
        if file_id is not None and not file_id.isdigit():
            return error(400, {"error": "Invalid fileId"})
        found = self.find_version(version_id)
        if found is None:
            return error(404, {"error": "File not found"})
        model, version = found
        chosen = _choose_file(version, req)
        if chosen is None or version.get("status", "Published") != "Published":
            return error(404, {"error": "File not found"})
        rules = dict(self.download_rules.get(version_id) or {})
        authed = self.is_authed(req)
        if rules.get("archived") or model.get("mode") == "Archived":
            return error(410, {"error": "Model archived, not available for download"})
        if rules.get("disabled"):
            return error(401, {"error": "Unauthorized", "message": MSG_DISABLED})
        if rules.get("require_auth") and not authed:
            if browser:
                target = quote(f"/model-versions/{version_id}", safe="")
                return Reply(
                    307, "", {"Location": f"/login?returnUrl={target}&reason=download-auth"}
                )
            return Reply(401, {"error": "Unauthorized", "message": MSG_LOGIN})
        deadline = rules.get("early_access_deadline") or version.get("earlyAccessDeadline")
        when = _parse_iso(deadline) if isinstance(deadline, str) else None
        early = when is not None and when > datetime.now(UTC)
        if early and not (authed and rules.get("early_access_granted")):
            if browser:
                return Reply(307, "", {"Location": f"/model-versions/{version_id}"})
            body = {"error": "Early Access", "deadline": deadline, "message": MSG_EARLY}
            return Reply(403, body)
        if rules.get("no_grant"):
            return error(403, {"error": MSG_NO_GRANT})
        if self.download_target is None:
            return error(404, {"error": "File not found"})
        location = self.download_target(version_id, chosen)
        return Reply(307, "", {"Location": location, "Cache-Control": "no-store"})


def _choose_file(version: dict[str, Any], req: Recorded) -> dict[str, Any] | None:
    """The file ``fileId`` names, else the one matching every given metadata value."""
    files = [f for f in version.get("files") or [] if isinstance(f, dict)]
    file_id = req.param("fileId")
    if file_id is not None:
        return next((f for f in files if str(f.get("id")) == file_id), None)
    wanted = {k: req.param(k) for k in _FILE_PARAMS if req.param(k) is not None}
    if not wanted:
        primary = [f for f in files if f.get("primary")]
        return (primary or files or [None])[0]

    def matches(f: dict[str, Any]) -> bool:
        meta = f.get("metadata") or {}
        for key, value in wanted.items():
            actual = f.get("type") if key == "type" else meta.get(key)
            if actual != value:
                return False
        return True

    return next((f for f in files if matches(f)), None)
