"""kinovi.ai (docs/vendors/kinovi.md): `{model, callBackUrl, inputs:{…}}`, flat query answers,
errors as `{"message": …}` with the HTTP status, callbacks wrapped as `{code, message, data}`."""

import secrets

from ..models import SandboxTask, Snapshot, State
from .base import (
    Kind,
    SandboxProtocol,
    TaskSpec,
    VendorError,
    as_list,
    as_object,
    as_text,
    credits,
    epoch_ms,
    one_of,
    text,
)

# "Pro (seedance-20): 40 credits/sec | Fast (seedance2-fast): 28 credits/sec |
#  480p: half rate | 4K upscale: adds 28 credits/sec"
RATES = {"seedance-20": 40, "seedance2-fast": 28}
RESOLUTION_FACTOR = {"720p": 1.0, "480p": 0.5}
UPSCALE_RATE = 28
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "3:4", "4:3", "21:9")
DURATIONS = tuple(str(seconds) for seconds in range(4, 16))
MODES = ("keyframe", "reference")
PROMPT_MAX = 4000

STATUS_NAMES = {
    State.QUEUED: "waiting",
    State.RUNNING: "generating",
    State.SUCCEEDED: "success",
    State.FAILED: "fail",
}


def invalid(message: str) -> VendorError:
    return VendorError(Kind.INVALID, message)


class Kinovi(SandboxProtocol):
    name = "kinovi"
    create_path = "api/v1/jobs/createTask"
    query_path = "api/v1/jobs/recordInfo"
    task_id_param = "taskId"

    def new_task_id(self) -> str:
        return "task_" + secrets.token_hex(12)

    def parse_create(self, body: dict) -> TaskSpec:
        model = body.get("model")
        if not one_of(model, RATES):
            raise invalid("Invalid request parameters: model must be seedance-20 or seedance2-fast")
        inputs = body.get("inputs")
        if not isinstance(inputs, dict):
            raise invalid("Invalid request parameters: inputs is required")
        prompt = text(inputs.get("prompt"))
        if prompt is None:
            raise invalid("Invalid inputs for model: prompt is required")
        if len(prompt) > PROMPT_MAX:
            raise invalid(
                f"Invalid inputs for model: prompt is longer than {PROMPT_MAX} characters"
            )
        duration = inputs.get("duration", "5")
        if not one_of(duration, DURATIONS):  # a string: "4" to "15"
            raise invalid('Invalid inputs for model: duration must be a string from "4" to "15"')
        aspect_ratio = inputs.get("aspectRatio", "16:9")
        if not one_of(aspect_ratio, ASPECT_RATIOS):
            raise invalid(
                f"Invalid inputs for model: aspectRatio must be one of {', '.join(ASPECT_RATIOS)}"
            )
        if not one_of(inputs.get("mode", "keyframe"), MODES):
            raise invalid("Invalid inputs for model: mode must be keyframe or reference")
        resolution = inputs.get("outputResolution", "720p")
        if not one_of(resolution, RESOLUTION_FACTOR):
            raise invalid("Invalid inputs for model: outputResolution must be 720p or 480p")
        upscale = inputs.get("upscaleResolution")
        if upscale is not None and upscale != "4k":
            raise invalid("Invalid inputs for model: upscaleResolution must be 4k")
        callback_url = body.get("callBackUrl") or ""
        if not isinstance(callback_url, str):
            raise invalid("Invalid request parameters: callBackUrl must be a URL")
        rate = RATES[model] * RESOLUTION_FACTOR[resolution] + (UPSCALE_RATE if upscale else 0)
        return TaskSpec(
            model=model,
            prompt=prompt,
            duration=float(duration),
            aspect_ratio=aspect_ratio,
            resolution="4k" if upscale else resolution,
            callback_url=callback_url,
            charge=credits(rate, int(duration)),
        )

    def created_body(self, task: SandboxTask) -> dict:
        return {"taskId": task.public_id}

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        output = []
        if snap.state == State.SUCCEEDED and output_url:
            width, height = task.clip_size
            output = [{"url": output_url, "width": width, "height": height, "mediaType": "video"}]
        failed = snap.state == State.FAILED
        error = None
        if failed:
            code, message = task.error_words("generation_failed", "Task execution failed")
            error = {"code": code, "message": message}
        return {
            "taskId": task.public_id,
            "model": task.model,
            "status": STATUS_NAMES[snap.state],
            # A failed generation is not billed.
            "creditsUsed": task.reported_charge(billed=not failed),
            "output": output,
            "error": error,
            "createTime": epoch_ms(task.created),
            "completeTime": epoch_ms(snap.finished_at),
        }

    def mistyped(self, body: dict) -> dict:
        body["creditsUsed"] = as_object(body["creditsUsed"])
        for item in body["output"]:
            item["url"] = [[item["url"]]]
        body["error"] = as_list(body["error"])
        body["createTime"] = as_text(body["createTime"])
        body["completeTime"] = as_text(body["completeTime"])
        return body

    def callback_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        data = self.task_body(task, snap, output_url)
        if snap.state == State.FAILED:
            return {"code": 501, "message": "Task execution failed", "data": data}
        return {"code": 200, "message": "success", "data": data}

    def error_body(self, error: VendorError, status: int) -> dict:
        return {"message": error.message, **error.extra}

    def rate_limited(self, retry_after: float) -> VendorError:
        error = super().rate_limited(retry_after)
        error.message = (
            "Concurrency limit reached (3). You have 3 tasks in progress. "
            "Please wait for them to complete."
        )
        error.extra = {"limit": 3, "current": 3}
        return error

    def insufficient_credits(self, charge: int | None) -> VendorError:
        return VendorError(
            Kind.NO_CREDIT, "Insufficient credits", extra={"required": charge, "available": 0}
        )

    def missing_task_id(self) -> VendorError:
        return VendorError(Kind.BAD_REQUEST, "Missing taskId parameter")
