"""BytePlus ModelArk (Volcengine Ark in China): ByteDance's own task API for Seedance.

Protocol notes: docs/vendors/byteplus_ark.md (the vendor's documents:
https://docs.byteplus.com/en/docs/ModelArk/1520757 (video generation API) and
https://docs.byteplus.com/en/docs/ModelArk/1299023 (error codes)). A `content` list of
typed items with roles, parameters as top-level fields (never `--rs 720p` flags in the
text, which older clients appended), a token charge in `usage.completion_tokens`, and
DELETE to cancel a task that is still queued.
"""

from decimal import Decimal
from urllib.parse import quote

from .base import VendorAdapter
from .bounds import is_http_url
from .media_limits import UPSTREAM_AUDIO, UPSTREAM_IMAGE, UPSTREAM_VIDEO, VendorMedia
from .parsing import error_details, to_decimal
from .pricing import per_second
from .types import ErrorKind, Family, Mode, Offer, TaskSnapshot, TaskState, VendorError

ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
RESOLUTIONS = ("480p", "720p", "1080p")
SECONDS_4_TO_12 = tuple(range(4, 13))
SECONDS_4_TO_15 = tuple(range(4, 16))
FRAME_MODES = (Mode.TEXT, Mode.IMAGE, Mode.FIRST_LAST)
ALL_MODES = (*FRAME_MODES, Mode.REFERENCE)
AUDIO_FAMILIES = (Family.SEEDANCE_2, Family.SEEDANCE_2_FAST)
IMAGE_FORMATS = ("jpeg", "jpg", "png", "webp", "bmp", "tiff", "gif")
ROLES = {
    Mode.IMAGE: ("first_frame",),
    Mode.FIRST_LAST: ("first_frame", "last_frame"),
}

# Tokens are "width × height × fps × seconds / 1024" (720p 16:9 at 24 fps for 5 s is
# about 108,000); per second at 24 fps, by resolution. The charge itself is what the task
# reports in usage.completion_tokens: failed tasks are not billed.
TOKENS_PER_SECOND = {"480p": "10044", "720p": "21600", "1080p": "48600"}

# Error codes, by the words they start with, in a member's words. Its list:
# https://docs.byteplus.com/en/docs/ModelArk/1299023
ERROR_WORDS = (
    ("InputTextSensitiveContent", "The prompt was flagged by ModelArk's safety check; reword it"),
    ("InputImageSensitiveContent", "An image was flagged by ModelArk's safety check; use another"),
    ("InputVideoSensitiveContent", "A video was flagged by ModelArk's safety check; use another"),
    ("InputAudioSensitiveContent", "An audio clip was flagged by ModelArk's safety check"),
    ("OutputVideoSensitiveContent", "The finished clip was flagged by ModelArk's safety check"),
    ("SensitiveContent", "ModelArk's safety check flagged the request; change the prompt or media"),
    ("MissingParameter", "ModelArk missed a setting it needs"),
    ("InvalidParameter", "ModelArk refused one of the settings"),
    (
        "InvalidEndpointOrModel",
        "ModelArk does not know the model or endpoint id set for this "
        "account; an operator should correct it",
    ),
    ("ModelNotOpen", "The model is not activated on this ModelArk account"),
    ("AuthenticationError", "ModelArk refused the API key"),
    ("AccessDenied", "ModelArk refused access with this key"),
    ("AccountOverdue", "The ModelArk account is overdue; top up with BytePlus"),
    ("RateLimitExceeded", "ModelArk is limiting requests for this account"),
    ("QuotaExceeded", "The ModelArk account's queue is full (120 tasks at most)"),
    ("ServerOverloaded", "ModelArk is overloaded"),
    ("InternalServiceError", "ModelArk had an internal error"),
)
CODE_KINDS = (
    ("SensitiveContent", ErrorKind.BAD_REQUEST),
    ("InvalidEndpointOrModel", ErrorKind.FAULT),  # this account's setting: try another
    ("ModelNotOpen", ErrorKind.FAULT),
    ("AuthenticationError", ErrorKind.AUTH),
    ("AccessDenied", ErrorKind.AUTH),
    ("AccountOverdue", ErrorKind.NO_CREDIT),
    ("RateLimitExceeded", ErrorKind.RATE_LIMITED),
    ("QuotaExceeded", ErrorKind.RATE_LIMITED),
    ("ServerOverloaded", ErrorKind.RATE_LIMITED),
)


