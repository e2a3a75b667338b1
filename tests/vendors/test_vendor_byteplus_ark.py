"""BytePlus ModelArk, from docs/vendors/byteplus_ark.md: every request field by mode."""

from decimal import Decimal

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest, default_price_rules
from generations.vendors.byteplus_ark import BytePlusArkAdapter
from generations.vendors.pricing import quote_credits

KEY = "ark-SECRET-0123456789abcdef"
BASE = "https://ark.ap-southeast.bytepluses.com/api/v3"
PROMPT = "A red kite over a windy beach"
FIRST, LAST = "https://img.example.com/first.png", "https://img.example.com/last.png"
VIDEO, AUDIO = "https://media.example.com/ref.mp4", "https://media.example.com/ref.mp3"


def make_request(**changes):
    return VideoRequest(**({"family": "seedance-2.0", "prompt": PROMPT} | changes))


@pytest.fixture
def ark(vendor):
    return BytePlusArkAdapter(KEY, client=vendor.client)


def task(status="queued", **changes):
    return {
        "id": "cgt-20260130-abc",
        "model": "dreamina-seedance-2-0-260128",
        "status": status,
        "content": None,
        "usage": None,
        "error": None,
        "created_at": 1769700000,
        "updated_at": 1769700000,
        "seed": 7,
        "resolution": "720p",
        "ratio": "16:9",
        "duration": 5,
        "framespersecond": 24,
    } | changes


def sent_create(ark, vendor, request, callback=None):
    vendor.answer(json={"id": "cgt-1"})
    created = ark.create(request, callback)
    assert created.task_id == "cgt-1"
    assert vendor.last.method == "POST"
    assert str(vendor.last.url) == f"{BASE}/contents/generations/tasks"
    assert vendor.last.headers["Authorization"] == f"Bearer {KEY}"
    return vendor.sent()


# --- the create body, field by field, per mode ------------------------------------------


def test_a_text_request_is_the_text_item_and_top_level_parameters(ark, vendor):
    body = sent_create(
        ark,
        vendor,
        make_request(duration=8, aspect_ratio="9:16", resolution="1080p", audio=True, seed=11),
        "https://studio.example.com/hooks/x/y/",
    )
    assert body == {
        "model": "dreamina-seedance-2-0-260128",
        "content": [{"type": "text", "text": PROMPT}],
        "resolution": "1080p",
        "ratio": "9:16",
        "duration": 8,
        "watermark": False,
        "generate_audio": True,
        "seed": 11,
        "callback_url": "https://studio.example.com/hooks/x/y/",
    }


def test_it_never_appends_flags_to_the_prompt(ark, vendor):
    body = sent_create(ark, vendor, make_request(duration=5))
    assert body["content"][0]["text"] == PROMPT
    assert "--" not in body["content"][0]["text"]


def test_it_leaves_out_seed_and_callback_when_there_are_none(ark, vendor):
    body = sent_create(ark, vendor, make_request())
    assert "seed" not in body and "callback_url" not in body
    assert body["generate_audio"] is False


def test_an_image_request_sends_the_first_frame_role(ark, vendor):
    body = sent_create(ark, vendor, make_request(mode="image", image_urls=[FIRST]))
    assert body["content"] == [
        {"type": "text", "text": PROMPT},
        {"type": "image_url", "image_url": {"url": FIRST}, "role": "first_frame"},
    ]


