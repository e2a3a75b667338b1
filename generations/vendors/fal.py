"""fal: the queue protocol, `Authorization: Key …`, one endpoint per model and mode.

Protocol notes: docs/vendors/fal.md (the vendor's documents:
https://docs.fal.ai/model-apis/model-endpoints/queue (submit, status, result, cancel),
https://docs.fal.ai/model-apis/model-endpoints/webhooks, and the model pages such as
https://fal.ai/models/bytedance/seedance-2.0/text-to-video/api). A submit answers with
the addresses of the request's status, result and cancel: we follow those, and only on
the account's own host. A request that failed still ends COMPLETED; its result is then
an error, which is a failure, never a success without a file.
"""

from decimal import Decimal
from urllib.parse import quote, urlsplit

from .base import VendorAdapter
from .bounds import MAX_TASK_ID_CHARS
from .http import GATEWAY_STATUSES
from .media_limits import UPSTREAM_IMAGE, VendorMedia
from .pricing import per_second
from .types import ErrorKind, Family, Mode, Offer, TaskSnapshot, TaskState, VendorError

ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")
MODES = (Mode.TEXT, Mode.IMAGE, Mode.FIRST_LAST)
ENDPOINTS = {
    Mode.TEXT: "text-to-video",
    Mode.IMAGE: "image-to-video",
    Mode.FIRST_LAST: "image-to-video",
}
URL_FIELDS = ("status_url", "response_url", "cancel_url")
# A task id is "request_id|status path|result path|cancel path": the three addresses the
# submit handed out, kept so that every later call goes exactly where fal said.
SEPARATOR = "|"
# The app that answers for a bare request id (a callback's, an operator's).
DEFAULT_APP = "bytedance/seedance-2.0"


def _offer(model, resolutions):
    return Offer(model, tuple(range(4, 16)), ASPECT_RATIOS, resolutions, MODES)


