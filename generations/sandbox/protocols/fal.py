"""fal (docs/vendors/fal.md): the queue. A submit to /{model_id} (a `?fal_webhook=`
optional) answers with the request's status, result and cancel addresses; the status is
IN_QUEUE, IN_PROGRESS or COMPLETED, and a request that failed still ends COMPLETED with
an error for its result. Keys travel as `Authorization: Key …`."""

import uuid

from django.conf import settings

from ..media import MediaSpec
from ..models import SandboxTask, Snapshot, State
from .base import (
    Kind,
    SandboxProtocol,
    TaskSpec,
    VendorError,
    as_text,
    one_of,
    text,
    url_list,
    whole_number,
)

APPS = {"bytedance/seedance-2.0": ("480p", "720p", "1080p")}
APPS["bytedance/seedance-2.0/fast"] = APPS["bytedance/seedance-2.0"]
APPS["bytedance/seedance-2.0/mini"] = ("480p", "720p")
ENDPOINTS = ("text-to-video", "image-to-video")
MODELS = {f"{app}/{endpoint}": app for app in APPS for endpoint in ENDPOINTS}
SECONDS = tuple(str(seconds) for seconds in range(4, 16))
ASPECT_RATIOS = ("auto", "16:9", "9:16", "1:1", "4:3", "3:4", "21:9")
FIELDS = {
    "prompt", "image_url", "end_image_url", "resolution", "duration", "aspect_ratio",
    "generate_audio", "seed", "enable_safety_checker",
}  # fmt: skip
# The queue's addresses name the model's app: its owner and name, not its endpoint.
QUEUE_PREFIX = "<path:app>/requests/<str:task_id>"
STATUS_NAMES = {
    State.QUEUED: "IN_QUEUE",
    State.RUNNING: "IN_PROGRESS",
    State.SUCCEEDED: "COMPLETED",
    State.FAILED: "COMPLETED",
    State.CANCELLED: "COMPLETED",
}
STATUS = {
    Kind.BAD_REQUEST: 400,
    Kind.INVALID: 422,
    Kind.UNAUTHORIZED: 401,
    Kind.NO_CREDIT: 403,
    Kind.NOT_FOUND: 404,
    Kind.NOT_ALLOWED: 405,
    Kind.CONFLICT: 400,
    Kind.RATE_LIMITED: 429,
    Kind.SERVER_ERROR: 500,
}


def invalid(field: str, message: str) -> VendorError:
    return VendorError(Kind.INVALID, message, param=field)


def queue_url(task: SandboxTask, suffix: str = "") -> str:
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/sandbox/fal/{MODELS[task.model]}/requests/{task.public_id}{suffix}"


