"""Kinovi: Seedance 2.0 text-to-video, parameters nested under `inputs`.

Protocol notes: docs/vendors/kinovi.md (the vendor's document: https://kinovi.ai/docs/seedance2.0/text-to-video)
"""

from decimal import Decimal

from .base import VendorAdapter
from .parsing import error_details, to_decimal, unwrap, urls_from
from .pricing import per_second
from .types import SECONDS_4_TO_15, Family, Offer, TaskSnapshot, TaskState

ASPECT_RATIOS = ("16:9", "9:16", "1:1", "3:4", "4:3", "21:9")
RESOLUTIONS = ("720p", "480p")


class KinoviAdapter(VendorAdapter):
    # "Pro 40 credits/sec | Fast 28 credits/sec | 480p: half rate | 4K upscale: adds
    # 28 credits/sec". The half rate is written out per resolution so an operator sees
    # (and can change) each number. "200 credits = $1.00".
    default_credit_value = Decimal("0.005")
    default_price_rules = {
        "seedance-2.0": per_second({"720p": "40", "480p": "20"}, upscale_4k_per_second="28"),
        "seedance-2.0-fast": per_second({"720p": "28", "480p": "14"}, upscale_4k_per_second="28"),
    }
    protocol = "kinovi"
    label = "Kinovi"
    default_base_url = "https://kinovi.ai"
    # Its `mode: reference` enables "multi-material support (images, videos, audio)",
    # but the document names no field to send that material in, so text only.
    offers = {
        Family.SEEDANCE_2: Offer("seedance-20", SECONDS_4_TO_15, ASPECT_RATIOS, RESOLUTIONS),
        Family.SEEDANCE_2_FAST: Offer(
            "seedance2-fast", SECONDS_4_TO_15, ASPECT_RATIOS, RESOLUTIONS
        ),
    }
    max_prompt_chars = 4000
    has_upscale = True
    create_path = "/api/v1/jobs/createTask"
    states = {
        "waiting": TaskState.QUEUED,
        "generating": TaskState.RUNNING,
        "success": TaskState.SUCCEEDED,
        "fail": TaskState.FAILED,
    }

    def build_create_payload(self, request, callback_url):
        inputs = {
            "prompt": request.prompt,
            # "duration | string | ... "4" to "15""
            "duration": str(request.duration),
            "aspectRatio": request.aspect_ratio,
            "outputResolution": request.resolution,
        }
        if request.upscale_4k:
            inputs["upscaleResolution"] = "4k"
        payload = {"model": self.offer_for(request).model, "inputs": inputs}
        if callback_url:
            payload["callBackUrl"] = callback_url
        return payload

    def query_endpoint(self, task_id):
        return "/api/v1/jobs/recordInfo", {"taskId": task_id}

    def read_created(self, body):
        return self.created(unwrap(body).get("taskId"), None, body)

    def read_task(self, body, task_id):
        # Answers come flat or as {code, message, data: {...}}, with `status` or `state`.
        task = unwrap(body)
        error = task.get("error")
        code, message = error_details({"error": error}) if error else (None, None)
        return TaskSnapshot(
            task_id=str(task.get("taskId") or task_id),
            state=self.state_of(task.get("status") or task.get("state")),
            output_urls=urls_from(task.get("output")),
            charge_credits=to_decimal(task.get("creditsUsed")),
            error_code=code,
            error_message=message,
            raw=body,
        )

    def callback_task(self, body):
        task = unwrap(body)
        return task.get("taskId"), task.get("status") or task.get("state")
