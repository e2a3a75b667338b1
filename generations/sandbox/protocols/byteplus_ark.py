"""BytePlus ModelArk (docs/vendors/byteplus_ark.md): a `content` list of typed items with
roles, top-level parameters, a token charge in `usage`, DELETE to cancel a queued task,
errors as `{error: {code, message, param, type}}`, and unsigned callbacks of the query
body retried 3 times."""

import secrets
from datetime import datetime

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
    whole_number,
)

# model id -> (longest duration, a 2.0 model: takes reference media and generate_audio)
MODELS = {
    "dreamina-seedance-2-0-260128": (15, True),
    "dreamina-seedance-2-0-fast-260128": (15, True),
    "seedance-1-5-pro-251215": (12, False),
}
RESOLUTIONS = ("480p", "720p", "1080p")
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
FPS = 24
# 16:9 pixel sizes; "tokens ≈ width × height × fps × seconds / 1024".
PIXELS = {"480p": (864, 496), "720p": (1280, 720), "1080p": (1920, 1080)}
TOP_LEVEL = {
    "model", "content", "resolution", "ratio", "duration", "seed", "watermark",
    "generate_audio", "camera_fixed", "return_last_frame", "callback_url",
}  # fmt: skip
ITEM_ROLES = {
    "image_url": ("first_frame", "last_frame", "reference_image"),
    "video_url": ("reference_video",),
    "audio_url": ("reference_audio",),
}
IMAGE_FORMATS = ("jpeg", "jpg", "png", "webp", "bmp", "tiff", "gif")
CODES = {
    Kind.BAD_REQUEST: ("InvalidParameter", 400),
    Kind.INVALID: ("InvalidParameter", 400),
    Kind.UNAUTHORIZED: ("AuthenticationError", 401),
    Kind.NO_CREDIT: ("AccountOverdueError", 403),
    Kind.NOT_FOUND: ("ResourceNotFound", 404),
    Kind.NOT_ALLOWED: ("InvalidParameter", 405),
    Kind.CONFLICT: ("InvalidAction.TaskNotCancellable", 400),
    Kind.RATE_LIMITED: ("QuotaExceeded", 429),
    Kind.SERVER_ERROR: ("InternalServiceError", 500),
}


def invalid(param: str, message: str, code: str = "InvalidParameter") -> VendorError:
    return VendorError(Kind.INVALID, message, code=code, param=param)


def tokens(resolution: str, seconds: int) -> int:
    width, height = PIXELS[resolution]
    return width * height * FPS * seconds // 1024


