"""Kinovi, from docs/vendors/kinovi.md."""

import json
from decimal import Decimal

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest, default_price_rules
from generations.vendors.kinovi import KinoviAdapter
from generations.vendors.pricing import quote_credits

KEY = "sk-live-SECRET-0123456789abcdef"
RULES = default_price_rules("kinovi")


def make_request(**changes):
    fields = {"family": "seedance-2.0", "prompt": "A lighthouse in a storm"} | changes
    return VideoRequest(**fields)


@pytest.fixture
def kinovi(vendor):
    return KinoviAdapter(KEY, client=vendor.client)


# --- check() --------------------------------------------------------------------------


@pytest.mark.parametrize("duration", range(4, 16))
def test_it_accepts_every_duration_from_4_to_15_seconds(duration):
    assert KinoviAdapter(KEY).check(make_request(duration=duration)) == []


@pytest.mark.parametrize("duration", [0, 3, 16, 30, "5", True])
def test_it_refuses_durations_outside_4_to_15_seconds(duration):
    assert KinoviAdapter(KEY).check(make_request(duration=duration)) == [
        f"Kinovi accepts 4 to 15 seconds for Seedance 2.0, not {duration!r}"
    ]


@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "3:4", "4:3", "21:9"])
def test_it_accepts_the_documented_aspect_ratios(ratio):
    assert KinoviAdapter(KEY).check(make_request(aspect_ratio=ratio)) == []


@pytest.mark.parametrize("ratio", ["adaptive", "2:1", ""])
def test_it_refuses_other_aspect_ratios(ratio):
    [problem] = KinoviAdapter(KEY).check(make_request(aspect_ratio=ratio))
    assert problem.startswith("Kinovi accepts aspect ratios 16:9, 9:16, 1:1, 3:4, 4:3 or 21:9")


@pytest.mark.parametrize(
    "resolution, ok", [("720p", True), ("480p", True), ("1080p", False), ("4k", False)]
)
def test_it_accepts_720p_and_480p_output(resolution, ok):
    problems = KinoviAdapter(KEY).check(make_request(resolution=resolution))
    assert (problems == []) is ok
    if not ok:
        assert problems == [
            f"Kinovi accepts resolutions 720p or 480p for Seedance 2.0, not {resolution}"
        ]


@pytest.mark.parametrize(
    "family, ok",
    [
        ("seedance-2.0", True),
        ("seedance-2.0-fast", True),
        ("seedance-2.0-mini", False),
        ("seedance-1.5-pro", False),
    ],
)
def test_it_offers_pro_and_fast_only(family, ok):
    assert (KinoviAdapter(KEY).check(make_request(family=family)) == []) is ok


def test_it_accepts_a_prompt_of_4000_characters_but_not_4001():
    assert KinoviAdapter(KEY).check(make_request(prompt="x" * 4000)) == []
    assert KinoviAdapter(KEY).check(make_request(prompt="x" * 4001)) == [
        "Kinovi accepts prompts of at most 4000 characters; this one has 4001"
    ]


@pytest.mark.parametrize("mode", ["image", "reference"])
def test_it_offers_text_to_video_only_because_no_media_field_is_documented(mode):
    problems = KinoviAdapter(KEY).check(make_request(mode=mode, image_urls=["https://x/a.png"]))
    assert problems == ["Kinovi offers Seedance 2.0 only as text-to-video"]


def test_it_has_no_audio_switch():
    assert KinoviAdapter(KEY).check(make_request(audio=True)) == [
        "Kinovi has no setting for generated audio; turn audio off"
    ]


def test_it_accepts_4k_upscaling():
    assert KinoviAdapter(KEY).check(make_request(upscale_4k=True)) == []


# --- create ----------------------------------------------------------------------


