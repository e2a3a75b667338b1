"""Seedance2.ink, from docs/vendors/seedance2_ink.md (which covers its Image to Video page)."""

import json
from decimal import Decimal

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest, default_price_rules
from generations.vendors.pricing import quote_credits
from generations.vendors.seedance2_ink import Seedance2InkAdapter

KEY = "sd2_live_SECRET_0123456789abcdef"
RULES = default_price_rules("seedance2_ink")
PROMPT = "A river flowing through an autumn forest, aerial view, cinematic motion"
BASE = "https://www.seedance2.ink/api/open/v1/video/generations"


def make_request(**changes):
    return VideoRequest(**({"family": "seedance-2.0", "prompt": PROMPT} | changes))


@pytest.fixture
def ink(vendor):
    return Seedance2InkAdapter(KEY, client=vendor.client)


def check(**changes):
    return Seedance2InkAdapter(KEY).check(make_request(**changes))


# --- check() --------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["seedance-2.0", "seedance-2.0-fast"])
@pytest.mark.parametrize("duration", range(4, 16))
def test_it_accepts_4_to_15_seconds_for_2_0_and_fast(family, duration):
    assert check(family=family, duration=duration) == []


@pytest.mark.parametrize("duration", [3, 16])
def test_it_refuses_durations_outside_4_to_15_for_2_0(duration):
    assert check(duration=duration) == [
        f"Seedance2.ink accepts 4 to 15 seconds for Seedance 2.0, not {duration}"
    ]


@pytest.mark.parametrize(
    "duration, ok", [(5, True), (10, True), (4, False), (6, False), (15, False)]
)
def test_it_accepts_only_5_or_10_seconds_for_1_5_pro(duration, ok):
    problems = check(family="seedance-1.5-pro", duration=duration)
    assert problems == (
        []
        if ok
        else [f"Seedance2.ink accepts 5 or 10 seconds for Seedance 1.5 Pro, not {duration}"]
    )


@pytest.mark.parametrize(
    "ratio, ok", [("16:9", True), ("9:16", True), ("1:1", True), ("4:3", False), ("21:9", False)]
)
def test_it_accepts_three_aspect_ratios(ratio, ok):
    assert (check(aspect_ratio=ratio) == []) is ok


@pytest.mark.parametrize(
    "resolution, ok", [("480p", True), ("720p", True), ("1080p", True), ("4k", False)]
)
def test_it_accepts_480p_720p_and_1080p(resolution, ok):
    assert (check(resolution=resolution) == []) is ok


def test_it_does_not_offer_mini():
    assert check(family="seedance-2.0-mini") == [
        "Seedance2.ink does not offer Seedance 2.0 Mini; it offers Seedance 2.0, Seedance 2.0 Fast or Seedance 1.5 Pro"
    ]


def test_it_states_no_prompt_limit():
    assert check(prompt="x" * 50_000) == []


@pytest.mark.parametrize(
    "mode, count, ok",
    [
        ("image", 0, False),
        ("image", 1, True),
        ("image", 2, False),
        ("first_last", 2, True),
        ("first_last", 3, False),
        ("reference", 3, True),
        ("reference", 5, True),
        ("reference", 6, False),
    ],
)
def test_it_counts_images_per_mode(mode, count, ok):
    urls = [f"https://cdn.example.com/{n}.jpg" for n in range(count)]
    assert (check(mode=mode, image_urls=urls) == []) is ok


@pytest.mark.parametrize("count", [1, 2])
def test_it_refuses_references_it_would_read_as_frames(count):
    urls = [f"https://cdn.example.com/{n}.jpg" for n in range(count)]
    assert check(mode="reference", image_urls=urls) == [
        "Seedance2.ink reads one or two images alone as first and last frames; add a third "
        "image, a video or an audio clip for reference-to-video"
    ]


def test_it_counts_all_reference_media_against_the_five():
    problems = check(
        mode="reference",
        image_urls=["https://x/1.jpg", "https://x/2.jpg"],
        video_urls=["https://x/1.mp4", "https://x/2.mp4"],
        audio_urls=["https://x/1.mp3", "https://x/2.mp3"],
    )
    assert problems == [
        "Seedance2.ink accepts 1 to 5 media files in all for reference-to-video, not 6"
    ]


def test_it_needs_https_media_urls():
    assert check(mode="image", image_urls=["http://cdn.example.com/a.jpg"]) == [
        "Seedance2.ink needs public HTTPS media URLs, not 'http://cdn.example.com'"
    ]


