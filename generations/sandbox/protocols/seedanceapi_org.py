"""seedanceapi.org (docs/vendors/seedanceapi_org.md): everything wrapped in `{code, message, data}`,
refusals named by the documented codes (INVALID_PROMPT, INVALID_DURATION, …), and a
callback URL that must be public."""

import ipaddress
import math
import secrets
from datetime import datetime
from urllib.parse import urlsplit

from ..media import MediaSpec
from ..models import SandboxTask, Snapshot, State
from .base import (
    Kind,
    SandboxProtocol,
    TaskSpec,
    VendorError,
    as_object,
    one_of,
    text,
    url_list,
    whole_number,
)

MINI = "seedance-2-mini"
MODELS = ("seedance-2.0", "seedance-2.0-fast", MINI)
ASPECT_RATIOS = ("16:9", "9:16", "4:3", "3:4")
MINI_ASPECT_RATIOS = (*ASPECT_RATIOS, "1:1", "21:9", "adaptive")
RESOLUTIONS = ("480p", "720p", "1080p")
PROMPT_MAX = 2000
MAX_IMAGES = 4
# 2.0: 240/480/720 credits for 5/10/15 s; Fast: 160/320/480.
PER_SECOND = {"seedance-2.0": 48, "seedance-2.0-fast": 32}
# Mini, in quarter credits per second: 480p ceil(14.25·s), with reference video 9·s;
# 720p ceil(30.75·s), with reference video ceil(18.75·s).
MINI_QUARTERS = {("480p", False): 57, ("480p", True): 36, ("720p", False): 123, ("720p", True): 75}

STATUS_NAMES = {
    State.QUEUED: "IN_PROGRESS",
    State.RUNNING: "IN_PROGRESS",
    State.SUCCEEDED: "SUCCESS",
    State.FAILED: "FAILED",
}

CODES = {
    Kind.BAD_REQUEST: "INVALID_REQUEST",
    Kind.INVALID: "INVALID_REQUEST",
    Kind.UNAUTHORIZED: "INVALID_API_KEY",
    Kind.NO_CREDIT: "INSUFFICIENT_CREDITS",
    Kind.NOT_FOUND: "TASK_NOT_FOUND",
    Kind.NOT_ALLOWED: "METHOD_NOT_ALLOWED",
    Kind.CONFLICT: "INVALID_REQUEST",
    Kind.RATE_LIMITED: "RATE_LIMITED",
    Kind.SERVER_ERROR: "INTERNAL_ERROR",
}


def refuse(code: str, message: str) -> VendorError:
    return VendorError(Kind.INVALID, message, code=code)


def media_of(images: list, videos: list, audios: list) -> MediaSpec:
    """ "Image-to-video uses prompt + images": the first image starts the clip and the
    rest guide it; beside reference video or audio, every image is a reference."""
    if images and not (videos or audios):
        return MediaSpec(first_frame=images[0], reference_images=tuple(images[1:]))
    return MediaSpec(reference_images=tuple(images), videos=tuple(videos), audios=tuple(audios))