def test_a_first_and_last_frame_request_sends_both_roles_in_order(ark, vendor):
    body = sent_create(ark, vendor, make_request(mode="first_last", image_urls=[FIRST, LAST]))
    assert body["content"][1:] == [
        {"type": "image_url", "image_url": {"url": FIRST}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": LAST}, "role": "last_frame"},
    ]


def test_a_reference_request_sends_images_videos_and_audio_with_their_roles(ark, vendor):
    request = make_request(
        mode="reference", image_urls=[FIRST, LAST], video_urls=[VIDEO], audio_urls=[AUDIO]
    )
    body = sent_create(ark, vendor, request)
    assert body["content"][1:] == [
        {"type": "image_url", "image_url": {"url": FIRST}, "role": "reference_image"},
        {"type": "image_url", "image_url": {"url": LAST}, "role": "reference_image"},
        {"type": "video_url", "video_url": {"url": VIDEO}, "role": "reference_video"},
        {"type": "audio_url", "audio_url": {"url": AUDIO}, "role": "reference_audio"},
    ]


@pytest.mark.parametrize(
    "family, model",
    [
        ("seedance-2.0", "dreamina-seedance-2-0-260128"),
        ("seedance-2.0-fast", "dreamina-seedance-2-0-fast-260128"),
        ("seedance-1.5-pro", "seedance-1-5-pro-251215"),
    ],
)
def test_it_sends_the_published_model_id_per_family(ark, vendor, family, model):
    assert sent_create(ark, vendor, make_request(family=family))["model"] == model


def test_generate_audio_is_a_2_0_parameter(ark, vendor):
    assert (
        sent_create(ark, vendor, make_request(family="seedance-2.0-fast"))["generate_audio"]
        is False
    )
    assert "generate_audio" not in sent_create(ark, vendor, make_request(family="seedance-1.5-pro"))
    assert check(family="seedance-1.5-pro", audio=True) == [
        "BytePlus ModelArk generates audio only with Seedance 2.0 and 2.0 Fast"
    ]


def test_an_account_sends_its_own_model_or_endpoint_id(vendor):
    ark = BytePlusArkAdapter(
        KEY,
        base_url="https://ark.cn-beijing.volces.com/api/v3",
        client=vendor.client,
        model_ids={"seedance-2.0": "ep-20260130-xyz"},
    )
    vendor.answer(json={"id": "cgt-1"})
    ark.create(make_request())
    assert (
        str(vendor.last.url)
        == "https://ark.cn-beijing.volces.com/api/v3/contents/generations/tasks"
    )
    assert vendor.sent()["model"] == "ep-20260130-xyz"


# --- what it accepts ----------------------------------------------------------------------


def check(**changes):
    return BytePlusArkAdapter(KEY).check(make_request(**changes))


@pytest.mark.parametrize(
    "family, duration, ok",
    [
        ("seedance-2.0", 4, True),
        ("seedance-2.0", 15, True),
        ("seedance-2.0", 16, False),
        ("seedance-2.0", 3, False),
        ("seedance-1.5-pro", 12, True),
        ("seedance-1.5-pro", 13, False),
    ],
)
def test_it_accepts_the_decided_durations(family, duration, ok):
    assert (check(family=family, duration=duration) == []) is ok


@pytest.mark.parametrize("ratio", ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"])
def test_it_accepts_every_documented_ratio(ratio):
    assert check(aspect_ratio=ratio) == []


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "image", "image_urls": []},
        {"mode": "image", "image_urls": [FIRST, LAST]},
        {"mode": "first_last", "image_urls": [FIRST]},
        {"mode": "image", "image_urls": [FIRST], "video_urls": [VIDEO]},
        {"mode": "reference", "audio_urls": [AUDIO]},
        {"mode": "reference", "image_urls": [FIRST] * 10},
        {"mode": "reference", "video_urls": [VIDEO] * 4},
        {"mode": "reference", "image_urls": [FIRST], "audio_urls": [AUDIO] * 4},
        {"family": "seedance-1.5-pro", "mode": "reference", "image_urls": [FIRST]},
        {"mode": "image", "image_urls": ["ftp://x/a.png"]},
    ],
)
def test_it_refuses_media_the_contract_does_not_allow(changes):
    assert check(**changes) != []


def test_it_takes_an_inline_image_but_not_an_inline_video():
    inline = "data:image/png;base64,iVBORw0KGgo="
    assert check(mode="image", image_urls=[inline]) == []
    assert check(mode="reference", video_urls=["data:video/mp4;base64,AAAA"]) != []


# --- reading tasks ------------------------------------------------------------------------


def test_a_succeeded_task_has_its_clip_and_its_tokens_as_the_charge(ark, vendor):
    vendor.answer(
        json=task(
            "succeeded",
            content={"video_url": "https://cdn.example.com/v.mp4"},
            usage={"completion_tokens": 108900, "total_tokens": 108900},
        )
    )
    snapshot = ark.query("cgt-20260130-abc")
    assert str(vendor.last.url) == f"{BASE}/contents/generations/tasks/cgt-20260130-abc"
    assert snapshot.state == TaskState.SUCCEEDED
    assert snapshot.output_urls == ["https://cdn.example.com/v.mp4"]
    assert snapshot.charge_credits == Decimal("108900")


@pytest.mark.parametrize(
    "status, state",
    [
        ("queued", TaskState.QUEUED),
        ("running", TaskState.RUNNING),
        ("cancelled", TaskState.CANCELLED),
        ("expired", TaskState.EXPIRED),
    ],
)
def test_it_reads_every_documented_status(ark, vendor, status, state):
    vendor.answer(json=task(status))
    assert ark.query("cgt-1").state == state


def test_a_failed_task_is_not_charged_and_says_why_in_a_members_words(ark, vendor):
    error = {"code": "OutputVideoSensitiveContentDetected", "message": "may contain sensitive"}
    vendor.answer(json=task("failed", error=error, usage={"completion_tokens": 0}))
    snapshot = ark.query("cgt-1")
    assert snapshot.state == TaskState.FAILED
    assert snapshot.charge_credits is None
    assert snapshot.error_code == "OutputVideoSensitiveContentDetected"
    assert snapshot.error_message == (
        "The finished clip was flagged by ModelArk's safety check (may contain sensitive)"
    )


def test_a_callback_names_the_task_and_its_status(ark):
    hint = ark.parse_callback(b'{"id": "cgt-9", "status": "succeeded", "content": {}}')
    assert (hint.task_id, hint.state) == ("cgt-9", TaskState.SUCCEEDED)


# --- errors -------------------------------------------------------------------------------


