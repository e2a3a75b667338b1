"""Replicate: predictions of a named model, and webhooks signed as Standard Webhooks.

Protocol notes: docs/vendors/replicate.md (the vendor's documents:
https://replicate.com/docs/reference/http (predictions, cancel, the webhook secret),
https://replicate.com/docs/topics/webhooks/verify-webhook (signatures) and the model page
https://replicate.com/bytedance/seedance-2.0 (its inputs)). Outputs of API predictions
are deleted after an hour, so a finished clip is saved at once, as every clip is.
"""

import base64
import binascii
import hashlib
import hmac
import re
import time
from decimal import Decimal
from urllib.parse import quote

from .base import VendorAdapter
from .media_limits import UPSTREAM_AUDIO, UPSTREAM_IMAGE, UPSTREAM_VIDEO, VendorMedia
from .parsing import urls_from
from .pricing import per_second
from .types import ErrorKind, Family, Mode, Offer, TaskSnapshot, TaskState, VendorError

ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
RESOLUTIONS = ("480p", "720p")
MODES = (Mode.TEXT, Mode.IMAGE, Mode.FIRST_LAST, Mode.REFERENCE)
# "verify the timestamp is within your tolerance (for example five minutes)"
SIGNATURE_TOLERANCE_SECONDS = 5 * 60
TIMESTAMP = re.compile(r"[0-9]{1,12}")
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


# A failed prediction's `error` is Replicate's own text, sometimes led by a code ("E005: …").
ERROR_CODE = re.compile(r"(E\d{3,5})\b")
ERROR_WORDS = (
    (
        ("sensitive", "flagged", "nsfw", "safety", "E005"),
        "Replicate's safety check flagged the prompt, the media or the clip; change them",
    ),
    (("timed out", "timeout", "E6716"), "The prediction ran out of time at Replicate"),
    (("out of memory", "E1001"), "Replicate ran out of memory making the clip; try a shorter one"),
)


def error_words(status, error: str | None) -> str | None:
    """A failed prediction in a member's words, Replicate's own text after them."""
    if status == "aborted":
        return "Replicate ended the prediction before it started; nothing ran" + (
            f" ({error})" if error else ""
        )
    if status != "failed" and not error:
        return None
    if not error:
        return "Replicate could not make the clip and gave no reason"
    lowered = error.lower()
    for needles, words in ERROR_WORDS:
        if any(needle.lower() in lowered for needle in needles):
            return f"{words} ({error})"
    return f"Replicate could not make the clip ({error})"


