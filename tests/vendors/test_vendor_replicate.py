"""Replicate, from docs/vendors/replicate.md: predictions field by field per mode, and
webhook signatures checked against the Standard Webhooks specification
(https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md),
implemented here on its own, not with the adapter's code."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest
from generations.vendors.replicate import ReplicateAdapter

KEY = "r8_SECRET0123456789abcdef"
BASE = "https://api.replicate.com"
PROMPT = "A lantern drifting down a dark river"
FIRST, LAST = "https://img.example.com/first.png", "https://img.example.com/last.png"
VIDEO, AUDIO = "https://media.example.com/ref.mp4", "https://media.example.com/ref.mp3"
HOOK = "https://studio.example.com/hooks/abc/token/"


def make_request(**changes):
    return VideoRequest(**({"family": "seedance-2.0", "prompt": PROMPT} | changes))


@pytest.fixture
def replicate(vendor):
    return ReplicateAdapter(KEY, client=vendor.client)


def prediction(status="starting", **changes):
    return {
        "id": "gm3qorzdhgbfurvjtvhg6dckhu",
        "model": "bytedance/seedance-2.0",
        "version": "hidden",
        "input": {"prompt": PROMPT},
        "status": status,
        "output": None,
        "error": None,
        "logs": "",
        "created_at": "2026-01-30T10:00:00Z",
        "urls": {
            "get": f"{BASE}/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu",
            "cancel": f"{BASE}/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
        },
    } | changes


def sent_create(replicate, vendor, request, callback=HOOK):
    vendor.answer(201, prediction())
    assert replicate.create(request, callback).task_id == "gm3qorzdhgbfurvjtvhg6dckhu"
    assert vendor.last.method == "POST"
    assert str(vendor.last.url) == f"{BASE}/v1/models/bytedance/seedance-2.0/predictions"
    assert vendor.last.headers["Authorization"] == f"Bearer {KEY}"
    return vendor.sent()


# --- create, field by field per mode -------------------------------------------------------


def test_a_text_prediction_sends_the_input_and_a_completed_only_webhook(replicate, vendor):
    body = sent_create(
        replicate, vendor, make_request(duration=10, aspect_ratio="21:9", resolution="480p", seed=3)
    )
    assert body == {
        "input": {
            "prompt": PROMPT,
            "duration": 10,
            "resolution": "480p",
            "aspect_ratio": "21:9",
            "generate_audio": False,
            "seed": 3,
        },
        "webhook": HOOK,
        "webhook_events_filter": ["completed"],
    }


def test_generate_audio_is_always_sent_since_its_default_is_true(replicate, vendor):
    assert sent_create(replicate, vendor, make_request(audio=True))["input"]["generate_audio"]
    assert sent_create(replicate, vendor, make_request())["input"]["generate_audio"] is False


def test_without_a_callback_there_is_no_webhook(replicate, vendor):
    body = sent_create(replicate, vendor, make_request(), callback=None)
    assert "webhook" not in body and "webhook_events_filter" not in body


def test_an_image_prediction_sends_image(replicate, vendor):
    inputs = sent_create(replicate, vendor, make_request(mode="image", image_urls=[FIRST]))["input"]
    assert inputs["image"] == FIRST
    assert "last_frame_image" not in inputs and "reference_images" not in inputs


def test_a_first_and_last_frame_prediction_sends_image_and_last_frame_image(replicate, vendor):
    request = make_request(mode="first_last", image_urls=[FIRST, LAST])
    inputs = sent_create(replicate, vendor, request)["input"]
    assert (inputs["image"], inputs["last_frame_image"]) == (FIRST, LAST)


def test_a_reference_prediction_sends_the_three_reference_lists(replicate, vendor):
    request = make_request(
        mode="reference", image_urls=[FIRST, LAST], video_urls=[VIDEO], audio_urls=[AUDIO]
    )
    inputs = sent_create(replicate, vendor, request)["input"]
    assert inputs["reference_images"] == [FIRST, LAST]
    assert inputs["reference_videos"] == [VIDEO]
    assert inputs["reference_audios"] == [AUDIO]
    assert "image" not in inputs


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "reference", "image_urls": [FIRST] * 10},
        {"mode": "reference", "video_urls": [VIDEO] * 4},
        {"mode": "reference", "audio_urls": [AUDIO] * 4},
        {"mode": "first_last", "image_urls": [FIRST]},
        {"mode": "image", "image_urls": [FIRST], "audio_urls": [AUDIO]},
        {"duration": 16},
        {"resolution": "1080p"},
        {"family": "seedance-2.0-fast"},
    ],
)
def test_it_refuses_what_the_model_does_not_take(changes):
    assert ReplicateAdapter(KEY).check(make_request(**changes)) != []


# --- reading and cancelling ----------------------------------------------------------------


def test_a_succeeded_prediction_has_its_output_url(replicate, vendor):
    vendor.answer(json=prediction("succeeded", output="https://replicate.delivery/x/out.mp4"))
    snapshot = replicate.query("gm3qorzdhgbfurvjtvhg6dckhu")
    assert str(vendor.last.url) == f"{BASE}/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu"
    assert snapshot.state == TaskState.SUCCEEDED
    assert snapshot.output_urls == ["https://replicate.delivery/x/out.mp4"]
    assert snapshot.charge_credits is None  # no charge reported: the account's quote


@pytest.mark.parametrize(
    "status, state",
    [
        ("starting", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("failed", TaskState.FAILED),
        ("canceled", TaskState.CANCELLED),
        ("aborted", TaskState.FAILED),
    ],
)
def test_it_reads_every_documented_status(replicate, vendor, status, state):
    vendor.answer(json=prediction(status, error="boom" if status == "failed" else None))
    snapshot = replicate.query("p1")
    assert snapshot.state == state
    if status == "failed":
        assert snapshot.error_message == "Replicate could not make the clip (boom)"


def test_cancel_posts_to_the_cancel_address(replicate, vendor):
    vendor.answer(json=prediction("canceled"))
    assert replicate.cancel("p1").state == TaskState.CANCELLED
    assert vendor.last.method == "POST"
    assert str(vendor.last.url) == f"{BASE}/v1/predictions/p1/cancel"


@pytest.mark.parametrize(
    "status, kind",
    [
        (401, ErrorKind.AUTH),
        (402, ErrorKind.NO_CREDIT),
        (422, ErrorKind.BAD_REQUEST),
        (429, ErrorKind.RATE_LIMITED),
    ],
)
def test_problem_json_errors_are_classified_with_their_detail(replicate, vendor, status, kind):
    problem = {"title": "Nope", "detail": "the detail words", "status": status}
    vendor.answer(status, problem, headers={"Retry-After": "7"} if status == 429 else None)
    with pytest.raises(VendorError) as caught:
        replicate.create(make_request())
    assert caught.value.kind == kind
    assert "the detail words" in caught.value.message
    if status == 429:
        assert caught.value.retry_after == 7


def test_the_webhook_secret_comes_from_the_default_secret_endpoint(replicate, vendor):
    vendor.answer(json={"key": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"})
    assert replicate.webhook_secret() == "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    assert vendor.last.method == "GET"
    assert str(vendor.last.url) == f"{BASE}/v1/webhooks/default/secret"


def test_a_secret_that_is_not_a_whsec_key_is_refused(replicate, vendor):
    vendor.answer(json={"key": "hunter2"})
    with pytest.raises(VendorError):
        replicate.webhook_secret()


# --- Standard Webhooks, independently --------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"sixteen byte key and then some").decode()
BODY = json.dumps({"id": "p1", "status": "succeeded"}).encode()


def standard_signature(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """The spec, step by step: strip "whsec_", base64-decode the rest, HMAC-SHA256 the
    string "msg_id.timestamp.payload", base64-encode, prefix the version "v1,"."""
    assert secret.startswith("whsec_")
    key = base64.standard_b64decode(secret[len("whsec_") :])
    to_sign = b".".join([msg_id.encode(), str(timestamp).encode(), payload])
    mac = hmac.HMAC(key, to_sign, digestmod=hashlib.sha256)
    return "v1," + base64.standard_b64encode(mac.digest()).decode("ascii")


def headers(signature, msg_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def signed(payload=BODY, secret=SECRET, timestamp=None, msg_id="msg_1"):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return headers(standard_signature(secret, msg_id, timestamp, payload), msg_id, timestamp)


def test_a_validly_signed_webhook_verifies():
    assert ReplicateAdapter.verify_callback(SECRET, signed(), BODY)


def test_a_tampered_body_does_not_verify():
    tampered = BODY.replace(b"succeeded", b"failed")
    assert not ReplicateAdapter.verify_callback(SECRET, signed(), tampered)


def test_a_signature_under_another_secret_does_not_verify():
    other = "whsec_" + base64.b64encode(b"another secret entirely").decode()
    assert not ReplicateAdapter.verify_callback(SECRET, signed(secret=other), BODY)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_timestamp_outside_five_minutes_does_not_verify(age):
    when = int(time.time()) - age
    assert not ReplicateAdapter.verify_callback(SECRET, signed(timestamp=when), BODY)


@pytest.mark.parametrize("age", [0, 299, -299])
def test_a_timestamp_within_five_minutes_verifies(age):
    when = int(time.time()) - age
    assert ReplicateAdapter.verify_callback(SECRET, signed(timestamp=when), BODY)


def test_one_good_signature_among_several_in_the_header_verifies():
    good = signed()["webhook-signature"]
    other = "whsec_" + base64.b64encode(b"rotated away").decode()
    bad = standard_signature(other, "msg_1", int(time.time()), BODY)
    several = headers(f"v1,bm90IGEgc2lnbmF0dXJl {bad} {good}", msg_id="msg_1")
    assert ReplicateAdapter.verify_callback(SECRET, several, BODY)
    only_bad = headers(f"{bad} v2,{good.removeprefix('v1,')}", msg_id="msg_1")
    assert not ReplicateAdapter.verify_callback(SECRET, only_bad, BODY)


def test_the_id_is_part_of_what_is_signed():
    forged = signed() | {"webhook-id": "msg_other"}
    assert not ReplicateAdapter.verify_callback(SECRET, forged, BODY)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_an_unsigned_webhook_does_not_verify(missing):
    partial = {name: value for name, value in signed().items() if name != missing}
    assert not ReplicateAdapter.verify_callback(SECRET, partial, BODY)


def test_a_secret_that_is_not_base64_verifies_nothing():
    assert not ReplicateAdapter.verify_callback("whsec_!!!", signed(), BODY)


def test_test_connection_also_fetches_the_webhook_secret(replicate, vendor):
    vendor.answer(404, {"title": "Not found", "detail": "no such prediction", "status": 404})
    vendor.answer(json={"key": SECRET})
    assert replicate.test_connection() == "The key works. Its webhook secret could be fetched."
    assert str(vendor.last.url) == f"{BASE}/v1/webhooks/default/secret"


@pytest.mark.parametrize(
    "status, error, words, code",
    [
        (
            "failed",
            "E005: The input or output was flagged as sensitive",
            "Replicate's safety check flagged",
            "E005",
        ),
        ("failed", "Prediction timed out", "ran out of time at Replicate", None),
        ("failed", None, "Replicate could not make the clip and gave no reason", None),
        ("aborted", None, "Replicate ended the prediction before it started", "aborted"),
    ],
)
def test_a_failed_prediction_is_said_in_a_members_words_never_raw(
    replicate, vendor, status, error, words, code
):
    vendor.answer(json=prediction(status, error=error))
    snapshot = replicate.query("p1")
    assert snapshot.state == TaskState.FAILED
    assert words in snapshot.error_message
    assert snapshot.error_message != error
    assert snapshot.error_code == code


@pytest.mark.parametrize("timestamp", ["9" * 5000, "١٧٠٠٠٠٠٠٠٠", "1e9", "-1", " 1700000000"])
def test_an_odd_timestamp_does_not_verify_and_does_not_raise(timestamp):
    forged = headers("v1,AAAA", timestamp=timestamp)
    assert ReplicateAdapter.verify_callback(SECRET, forged, BODY) is False
