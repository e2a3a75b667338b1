"""Seedance2.ink: a flat body, `webhookUrl`, `metadata`, and cancelling.

Protocol notes: docs/vendors/seedance2_ink.md (the vendor's document:
https://www.seedance2.ink/docs/api-reference/text-to-video), which defers image input to
its public "Image to Video" page: one `mediaUrls` string array of images, videos or
audio ("You can pass up to 5 items in mediaUrls", "Use publicly accessible HTTPS URLs").
"""

from decimal import Decimal
from urllib.parse import quote, urlsplit

from .base import VendorAdapter
from .bounds import is_http_url
from .media_limits import UPSTREAM_AUDIO, UPSTREAM_IMAGE, UPSTREAM_VIDEO, VendorMedia
from .parsing import error_details, to_decimal, unwrap, urls_from
from .pricing import per_second
from .types import SECONDS_4_TO_15, ErrorKind, Family, Mode, Offer, TaskSnapshot, TaskState

ASPECT_RATIOS = ("16:9", "9:16", "1:1")
RESOLUTIONS = ("480p", "720p", "1080p")
MAX_MEDIA = 5
# Its Image to Video page: "first-frame generation, first-and-last-frame control, and
# richer reference-based workflows".
ALL_MODES = (Mode.TEXT, Mode.IMAGE, Mode.FIRST_LAST, Mode.REFERENCE)

# Its error codes are not listed; these words cover the usual spellings
# (`invalid_api_key`, `insufficient_credits`, `rate_limit_exceeded`, ...). They are only
# consulted when a `{success: false}` answer comes with HTTP 200 and no status to go by.
CODE_WORDS = (
    (("auth", "api_key", "apikey", "token", "forbidden"), ErrorKind.AUTH),
    (("credit", "balance", "payment", "quota"), ErrorKind.NO_CREDIT),
    (("rate_limit", "ratelimit", "too_many", "concurren", "throttl"), ErrorKind.RATE_LIMITED),
    (("not_found", "notfound"), ErrorKind.NOT_FOUND),
    (
        ("invalid", "validation", "bad_request", "missing", "unsupported", "content", "policy"),
        ErrorKind.BAD_REQUEST,
    ),
)


class Seedance2InkAdapter(VendorAdapter):
    # mediaUrls: images, videos or audio, up to 5 (HTTPS only).
    media = VendorMedia(
        "https://www.seedance2.ink (Documentation, Image to Video)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    )
    # No rate is published: the vendor reports creditsCharged when it accepts a task.
    # The seed matches its one example (40 credits for 5 s at 720p = 8/s), halving and
    # doubling for 480p / 1080p as the other vendors do. The operator sets the real rate.
    # The credit's value is unpublished too: at 0.01 a 5 s 720p clip (40 credits) is
    # $0.40, in line with the other resellers; the operator must confirm it.
    default_credit_value = Decimal("0.01")
    default_price_rules = {
        family: per_second({"480p": "4", "720p": "8", "1080p": "16"})
        for family in ("seedance-2.0", "seedance-2.0-fast", "seedance-1.5-pro")
    }
    protocol = "seedance2_ink"
    label = "Seedance2.ink"
    default_base_url = "https://www.seedance2.ink"
    supports_cancel = True
    offers = {
        Family.SEEDANCE_2: Offer(
            "seedance-2.0", SECONDS_4_TO_15, ASPECT_RATIOS, RESOLUTIONS, ALL_MODES
        ),
        Family.SEEDANCE_2_FAST: Offer(
            "seedance-2.0-fast", SECONDS_4_TO_15, ASPECT_RATIOS, RESOLUTIONS, ALL_MODES
        ),
        # "For seedance-1.5-pro: 5 or 10." Seedance 1.5 predates multimodal reference
        # input, so images (first/last frame) only.
        Family.SEEDANCE_15_PRO: Offer(
            "seedance-1.5-pro",
            (5, 10),
            ASPECT_RATIOS,
            RESOLUTIONS,
            (Mode.TEXT, Mode.IMAGE, Mode.FIRST_LAST),
        ),
    }
    reference_rule = (
        "takes 1 to 5 files in all, HTTPS only; one or two images alone count as frames"
    )
    create_path = "/api/open/v1/video/generations"
    states = {
        "queued": TaskState.QUEUED,
        "processing": TaskState.RUNNING,
        "succeeded": TaskState.SUCCEEDED,
        "failed": TaskState.FAILED,
        "cancelled": TaskState.CANCELLED,
    }

    def check_media(self, request, family):
        problems = super().check_media(request, family)
        insecure = [
            url for url in self.media_urls(request) if not is_http_url(url, https_only=True)
        ]
        if insecure:
            # Where, not the whole address: a signed input address is a key to its file
            # until the job's deadline, and this refusal is shown and kept.
            parts = urlsplit(insecure[0])
            where = f"{parts.scheme}://{parts.netloc}" if parts.netloc else insecure[0][:60]
            problems.append(f"{self.label} needs public HTTPS media URLs, not {where!r}")
        return problems

    def check_references(self, request, family):
        problems = []
        media = self.media_urls(request)
        if not 1 <= len(media) <= MAX_MEDIA:
            problems.append(
                f"{self.label} accepts 1 to {MAX_MEDIA} media files in all for "
                f"{Mode.REFERENCE.label}, not {len(media)}"
            )
        elif len(media) <= 2 and not (request.video_urls or request.audio_urls):
            # "The generation mode is inferred from the number and type of materials":
            # one or two images alone are read as the first (and last) frame.
            problems.append(
                f"{self.label} reads one or two images alone as first and last frames; "
                f"add a third image, a video or an audio clip for {Mode.REFERENCE.label}"
            )
        return problems

    def media_urls(self, request) -> list[str]:
        # One list: "the generation mode is inferred from the number and type of materials".
        # Images go first, in order, so two images are the first and then the last frame.
        return [*request.image_urls, *request.video_urls, *request.audio_urls]

    def build_create_payload(self, request, callback_url):
        payload = {
            "model": self.offer_for(request).model,
            "prompt": request.prompt,
            "aspectRatio": request.aspect_ratio,
            "duration": request.duration,
            "resolution": request.resolution,
        }
        if request.mode != Mode.TEXT:
            payload["mediaUrls"] = self.media_urls(request)
        if callback_url:
            payload["webhookUrl"] = callback_url
        if request.metadata:
            payload["metadata"] = dict(request.metadata)
        return payload

    def query_endpoint(self, task_id):
        return f"{self.create_path}/{quote(task_id, safe='')}", None

    def cancel(self, task_id):
        body = self.send("POST", f"{self.create_path}/{quote(task_id, safe='')}/cancel")
        return self.read_task(body, task_id)

    def read_created(self, body):
        # "creditsCharged is calculated when the task is accepted."
        return self.created(body.get("requestId"), body.get("creditsCharged"), body)

    def read_task(self, body, task_id):
        task = unwrap(body)
        error = task.get("error")
        code, message = error_details({"error": error}) if error else (None, None)
        return TaskSnapshot(
            task_id=str(task.get("requestId") or task_id),
            state=self.state_of(task.get("status")),
            output_urls=urls_from(task.get("output")),
            charge_credits=to_decimal(task.get("creditsCharged")),
            error_code=code,
            error_message=message,
            raw=body,
        )

    def callback_task(self, body):
        task = unwrap(body)
        return task.get("requestId"), task.get("status")

    def kind_for_code(self, code, status):
        if status is not None or not code:
            return None
        word = code.lower()
        for needles, kind in CODE_WORDS:
            if any(needle in word for needle in needles):
                return kind
        return None
