"""Evolink: one model name per family and mode, `quality` for resolution, HTTPS callbacks.

Protocol notes: docs/vendors/evolink.md (the vendor's document:
https://docs.evolink.ai/en/api-manual/video-series/seedance2.0/seedance-2.0-overview; counts the copy lost are
from its public reference pages: "reference images (0–9) + reference videos (0–3) +
reference audio (0–3)"; image-to-video takes 1 or 2 images as first/last frame).
"""

import re
from decimal import Decimal
from urllib.parse import quote

from .base import VendorAdapter
from .bounds import is_public_url
from .media_limits import UPSTREAM_AUDIO, UPSTREAM_IMAGE, UPSTREAM_VIDEO, VendorMedia
from .parsing import error_details, to_decimal, to_progress, urls_from
from .pricing import per_second
from .types import SECONDS_4_TO_15, Family, Mode, Offer, TaskSnapshot, TaskState

ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
QUALITIES = ("480p", "720p")
MODES = (Mode.TEXT, Mode.IMAGE, Mode.FIRST_LAST, Mode.REFERENCE)
# "1: First frame image-to-video; 2: First and last frame image-to-video (1st image ->
# first_frame, 2nd image -> last_frame)": both frame modes are the image-to-video model.
MODEL_MODES = {
    Mode.TEXT: "text",
    Mode.IMAGE: "image",
    Mode.FIRST_LAST: "image",
    Mode.REFERENCE: "reference",
}
MAX_CALLBACK_URL = 2048

# "recommended no more than 500 characters for Chinese or 1000 words for English".
# Treated as limits: beyond them the vendor's behaviour is undocumented, and a member
# would rather shorten the prompt than pay for a clip that ignored half of it.
MAX_WORDS = 1000
MAX_CJK_CHARS = 500
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


class EvolinkAdapter(VendorAdapter):
    media = VendorMedia(
        "https://docs.evolink.ai (Seedance 2.0: image_urls, video_urls, audio_urls)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    )
    # Evolink publishes USD per second; we count its credits in US cents (what its
    # usage.credits_reserved reports) and round up to whole cents.
    default_credit_value = Decimal("0.01")
    default_price_rules = {
        "seedance-2.0": per_second({"480p": "7.276", "720p": "15.715"}, rounding="ceil"),
        "seedance-2.0-fast": per_second({"480p": "5.90", "720p": "12.73"}, rounding="ceil"),
    }
    protocol = "evolink"
    label = "Evolink"
    default_base_url = "https://api.evolink.ai"
    offers = {
        Family.SEEDANCE_2: Offer("seedance-2.0", SECONDS_4_TO_15, ASPECT_RATIOS, QUALITIES, MODES),
        Family.SEEDANCE_2_FAST: Offer(
            "seedance-2.0-fast", SECONDS_4_TO_15, ASPECT_RATIOS, QUALITIES, MODES
        ),
    }
    has_audio_switch = True
    reference_rule = (
        "takes up to 9 images, 3 videos and 3 audio clips, with at least one image or video"
    )
    create_path = "/v1/videos/generations"
    states = {
        "pending": TaskState.QUEUED,
        "processing": TaskState.RUNNING,
        "completed": TaskState.SUCCEEDED,
        "failed": TaskState.FAILED,
    }
    # Its task ids "must start with 'task-unified-'"; anything else is a 400, not a 404.
    probe_task_id = "task-unified-0-seedance-studio-key-check"

    @classmethod
    def prompt_rule(cls):
        return f"up to {MAX_WORDS:,} words"

    def check_prompt(self, prompt):
        problems = super().check_prompt(prompt)
        if problems:
            return problems
        cjk = len(CJK.findall(prompt))
        words = len(CJK.sub(" ", prompt).split())
        if cjk > MAX_CJK_CHARS:
            problems.append(
                f"{self.label} takes prompts of at most {MAX_CJK_CHARS} Chinese, Japanese or "
                f"Korean characters; this one has {cjk}"
            )
        if words > MAX_WORDS:
            problems.append(
                f"{self.label} takes prompts of at most {MAX_WORDS} words; this one has {words}"
            )
        return problems

    def check_references(self, request, family):
        mode = request.mode
        problems = [
            *self.count_problem("images", request.image_urls, 0, 9, mode),
            *self.count_problem("videos", request.video_urls, 0, 3, mode),
            *self.count_problem("audio clips", request.audio_urls, 0, 3, mode),
        ]
        # "You cannot provide only audio_urls; at least 1 image (image_urls) or 1 video
        # (video_urls) must be included"
        if not (request.image_urls or request.video_urls):
            problems.append(
                f"{self.label} needs at least one image or video for reference-to-video"
            )
        return problems

    def accepts_callback_url(self, url):
        # "HTTPS callback URL", at most 2048 characters, and it must reach us from outside.
        return len(url) <= MAX_CALLBACK_URL and is_public_url(url, https_only=True)

    def model_name(self, request) -> str:
        return f"{self.offer_for(request).model}-{MODEL_MODES[Mode(request.mode)]}-to-video"

    def build_create_payload(self, request, callback_url):
        payload = {
            "model": self.model_name(request),
            "prompt": request.prompt,
            "duration": request.duration,
            "quality": request.resolution,
            "aspect_ratio": request.aspect_ratio,
            # Its default is true; always say what the member chose.
            "generate_audio": bool(request.audio),
        }
        for field, urls in (
            ("image_urls", request.image_urls),
            ("video_urls", request.video_urls),
            ("audio_urls", request.audio_urls),
        ):
            if urls:
                payload[field] = list(urls)
        if callback_url:
            payload["callback_url"] = callback_url
        return payload

    def query_endpoint(self, task_id):
        return f"/v1/tasks/{quote(task_id, safe='')}", None

    def read_created(self, body):
        return self.created(body.get("id"), _reserved(body), body)

    def read_task(self, body, task_id):
        error = body.get("error")
        code, message = error_details({"error": error}) if error else (None, None)
        return TaskSnapshot(
            task_id=str(body.get("id") or task_id),
            state=self.state_of(body.get("status")),
            progress=to_progress(body.get("progress")),
            output_urls=urls_from(body.get("results")),
            charge_credits=_reserved(body),
            error_code=code,
            error_message=message,
            raw=body,
        )

    def callback_task(self, body):
        return body.get("id"), body.get("status")


def _reserved(body):
    usage = body.get("usage")
    return to_decimal(usage.get("credits_reserved")) if isinstance(usage, dict) else None