def test_it_takes_no_video_in_image_to_video():
    assert check(mode="image", image_urls=["https://x/a.jpg"], video_urls=["https://x/a.mp4"]) == [
        "Seedance2.ink accepts no videos for image-to-video, not 1"
    ]


def test_it_offers_no_reference_mode_for_1_5_pro():
    assert check(family="seedance-1.5-pro", mode="reference", video_urls=["https://x/a.mp4"]) == [
        "Seedance2.ink offers Seedance 1.5 Pro only as text-to-video, image-to-video or "
        "first + last frame"
    ]


def test_it_has_no_audio_switch_or_upscale():
    assert check(audio=True, upscale_4k=True) == [
        "Seedance2.ink has no setting for generated audio; turn audio off",
        "Seedance2.ink cannot upscale to 4K",
    ]


# --- create ----------------------------------------------------------------------


def test_it_sends_the_documented_flat_body_with_webhook_and_metadata(ink, vendor):
    vendor.answer(
        json={
            "success": True,
            "requestId": "req_1234567890",
            "status": "queued",
            "creditsCharged": 40,
        }
    )
    created = ink.create(
        make_request(metadata={"projectId": "proj_1001", "sceneId": "scene_08"}),
        callback_url="https://your-app.com/webhooks/seedance",
    )
    assert str(vendor.last.url) == BASE
    # The document's own example request, field for field.
    assert vendor.sent() == {
        "model": "seedance-2.0",
        "prompt": PROMPT,
        "aspectRatio": "16:9",
        "duration": 5,
        "resolution": "720p",
        "webhookUrl": "https://your-app.com/webhooks/seedance",
        "metadata": {"projectId": "proj_1001", "sceneId": "scene_08"},
    }
    assert created.task_id == "req_1234567890"
    assert created.charge_credits == Decimal("40")


def test_it_leaves_out_empty_metadata_and_a_missing_webhook(ink, vendor):
    vendor.answer(
        json={"success": True, "requestId": "r", "status": "queued", "creditsCharged": 64}
    )
    ink.create(make_request(family="seedance-1.5-pro", duration=10, resolution="1080p"))
    assert vendor.sent() == {
        "model": "seedance-1.5-pro",
        "prompt": PROMPT,
        "aspectRatio": "16:9",
        "duration": 10,
        "resolution": "1080p",
    }


def test_it_sends_images_as_media_urls(ink, vendor):
    vendor.answer(json={"success": True, "requestId": "r", "status": "queued"})
    ink.create(
        make_request(
            mode="first_last",
            image_urls=["https://example.com/first.jpg", "https://example.com/last.jpg"],
        )
    )
    assert vendor.sent()["mediaUrls"] == [
        "https://example.com/first.jpg",
        "https://example.com/last.jpg",
    ]


def test_it_sends_reference_media_as_one_list(ink, vendor):
    vendor.answer(json={"success": True, "requestId": "r", "status": "queued"})
    ink.create(
        make_request(
            mode="reference",
            image_urls=["https://x/a.jpg"],
            video_urls=["https://x/b.mp4"],
            audio_urls=["https://x/c.mp3"],
        )
    )
    assert vendor.sent()["mediaUrls"] == ["https://x/a.jpg", "https://x/b.mp4", "https://x/c.mp3"]


# --- errors: {success: false, error: {code, message}} ---------------------------------


@pytest.mark.parametrize(
    "code, kind",
    [
        ("invalid_api_key", ErrorKind.AUTH),
        ("unauthorized_token", ErrorKind.AUTH),
        ("insufficient_credits", ErrorKind.NO_CREDIT),
        ("rate_limit_exceeded", ErrorKind.RATE_LIMITED),
        ("too_many_requests", ErrorKind.RATE_LIMITED),
        ("validation_error", ErrorKind.BAD_REQUEST),
        ("invalid_duration", ErrorKind.BAD_REQUEST),
        ("content_policy_violation", ErrorKind.BAD_REQUEST),
        ("task_not_found", ErrorKind.NOT_FOUND),
        ("generate_error", ErrorKind.FAULT),
        ("something_new", ErrorKind.FAULT),
    ],
)
def test_it_treats_success_false_on_http_200_as_an_error_classified_by_code(
    ink, vendor, code, kind, caplog
):
    vendor.answer(200, {"success": False, "error": {"code": code, "message": "Explained"}})
    with pytest.raises(VendorError) as caught:
        ink.create(make_request())
    assert caught.value.kind == kind
    assert caught.value.vendor_code == code
    assert caught.value.message.startswith("Seedance2.ink ")
    assert "Explained" in caught.value.message
    assert KEY not in str(caught.value) and KEY not in caplog.text


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
def test_the_http_status_wins_over_the_code_words(ink, vendor, status, kind):
    vendor.answer(status, {"success": False, "error": {"code": "invalid_request", "message": "No"}})
    with pytest.raises(VendorError) as caught:
        ink.create(make_request())
    assert caught.value.kind == kind