def test_it_nests_the_parameters_under_inputs(kinovi, vendor):
    vendor.answer(json={"taskId": "task_abc"})
    created = kinovi.create(
        make_request(duration=8, aspect_ratio="9:16", resolution="480p"),
        callback_url="https://studio.example.com/hooks/k1",
    )
    assert vendor.last.method == "POST"
    assert str(vendor.last.url) == "https://kinovi.ai/api/v1/jobs/createTask"
    assert vendor.sent() == {
        "model": "seedance-20",
        "callBackUrl": "https://studio.example.com/hooks/k1",
        "inputs": {
            "prompt": "A lighthouse in a storm",
            "duration": "8",
            "aspectRatio": "9:16",
            "outputResolution": "480p",
        },
    }
    assert created.task_id == "task_abc"
    assert created.charge_credits is None
    assert created.raw == {"taskId": "task_abc"}


def test_it_sends_duration_as_a_string(kinovi, vendor):
    vendor.answer(json={"taskId": "t"})
    kinovi.create(make_request(duration=15))
    assert vendor.sent()["inputs"]["duration"] == "15"


def test_it_names_the_fast_model_seedance2_fast_and_leaves_out_a_missing_callback(kinovi, vendor):
    vendor.answer(json={"taskId": "t"})
    kinovi.create(make_request(family="seedance-2.0-fast"))
    assert vendor.sent() == {
        "model": "seedance2-fast",
        "inputs": {
            "prompt": "A lighthouse in a storm",
            "duration": "5",
            "aspectRatio": "16:9",
            "outputResolution": "720p",
        },
    }


def test_it_asks_for_4k_upscaling_with_upscale_resolution(kinovi, vendor):
    vendor.answer(json={"taskId": "t"})
    kinovi.create(make_request(upscale_4k=True))
    assert vendor.sent()["inputs"]["upscaleResolution"] == "4k"


def test_it_reads_a_task_id_from_a_wrapped_answer(kinovi, vendor):
    vendor.answer(json={"code": 200, "message": "success", "data": {"taskId": "task_wrapped"}})
    assert kinovi.create(make_request()).task_id == "task_wrapped"


def test_it_passes_a_local_callback_url_for_the_sandbox(kinovi, vendor):
    vendor.answer(json={"taskId": "t"})
    kinovi.create(make_request(), callback_url="http://localhost:8000/hooks/x")
    assert vendor.sent()["callBackUrl"] == "http://localhost:8000/hooks/x"


# --- query -------------------------------------------------------------------------


def record(**changes):
    return {
        "taskId": "task_abc",
        "model": "seedance-20",
        "status": "waiting",
        "creditsUsed": None,
        "output": [],
        "error": None,
        "createTime": 1757584164490,
        "completeTime": None,
    } | changes


@pytest.mark.parametrize(
    "status, state",
    [
        ("waiting", TaskState.QUEUED),
        ("generating", TaskState.RUNNING),
        ("success", TaskState.SUCCEEDED),
        ("fail", TaskState.FAILED),
    ],
)
def test_it_reads_every_documented_status(kinovi, vendor, status, state):
    vendor.answer(json=record(status=status))
    assert kinovi.query("task_abc").state == state
    assert str(vendor.last.url) == "https://kinovi.ai/api/v1/jobs/recordInfo?taskId=task_abc"
    assert vendor.last.method == "GET"


def test_it_reads_the_video_url_and_the_credits_used(kinovi, vendor):
    body = record(
        status="success",
        creditsUsed=200,
        output=[
            {
                "url": "https://cdn.kinovi.ai/v.mp4",
                "width": 1280,
                "height": 720,
                "mediaType": "video",
            }
        ],
    )
    vendor.answer(json=body)
    snapshot = kinovi.query("task_abc")
    assert snapshot.output_urls == ["https://cdn.kinovi.ai/v.mp4"]
    assert snapshot.charge_credits == Decimal("200")
    assert snapshot.progress is None
    assert snapshot.raw == body


