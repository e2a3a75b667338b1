"""Evolink, from docs/vendors/evolink.md."""

import json
from decimal import Decimal

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest, default_price_rules
from generations.vendors.evolink import EvolinkAdapter
from generations.vendors.pricing import quote_credits

KEY = "sk-live-SECRET-0123456789abcdef"
RULES = default_price_rules("evolink")
PROMPT = "一只猫在钢琴上弹奏月光奏鸣曲,电影感光影,特写镜头"


def make_request(**changes):
    return VideoRequest(**({"family": "seedance-2.0", "prompt": PROMPT} | changes))


def check(**changes):
    return EvolinkAdapter(KEY).check(make_request(**changes))


@pytest.fixture
def evolink(vendor):
    return EvolinkAdapter(KEY, client=vendor.client)


def task(status="pending", **changes):
    return {
        "created": 1761313744,
        "id": "task-unified-1774857405-abc123",
        "model": "seedance-2.0-text-to-video",
        "object": "video.generation.task",
        "progress": 0,
        "status": status,
        "task_info": {"can_cancel": True, "estimated_time": 165},
        "type": "video",
        "usage": {"billing_rule": "per_second", "credits_reserved": 50},
    } | changes


# --- check() --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "duration, ok", [(3, False), (4, True), (8, True), (15, True), (16, False)]
)
def test_it_accepts_4_to_15_seconds(duration, ok):
    assert (check(duration=duration) == []) is ok


@pytest.mark.parametrize("ratio", ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"])
def test_it_accepts_the_documented_aspect_ratios(ratio):
    assert check(aspect_ratio=ratio) == []


def test_it_refuses_other_aspect_ratios():
    assert check(aspect_ratio="2:1") == [
        "Evolink accepts aspect ratios 16:9, 9:16, 1:1, 4:3, 3:4, 21:9 or adaptive for Seedance 2.0, not 2:1"
    ]


@pytest.mark.parametrize("resolution, ok", [("480p", True), ("720p", True), ("1080p", False)])
def test_it_accepts_480p_and_720p_quality(resolution, ok):
    assert (check(resolution=resolution) == []) is ok


@pytest.mark.parametrize(
    "family, ok",
    [
        ("seedance-2.0", True),
        ("seedance-2.0-fast", True),
        ("seedance-2.0-mini", False),
        ("seedance-1.5-pro", False),
    ],
)
def test_it_offers_standard_and_fast(family, ok):
    assert (check(family=family) == []) is ok


def test_it_has_an_audio_switch():
    assert check(audio=True) == [] and check(audio=False) == []


def test_it_takes_500_cjk_characters_but_not_501():
    assert check(prompt="猫" * 500) == []
    assert check(prompt="猫" * 501) == [
        "Evolink takes prompts of at most 500 Chinese, Japanese or Korean characters; this one has 501"
    ]


def test_it_takes_1000_english_words_but_not_1001():
    assert check(prompt=" ".join(["cat"] * 1000)) == []
    assert check(prompt=" ".join(["cat"] * 1001)) == [
        "Evolink takes prompts of at most 1000 words; this one has 1001"
    ]


@pytest.mark.parametrize(
    "mode, count, ok",
    [
        ("image", 0, False),
        ("image", 1, True),
        ("image", 2, False),
        ("first_last", 1, False),
        ("first_last", 2, True),
        ("first_last", 3, False),
    ],
)
def test_it_takes_one_frame_for_image_to_video_and_two_for_first_and_last(mode, count, ok):
    urls = [f"https://example.com/{n}.jpg" for n in range(count)]
    assert (check(mode=mode, image_urls=urls) == []) is ok


def test_it_takes_no_video_or_audio_for_image_to_video():
    assert check(
        mode="image",
        image_urls=["https://x/a.jpg"],
        video_urls=["https://x/a.mp4"],
        audio_urls=["https://x/a.mp3"],
    ) == [
        "Evolink accepts no videos for image-to-video, not 1",
        "Evolink accepts no audio clips for image-to-video, not 1",
    ]


@pytest.mark.parametrize(
    "images, videos, audios, problems",
    [
        (9, 3, 3, []),
        (1, 0, 0, []),
        (0, 1, 0, []),
        (10, 0, 0, ["Evolink accepts 0 to 9 images for reference-to-video, not 10"]),
        (0, 4, 0, ["Evolink accepts 0 to 3 videos for reference-to-video, not 4"]),
        (1, 0, 4, ["Evolink accepts 0 to 3 audio clips for reference-to-video, not 4"]),
        (0, 0, 1, ["Evolink needs at least one image or video for reference-to-video"]),
        (0, 0, 0, ["Evolink needs at least one image or video for reference-to-video"]),
    ],
)
def test_it_counts_reference_media(images, videos, audios, problems):
    assert (
        check(
            mode="reference",
            image_urls=[f"https://x/{n}.jpg" for n in range(images)],
            video_urls=[f"https://x/{n}.mp4" for n in range(videos)],
            audio_urls=[f"https://x/{n}.mp3" for n in range(audios)],
        )
        == problems
    )


# --- create ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "family, mode, media, model",
    [
        ("seedance-2.0", "text", {}, "seedance-2.0-text-to-video"),
        (
            "seedance-2.0",
            "image",
            {"image_urls": ["https://x/a.jpg"]},
            "seedance-2.0-image-to-video",
        ),
        (
            "seedance-2.0",
            "reference",
            {"video_urls": ["https://x/a.mp4"]},
            "seedance-2.0-reference-to-video",
        ),
        ("seedance-2.0-fast", "text", {}, "seedance-2.0-fast-text-to-video"),
        (
            "seedance-2.0-fast",
            "image",
            {"image_urls": ["https://x/a.jpg"]},
            "seedance-2.0-fast-image-to-video",
        ),
        (
            "seedance-2.0-fast",
            "reference",
            {"image_urls": ["https://x/a.jpg"]},
            "seedance-2.0-fast-reference-to-video",
        ),
    ],
)
def test_it_builds_the_model_name_from_family_and_mode(evolink, vendor, family, mode, media, model):
    vendor.answer(json=task())
    evolink.create(make_request(family=family, mode=mode, **media))
    assert vendor.sent()["model"] == model


