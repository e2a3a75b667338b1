"""SeedanceAPI.org, from docs/vendors/seedanceapi_org.md."""

import json
from decimal import Decimal

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest, default_price_rules
from generations.vendors.pricing import quote_credits
from generations.vendors.seedanceapi_org import SeedanceApiOrgAdapter

KEY = "sk-live-SECRET-0123456789abcdef"
RULES = default_price_rules("seedanceapi_org")
PROMPT = "A slow dolly shot through a neon-lit street in the rain"


def make_request(**changes):
    return VideoRequest(**({"family": "seedance-2.0", "prompt": PROMPT} | changes))


def mini(**changes):
    return make_request(**({"family": "seedance-2.0-mini"} | changes))


def check(request):
    return SeedanceApiOrgAdapter(KEY).check(request)


@pytest.fixture
def org(vendor):
    return SeedanceApiOrgAdapter(KEY, client=vendor.client)


def envelope(**data):
    return {"code": 200, "message": "success", "data": data}


# --- check() --------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["seedance-2.0", "seedance-2.0-fast"])
@pytest.mark.parametrize(
    "duration, ok", [(5, True), (10, True), (15, True), (4, False), (7, False), (12, False)]
)
def test_it_accepts_5_10_or_15_seconds_for_2_0_and_fast(family, duration, ok):
    problems = check(make_request(family=family, duration=duration))
    label = "Seedance 2.0" if family == "seedance-2.0" else "Seedance 2.0 Fast"
    assert problems == (
        [] if ok else [f"SeedanceAPI.org accepts 5, 10 or 15 seconds for {label}, not {duration}"]
    )


@pytest.mark.parametrize(
    "duration, ok", [(3, False), (4, True), (8, True), (15, True), (16, False)]
)
def test_it_accepts_any_whole_second_from_4_to_15_for_mini(duration, ok):
    assert (check(mini(duration=duration)) == []) is ok


@pytest.mark.parametrize(
    "ratio, standard, for_mini",
    [
        ("16:9", True, True),
        ("9:16", True, True),
        ("4:3", True, True),
        ("3:4", True, True),
        ("1:1", False, True),
        ("21:9", False, True),
        ("adaptive", False, True),
        ("2:1", False, False),
    ],
)
def test_it_allows_aspect_ratios_per_model(ratio, standard, for_mini):
    assert (check(make_request(aspect_ratio=ratio)) == []) is standard
    assert (check(make_request(family="seedance-2.0-fast", aspect_ratio=ratio)) == []) is standard
    assert (check(mini(aspect_ratio=ratio)) == []) is for_mini


@pytest.mark.parametrize(
    "resolution, ok", [("480p", True), ("720p", True), ("1080p", True), ("2k", False)]
)
def test_it_accepts_480p_720p_and_1080p_for_every_model(resolution, ok):
    assert (check(make_request(resolution=resolution)) == []) is ok
    assert (check(mini(resolution=resolution)) == []) is ok


def test_it_does_not_offer_1_5_pro():
    assert check(make_request(family="seedance-1.5-pro"))[0].startswith(
        "SeedanceAPI.org does not offer Seedance 1.5 Pro"
    )


def test_it_accepts_a_prompt_of_2000_characters_but_not_2001():
    assert check(make_request(prompt="x" * 2000)) == []
    assert check(make_request(prompt="x" * 2001)) == [
        "SeedanceAPI.org accepts prompts of at most 2000 characters; this one has 2001"
    ]


@pytest.mark.parametrize("count, ok", [(0, False), (1, True), (2, False)])
def test_it_takes_one_first_frame_for_image_to_video(count, ok):
    images = [f"https://example.com/{n}.jpg" for n in range(count)]
    problems = check(make_request(mode="image", image_urls=images))
    assert (problems == []) is ok
    if not ok:
        assert problems == [f"SeedanceAPI.org accepts 1 image for image-to-video, not {count}"]


def test_it_needs_http_image_urls():
    assert check(make_request(mode="image", image_urls=["data:image/png;base64,xx"])) == [
        "SeedanceAPI.org needs http(s) URLs for images, not 'data:image/png;base64,xx'"
    ]


def test_it_ignores_the_aspect_ratio_for_image_to_video():
    assert (
        check(make_request(mode="image", image_urls=["https://x/a.jpg"], aspect_ratio="21:9")) == []
    )


def test_reference_video_and_audio_are_for_mini_only():
    assert check(make_request(mode="reference", video_urls=["https://x/a.mp4"])) == [
        "SeedanceAPI.org offers Seedance 2.0 only as text-to-video or image-to-video"
    ]
    assert (
        check(
            mini(mode="reference", video_urls=["https://x/a.mp4"], audio_urls=["https://x/a.mp3"])
        )
        == []
    )


def test_reference_to_video_needs_a_reference():
    assert check(mini(mode="reference")) == [
        "SeedanceAPI.org needs at least one reference file for reference-to-video"
    ]


