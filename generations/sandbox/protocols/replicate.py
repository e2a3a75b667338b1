"""Replicate (docs/vendors/replicate.md): predictions of `bytedance/seedance-2.0`, 201 on
create, problem JSON for errors, cancel by POST, and webhooks signed as Standard Webhooks
with the key's secret from GET /v1/webhooks/default/secret."""

import base64
import hashlib
import hmac
import secrets
import string
import time

from django.conf import settings

from ..media import MediaSpec
from ..models import SandboxTask, Snapshot, State, hash_key
from .base import (
    Kind,
    SandboxProtocol,
    TaskSpec,
    VendorError,
    as_list,
    as_text,
    one_of,
    text,
    url_list,
    whole_number,
)

MODELS = ("bytedance/seedance-2.0",)
RESOLUTIONS = ("480p", "720p")
ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
INPUTS = {
    "prompt", "image", "last_frame_image", "reference_images", "reference_videos",
    "reference_audios", "duration", "resolution", "aspect_ratio", "generate_audio", "seed",
}  # fmt: skip
EVENTS = ("start", "output", "logs", "completed")
STATUS_NAMES = {
    State.QUEUED: "starting",
    State.RUNNING: "processing",
    State.SUCCEEDED: "succeeded",
    State.FAILED: "failed",
    State.CANCELLED: "canceled",
}
STATUS = {
    Kind.BAD_REQUEST: 400,
    Kind.INVALID: 422,
    Kind.UNAUTHORIZED: 401,
    Kind.NO_CREDIT: 402,
    Kind.NOT_FOUND: 404,
    Kind.NOT_ALLOWED: 405,
    Kind.CONFLICT: 400,
    Kind.RATE_LIMITED: 429,
    Kind.SERVER_ERROR: 500,
}
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    402: "Payment required",
    404: "Not found",
    405: "Method not allowed",
    422: "Input validation failed",
    429: "Request was throttled",
    500: "Internal server error",
}


def invalid(field: str, message: str) -> VendorError:
    return VendorError(
        Kind.INVALID, message, extra={"invalid_fields": [{"field": field, "description": message}]}
    )


def webhook_secret_for(key_hash: str) -> str:
    """One secret per API key, derived from its hash so that no table needs to keep it."""
    digest = hashlib.sha256(f"replicate-webhook:{key_hash}".encode()).digest()
    return "whsec_" + base64.b64encode(digest).decode()