class Fal(SandboxProtocol):
    name = "fal"
    create_path = "<path:model_id>"
    query_path = f"{QUEUE_PREFIX}/status"
    cancel_path = f"{QUEUE_PREFIX}/cancel"
    cancel_method = "PUT"
    cancelled_status = 202
    auth_scheme = "key"
    status = STATUS
    # "retried … for about two hours"; a few quick tries here.
    callback_retry_delays = (1.0, 2.0, 4.0)

    def new_task_id(self) -> str:
        return str(uuid.uuid4())

    def extra_routes(self):
        return [(QUEUE_PREFIX, "query_task", "result", {"answer": "result_answer"})]

    def parse_request(self, body, route, query) -> TaskSpec:
        model = route.get("model_id", "")
        if model not in MODELS:
            raise VendorError(Kind.NOT_FOUND, f"Application '{model}' not found")
        spec = self.parse_create(body, image=model.endswith("image-to-video"))
        webhook = query.get("fal_webhook", "")
        if webhook and url_list([webhook]) is None:
            raise invalid("fal_webhook", "fal_webhook must be a URL")
        resolutions = APPS[MODELS[model]]
        if spec.resolution not in resolutions:
            raise invalid("resolution", f"resolution must be one of {', '.join(resolutions)}")
        spec.model, spec.callback_url = model, webhook
        return spec

    def parse_create(self, body: dict, image: bool = False) -> TaskSpec:
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            raise invalid(unknown[0], "extra fields not permitted")
        prompt = text(body.get("prompt"))
        if prompt is None:
            raise invalid("prompt", "field required")
        self.check_images(body, image)
        duration = body.get("duration", "5")
        if not one_of(duration, SECONDS):
            raise invalid("duration", "duration must be a string from '4' to '15'")
        resolution = body.get("resolution", "720p")
        ratio = body.get("aspect_ratio", "auto")
        if not one_of(ratio, ASPECT_RATIOS):
            raise invalid("aspect_ratio", f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}")
        for flag in ("generate_audio", "enable_safety_checker"):
            if flag in body and not isinstance(body[flag], bool):
                raise invalid(flag, f"{flag} must be a boolean")
        if "seed" in body and whole_number(body["seed"]) is None:
            raise invalid("seed", "seed must be an integer")
        return TaskSpec(
            model="",
            prompt=prompt,
            duration=float(duration),
            aspect_ratio="16:9" if ratio == "auto" else ratio,
            resolution=resolution if isinstance(resolution, str) else "",
            audio=body.get("generate_audio", True),
            media=MediaSpec(
                first_frame=body.get("image_url", "") if image else "",
                last_frame=body.get("end_image_url", "") if image else "",
            ),
        )

    def check_images(self, body: dict, image: bool) -> None:
        if not image:
            extra = [field for field in ("image_url", "end_image_url") if field in body]
            if extra:
                raise invalid(extra[0], "extra fields not permitted")
            return
        if url_list([body.get("image_url")]) is None:
            raise invalid("image_url", "image_url is required and must be a URL")
        if "end_image_url" in body and url_list([body["end_image_url"]]) is None:
            raise invalid("end_image_url", "end_image_url must be a URL")

    def created_body(self, task: SandboxTask) -> dict:
        return {
            "request_id": task.public_id,
            "status_url": queue_url(task, "/status"),
            "response_url": queue_url(task),
            "cancel_url": queue_url(task, "/cancel"),
            "queue_position": 0,
        }

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        body = {
            "status": STATUS_NAMES[snap.state],
            "request_id": task.public_id,
            "response_url": queue_url(task),
        }
        if snap.state == State.QUEUED:
            body["queue_position"] = 0
        return body

    def result_answer(self, task: SandboxTask, snap: Snapshot, output_url: str):
        """The result: the model's output, or the error a failed request ended with."""
        if not snap.terminal:
            return 400, {"detail": "Request is still in progress"}
        if snap.state == State.CANCELLED:
            return 400, {"detail": "Request was cancelled"}
        if snap.state == State.FAILED:
            _, message = task.error_words("generation_failed", "Video generation failed")
            return 422, {"detail": message}
        video = {"url": output_url, "content_type": "video/mp4", "file_name": "output.mp4"}
        return 200, {"video": video if output_url else None, "seed": task.request.get("seed", 42)}

    def callback_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        status, result = self.result_answer(task, snap, output_url)
        body = {
            "request_id": task.public_id,
            "gateway_request_id": task.public_id,
            "status": "OK" if status == 200 else "ERROR",
            "payload": result if status == 200 else None,
        }
        if status != 200:
            body["error"] = result["detail"]
        return body

    def mistyped(self, body: dict) -> dict:
        body["queue_position"] = as_text(body.get("queue_position"))
        body["response_url"] = 12345
        return body

    def can_cancel(self, snap: Snapshot) -> bool:
        return snap.state == State.QUEUED

    def cancelled_body(self, task: SandboxTask) -> dict:
        return {"status": "CANCELLATION_REQUESTED"}

    def not_cancellable(self) -> VendorError:
        return VendorError(Kind.CONFLICT, "ALREADY_COMPLETED", code="ALREADY_COMPLETED")

    def not_found(self) -> VendorError:
        return VendorError(Kind.NOT_FOUND, "Request not found", code="NOT_FOUND")

    def error_body(self, error: VendorError, status: int) -> dict:
        if error.code in ("ALREADY_COMPLETED", "NOT_FOUND"):
            return {"status": error.code}
        if error.kind == Kind.INVALID:
            return {"detail": [{"loc": ["body", error.param], "msg": error.message}]}
        return {"detail": error.message}