def test_it_has_no_audio_switch():
    assert check(make_request(audio=True)) == [
        "SeedanceAPI.org has no setting for generated audio; turn audio off"
    ]


# --- create ----------------------------------------------------------------------


def test_it_sends_the_documented_text_to_video_body(org, vendor):
    vendor.answer(
        json=envelope(task_id="n90a1b2c3d4e5f6sd20", status="IN_PROGRESS", consumed_credits=480)
    )
    created = org.create(
        make_request(duration=10), callback_url="https://studio.example.com/hooks/o1"
    )
    assert str(vendor.last.url) == "https://seedanceapi.org/v2/generate"
    assert vendor.sent() == {
        "prompt": PROMPT,
        "model": "seedance-2.0",
        "duration": 10,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "callback_url": "https://studio.example.com/hooks/o1",
    }
    assert created.task_id == "n90a1b2c3d4e5f6sd20"
    assert created.charge_credits == Decimal(480)


def test_it_sends_images_without_an_aspect_ratio_for_image_to_video(org, vendor):
    vendor.answer(json=envelope(task_id="t", status="IN_PROGRESS"))
    org.create(make_request(mode="image", image_urls=["https://example.com/reference.jpg"]))
    assert vendor.sent() == {
        "prompt": PROMPT,
        "model": "seedance-2.0",
        "duration": 5,
        "resolution": "720p",
        "images": ["https://example.com/reference.jpg"],
    }


def test_it_sends_mini_1080p_as_720p(org, vendor):
    vendor.answer(json=envelope(task_id="t", status="IN_PROGRESS"))
    org.create(mini(duration=8, aspect_ratio="1:1", resolution="1080p"))
    assert vendor.sent() == {
        "prompt": PROMPT,
        "model": "seedance-2-mini",
        "duration": 8,
        "resolution": "720p",
        "aspect_ratio": "1:1",
    }


def test_it_sends_mini_reference_video_and_audio(org, vendor):
    vendor.answer(json=envelope(task_id="t", status="IN_PROGRESS"))
    org.create(
        mini(mode="reference", video_urls=["https://x/a.mp4"], audio_urls=["https://x/a.mp3"])
    )
    sent = vendor.sent()
    assert sent["reference_video_urls"] == ["https://x/a.mp4"]
    assert sent["reference_audio_urls"] == ["https://x/a.mp3"]
    assert "images" not in sent


def test_it_sends_no_callback_to_localhost(org, vendor):
    vendor.answer(json=envelope(task_id="t", status="IN_PROGRESS"))
    org.create(make_request(), callback_url="http://localhost:8000/hooks/x")
    assert "callback_url" not in vendor.sent()


@pytest.mark.parametrize(
    "url, ok",
    [
        ("https://studio.example.com/h", True),
        ("http://studio.example.com/h", True),
        ("http://localhost:8000/h", False),
        ("http://127.0.0.1/h", False),
        ("http://[::1]/h", False),
        ("http://192.168.0.10/h", False),
    ],
)
def test_it_takes_public_callback_urls_only(url, ok):
    assert SeedanceApiOrgAdapter(KEY).accepts_callback_url(url) is ok


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (400, "INVALID_PROMPT", ErrorKind.BAD_REQUEST),
        (400, "INVALID_ASPECT_RATIO", ErrorKind.BAD_REQUEST),
        (400, "INVALID_DURATION", ErrorKind.BAD_REQUEST),
        (400, "TOO_MANY_IMAGES", ErrorKind.BAD_REQUEST),
        (401, "INVALID_API_KEY", ErrorKind.AUTH),
        (402, "INSUFFICIENT_CREDITS", ErrorKind.NO_CREDIT),
        (404, "TASK_NOT_FOUND", ErrorKind.NOT_FOUND),
        (500, "INTERNAL_ERROR", ErrorKind.FAULT),
    ],
)
@pytest.mark.parametrize(
    "shape",
    [
        lambda status, code: {"code": status, "message": "Explained", "error": code},
        lambda status, code: {"code": code, "message": "Explained"},
        lambda status, code: {"error": {"code": code, "message": "Explained"}},
    ],
)
def test_it_classifies_each_documented_error_code(org, vendor, status, code, kind, shape, caplog):
    vendor.answer(status, shape(status, code))
    with pytest.raises(VendorError) as caught:
        org.query("n90a1b2c3d4e5f6sd20")
    assert caught.value.kind == kind
    assert caught.value.vendor_code == code
    assert caught.value.status_code == status
    assert "Explained" in caught.value.message
    assert KEY not in str(caught.value) and KEY not in caplog.text


def test_it_reads_an_error_inside_an_http_200_envelope(org, vendor):
    vendor.answer(200, {"code": 402, "message": "Not enough credits", "data": None})
    with pytest.raises(VendorError) as caught:
        org.create(make_request())
    assert caught.value.kind == ErrorKind.NO_CREDIT
    assert caught.value.status_code == 402


