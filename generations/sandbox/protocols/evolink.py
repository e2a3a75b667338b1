"""evolink.ai (docs/vendors/evolink.md): six models by mode and speed, `quality` for the
resolution, task objects with `progress`, errors as `{error: {code, message, type, param}}`,
and HTTPS-only callbacks retried 3 times at 1/2/4 s."""

import math
import secrets
import string
import time
from decimal import Decimal
from urllib.parse import urlsplit

from ..media import MediaSpec
from ..models import SandboxTask, Snapshot, State
from .base import (
    Kind,
    SandboxProtocol,
    TaskSpec,
    VendorError,
    as_list,
    as_object,
    as_text,
    one_of,
    text,
    url_list,
    whole_number,
)

# model -> (speed, mode)
MODELS = {
    f"seedance-2.0-{speed_part}{mode}-to-video": (speed, mode)
    for speed, speed_part in (("standard", ""), ("fast", "fast-"))
    for mode in ("text", "image", "reference")
}
QUALITIES = ("480p", "720p")
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
CALLBACK_URL_MAX = 2048
# Not in the document; evolink's public list in USD per second. One credit is taken as
# one US cent.
USD_PER_SECOND = {
    ("standard", "480p"): Decimal("0.07276"),
    ("standard", "720p"): Decimal("0.15715"),
    ("fast", "480p"): Decimal("0.0590"),
    ("fast", "720p"): Decimal("0.1273"),
}
CREDITS_PER_USD = 100

STATUS_NAMES = {
    State.QUEUED: "pending",
    State.RUNNING: "processing",
    State.SUCCEEDED: "completed",
    State.FAILED: "failed",
    State.CANCELLED: "cancelled",
}

TYPES = {
    Kind.BAD_REQUEST: "invalid_request_error",
    Kind.INVALID: "invalid_request_error",
    Kind.UNAUTHORIZED: "authentication_error",
    Kind.NO_CREDIT: "insufficient_quota_error",
    Kind.NOT_FOUND: "not_found_error",
    Kind.NOT_ALLOWED: "invalid_request_error",
    Kind.CONFLICT: "invalid_request_error",
    Kind.RATE_LIMITED: "rate_limit_error",
    Kind.SERVER_ERROR: "internal_server_error",
}


def invalid(param: str, message: str) -> VendorError:
    return VendorError(Kind.INVALID, message, param=param)


