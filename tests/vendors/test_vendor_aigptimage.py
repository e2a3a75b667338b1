"""AIGPTImage, from docs/vendors/aigptimage.md."""

import json
from decimal import Decimal

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest, default_price_rules
from generations.vendors.aigptimage import AigptimageAdapter
from generations.vendors.pricing import quote_credits

KEY = "sk-live-SECRET-0123456789abcdef"
RULES = default_price_rules("aigptimage")
PROMPT = "A slow dolly shot through a futuristic botanical lab with soft volumetric light"


def make_request(**changes):
    return VideoRequest(**({"family": "seedance-2.0", "prompt": PROMPT} | changes))


def check(**changes):
    return AigptimageAdapter(KEY).check(make_request(**changes))


@pytest.fixture
def aigpt(vendor):
    return AigptimageAdapter(KEY, client=vendor.client)


def record(state, **changes):
    return {
        "code": 200,
        "msg": "success",
        "data": {
            "taskId": "task_xxxxxxxxxxxxx",
            "model": "seedance-2.0-text-to-video",
            "state": state,
            "param": json.dumps(
                {"model": "seedance-2.0-text-to-video", "input": {"prompt": PROMPT}}
            ),
            "resultJson": None,
            "failCode": None,
            "failMsg": None,
            "costTime": None,
            "completeTime": None,
            "createTime": 1757584164490,
        }
        | changes,
    }


# --- check() --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "family, ok",
    [
        ("seedance-2.0", True),
        ("seedance-2.0-fast", False),
        ("seedance-2.0-mini", False),
        ("seedance-1.5-pro", False),
    ],
)
def test_it_offers_only_seedance_2_0(family, ok):
    assert (check(family=family) == []) is ok


@pytest.mark.parametrize(
    "ratio, ok", [("16:9", True), ("9:16", True), ("1:1", True), ("4:3", False), ("21:9", False)]
)
def test_it_accepts_the_common_ratios(ratio, ok):
    assert (check(aspect_ratio=ratio) == []) is ok


@pytest.mark.parametrize(
    "resolution, ok", [("480p", True), ("720p", True), ("1080p", True), ("4k", False)]
)
def test_it_accepts_480p_720p_and_1080p(resolution, ok):
    assert (check(resolution=resolution) == []) is ok


@pytest.mark.parametrize(
    "duration, ok", [(3, False), (4, True), (10, True), (15, True), (16, False)]
)
def test_it_accepts_4_to_15_seconds(duration, ok):
    assert (check(duration=duration) == []) is ok


def test_it_accepts_a_prompt_of_20000_characters_but_not_20001():
    assert check(prompt="x" * 20000) == []
    assert check(prompt="x" * 20001) == [
        "AIGPTImage accepts prompts of at most 20000 characters; this one has 20001"
    ]


def test_it_offers_text_to_video_only():
    assert check(mode="image", image_urls=["https://x/a.jpg"]) == [
        "AIGPTImage offers Seedance 2.0 only as text-to-video"
    ]


def test_it_has_an_audio_switch_but_no_upscale():
    assert check(audio=True) == []
    assert check(upscale_4k=True) == ["AIGPTImage cannot upscale to 4K"]


# --- create ----------------------------------------------------------------------


def test_it_sends_the_documented_body_with_ratio_only(aigpt, vendor):
    vendor.answer(json={"code": 200, "msg": "success", "data": {"taskId": "task_xxxxxxxxxxxxx"}})
    created = aigpt.create(make_request())
    assert str(vendor.last.url) == "https://aigptimage.com/api/v1/jobs/createTask"
    assert vendor.sent() == {
        "model": "seedance-2.0-text-to-video",
        "input": {
            "prompt": PROMPT,
            "ratio": "16:9",
            "resolution": "720p",
            "duration": 5,
            "generate_audio": False,
        },
    }
    assert created.task_id == "task_xxxxxxxxxxxxx"
    assert created.charge_credits is None


def test_it_sends_duration_as_a_number_and_audio_as_a_boolean(aigpt, vendor):
    vendor.answer(json={"code": 200, "msg": "success", "data": {"taskId": "t"}})
    aigpt.create(make_request(duration=12, audio=True, resolution="1080p", aspect_ratio="9:16"))
    sent = vendor.sent()["input"]
    assert sent["duration"] == 12 and isinstance(sent["duration"], int)
    assert sent["generate_audio"] is True
    assert (sent["ratio"], sent["resolution"]) == ("9:16", "1080p")