class BytePlusArk(SandboxProtocol):
    name = "byteplus_ark"
    create_path = "contents/generations/tasks"
    query_path = "contents/generations/tasks/<str:task_id>"
    cancel_path = query_path
    cancel_method = "DELETE"
    # "retrying succeeded/failed up to 3 times if not acknowledged within 5 s"
    callback_retry_delays = (1.0, 2.0, 4.0)
    callback_timeout = 5.0
    status = {kind: status for kind, (_, status) in CODES.items()}

    def new_task_id(self) -> str:
        return f"cgt-{datetime.now():%Y%m%d%H%M%S}-{secrets.token_hex(4)}"

    def parse_create(self, body: dict) -> TaskSpec:
        unknown = sorted(set(body) - TOP_LEVEL)
        if unknown:
            raise invalid(unknown[0], f"The parameter `{unknown[0]}` is not supported")
        model = body.get("model")
        if not one_of(model, MODELS):
            raise invalid(
                "model", "The model or endpoint does not exist", "InvalidEndpointOrModel.NotFound"
            )
        longest, references = MODELS[model]
        prompt, media = self.parse_content(body.get("content"), references)
        resolution = body.get("resolution", "720p")
        if not one_of(resolution, RESOLUTIONS):
            raise invalid("resolution", f"resolution must be one of {', '.join(RESOLUTIONS)}")
        ratio = body.get("ratio", "adaptive")
        if not one_of(ratio, RATIOS):
            raise invalid("ratio", f"ratio must be one of {', '.join(RATIOS)}")
        duration = whole_number(body.get("duration", 5))
        if duration is None or not 4 <= duration <= longest:
            raise invalid("duration", f"duration must be an integer from 4 to {longest}")
        if "generate_audio" in body and not references:  # "generate_audio (2.0)"
            raise invalid("generate_audio", f"{model} does not take generate_audio")
        for flag in ("watermark", "generate_audio", "camera_fixed", "return_last_frame"):
            if flag in body and not isinstance(body[flag], bool):
                raise invalid(flag, f"{flag} must be true or false")
        if "seed" in body and whole_number(body["seed"]) is None:
            raise invalid("seed", "seed must be an integer")
        callback_url = body.get("callback_url") or ""
        if not isinstance(callback_url, str):
            raise invalid("callback_url", "callback_url must be a URL")
        return TaskSpec(
            model=model,
            prompt=prompt,
            duration=float(duration),
            aspect_ratio="16:9" if ratio == "adaptive" else ratio,
            resolution=resolution,
            audio=body.get("generate_audio", references),
            callback_url=callback_url,
            charge=tokens(resolution, duration),
            media=media,
        )

    def parse_content(self, content, references: bool) -> tuple[str, MediaSpec]:
        """The prompt, and the media by role; the items checked as the document lists them."""
        if not isinstance(content, list) or not content:
            raise invalid("content", "content must be a non-empty array")
        first, *media = content
        if not isinstance(first, dict) or first.get("type") != "text":
            raise invalid("content", "the first content item must be the text prompt")
        prompt = first.get("text")
        if not isinstance(prompt, str) or not prompt.strip():
            raise invalid("content.text", "the text prompt must not be empty")
        items = [self.parse_item(item) for item in media]
        self.check_roles([role for role, _ in items], references)
        return prompt, media_by_role(items)

    def parse_item(self, item) -> str:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in ITEM_ROLES:
            raise invalid(
                "content.type", "content items are text, image_url, video_url or audio_url"
            )
        holder = item.get(kind)
        url = holder.get("url") if isinstance(holder, dict) else None
        if not _fetchable(url, kind):
            raise invalid(f"content.{kind}.url", f"{kind}.url must be a public URL")
        role = item.get("role")
        if role not in ITEM_ROLES[kind]:
            raise invalid(
                "content.role", f"the role of {kind} must be {' or '.join(ITEM_ROLES[kind])}"
            )
        return role, url

    def check_roles(self, roles: list[str], references: bool) -> None:
        frames = [role for role in roles if role in ("first_frame", "last_frame")]
        refs = [role for role in roles if role.startswith("reference_")]
        if frames and refs:
            raise invalid("content.role", "first/last frames and references cannot be combined")
        if frames and frames not in (["first_frame"], ["first_frame", "last_frame"]):
            raise invalid("content.role", "give a first_frame, or a first_frame then a last_frame")
        if refs and not references:
            raise invalid("content.role", "this model takes no reference media")
        for role, most in (("reference_image", 9), ("reference_video", 3), ("reference_audio", 3)):
            if refs.count(role) > most:
                raise invalid("content", f"at most {most} items with the role {role}")
        if "reference_audio" in refs and refs.count("reference_audio") == len(refs):
            raise invalid("content", "reference audio needs a reference image or video with it")

    def created_body(self, task: SandboxTask) -> dict:
        return {"id": task.public_id}

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        status = "cancelled" if snap.state == State.CANCELLED else snap.state
        body = {
            "id": task.public_id,
            "model": task.model,
            "status": status,
            "content": None,
            "usage": None,
            "error": None,
            "created_at": int(task.created.timestamp()),
            "updated_at": int((snap.finished_at or task.created).timestamp()),
            "seed": task.request.get("seed", 42),
            "resolution": task.resolution,
            "ratio": task.request.get("ratio", "adaptive"),
            "duration": task.seconds,
            "framespersecond": FPS,
        }
        if snap.state == State.SUCCEEDED:
            body["content"] = {"video_url": output_url}
            charge = task.reported_charge()
            body["usage"] = {"completion_tokens": charge, "total_tokens": charge}
        if snap.state == State.FAILED:
            code, message = task.error_words(
                "OutputVideoSensitiveContentDetected",
                "The output video may contain sensitive content",
            )
            body["error"] = {"code": code, "message": message}
        return body

    def mistyped(self, body: dict) -> dict:
        if body["usage"]:
            body["usage"]["completion_tokens"] = as_object(body["usage"]["completion_tokens"])
        if body["content"]:
            body["content"]["video_url"] = [[body["content"]["video_url"]]]
        body["error"] = as_list(body["error"])
        body["created_at"] = as_text(body["created_at"])
        return body

    def can_cancel(self, snap: Snapshot) -> bool:
        # "Only tasks in the queued state can be cancelled."
        return snap.state == State.QUEUED

    def cancelled_body(self, task: SandboxTask) -> dict:
        return {}

    def not_cancellable(self) -> VendorError:
        return VendorError(Kind.CONFLICT, "The task is not queued and cannot be cancelled")

    def rate_limited(self, retry_after: float) -> VendorError:
        error = super().rate_limited(retry_after)
        error.message = "The number of queued tasks has reached the account's limit of 120"
        return error

    def unauthorized(self, key_missing: bool) -> VendorError:
        return VendorError(
            Kind.UNAUTHORIZED, "The API key is missing or invalid", code="AuthenticationError"
        )

    def error_body(self, error: VendorError, status: int) -> dict:
        code = error.code or CODES[error.kind][0]
        return {
            "error": {
                "code": code,
                "message": error.message,
                "param": error.param or "",
                "type": "BadRequest" if status < 500 else "InternalServerError",
            }
        }


def _fetchable(url, kind: str) -> bool:
    if not isinstance(url, str):
        return False
    if url.startswith(("http://", "https://")) and len(url) > len("https://"):
        return True
    head, _, data = url.partition(";base64,")
    return (
        kind == "image_url"
        and head.startswith("data:image/")
        and head.removeprefix("data:image/").lower() in IMAGE_FORMATS
        and bool(data)
    )


def media_by_role(items: list[tuple[str, str]]) -> MediaSpec:
    """What the render fetches: each URL in its role (inline data: images are not fetched)."""
    fetched = [(role, url) for role, url in items if not url.startswith("data:")]

    def every(role):
        return tuple(url for each, url in fetched if each == role)

    return MediaSpec(
        first_frame=next(iter(every("first_frame")), ""),
        last_frame=next(iter(every("last_frame")), ""),
        reference_images=every("reference_image"),
        videos=every("reference_video"),
        audios=every("reference_audio"),
    )
