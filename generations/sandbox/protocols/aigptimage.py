"""aigptimage.com (docs/vendors/aigptimage.md): `{model, input:{…}}`, answers wrapped in
`{code, msg, data}`, a `resultJson` that is a JSON *string*, and no callback at all."""

import json
import secrets
import string

from ..models import SandboxTask, Snapshot, State
from .base import (
    Kind,
    SandboxProtocol,
    TaskSpec,
    VendorError,
    as_text,
    credits,
    epoch_ms,
    one_of,
    text,
)

MODEL = "seedance-2.0-text-to-video"
PROMPT_MAX = 20000
# "Common Options: 16:9, 9:16, 1:1"; the other Seedance 2.0 ratios pass too.
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
CREDITS_PER_SECOND = {"480p": 20, "720p": 40, "1080p": 80}
# The document gives no range; Seedance 2.0 makes 4 to 15 seconds.
DURATION_RANGE = (4, 15)

STATUS_NAMES = {
    State.QUEUED: "waiting",
    State.RUNNING: "waiting",
    State.SUCCEEDED: "success",
    State.FAILED: "fail",
}


def bad_request(message: str) -> VendorError:
    return VendorError(Kind.BAD_REQUEST, message)


def unprocessable(message: str) -> VendorError:
    return VendorError(Kind.INVALID, message)


class Aigptimage(SandboxProtocol):
    name = "aigptimage"
    create_path = "api/v1/jobs/createTask"
    query_path = "api/v1/jobs/recordInfo"
    task_id_param = "taskId"
    status_path = ("data", "state")
    # 400 "Invalid request parameters" for a body the API cannot read; 422 "Parameter
    # validation failed" for a value it refuses.
    status = {**SandboxProtocol.status, Kind.INVALID: 422}

    def new_task_id(self) -> str:
        alphabet = string.ascii_lowercase + string.digits
        return "task_" + "".join(secrets.choice(alphabet) for _ in range(13))

    def parse_create(self, body: dict) -> TaskSpec:
        if "model" not in body:
            raise bad_request("model is required")
        if body["model"] != MODEL:
            raise unprocessable(f"model must be exactly {MODEL}")
        inputs = body.get("input")
        if not isinstance(inputs, dict):
            raise bad_request("input is required and must be an object")
        if "prompt" not in inputs:
            raise bad_request("input.prompt is required")
        prompt = text(inputs["prompt"])
        if prompt is None or len(prompt) > PROMPT_MAX:
            raise unprocessable(f"input.prompt must be 1 to {PROMPT_MAX} characters")
        # "If both ratio and aspect_ratio are provided, ratio takes priority."
        ratio = inputs.get("ratio") or inputs.get("aspect_ratio") or "16:9"
        if not one_of(ratio, RATIOS):
            raise unprocessable(f"input.ratio must be one of {', '.join(RATIOS)}")
        resolution = inputs.get("resolution", "720p")
        if not one_of(resolution, CREDITS_PER_SECOND):
            raise unprocessable("input.resolution must be 480p, 720p or 1080p")
        duration = inputs.get("duration", 5)
        low, high = DURATION_RANGE
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise unprocessable("input.duration must be a number")
        if not low <= duration <= high:
            raise unprocessable(f"input.duration must be from {low} to {high} seconds")
        for flag in ("generate_audio", "web_search", "nsfw_checker"):
            if not isinstance(inputs.get(flag, False), bool):
                raise unprocessable(f"input.{flag} must be true or false")
        return TaskSpec(
            model=MODEL,
            prompt=prompt,
            duration=float(duration),
            aspect_ratio=ratio,
            resolution=resolution,
            audio=inputs.get("generate_audio", False),
            # No callback is documented: a callBackUrl is recorded with the request
            # and never called.
            callback_url="",
            charge=credits(CREDITS_PER_SECOND[resolution], duration),
        )

    def created_body(self, task: SandboxTask) -> dict:
        return self._wrap({"taskId": task.public_id})

    def task_body(self, task: SandboxTask, snap: Snapshot, output_url: str) -> dict:
        failed = snap.state == State.FAILED
        finished = snap.finished_at
        code, message = task.error_words("GENERATION_FAILED", "Video generation failed")
        return self._wrap(
            {
                "taskId": task.public_id,
                "model": task.model,
                "state": STATUS_NAMES[snap.state],
                "param": json.dumps(task.request, separators=(",", ":"), ensure_ascii=False),
                "resultJson": json.dumps({"resultUrls": [output_url] if output_url else []})
                if snap.state == State.SUCCEEDED
                else None,
                "failCode": code if failed else None,
                "failMsg": message if failed else None,
                "costTime": epoch_ms(finished) - epoch_ms(task.created) if finished else None,
                "completeTime": epoch_ms(finished),
                "createTime": epoch_ms(task.created),
            }
        )

    def mistyped(self, body: dict) -> dict:
        # No progress or charge in this vendor's answers.
        data = body["data"]
        if data["resultJson"]:
            urls = json.loads(data["resultJson"])["resultUrls"]
            data["resultJson"] = json.dumps({"resultUrls": [[url] for url in urls]})
        for name in ("failCode", "failMsg"):
            data[name] = [data[name]] if data[name] else []
        for name in ("costTime", "completeTime", "createTime"):
            data[name] = as_text(data[name])
        return body

    def error_body(self, error: VendorError, status: int) -> dict:
        return {"code": status, "msg": error.message, "data": None}

    @staticmethod
    def _wrap(data: dict) -> dict:
        return {"code": 200, "msg": "success", "data": data}