def test_it_sends_the_documented_body_with_an_explicit_audio_choice(evolink, vendor):
    vendor.answer(json=task())
    created = evolink.create(
        make_request(duration=8, resolution="480p", aspect_ratio="9:16"),
        callback_url="https://studio.example.com/hooks/e1",
    )
    assert str(vendor.last.url) == "https://api.evolink.ai/v1/videos/generations"
    assert vendor.sent() == {
        "model": "seedance-2.0-text-to-video",
        "prompt": PROMPT,
        "duration": 8,
        "quality": "480p",
        "aspect_ratio": "9:16",
        "generate_audio": False,
        "callback_url": "https://studio.example.com/hooks/e1",
    }
    assert created.task_id == "task-unified-1774857405-abc123"
    assert created.charge_credits == Decimal(50)


def test_it_sends_reference_media_in_their_own_fields(evolink, vendor):
    vendor.answer(json=task())
    evolink.create(
        make_request(
            mode="reference",
            audio=True,
            image_urls=["https://x/a.jpg"],
            video_urls=["https://x/b.mp4"],
            audio_urls=["https://x/c.mp3"],
        )
    )
    sent = vendor.sent()
    assert sent["generate_audio"] is True
    assert (sent["image_urls"], sent["video_urls"], sent["audio_urls"]) == (
        ["https://x/a.jpg"],
        ["https://x/b.mp4"],
        ["https://x/c.mp3"],
    )


@pytest.mark.parametrize(
    "url",
    ["http://studio.example.com/hooks/e1", "https://localhost/hooks", "https://x.io/" + "a" * 2048],
)
def test_it_sends_no_callback_that_is_not_public_https_within_2048_characters(evolink, vendor, url):
    vendor.answer(json=task())
    evolink.create(make_request(), callback_url=url)
    assert "callback_url" not in vendor.sent()
    assert EvolinkAdapter(KEY).accepts_callback_url(url) is False


