"""seedance2.ink (docs/vendors/seedance2_ink.md): a flat body, `creditsCharged` at acceptance, a
cancel endpoint, and `{success: false, error: {code, message}}` for every refusal."""

import secrets
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from ..media import MediaSpec
from ..models import SandboxTask, Snapshot, State
from .base import (
    Kind,
    SandboxProtocol,
    TaskSpec,
    VendorError,
    as_list,
    one_of,
    text,
    url_list,
    whole_number,
)

MODELS = ("seedance-2.0", "seedance-2.0-fast", "seedance-1.5-pro")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
RESOLUTIONS = ("480p", "720p", "1080p")
# No rate is published; the one example charges 40 credits for 5 s at 720p.
CREDITS_PER_SECOND = {"480p": 4, "720p": 8, "1080p": 16}

STATUS_NAMES = {
    State.QUEUED: "queued",
    State.RUNNING: "processing",
    State.SUCCEEDED: "succeeded",
    State.FAILED: "failed",
    State.CANCELLED: "cancelled",
}

# Its Image to Video page: "You can pass up to 5 items in mediaUrls", "Use publicly
# accessible HTTPS URLs", and the types by their common formats.
MAX_MEDIA = 5
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v")
AUDIO_SUFFIXES = (".mp3", ".wav")

CODES = {
    Kind.BAD_REQUEST: "invalid_request",
    Kind.INVALID: "invalid_request",
    Kind.UNAUTHORIZED: "unauthorized",
    Kind.NO_CREDIT: "insufficient_credits",
    Kind.NOT_FOUND: "not_found",
    Kind.NOT_ALLOWED: "method_not_allowed",
    Kind.CONFLICT: "task_not_cancellable",
    Kind.RATE_LIMITED: "rate_limited",
    Kind.SERVER_ERROR: "internal_error",
}


def invalid(message: str) -> VendorError:
    return VendorError(Kind.INVALID, message)


def parse_media(value) -> MediaSpec:
    """ "The generation mode is inferred from the number and type of materials": images
    alone, one or two, are the first (and last) frame; anything else is references."""
    urls = url_list(value, schemes=("https",))
    if urls is None:
        raise invalid("mediaUrls must be an array of public HTTPS URLs")
    if len(urls) > MAX_MEDIA:
        raise invalid(f"mediaUrls accepts at most {MAX_MEDIA} items")
    images, videos, audios = [], [], []
    for url in urls:
        suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
        kind = (
            videos if suffix in VIDEO_SUFFIXES else audios if suffix in AUDIO_SUFFIXES else images
        )
        kind.append(url)
    if not videos and not audios and 1 <= len(images) <= 2:
        return MediaSpec(first_frame=images[0], last_frame=images[1] if images[1:] else "")
    return MediaSpec(reference_images=tuple(images), videos=tuple(videos), audios=tuple(audios))


class Seedance2Ink(SandboxProtocol):
    name = "seedance2_ink"
    create_path = "api/open/v1/video/generations"
    query_path = "api/open/v1/video/generations/<str:task_id>"
    cancel_path = "api/open/v1/video/generations/<str:task_id>/cancel"

    def new_task_id(self) -> str:
        return "req_" + "".join(secrets.choice("0123456789") for _ in range(16))

    def parse_create(self, body: dict) -> TaskSpec:
        model = body.get("model")
        if not one_of(model, MODELS):
            raise invalid(f"model must be one of {', '.join(MODELS)}")
        prompt = text(body.get("prompt"))
        if prompt is None:
            raise invalid("prompt is required")
        aspect_ratio = body.get("aspectRatio", "16:9")
        if not one_of(aspect_ratio, ASPECT_RATIOS):
            raise invalid(f"aspectRatio must be one of {', '.join(ASPECT_RATIOS)}")
        duration = whole_number(body.get("duration", 5))
        if model == "seedance-1.5-pro":
            if duration not in (5, 10):
                raise invalid("duration must be 5 or 10 for seedance-1.5-pro")
        elif duration is None or not 4 <= duration <= 15:
            raise invalid(f"duration must be an integer from 4 to 15 for {model}")
        resolution = body.get("resolution", "720p")
        if not one_of(resolution, RESOLUTIONS):
            raise invalid(f"resolution must be one of {', '.join(RESOLUTIONS)}")
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise invalid("metadata must be an object")
        webhook_url = body.get("webhookUrl") or ""
        if not isinstance(webhook_url, str):
            raise invalid("webhookUrl must be a URL")
        media = parse_media(body.get("mediaUrls"))
        return TaskSpec(
            model=model,
            prompt=prompt,
            duration=float(duration),
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            callback_url=webhook_url,
            charge=CREDITS_PER_SECOND[resolution] * duration,
            media=media,
        )

    def created_body(self, task: SandboxTask) -> dict:
        return {
            "success": True,
            "requestId": task.public_id,
            "status": STATUS_NAMES[State.QUEUED],
            "creditsCharged": task.reported_charge(),
        }

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        error = None
        if snap.state == State.FAILED:
            code, message = task.error_words("provider_error", "Video generation failed upstream")
            error = {"code": code, "message": message}
        return {
            "success": True,
            "requestId": task.public_id,
            "status": STATUS_NAMES[snap.state],
            "model": task.model,
            "prompt": task.prompt,
            "duration": task.seconds,
            "aspectRatio": task.aspect_ratio,
            # "The output URL is only present when status is succeeded."
            "output": {"type": "video", "url": output_url}
            if snap.state == State.SUCCEEDED
            else None,
            "error": error,
        }

    def mistyped(self, body: dict) -> dict:
        # No progress, charge or timestamps in this vendor's task answers.
        if body["output"]:
            body["output"]["url"] = 12345
        body["error"] = as_list(body["error"])
        return body

    def cancelled_body(self, task: SandboxTask) -> dict:
        return {"success": True, "requestId": task.public_id, "status": "cancelled"}

    def error_body(self, error: VendorError, status: int) -> dict:
        code = error.code or CODES[error.kind]
        return {"success": False, "error": {"code": code, "message": error.message}}