def test_it_reads_the_error_of_a_failed_task(kinovi, vendor):
    vendor.answer(
        json=record(
            status="fail", error={"code": "CONTENT_BLOCKED", "message": "Prompt was blocked"}
        )
    )
    snapshot = kinovi.query("task_abc")
    assert (snapshot.state, snapshot.error_code, snapshot.error_message) == (
        TaskState.FAILED,
        "CONTENT_BLOCKED",
        "Prompt was blocked",
    )


def test_it_reads_a_wrapped_answer_that_says_state(kinovi, vendor):
    task = record(status=None) | {"state": "success", "output": [{"url": "https://cdn/v.mp4"}]}
    vendor.answer(json={"code": 200, "message": "success", "data": task})
    snapshot = kinovi.query("task_abc")
    assert snapshot.state == TaskState.SUCCEEDED
    assert snapshot.output_urls == ["https://cdn/v.mp4"]


@pytest.mark.parametrize(
    "status, kind",
    [
        (400, ErrorKind.BAD_REQUEST),
        (401, ErrorKind.AUTH),
        (402, ErrorKind.NO_CREDIT),
        (429, ErrorKind.RATE_LIMITED),
        (500, ErrorKind.FAULT),
    ],
)
def test_it_classifies_each_documented_http_error(kinovi, vendor, status, kind, caplog):
    vendor.answer(status, {"message": "documented cause"})
    with pytest.raises(VendorError) as caught:
        kinovi.create(make_request())
    assert caught.value.kind == kind
    assert caught.value.status_code == status
    assert "documented cause" in caught.value.message
    assert KEY not in str(caught.value) and KEY not in caplog.text


def test_it_reads_an_error_code_inside_a_200_envelope(kinovi, vendor):
    vendor.answer(json={"code": 402, "message": "Insufficient credits", "data": None})
    with pytest.raises(VendorError) as caught:
        kinovi.create(make_request())
    assert caught.value.kind == ErrorKind.NO_CREDIT


def test_it_does_not_cancel(kinovi):
    assert KinoviAdapter.supports_cancel is False
    with pytest.raises(VendorError) as caught:
        kinovi.cancel("task_abc")
    assert caught.value.kind == ErrorKind.BAD_REQUEST
    assert "does not support cancelling" in caught.value.message


# --- callbacks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, state",
    [
        (record(status="success"), TaskState.SUCCEEDED),
        ({"code": 200, "message": "ok", "data": record(status="fail")}, TaskState.FAILED),
        (
            {"code": 200, "message": "ok", "data": record(status=None) | {"state": "success"}},
            TaskState.SUCCEEDED,
        ),
        (record(status="exploded"), None),
    ],
)
def test_it_reads_a_callback_flat_or_wrapped(body, state):
    hint = KinoviAdapter(KEY).parse_callback(json.dumps(body).encode())
    assert (hint.task_id, hint.state) == ("task_abc", state)


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://studio.example.com/h", True),
        ("http://localhost:8000/h", True),
        ("ftp://x/h", False),
        ("", False),
    ],
)
def test_it_takes_any_http_callback_url(url, ok):
    assert KinoviAdapter(KEY).accepts_callback_url(url) is ok


# --- quotes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, credits",
    [
        ({}, 200),  # "A 5-second 720P video costs 200 credits ($1.00) with Pro"
        ({"family": "seedance-2.0-fast"}, 140),
        ({"resolution": "480p"}, 100),
        ({"family": "seedance-2.0-fast", "resolution": "480p"}, 70),
        ({"duration": 15}, 600),
        ({"upscale_4k": True}, 340),  # "4K upscale: adds 28 credits/sec"
        (
            {
                "family": "seedance-2.0-fast",
                "resolution": "480p",
                "upscale_4k": True,
                "duration": 10,
            },
            420,
        ),
    ],
)
def test_it_quotes_the_published_prices(changes, credits):
    assert quote_credits(make_request(**changes), RULES) == Decimal(credits)