def test_a_query_for_an_unknown_task_is_not_found(ink, vendor):
    vendor.answer(
        404, {"success": False, "error": {"code": "not_found", "message": "Task not found"}}
    )
    with pytest.raises(VendorError) as caught:
        ink.query("req_missing")
    assert caught.value.kind == ErrorKind.NOT_FOUND


# --- query --------------------------------------------------------------------------


def answer(status, **changes):
    return {
        "success": True,
        "requestId": "req_1234567890",
        "status": status,
        "model": "seedance-2.0",
        "prompt": PROMPT,
        "duration": 5,
        "aspectRatio": "16:9",
        "output": None,
        "error": None,
    } | changes


@pytest.mark.parametrize(
    "status, state",
    [
        ("queued", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("succeeded", TaskState.SUCCEEDED),
        ("failed", TaskState.FAILED),
        ("cancelled", TaskState.CANCELLED),
    ],
)
def test_it_reads_every_documented_status(ink, vendor, status, state):
    vendor.answer(json=answer(status))
    snapshot = ink.query("req_1234567890")
    assert snapshot.state == state
    assert str(vendor.last.url) == f"{BASE}/req_1234567890"


def test_it_reads_the_output_url_of_a_finished_task(ink, vendor):
    url = "https://pub-your-bucket.r2.dev/open-api-results/req_1234567890.mp4"
    vendor.answer(json=answer("succeeded", output={"type": "video", "url": url}))
    snapshot = ink.query("req_1234567890")
    assert snapshot.output_urls == [url]
    assert snapshot.charge_credits is None  # charged at acceptance, not repeated here


def test_it_reads_the_error_of_a_failed_task(ink, vendor):
    vendor.answer(
        json=answer(
            "failed",
            error={"code": "provider_error", "message": "Video generation failed upstream"},
        )
    )
    snapshot = ink.query("req_1234567890")
    assert (snapshot.error_code, snapshot.error_message) == (
        "provider_error",
        "Video generation failed upstream",
    )


def test_it_quotes_task_ids_in_the_path(ink, vendor):
    vendor.answer(json=answer("queued"))
    ink.query("req/../1")
    assert vendor.last.url.raw_path == b"/api/open/v1/video/generations/req%2F..%2F1"


# --- cancel -------------------------------------------------------------------------


def test_it_cancels_a_task(ink, vendor):
    vendor.answer(json={"success": True, "requestId": "req_1234567890", "status": "cancelled"})
    snapshot = ink.cancel("req_1234567890")
    assert vendor.last.method == "POST"
    assert str(vendor.last.url) == f"{BASE}/req_1234567890/cancel"
    assert snapshot.state == TaskState.CANCELLED
    assert Seedance2InkAdapter.supports_cancel is True


def test_a_refused_cancel_is_an_error(ink, vendor):
    vendor.answer(
        409, {"success": False, "error": {"code": "task_finished", "message": "Already done"}}
    )
    with pytest.raises(VendorError) as caught:
        ink.cancel("req_1")
    assert caught.value.kind == ErrorKind.BAD_REQUEST


# --- callbacks and quotes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, state",
    [("succeeded", TaskState.SUCCEEDED), ("failed", TaskState.FAILED), ("odd", None)],
)
def test_it_reads_a_callback_shaped_like_the_query_answer(status, state):
    hint = Seedance2InkAdapter(KEY).parse_callback(json.dumps(answer(status)).encode())
    assert (hint.task_id, hint.state) == ("req_1234567890", state)


def test_it_quotes_the_documented_example_and_leaves_the_rate_to_the_operator():
    assert quote_credits(make_request(), RULES) == Decimal(40)  # "creditsCharged": 40
    custom = {"seedance-2.0": {"per_second": {"720p": "12.5"}}}
    assert quote_credits(make_request(duration=4), custom) == Decimal(50)