class FalAdapter(VendorAdapter):
    # image_url and end_image_url: frames only.
    media = VendorMedia("https://fal.ai (bytedance/seedance-2.0/image-to-video)", UPSTREAM_IMAGE)
    # fal reports no charge: a credit is one US dollar, priced per output second as its
    # model pages publish (2.0 at 720p $0.3024/s, Fast $0.2419/s, Mini $0.0721/s at
    # 480p and $0.1547/s at 720p); the charge is the account's own quote. 480p and 1080p
    # of 2.0 and Fast are not published: seeded by pixel count (480p is 0.465 of 720p's
    # pixels, 1080p 2.25), the ratio Mini's two published prices follow.
    default_credit_value = Decimal("1")
    default_price_rules = {
        "seedance-2.0": per_second({"480p": "0.1406", "720p": "0.3024", "1080p": "0.6804"}),
        "seedance-2.0-fast": per_second({"480p": "0.1125", "720p": "0.2419", "1080p": "0.5443"}),
        "seedance-2.0-mini": per_second({"480p": "0.0721", "720p": "0.1547"}),
    }
    credit_unit = "USD"
    protocol = "fal"
    label = "fal"
    default_base_url = "https://queue.fal.run"
    supports_cancel = True
    offers = {
        Family.SEEDANCE_2: _offer("bytedance/seedance-2.0", ("480p", "720p", "1080p")),
        Family.SEEDANCE_2_FAST: _offer("bytedance/seedance-2.0/fast", ("480p", "720p", "1080p")),
        Family.SEEDANCE_2_MINI: _offer("bytedance/seedance-2.0/mini", ("480p", "720p")),
    }
    has_audio_switch = True
    has_seed = True
    states = {
        "in_queue": TaskState.QUEUED,
        "in_progress": TaskState.RUNNING,
        "completed": TaskState.SUCCEEDED,  # until its result says otherwise
    }

    def authorization(self):
        return f"Key {self.api_key}"

    def check_media(self, request, family):
        mode = request.mode
        if mode == Mode.TEXT:
            return super().check_media(request, family)
        images = 1 if mode == Mode.IMAGE else 2
        return [
            *self.count_problem("images", request.image_urls, images, images, mode),
            *self.count_problem("videos", request.video_urls, 0, 0, mode),
            *self.count_problem("audio clips", request.audio_urls, 0, 0, mode),
        ]

    def create_endpoint(self, request, callback_url):
        model = f"{self.offer_for(request).model}/{ENDPOINTS[Mode(request.mode)]}"
        return f"/{model}", ({"fal_webhook": callback_url} if callback_url else None)

    def build_create_payload(self, request, callback_url):
        payload = {
            "prompt": request.prompt,
            "resolution": request.resolution,
            "duration": str(request.duration),  # "a string of seconds"
            "aspect_ratio": "auto" if request.aspect_ratio == "adaptive" else request.aspect_ratio,
            "generate_audio": bool(request.audio),
        }
        if request.mode in (Mode.IMAGE, Mode.FIRST_LAST):
            payload["image_url"] = request.image_urls[0]
        if request.mode == Mode.FIRST_LAST:
            payload["end_image_url"] = request.image_urls[1]
        if request.seed is not None:
            payload["seed"] = request.seed
        return payload

    # --- the request's own addresses -------------------------------------------------

    def read_created(self, body):
        request_id = body.get("request_id")
        paths = [self.own_path(body.get(field), field) for field in URL_FIELDS]
        task_id = SEPARATOR.join([str(request_id or ""), *paths])
        if not request_id or SEPARATOR in str(request_id) or len(task_id) > MAX_TASK_ID_CHARS:
            raise self.fail(ErrorKind.UNKNOWN_OUTCOME, "the answer named no usable request id")
        return self.created(task_id, None, body)

    def own_path(self, url, field: str) -> str:
        """The path of an address fal handed out, if it is on this account's host."""
        base = urlsplit(self.base_url)
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
        except ValueError:
            parts = None
        if parts is None or (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            shown = str(url)[:80] if url else "nothing"
            raise self.fail(
                ErrorKind.UNKNOWN_OUTCOME,
                f"its {field} was not on {base.netloc} ({shown}); it was not followed",
            )
        if SEPARATOR in url or any(c.isspace() for c in url):
            raise self.fail(ErrorKind.UNKNOWN_OUTCOME, f"its {field} could not be used")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def addresses(self, task_id: str) -> tuple[str, str, str, str]:
        """(request id, status, result, cancel) as whole URLs on the account's host."""
        parts = task_id.split(SEPARATOR)
        base = urlsplit(self.base_url)
        host = f"{base.scheme}://{base.netloc}"
        if len(parts) == 4 and all(path.startswith("/") for path in parts[1:]):
            return parts[0], *(host + path for path in parts[1:])
        # A bare request id: the queue's documented addresses for the 2.0 app.
        result = f"{self.base_url}/{DEFAULT_APP}/requests/{quote(task_id, safe='')}"
        return task_id, f"{result}/status", result, f"{result}/cancel"

    @classmethod
    def same_task(cls, task_id):
        # Stored as "request_id|status|result|cancel"; its webhook names the request id.
        request_id = task_id.split(SEPARATOR, 1)[0]
        return [task_id, request_id], [f"{request_id}{SEPARATOR}"]

    def query_endpoint(self, task_id):
        return self.addresses(task_id)[1], None

    # --- following -------------------------------------------------------------------

    def query(self, task_id):
        request_id, status_url, result_url, _ = self.addresses(task_id)
        status = self.send("GET", status_url)
        state = self.state_of(status.get("status"))
        if state != TaskState.SUCCEEDED:
            return TaskSnapshot(task_id=task_id, state=state, raw=status)
        try:
            result = self.send("GET", result_url)
        except VendorError as exc:
            if not self.result_failed(exc):
                raise
            return TaskSnapshot(
                task_id=task_id,
                state=TaskState.FAILED,
                error_code=exc.vendor_code or (str(exc.status_code) if exc.status_code else None),
                error_message=exc.message,
                raw=status,
            )
        return self.bounded(self.read_task(result, task_id))

    def result_failed(self, exc: VendorError) -> bool:
        """Whether a COMPLETED request's result error is its failure, not our trouble
        reading it (a refused key, a limit, a gateway in between, no such request)."""
        if exc.status_code is None or exc.status_code in GATEWAY_STATUSES:
            return False
        return exc.kind not in (ErrorKind.AUTH, ErrorKind.RATE_LIMITED, ErrorKind.NOT_FOUND)

    def read_task(self, body, task_id):
        video = body.get("video")
        url = video.get("url") if isinstance(video, dict) else None
        if not url:
            # A COMPLETED request whose result names no clip (an error body that came with
            # a 200, or nothing at all) failed: never a success without a file.
            detail = _detail_words(body.get("detail")) or _detail_words(body.get("error"))
            return TaskSnapshot(
                task_id=task_id,
                state=TaskState.FAILED,
                error_code="no_video",
                error_message=(
                    f"fal finished the request without a clip: {detail}."
                    if detail
                    else "fal finished the request without a clip."
                ),
                raw=body,
            )
        return TaskSnapshot(
            task_id=task_id,
            state=TaskState.SUCCEEDED,
            output_urls=[url],
            charge_credits=None,
            raw=body,
        )

    def classify(self, status, body, response, creating):
        # fal's errors are {"detail": "…"} or, for a refused input, a validation list
        # {"detail": [{"loc": [...], "msg": "…", "type": "…"}]}: say its words either way.
        if isinstance(body, dict) and not isinstance(body.get("detail"), str | type(None)):
            body = {**body, "detail": _detail_words(body["detail"])}
        return super().classify(status, body, response, creating)

    def callback_task(self, body):
        # {request_id, status: "OK" | "ERROR", payload}: only a hint to read the request.
        return body.get("request_id"), None

    def cancel(self, task_id):
        _, _, _, cancel_url = self.addresses(task_id)
        try:
            self.send("PUT", cancel_url)
        except VendorError as exc:
            if exc.kind == ErrorKind.BAD_REQUEST:  # "ALREADY_COMPLETED": say how it ended
                return self.query(task_id)
            raise
        return TaskSnapshot(task_id=task_id, state=TaskState.CANCELLED)


def _detail_words(detail) -> str | None:
    """fal's `detail`: a sentence, or a list of {loc, msg, type} (its validation errors)."""
    if isinstance(detail, str):
        return detail.strip() or None
    if isinstance(detail, dict):
        detail = [detail]
    if not isinstance(detail, list):
        return None
    words = []
    for item in detail[:5]:
        if isinstance(item, str):
            words.append(item)
        elif isinstance(item, dict) and isinstance(item.get("msg"), str):
            loc = item.get("loc")
            field = loc[-1] if isinstance(loc, list) and loc else None
            words.append(f"{field}: {item['msg']}" if isinstance(field, str) else item["msg"])
    return "; ".join(words) or None
