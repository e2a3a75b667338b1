"""SeedanceAPI.org: answers wrapped in `{code, message, data}`, its own error codes.

Protocol notes: docs/vendors/seedanceapi_org.md (the vendor's document: https://seedanceapi.org/docs)
"""

from decimal import Decimal

from .base import VendorAdapter
from .bounds import is_public_url
from .media_limits import UPSTREAM_AUDIO, UPSTREAM_IMAGE, UPSTREAM_VIDEO, VendorMedia
from .parsing import parse_json_string, to_decimal, unwrap, urls_from
from .pricing import per_second
from .types import ErrorKind, Family, Mode, Offer, TaskSnapshot, TaskState

RATIOS = ("16:9", "9:16", "4:3", "3:4")
RESOLUTIONS = ("480p", "720p", "1080p")
MAX_IMAGES = 4  # "For image-to-video: 1–4 image URLs"; TOO_MANY_IMAGES beyond

ERROR_CODES = {
    "INVALID_PROMPT": ErrorKind.BAD_REQUEST,
    "INVALID_ASPECT_RATIO": ErrorKind.BAD_REQUEST,
    "INVALID_DURATION": ErrorKind.BAD_REQUEST,
    "TOO_MANY_IMAGES": ErrorKind.BAD_REQUEST,
    "INVALID_API_KEY": ErrorKind.AUTH,
    "INSUFFICIENT_CREDITS": ErrorKind.NO_CREDIT,
    "TASK_NOT_FOUND": ErrorKind.NOT_FOUND,
    "INTERNAL_ERROR": ErrorKind.FAULT,
}


class SeedanceApiOrgAdapter(VendorAdapter):
    # images (1–4); reference_video_urls and reference_audio_urls (Mini).
    media = VendorMedia(
        "https://seedanceapi.org (Seedance 2.0 API Documentation, /v2/generate)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    )
    # 2.0 and Fast are priced per clip length whatever the resolution. Mini: "upstream
    # KIE credits per second plus 50%, rounded up when the final amount is fractional",
    # and "1080p is billed and sent upstream as 720p for Mini". "1 USD = 100 credits".
    default_credit_value = Decimal("0.01")
    default_price_rules = {
        "seedance-2.0": {"per_duration": {"5": "240", "10": "480", "15": "720"}},
        "seedance-2.0-fast": {"per_duration": {"5": "160", "10": "320", "15": "480"}},
        "seedance-2.0-mini": per_second(
            {"480p": "14.25", "720p": "30.75"},
            reference_video_per_second={"480p": "9", "720p": "18.75"},
            billed_resolution={"1080p": "720p"},
            rounding="ceil",
        ),
    }
    protocol = "seedanceapi_org"
    label = "SeedanceAPI.org"
    default_base_url = "https://seedanceapi.org"
    offers = {
        # "Seconds: 5, 10, or 15 for 2.0 / Fast; any integer from 4 to 15 for Mini."
        Family.SEEDANCE_2: Offer(
            "seedance-2.0", (5, 10, 15), RATIOS, RESOLUTIONS, (Mode.TEXT, Mode.IMAGE)
        ),
        Family.SEEDANCE_2_FAST: Offer(
            "seedance-2.0-fast", (5, 10, 15), RATIOS, RESOLUTIONS, (Mode.TEXT, Mode.IMAGE)
        ),
        # "Mini also supports 1:1, 21:9, and adaptive." Its 1080p "is billed and sent
        # upstream as 720p", so it is accepted and sent as 720p (see the payload).
        # Reference video and audio are "Mini-compatible" only.
        Family.SEEDANCE_2_MINI: Offer(
            "seedance-2-mini",
            tuple(range(4, 16)),
            (*RATIOS, "1:1", "21:9", "adaptive"),
            RESOLUTIONS,
            (Mode.TEXT, Mode.IMAGE, Mode.REFERENCE),
        ),
    }
    max_prompt_chars = 2000
    reference_rule = "takes up to 4 images plus reference videos and audio, for Mini only"
    create_path = "/v2/generate"
    states = {
        "in_progress": TaskState.RUNNING,
        "success": TaskState.SUCCEEDED,
        "failed": TaskState.FAILED,
    }

    def sends_aspect_ratio(self, request):
        # "Text-to-video uses prompt + aspect_ratio; image-to-video uses prompt + images."
        return request.mode != Mode.IMAGE

    def check_references(self, request, family):
        # "images (1–4)" and "TOO_MANY_IMAGES"; the document gives no counts for reference
        # video or audio.
        mode = request.mode
        problems = [
            *self.count_problem("images", request.image_urls, 0, MAX_IMAGES, mode),
            *self.url_problem("videos", request.video_urls),
            *self.url_problem("audio clips", request.audio_urls),
        ]
        if not (request.image_urls or request.video_urls or request.audio_urls):
            problems.append(
                f"{self.label} needs at least one reference file for reference-to-video"
            )
        return problems

    def accepts_callback_url(self, url):
        return is_public_url(url)  # "public URL; no localhost"

    def build_create_payload(self, request, callback_url):
        offer = self.offer_for(request)
        resolution = request.resolution
        if request.family == Family.SEEDANCE_2_MINI and resolution == "1080p":
            resolution = "720p"
        payload = {
            "prompt": request.prompt,
            "model": offer.model,
            "duration": request.duration,
            "resolution": resolution,
        }
        if self.sends_aspect_ratio(request):
            payload["aspect_ratio"] = request.aspect_ratio
        if request.image_urls:
            payload["images"] = list(request.image_urls)
        if request.video_urls:
            payload["reference_video_urls"] = list(request.video_urls)
        if request.audio_urls:
            payload["reference_audio_urls"] = list(request.audio_urls)
        if callback_url:
            payload["callback_url"] = callback_url
        return payload

    def query_endpoint(self, task_id):
        return "/v2/status", {"task_id": task_id}

    def read_created(self, body):
        task = unwrap(body)
        return self.created(task.get("task_id"), task.get("consumed_credits"), body)

    def read_task(self, body, task_id):
        task = unwrap(body)
        # "data.response is an array of video URLs" - though it may arrive JSON-encoded.
        outputs = parse_json_string(task.get("response"))
        return TaskSnapshot(
            task_id=str(task.get("task_id") or task_id),
            state=self.state_of(task.get("status")),
            output_urls=urls_from(outputs),
            charge_credits=to_decimal(task.get("consumed_credits")),
            error_message=task.get("error_message") or None,
            raw=body,
        )

    def callback_task(self, body):
        task = unwrap(body)
        return task.get("task_id"), task.get("status")

    def kind_for_code(self, code, status):
        return ERROR_CODES.get(code) if code else None