def test_it_never_sends_a_callback(aigpt, vendor):
    vendor.answer(json={"code": 200, "msg": "success", "data": {"taskId": "t"}})
    aigpt.create(make_request(), callback_url="https://studio.example.com/hooks/a1")
    assert "studio.example.com" not in vendor.last.content.decode()
    assert AigptimageAdapter.supports_callback is False
    assert aigpt.accepts_callback_url("https://studio.example.com/hooks/a1") is False


def test_it_reads_a_task_id_spelled_task_id(aigpt, vendor):
    vendor.answer(json={"code": 200, "msg": "success", "data": {"task_id": "task_variant"}})
    assert aigpt.create(make_request()).task_id == "task_variant"


# --- query --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, expected",
    [
        ("waiting", TaskState.QUEUED),
        ("queuing", TaskState.QUEUED),
        ("generating", TaskState.RUNNING),
        ("success", TaskState.SUCCEEDED),
        ("fail", TaskState.FAILED),
    ],
)
def test_it_reads_every_documented_state_and_variant(aigpt, vendor, state, expected):
    vendor.answer(json=record(state))
    assert aigpt.query("task_xxxxxxxxxxxxx").state == expected
    assert (
        str(vendor.last.url)
        == "https://aigptimage.com/api/v1/jobs/recordInfo?taskId=task_xxxxxxxxxxxxx"
    )


def test_it_reads_the_video_url_from_the_result_json_string(aigpt, vendor):
    result = json.dumps({"resultUrls": ["https://your-cdn.example.com/result-1.mp4"]})
    vendor.answer(json=record("success", resultJson=result, costTime=84000))
    snapshot = aigpt.query("task_xxxxxxxxxxxxx")
    assert snapshot.output_urls == ["https://your-cdn.example.com/result-1.mp4"]
    assert snapshot.charge_credits is None  # costTime is milliseconds, not money


def test_it_reads_the_failure_code_and_message(aigpt, vendor):
    vendor.answer(json=record("fail", failCode="500", failMsg="Generation failed"))
    snapshot = aigpt.query("task_xxxxxxxxxxxxx")
    assert (snapshot.error_code, snapshot.error_message) == ("500", "Generation failed")


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, kind",
    [
        (400, ErrorKind.BAD_REQUEST),
        (401, ErrorKind.AUTH),
        (402, ErrorKind.NO_CREDIT),
        (409, ErrorKind.RATE_LIMITED),  # "Active task limit exceeded"
        (422, ErrorKind.BAD_REQUEST),
        (429, ErrorKind.RATE_LIMITED),
        (500, ErrorKind.FAULT),
    ],
)
@pytest.mark.parametrize("in_envelope", [False, True])
def test_it_classifies_each_documented_status(aigpt, vendor, status, kind, in_envelope, caplog):
    body = {"code": status, "msg": "Explained", "data": None}
    vendor.answer(200 if in_envelope else status, body)
    with pytest.raises(VendorError) as caught:
        aigpt.create(make_request())
    assert caught.value.kind == kind
    assert caught.value.status_code == status
    assert "AIGPTImage" in caught.value.message and "Explained" in caught.value.message
    assert KEY not in str(caught.value) and KEY not in caplog.text


def test_a_missing_task_is_not_found(aigpt, vendor):
    vendor.answer(404, {"code": 404, "msg": "Task not found"})
    with pytest.raises(VendorError) as caught:
        aigpt.query("task_missing")
    assert caught.value.kind == ErrorKind.NOT_FOUND


# --- callbacks and quotes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        record("success"),
        {"code": 200, "msg": "ok", "data": {"task_id": "task_xxxxxxxxxxxxx", "state": "success"}},
    ],
)
def test_it_reads_a_kie_style_callback_even_though_none_is_documented(body):
    hint = AigptimageAdapter(KEY).parse_callback(json.dumps(body).encode())
    assert (hint.task_id, hint.state) == ("task_xxxxxxxxxxxxx", TaskState.SUCCEEDED)


@pytest.mark.parametrize("resolution, credits", [("480p", 100), ("720p", 200), ("1080p", 400)])
def test_it_quotes_the_published_per_second_rates(resolution, credits):
    assert quote_credits(make_request(resolution=resolution), RULES) == Decimal(credits)