class Evolink(SandboxProtocol):
    name = "evolink"
    create_path = "v1/videos/generations"
    query_path = "v1/tasks/<str:task_id>"
    # "Callback mechanism: 10 seconds … 3 retries after failure (at 1/2/4 seconds)"
    callback_retry_delays = (1.0, 2.0, 4.0)
    callback_timeout = 10.0

    def new_task_id(self) -> str:
        suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        return f"task-unified-{int(time.time())}-{suffix}"

    # One check per documented field, in the document's order, so the simulator reads
    # against the vendor's page line by line.
    def parse_create(self, body: dict) -> TaskSpec:
        model = body.get("model")
        if not one_of(model, MODELS):
            raise invalid("model", f"model must be one of {', '.join(MODELS)}")
        speed, mode = MODELS[model]
        prompt = text(body.get("prompt"))
        if prompt is None:
            raise invalid("prompt", "prompt is required")
        media = self.parse_media(body, model, mode)
        duration = whole_number(body.get("duration", 5))
        if duration is None or not 4 <= duration <= 15:
            raise invalid("duration", "duration must be an integer from 4 to 15")
        quality = body.get("quality", "720p")
        if not one_of(quality, QUALITIES):
            raise invalid("quality", "quality must be 480p or 720p")
        aspect_ratio = body.get("aspect_ratio", "16:9")
        if not one_of(aspect_ratio, ASPECT_RATIOS):
            raise invalid("aspect_ratio", f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}")
        generate_audio = body.get("generate_audio", True)
        if not isinstance(generate_audio, bool):
            raise invalid("generate_audio", "generate_audio must be true or false")
        callback_url = body.get("callback_url") or ""
        if not isinstance(callback_url, str) or (
            callback_url and urlsplit(callback_url).scheme != "https"
        ):
            raise invalid("callback_url", "callback_url must be an HTTPS URL")
        if len(callback_url) > CALLBACK_URL_MAX:
            raise invalid(
                "callback_url", f"callback_url is longer than {CALLBACK_URL_MAX} characters"
            )
        usd = USD_PER_SECOND[(speed, quality)] * duration
        return TaskSpec(
            model=model,
            prompt=prompt,
            duration=float(duration),
            aspect_ratio=aspect_ratio,
            resolution=quality,
            audio=generate_audio,
            callback_url=callback_url,
            charge=math.ceil(usd * CREDITS_PER_USD),
            media=media,
        )

    def parse_media(self, body: dict, model: str, mode: str) -> MediaSpec:
        """image_urls for the image and reference models (1 image: the first frame; 2:
        first and last); video_urls and audio_urls for the reference models only."""
        images = url_list(body.get("image_urls"))
        videos = url_list(body.get("video_urls"))
        audios = url_list(body.get("audio_urls"))
        for param, value in (
            ("image_urls", images),
            ("video_urls", videos),
            ("audio_urls", audios),
        ):
            if value is None:
                raise invalid(param, f"{param} must be an array of URLs")
        if mode == "text" and images:
            raise invalid("image_urls", f"{model} does not support image_urls")
        if mode != "reference" and (videos or audios):
            param = "video_urls" if videos else "audio_urls"
            raise invalid(param, f"{model} does not support {param}")
        if mode == "image":
            if not 1 <= len(images) <= 2:
                raise invalid("image_urls", "image-to-video takes 1 or 2 images")
            return MediaSpec(first_frame=images[0], last_frame=images[1] if images[1:] else "")
        if mode == "reference":
            if len(images) > 9 or len(videos) > 3 or len(audios) > 3:
                raise invalid("image_urls", "at most 9 images, 3 videos and 3 audio clips")
            if audios and not (images or videos):
                raise invalid("audio_urls", "audio needs at least 1 image or 1 video with it")
        return MediaSpec(reference_images=tuple(images), videos=tuple(videos), audios=tuple(audios))

    def created_body(self, task: SandboxTask) -> dict:
        return self.task_body(task, Snapshot(State.QUEUED, 0), "")

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        body = {
            "id": task.public_id,
            "object": "video.generation.task",
            "created": int(task.created.timestamp()),
            "model": task.model,
            "status": STATUS_NAMES[snap.state],
            "progress": snap.progress,
            "type": "video",
            "task_info": {
                "can_cancel": not snap.terminal,
                "estimated_time": max(0, math.ceil((task.ends_at - task.created).total_seconds())),
                "video_duration": task.seconds,
            },
            "usage": {
                "billing_rule": "per_second",
                "credits_reserved": task.reported_charge(),
                "user_group": "default",
            },
        }
        if snap.state == State.SUCCEEDED and output_url:
            body["results"] = [output_url]
        if snap.state == State.FAILED:
            code, message = task.error_words("service_error", "Video generation failed")
            body["error"] = {"code": code, "message": message}
        return body

    def mistyped(self, body: dict) -> dict:
        progress = body["progress"]
        body["progress"] = "done" if progress == 100 else "started" if progress else "none"
        body["usage"]["credits_reserved"] = as_object(body["usage"]["credits_reserved"])
        if "results" in body:
            body["results"] = [[url] for url in body["results"]]
        body["error"] = as_list(body.get("error"))
        body["created"] = as_text(body["created"])
        return body

    def error_body(self, error: VendorError, status: int) -> dict:
        return {
            "error": {
                "code": status,
                "message": error.message,
                "type": TYPES[error.kind],
                "param": error.param,
            }
        }