# --- query --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, progress, state",
    [
        ("pending", 0, TaskState.QUEUED),
        ("processing", 45, TaskState.RUNNING),
        ("completed", 100, TaskState.SUCCEEDED),
        ("failed", 60, TaskState.FAILED),
    ],
)
def test_it_reads_every_documented_status_and_the_progress(
    evolink, vendor, status, progress, state
):
    vendor.answer(json=task(status, progress=progress))
    snapshot = evolink.query("task-unified-1774857405-abc123")
    assert (snapshot.state, snapshot.progress) == (state, progress)
    assert str(vendor.last.url) == "https://api.evolink.ai/v1/tasks/task-unified-1774857405-abc123"


def test_it_reads_the_first_result_and_the_reserved_credits(evolink, vendor):
    vendor.answer(json=task("completed", progress=100, results=["https://cdn.evolink.ai/v.mp4"]))
    snapshot = evolink.query("task-unified-1774857405-abc123")
    assert snapshot.output_urls == ["https://cdn.evolink.ai/v.mp4"]
    assert snapshot.charge_credits == Decimal(50)


def test_it_reads_the_error_of_a_failed_task(evolink, vendor):
    vendor.answer(
        json=task("failed", error={"code": "content_policy_violation", "message": "Blocked"})
    )
    snapshot = evolink.query("task-unified-1774857405-abc123")
    assert (snapshot.error_code, snapshot.error_message) == ("content_policy_violation", "Blocked")


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (400, "invalid_parameter", ErrorKind.BAD_REQUEST),
        (401, "unauthorized", ErrorKind.AUTH),
        (402, "insufficient_quota", ErrorKind.NO_CREDIT),
        (403, "model_access_denied", ErrorKind.AUTH),
        (429, "rate_limit_exceeded", ErrorKind.RATE_LIMITED),
        (500, "internal_error", ErrorKind.FAULT),
        (503, "service_unavailable", ErrorKind.FAULT),
    ],
)
def test_it_classifies_its_error_bodies(evolink, vendor, status, code, kind, caplog):
    body = {
        "error": {
            "code": code,
            "message": "Explained",
            "type": "invalid_request_error",
            "param": "duration",
        }
    }
    vendor.answer(status, body)
    with pytest.raises(VendorError) as caught:
        evolink.create(make_request())
    assert caught.value.kind == kind
    assert caught.value.vendor_code == code
    assert caught.value.message.startswith("Evolink ")
    assert "Explained" in caught.value.message
    assert KEY not in str(caught.value) and KEY not in caplog.text


def test_it_probes_the_key_with_a_well_formed_task_id(evolink, vendor):
    vendor.answer(404, {"error": {"code": "task_not_found", "message": "Task not found"}})
    assert evolink.test_connection() == "The key works."
    assert vendor.last.url.path.startswith("/v1/tasks/task-unified-")


# --- callbacks and quotes -------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, state", [("completed", TaskState.SUCCEEDED), ("failed", TaskState.FAILED)]
)
def test_it_reads_a_callback_shaped_like_the_task(status, state):
    hint = EvolinkAdapter(KEY).parse_callback(json.dumps(task(status)).encode())
    assert (hint.task_id, hint.state) == ("task-unified-1774857405-abc123", state)


@pytest.mark.parametrize(
    "changes, cents",
    [
        ({"resolution": "720p"}, "79"),  # $0.15715 × 5 = 78.575 cents, rounded up
        ({"resolution": "480p"}, "37"),  # $0.07276 × 5 = 36.38 cents
        ({"family": "seedance-2.0-fast", "resolution": "720p"}, "64"),  # 63.65 cents
        ({"family": "seedance-2.0-fast", "resolution": "480p"}, "30"),  # 29.5 cents
        ({"resolution": "720p", "duration": 10}, "158"),  # 157.15 cents
    ],
)
def test_it_quotes_the_public_usd_list_in_whole_cent_credits(changes, cents):
    assert quote_credits(make_request(**changes), RULES) == Decimal(cents)