def ark_error(code, message="m"):
    return {"error": {"code": code, "message": message, "param": "", "type": "BadRequest"}}


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (400, "InvalidParameter", ErrorKind.BAD_REQUEST),
        (400, "InputTextSensitiveContentDetected", ErrorKind.BAD_REQUEST),
        (401, "AuthenticationError", ErrorKind.AUTH),
        (403, "AccountOverdueError", ErrorKind.NO_CREDIT),
        (404, "InvalidEndpointOrModel.NotFound", ErrorKind.FAULT),
        (429, "RateLimitExceeded.EndpointRPMExceeded", ErrorKind.RATE_LIMITED),
        (429, "QuotaExceeded", ErrorKind.RATE_LIMITED),
        (500, "InternalServiceError", ErrorKind.FAULT),
    ],
)
def test_it_classifies_its_error_codes(ark, vendor, status, code, kind):
    vendor.answer(status, ark_error(code))
    with pytest.raises(VendorError) as caught:
        ark.create(make_request())
    assert caught.value.kind == kind
    assert caught.value.vendor_code == code


def test_a_full_queue_is_a_rate_limit_that_rests_the_account_and_says_so(ark, vendor):
    vendor.answer(429, ark_error("QuotaExceeded", "too many queued"), headers={"Retry-After": "30"})
    with pytest.raises(VendorError) as caught:
        ark.create(make_request())
    assert caught.value.retryable_elsewhere and caught.value.retry_after == 30
    assert "queue is full" in caught.value.message


def test_a_sensitive_prompt_is_explained_in_a_members_words(ark, vendor):
    vendor.answer(400, ark_error("InputTextSensitiveContentDetected", "risk"))
    with pytest.raises(VendorError) as caught:
        ark.create(make_request())
    assert "The prompt was flagged by ModelArk's safety check; reword it" in caught.value.message


# --- cancel -------------------------------------------------------------------------------


def test_a_queued_task_is_cancelled_with_delete(ark, vendor):
    vendor.answer(200, text="")
    snapshot = ark.cancel("cgt-1")
    assert vendor.last.method == "DELETE"
    assert str(vendor.last.url) == f"{BASE}/contents/generations/tasks/cgt-1"
    assert snapshot.state == TaskState.CANCELLED


def test_a_running_task_that_cannot_be_cancelled_is_read_and_runs_on(ark, vendor):
    vendor.answer(400, ark_error("InvalidAction.TaskNotCancellable", "running"))
    vendor.answer(json=task("running"))
    snapshot = ark.cancel("cgt-1")
    assert [r.method for r in vendor.requests] == ["DELETE", "GET"]
    assert snapshot.state == TaskState.RUNNING


def test_test_connection_asks_about_a_task_that_cannot_exist(ark, vendor):
    vendor.answer(404, ark_error("ResourceNotFound"))
    assert ark.test_connection() == "The key works."
    vendor.answer(401, ark_error("AuthenticationError"))
    with pytest.raises(VendorError) as caught:
        ark.test_connection()
    assert caught.value.kind == ErrorKind.AUTH


# --- price --------------------------------------------------------------------------------


def test_a_quote_is_in_tokens_and_a_token_is_priced_per_million():
    rules = default_price_rules("byteplus_ark")
    tokens = quote_credits(make_request(duration=5), rules)
    assert tokens == 108000  # "720p 16:9 at 24 fps for 5 s ≈ 108,000 tokens"
    assert BytePlusArkAdapter.default_credit_value * 1_000_000 == Decimal("5.60")
    assert BytePlusArkAdapter.credit_unit == "tokens"


def test_a_cancel_that_fails_at_modelark_is_an_error_not_a_verdict(ark, vendor):
    vendor.answer(500, ark_error("InternalServiceError"))
    with pytest.raises(VendorError) as caught:
        ark.cancel("cgt-1")
    assert caught.value.kind == ErrorKind.FAULT
    assert len(vendor.requests) == 1


@pytest.mark.parametrize(
    "status, code",
    [
        (400, "InvalidAction.TaskNotCancellable"),
        (403, "OperationDenied.TaskRunning"),
        (409, "Conflict"),
    ],
)
def test_any_4xx_refusing_the_cancel_of_a_running_task_reads_it(ark, vendor, status, code):
    # "a running task cannot be cancelled (a 4xx error body)": not a refused key.
    vendor.answer(status, ark_error(code, "the task is running"))
    vendor.answer(json=task("running"))
    assert ark.cancel("cgt-1").state == TaskState.RUNNING
    assert [r.method for r in vendor.requests] == ["DELETE", "GET"]


@pytest.mark.parametrize("status, kind", [(401, ErrorKind.AUTH), (404, ErrorKind.NOT_FOUND)])
def test_a_refused_key_or_a_missing_task_on_cancel_is_an_error(ark, vendor, status, kind):
    vendor.answer(status, ark_error("AuthenticationError" if status == 401 else "ResourceNotFound"))
    with pytest.raises(VendorError) as caught:
        ark.cancel("cgt-1")
    assert caught.value.kind == kind
    assert len(vendor.requests) == 1