def is_local(url: str) -> bool:
    """ "public URL; no localhost": localhost names and loopback addresses."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("", "localhost", "0.0.0.0") or host.endswith(".localhost"):  # noqa: S104
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SeedanceapiOrg(SandboxProtocol):
    name = "seedanceapi_org"
    create_path = "v2/generate"
    query_path = "v2/status"
    task_id_param = "task_id"
    status_path = ("data", "status")
    undocumented_status = "RENDERING"

    def new_task_id(self) -> str:
        return "n" + secrets.token_hex(7) + "sd20"

    # Long on purpose: one check per documented field, in the document's order, so the
    # simulator reads against the vendor's page line by line.
    def parse_create(self, body: dict) -> TaskSpec:
        prompt = text(body.get("prompt"))
        if prompt is None or len(prompt) > PROMPT_MAX:
            raise refuse(
                "INVALID_PROMPT", f"Prompt is required and at most {PROMPT_MAX} characters"
            )
        model = body.get("model", "seedance-2.0")
        if not one_of(model, MODELS):
            raise refuse("INVALID_REQUEST", f"model must be one of {', '.join(MODELS)}")
        duration = whole_number(body.get("duration", 5))
        if model == MINI:
            if duration is None or not 4 <= duration <= 15:
                raise refuse("INVALID_DURATION", "duration must be 4–15 for Mini")
        elif duration not in (5, 10, 15):
            raise refuse("INVALID_DURATION", "duration must be 5, 10, or 15 for 2.0 / Fast")
        allowed = MINI_ASPECT_RATIOS if model == MINI else ASPECT_RATIOS
        aspect_ratio = body.get("aspect_ratio", "16:9")
        if not one_of(aspect_ratio, allowed):
            raise refuse(
                "INVALID_ASPECT_RATIO",
                f"Unsupported aspect_ratio for {model}: use {', '.join(allowed)}",
            )
        images = url_list(body.get("images"))
        if images is None:
            raise refuse("INVALID_REQUEST", "images must be a list of http(s) URLs")
        if len(images) > MAX_IMAGES:
            raise refuse("TOO_MANY_IMAGES", f"Too many images (max {MAX_IMAGES})")
        reference_videos = url_list(body.get("reference_video_urls"))
        reference_audios = url_list(body.get("reference_audio_urls"))
        if reference_videos is None or reference_audios is None:
            raise refuse("INVALID_REQUEST", "reference URLs must be lists of http(s) URLs")
        resolution = body.get("resolution", "720p")
        if not one_of(resolution, RESOLUTIONS):
            raise refuse("INVALID_REQUEST", f"resolution must be one of {', '.join(RESOLUTIONS)}")
        if model == MINI and resolution == "1080p":
            # "1080p is billed and sent upstream as 720p for Mini."
            resolution = "720p"
        callback_url = body.get("callback_url") or ""
        if not isinstance(callback_url, str) or (
            callback_url
            and (urlsplit(callback_url).scheme not in ("http", "https") or is_local(callback_url))
        ):
            raise refuse("INVALID_REQUEST", "callback_url must be a public URL (no localhost)")
        if model == MINI:
            quarters = MINI_QUARTERS[(resolution, bool(reference_videos))]
            charge = math.ceil(quarters * duration / 4)
        else:
            charge = PER_SECOND[model] * duration
        return TaskSpec(
            model=model,
            prompt=prompt,
            duration=float(duration),
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            callback_url=callback_url,
            charge=charge,
            media=media_of(images, reference_videos, reference_audios),
        )

    def created_body(self, task: SandboxTask) -> dict:
        return self._wrap(
            {
                "task_id": task.public_id,
                "status": STATUS_NAMES[State.QUEUED],
                "consumed_credits": task.reported_charge(),
            }
        )

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        failed = snap.state == State.FAILED
        succeeded = snap.state == State.SUCCEEDED
        return self._wrap(
            {
                "task_id": task.public_id,
                "status": STATUS_NAMES[snap.state],
                # A failed generation is not billed.
                "consumed_credits": task.reported_charge(billed=not failed),
                "created_at": task.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "request": {
                    "prompt": task.prompt,
                    "aspect_ratio": task.aspect_ratio,
                    "duration": task.seconds,
                },
                "response": [output_url] if succeeded and output_url else [],
                # No error code here: only a message.
                "error_message": task.error_words("", "Video generation failed")[1]
                if failed
                else None,
            }
        )

    def mistyped(self, body: dict) -> dict:
        data = body["data"]
        data["consumed_credits"] = as_object(data["consumed_credits"])
        data["response"] = [[url] for url in data["response"]]
        message = data["error_message"]
        data["error_message"] = [message] if message else []
        # The one timestamp is documented as text, so the wrong type is a number.
        data["created_at"] = int(datetime.fromisoformat(data["created_at"]).timestamp())
        return body

    def error_body(self, error: VendorError, status: int) -> dict:
        return {"code": error.code or CODES[error.kind], "message": error.message, "data": None}

    @staticmethod
    def _wrap(data: dict) -> dict:
        return {"code": 200, "message": "success", "data": data}