class Replicate(SandboxProtocol):
    name = "replicate"
    create_path = "v1/models/<str:owner>/<str:model_name>/predictions"
    query_path = "v1/predictions/<str:task_id>"
    cancel_path = "v1/predictions/<str:task_id>/cancel"
    status = STATUS
    created_status = 201
    callback_retry_delays = (1.0, 2.0, 4.0)

    def new_task_id(self) -> str:
        return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(26))

    def extra_routes(self):
        return [("v1/webhooks/default/secret", "vendor_read", "secret", {"answer": "secret_body"})]

    def parse_request(self, body, route, query) -> TaskSpec:
        model = f"{route.get('owner')}/{route.get('model_name')}"
        if model not in MODELS:
            raise VendorError(Kind.NOT_FOUND, f"The model {model} does not exist")
        spec = self.parse_create(body)
        spec.model = model
        return spec

    def parse_create(self, body: dict) -> TaskSpec:
        inputs = body.get("input")
        if not isinstance(inputs, dict):
            raise invalid("input", "input is required and must be an object")
        unknown = sorted(set(inputs) - INPUTS)
        if unknown:
            raise invalid(f"input.{unknown[0]}", f"Additional property {unknown[0]} is not allowed")
        prompt = text(inputs.get("prompt"))
        if prompt is None:
            raise invalid("input.prompt", "prompt is required")
        self.check_media(inputs)
        duration = whole_number(inputs.get("duration", 5))
        if duration is None or not (duration == -1 or 4 <= duration <= 15):
            raise invalid("input.duration", "duration must be -1 or from 4 to 15")
        resolution = inputs.get("resolution", "720p")
        if not one_of(resolution, RESOLUTIONS):
            raise invalid("input.resolution", f"resolution must be one of {', '.join(RESOLUTIONS)}")
        ratio = inputs.get("aspect_ratio", "16:9")
        if not one_of(ratio, ASPECT_RATIOS):
            raise invalid(
                "input.aspect_ratio", f"aspect_ratio must be one of {', '.join(ASPECT_RATIOS)}"
            )
        audio = inputs.get("generate_audio", True)
        if not isinstance(audio, bool):
            raise invalid("input.generate_audio", "generate_audio must be a boolean")
        if "seed" in inputs and whole_number(inputs["seed"]) is None:
            raise invalid("input.seed", "seed must be an integer")
        return TaskSpec(
            model=MODELS[0],
            prompt=prompt,
            duration=float(5 if duration == -1 else duration),
            aspect_ratio="16:9" if ratio == "adaptive" else ratio,
            resolution=resolution,
            audio=audio,
            callback_url=self.parse_webhook(body),
            media=MediaSpec(
                first_frame=inputs.get("image", ""),
                last_frame=inputs.get("last_frame_image", ""),
                reference_images=tuple(inputs.get("reference_images") or ()),
                videos=tuple(inputs.get("reference_videos") or ()),
                audios=tuple(inputs.get("reference_audios") or ()),
            ),
        )

    def check_media(self, inputs: dict) -> None:
        for field in ("image", "last_frame_image"):
            if field in inputs and url_list([inputs[field]]) is None:
                raise invalid(f"input.{field}", f"{field} must be a URL")
        if "last_frame_image" in inputs and "image" not in inputs:
            raise invalid("input.last_frame_image", "last_frame_image needs image")
        for field, most in (
            ("reference_images", 9),
            ("reference_videos", 3),
            ("reference_audios", 3),
        ):
            urls = url_list(inputs.get(field))
            if urls is None:
                raise invalid(f"input.{field}", f"{field} must be an array of URLs")
            if len(urls) > most:
                raise invalid(f"input.{field}", f"{field} takes at most {most} items")
        if inputs.get("reference_images") and "image" in inputs:
            raise invalid("input.reference_images", "reference_images cannot be used with frames")

    def parse_webhook(self, body: dict) -> str:
        webhook = body.get("webhook") or ""
        if not isinstance(webhook, str) or (webhook and url_list([webhook]) is None):
            raise invalid("webhook", "webhook must be an HTTP(S) URL")
        events = body.get("webhook_events_filter", list(EVENTS))
        if not isinstance(events, list) or not set(events) <= set(EVENTS):
            raise invalid("webhook_events_filter", f"events are {', '.join(EVENTS)}")
        # Only the end of a prediction is simulated, so only "completed" calls back.
        return webhook if "completed" in events else ""

    def created_body(self, task: SandboxTask) -> dict:
        return self.task_body(task, Snapshot(State.QUEUED, 0), "")

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        base = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/sandbox/replicate/v1/predictions"
        error = None
        if snap.state == State.FAILED:
            _, error = task.error_words("E001", "Prediction failed: the model raised an error")
        return {
            "id": task.public_id,
            "model": task.model,
            "version": "hidden",
            "input": task.request.get("input", {}),
            "status": STATUS_NAMES[snap.state],
            "output": output_url or None if snap.state == State.SUCCEEDED else None,
            "error": error,
            "logs": "",
            "data_removed": False,
            "created_at": task.created.isoformat().replace("+00:00", "Z"),
            "completed_at": snap.finished_at.isoformat() if snap.finished_at else None,
            "metrics": {"predict_time": task.seconds} if snap.terminal else {},
            "urls": {
                "get": f"{base}/{task.public_id}",
                "cancel": f"{base}/{task.public_id}/cancel",
            },
        }

    def mistyped(self, body: dict) -> dict:
        if body["output"]:
            body["output"] = [[body["output"]]]
        body["error"] = as_list({"error": body["error"]} if body["error"] else None)
        body["metrics"] = as_text(body["metrics"])
        body["created_at"] = 1700000000
        return body

    def cancelled_body(self, task: SandboxTask) -> dict:
        return self.task_body(task, task.snapshot(), "")

    def secret_body(self, key: str) -> dict:
        return {"key": webhook_secret_for(hash_key(key))}

    def callback_headers(self, task: SandboxTask, content: bytes) -> dict:
        message_id = "msg_" + secrets.token_hex(12)
        timestamp = str(int(time.time()))
        secret = base64.b64decode(webhook_secret_for_task(task).removeprefix("whsec_"))
        signed = f"{message_id}.{timestamp}.".encode() + content
        signature = base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()
        return {
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": f"v1,{signature}",
        }

    def not_cancellable(self) -> VendorError:
        return VendorError(Kind.CONFLICT, "The prediction has already finished")

    def error_body(self, error: VendorError, status: int) -> dict:
        return {"title": TITLES.get(status, "Error"), "detail": error.message, "status": status} | (
            error.extra
        )


def webhook_secret_for_task(task: SandboxTask) -> str:
    # The task keeps only its key's hash; the secret is derived from that same hash.
    return webhook_secret_for(task.key_hash)