def error_words(code, message) -> str | None:
    """A ModelArk error in a member's words, its own message after them."""
    if not code:
        return message
    for prefix, words in ERROR_WORDS:
        if str(code).startswith(prefix):
            return f"{words} ({message})" if message else words
    return message


class BytePlusArkAdapter(VendorAdapter):
    # Content items: image_url (frames, references), video_url and audio_url (2.0).
    media = VendorMedia(
        "https://docs.byteplus.com/en/docs/ModelArk (video generation API)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    )
    # One credit is one token; the operator sets dollars per million tokens. The seed is
    # 2.0 Fast's published $5.60 per million (1.5 Pro is $2.40/M with audio, $1.20/M
    # without): an account has one price, so an operator paying several adds one
    # account per price, each with rules for its families only.
    default_credit_value = Decimal("0.0000056")
    default_price_rules = {
        family: per_second(TOKENS_PER_SECOND, rounding="ceil")
        for family in ("seedance-2.0", "seedance-2.0-fast", "seedance-1.5-pro")
    }
    credit_unit = "tokens"
    takes_model_ids = True
    protocol = "byteplus_ark"
    label = "BytePlus ModelArk"
    default_base_url = "https://ark.ap-southeast.bytepluses.com/api/v3"
    supports_cancel = True
    # Model ids an account may replace with its own (Volcengine's doubao-…, or ep-… ids).
    offers = {
        Family.SEEDANCE_2: Offer(
            "dreamina-seedance-2-0-260128", SECONDS_4_TO_15, ASPECT_RATIOS, RESOLUTIONS, ALL_MODES
        ),
        Family.SEEDANCE_2_FAST: Offer(
            "dreamina-seedance-2-0-fast-260128",
            SECONDS_4_TO_15,
            ASPECT_RATIOS,
            RESOLUTIONS,
            ALL_MODES,
        ),
        Family.SEEDANCE_15_PRO: Offer(
            "seedance-1-5-pro-251215", SECONDS_4_TO_12, ASPECT_RATIOS, RESOLUTIONS, FRAME_MODES
        ),
    }
    has_audio_switch = True
    has_seed = True
    create_path = "/contents/generations/tasks"
    states = {
        "queued": TaskState.QUEUED,
        "running": TaskState.RUNNING,
        "succeeded": TaskState.SUCCEEDED,
        "failed": TaskState.FAILED,
        "cancelled": TaskState.CANCELLED,
        "expired": TaskState.EXPIRED,
    }
    probe_task_id = "cgt-seedance-studio-key-check"

    def model_id(self, request) -> str:
        offer = self.offer_for(request)
        return self.model_ids.get(str(request.family)) or offer.model

    # --- checking --------------------------------------------------------------------

    def check(self, request):
        problems = super().check(request)
        if request.audio and request.family == Family.SEEDANCE_15_PRO:
            problems.append(f"{self.label} generates audio only with Seedance 2.0 and 2.0 Fast")
        return problems

    def check_media(self, request, family):
        mode = request.mode
        if mode == Mode.TEXT:
            return super().check_media(request, family)
        if mode in ROLES:
            count = len(ROLES[mode])
            return [
                *self.count_problem("images", request.image_urls, count, count, mode),
                *self.count_problem("videos", request.video_urls, 0, 0, mode),
                *self.count_problem("audio clips", request.audio_urls, 0, 0, mode),
            ]
        problems = [
            *self.count_problem("images", request.image_urls, 0, 9, mode),
            *self.count_problem("videos", request.video_urls, 0, 3, mode),
            *self.count_problem("audio clips", request.audio_urls, 0, 3, mode),
        ]
        if not (request.image_urls or request.video_urls):
            # "audio cannot be the only reference"
            problems.append(f"{self.label} needs at least one image or video for references")
        return problems

    def url_problem(self, what, urls):
        # Images may also travel inline: "data:image/<format>;base64,<data>".
        bad = [url for url in urls if not (is_http_url(url) or _image_data_url(url, what))]
        return [f"{self.label} needs http(s) URLs for {what}, not {bad[0][:80]!r}"] if bad else []

    # --- the create body -------------------------------------------------------------

    def build_create_payload(self, request, callback_url):
        payload = {
            "model": self.model_id(request),
            "content": [{"type": "text", "text": request.prompt}, *self.media_items(request)],
            "resolution": request.resolution,
            "ratio": request.aspect_ratio,
            "duration": request.duration,
            "watermark": False,
        }
        if Family(request.family) in AUDIO_FAMILIES:  # "generate_audio (2.0)"
            payload["generate_audio"] = bool(request.audio)
        if request.seed is not None:
            payload["seed"] = request.seed
        if callback_url:
            payload["callback_url"] = callback_url
        return payload

    def media_items(self, request) -> list[dict]:
        mode = request.mode
        if mode in ROLES:
            return [
                _item("image_url", url, role)
                for url, role in zip(request.image_urls, ROLES[mode], strict=True)
            ]
        if mode != Mode.REFERENCE:
            return []
        return [
            *(_item("image_url", url, "reference_image") for url in request.image_urls),
            *(_item("video_url", url, "reference_video") for url in request.video_urls),
            *(_item("audio_url", url, "reference_audio") for url in request.audio_urls),
        ]

    # --- reading answers -------------------------------------------------------------

    def query_endpoint(self, task_id):
        return f"{self.create_path}/{quote(task_id, safe='')}", None

    def read_created(self, body):
        return self.created(body.get("id"), None, body)

    def read_task(self, body, task_id):
        state = self.state_of(body.get("status"))
        content = body.get("content")
        video = content.get("video_url") if isinstance(content, dict) else None
        error = body.get("error")
        code, message = error_details({"error": error}) if error else (None, None)
        return TaskSnapshot(
            task_id=str(body.get("id") or task_id),
            state=state,
            output_urls=[video] if video else [],
            charge_credits=_tokens(body) if state == TaskState.SUCCEEDED else None,
            error_code=code,
            error_message=error_words(code, message),
            raw=body,
        )

    def callback_task(self, body):
        # "the same body as the query", POSTed on each change of status, unsigned.
        return body.get("id"), body.get("status")

    def kind_for_code(self, code, status):
        for prefix, kind in CODE_KINDS:
            if code and code.startswith(prefix):
                return kind
        return None

    def classify(self, status, body, response, creating):
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            code, message = error_details(body)
            body = {"error": {**body["error"], "message": error_words(code, message)}}
        return super().classify(status, body, response, creating)

    # --- cancelling ------------------------------------------------------------------

    def cancel(self, task_id):
        """DELETE cancels a queued task. A running one "cannot be cancelled" (a 4xx): it
        runs on and is charged, so the answer is the task as it now is, still running."""
        path, _ = self.query_endpoint(task_id)
        try:
            self.send("DELETE", path, empty_ok=True)
        except VendorError as exc:
            # Not queued: "a 4xx error body" (400, 403 OperationDenied…, 409): say how it now
            # is. Not a missing task, a refused key or a limit: those are errors as such
            # (and a key that is really refused fails the read just the same).
            status = exc.status_code or 0
            if 400 <= status < 500 and status not in (401, 404, 429):
                return self.query(task_id)
            raise
        return TaskSnapshot(task_id=task_id, state=TaskState.CANCELLED)


def _item(kind: str, url: str, role: str) -> dict:
    return {"type": kind, kind: {"url": url}, "role": role}


def _image_data_url(url, what: str) -> bool:
    if what != "images" or not isinstance(url, str):
        return False
    head, _, data = url.partition(";base64,")
    fmt = head.removeprefix("data:image/")
    return head.startswith("data:image/") and fmt.lower() in IMAGE_FORMATS and bool(data)


def _tokens(body: dict):
    usage = body.get("usage")
    return to_decimal(usage.get("completion_tokens")) if isinstance(usage, dict) else None