def signature_of(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks: base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" under the
    base64-decoded part of the "whsec_…" secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class ReplicateAdapter(VendorAdapter):
    # image, last_frame_image, reference_images, reference_videos, reference_audios.
    media = VendorMedia(
        "https://replicate.com/bytedance/seedance-2.0 (its input schema)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    )
    # No price is published in the sources: a credit is one US dollar, and the operator
    # sets dollars per output second. The seed is fal's published 720p rate for 2.0.
    default_credit_value = Decimal("1")
    default_price_rules = {"seedance-2.0": per_second({"480p": "0.1512", "720p": "0.3024"})}
    credit_unit = "USD"
    protocol = "replicate"
    label = "Replicate"
    default_base_url = "https://api.replicate.com"
    supports_cancel = True
    signs_callbacks = True
    offers = {
        Family.SEEDANCE_2: Offer(
            "bytedance/seedance-2.0", tuple(range(4, 16)), ASPECT_RATIOS, RESOLUTIONS, MODES
        ),
    }
    has_audio_switch = True
    has_seed = True
    states = {
        "starting": TaskState.QUEUED,
        "processing": TaskState.RUNNING,
        "succeeded": TaskState.SUCCEEDED,
        "failed": TaskState.FAILED,
        "canceled": TaskState.CANCELLED,
        # Ended before it started (its deadline passed): nothing ran, nothing is billed.
        "aborted": TaskState.FAILED,
    }

    def check_media(self, request, family):
        mode = request.mode
        if mode == Mode.TEXT:
            return super().check_media(request, family)
        images = {Mode.IMAGE: 1, Mode.FIRST_LAST: 2}.get(mode)
        if images:
            return [
                *self.count_problem("images", request.image_urls, images, images, mode),
                *self.count_problem("videos", request.video_urls, 0, 0, mode),
                *self.count_problem("audio clips", request.audio_urls, 0, 0, mode),
            ]
        return [
            *self.count_problem("images", request.image_urls, 0, 9, mode),
            *self.count_problem("videos", request.video_urls, 0, 3, mode),
            *self.count_problem("audio clips", request.audio_urls, 0, 3, mode),
        ]

    def create_endpoint(self, request, callback_url):
        return f"/v1/models/{self.offer_for(request).model}/predictions", None

    def build_create_payload(self, request, callback_url):
        inputs = {
            "prompt": request.prompt,
            "duration": request.duration,
            "resolution": request.resolution,
            "aspect_ratio": request.aspect_ratio,
            # Its default is true: always say what the member chose.
            "generate_audio": bool(request.audio),
        }
        mode = request.mode
        if mode in (Mode.IMAGE, Mode.FIRST_LAST):
            inputs["image"] = request.image_urls[0]
        if mode == Mode.FIRST_LAST:
            inputs["last_frame_image"] = request.image_urls[1]
        if mode == Mode.REFERENCE:
            for field, urls in (
                ("reference_images", request.image_urls),
                ("reference_videos", request.video_urls),
                ("reference_audios", request.audio_urls),
            ):
                if urls:
                    inputs[field] = list(urls)
        if request.seed is not None:
            inputs["seed"] = request.seed
        payload = {"input": inputs}
        if callback_url:
            payload["webhook"] = callback_url
            payload["webhook_events_filter"] = ["completed"]
        return payload

    def query_endpoint(self, task_id):
        return f"/v1/predictions/{quote(task_id, safe='')}", None

    def read_created(self, body):
        return self.created(body.get("id"), None, body)

    def read_task(self, body, task_id):
        status = body.get("status")
        error = body.get("error")
        error = error.strip() if isinstance(error, str) and error.strip() else None
        code = "aborted" if status == "aborted" else None
        if code is None and error and (match := ERROR_CODE.match(error)):
            code = match.group(1)
        return TaskSnapshot(
            task_id=str(body.get("id") or task_id),
            state=self.state_of(status),
            output_urls=urls_from(body.get("output")),
            error_code=code,
            error_message=error_words(status, error),
            raw=body,
        )

    def callback_task(self, body):
        return body.get("id"), body.get("status")

    def cancel(self, task_id):
        path, _ = self.query_endpoint(task_id)
        try:
            body = self.send("POST", f"{path}/cancel")
        except VendorError as exc:
            if exc.kind == ErrorKind.BAD_REQUEST:  # already finished: say how it ended
                return self.query(task_id)
            raise
        return self.bounded(self.read_task(body, task_id))

    def test_connection(self):
        """The key, and the webhook secret without which no webhook would be believed."""
        said = super().test_connection()
        self.webhook_secret()
        return f"{said} Its webhook secret could be fetched."

    # --- signed webhooks -------------------------------------------------------------

    def webhook_secret(self) -> str:
        body = self.send("GET", "/v1/webhooks/default/secret")
        key = body.get("key")
        if not isinstance(key, str) or not key.startswith(SECRET_PREFIX) or len(key) > 200:
            raise self.fail(ErrorKind.FAULT, "the webhook secret was not a whsec_ key")
        return key

    @classmethod
    def verify_callback(cls, secret, headers, body, now=None) -> bool:
        message_id = headers.get("webhook-id") or ""
        timestamp = headers.get("webhook-timestamp") or ""
        signatures = headers.get("webhook-signature") or ""
        # Seconds since the epoch in ASCII digits; a header of thousands of digits would
        # make int() raise (Python's limit on digits), a 500 instead of a refusal.
        if not (message_id and TIMESTAMP.fullmatch(timestamp) and signatures):
            return False
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > SIGNATURE_TOLERANCE_SECONDS:
            return False
        try:
            expected = signature_of(secret, message_id, timestamp, body)
        except (binascii.Error, ValueError):
            return False
        for candidate in signatures.split(" "):
            version, _, signature = candidate.partition(",")
            if version == "v1" and hmac.compare_digest(signature, expected):
                return True
        return False