def test_a_code_the_document_does_not_list_falls_back_to_the_status(org, vendor):
    vendor.answer(429, {"code": "SLOW_DOWN", "message": "Busy"})
    with pytest.raises(VendorError) as caught:
        org.create(make_request())
    assert caught.value.kind == ErrorKind.RATE_LIMITED


# --- query --------------------------------------------------------------------------


def status_answer(status, **changes):
    return envelope(
        **(
            {
                "task_id": "n90a1b2c3d4e5f6sd20",
                "status": status,
                "consumed_credits": 480,
                "created_at": "2026-04-03T10:30:00Z",
                "request": {"prompt": "A slow dolly shot…", "aspect_ratio": "16:9", "duration": 10},
                "response": None,
                "error_message": None,
            }
            | changes
        )
    )


@pytest.mark.parametrize(
    "status, state",
    [
        ("IN_PROGRESS", TaskState.RUNNING),
        ("SUCCESS", TaskState.SUCCEEDED),
        ("FAILED", TaskState.FAILED),
    ],
)
def test_it_reads_every_documented_status(org, vendor, status, state):
    vendor.answer(json=status_answer(status))
    snapshot = org.query("n90a1b2c3d4e5f6sd20")
    assert snapshot.state == state
    assert snapshot.charge_credits == Decimal(480)
    assert str(vendor.last.url) == "https://seedanceapi.org/v2/status?task_id=n90a1b2c3d4e5f6sd20"


@pytest.mark.parametrize(
    "response",
    [
        ["https://cdn.example.com/videos/n90a1b2c3d4e5f6sd20.mp4"],
        json.dumps(["https://cdn.example.com/videos/n90a1b2c3d4e5f6sd20.mp4"]),
        "https://cdn.example.com/videos/n90a1b2c3d4e5f6sd20.mp4",
    ],
)
def test_it_reads_the_video_url_from_a_list_or_a_json_string(org, vendor, response):
    vendor.answer(json=status_answer("SUCCESS", response=response))
    assert org.query("n90a1b2c3d4e5f6sd20").output_urls == [
        "https://cdn.example.com/videos/n90a1b2c3d4e5f6sd20.mp4"
    ]


def test_it_reads_the_error_message_of_a_failed_task(org, vendor):
    vendor.answer(json=status_answer("FAILED", error_message="Upstream moderation"))
    assert org.query("n90a1b2c3d4e5f6sd20").error_message == "Upstream moderation"


def test_a_status_the_document_does_not_list_is_a_fault(org, vendor):
    vendor.answer(json=status_answer("PENDING"))
    with pytest.raises(VendorError) as caught:
        org.query("n90a1b2c3d4e5f6sd20")
    assert caught.value.kind == ErrorKind.FAULT
    assert "'PENDING'" in caught.value.message


# --- callbacks and quotes -------------------------------------------------------------


@pytest.mark.parametrize(
    "body, state",
    [
        (status_answer("SUCCESS", response=json.dumps(["https://cdn/x.mp4"])), TaskState.SUCCEEDED),
        (status_answer("FAILED")["data"], TaskState.FAILED),
    ],
)
def test_it_reads_a_callback_shaped_like_the_status_answer(body, state):
    hint = SeedanceApiOrgAdapter(KEY).parse_callback(json.dumps(body).encode())
    assert (hint.task_id, hint.state) == ("n90a1b2c3d4e5f6sd20", state)


@pytest.mark.parametrize(
    "request_, credits",
    [
        (make_request(duration=5), 240),
        (make_request(duration=10), 480),
        (make_request(duration=15, resolution="1080p"), 720),
        (make_request(family="seedance-2.0-fast", duration=5), 160),
        (make_request(family="seedance-2.0-fast", duration=10), 320),
        (make_request(family="seedance-2.0-fast", duration=15), 480),
        (mini(duration=7, resolution="480p"), 100),  # ceil(14.25 × 7) = ceil(99.75)
        (mini(duration=4, resolution="480p"), 57),
        (mini(duration=7, resolution="720p"), 216),  # ceil(30.75 × 7) = ceil(215.25)
        (mini(duration=8, resolution="720p"), 246),
        (mini(duration=7, resolution="1080p"), 216),  # "billed ... as 720p for Mini"
        (
            mini(duration=7, resolution="480p", mode="reference", video_urls=["https://x/v.mp4"]),
            63,
        ),  # 9 × 7
        (
            mini(duration=7, resolution="720p", mode="reference", video_urls=["https://x/v.mp4"]),
            132,
        ),
        (
            mini(duration=7, resolution="720p", mode="reference", audio_urls=["https://x/a.mp3"]),
            216,
        ),
    ],
)
def test_it_quotes_the_published_prices(request_, credits):
    assert quote_credits(request_, RULES) == Decimal(credits)
