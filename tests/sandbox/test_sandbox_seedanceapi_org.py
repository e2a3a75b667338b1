"""The seedanceapi_org sandbox answers as docs/vendors/seedanceapi_org.md says."""

import pytest

CREATE = "seedanceapi_org/v2/generate"
STATUS = "seedanceapi_org/v2/status"
IMAGE = "https://example.com/reference.jpg"


def body(**fields):
    return {"prompt": "A slow dolly shot through a neon-lit street in the rain"} | fields


def create(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200, response.content
    return response.json()["data"]["task_id"]


def refusal(code, message):
    return {"code": code, "message": message, "data": None}


ACCEPTED = (
    [body(duration=d) for d in (5, 10, 15)]
    + [body(model="seedance-2.0-fast", duration=d) for d in (5, 10, 15)]
    + [body(model="seedance-2-mini", duration=d) for d in range(4, 16)]
    + [body(aspect_ratio=r) for r in ("16:9", "9:16", "4:3", "3:4")]
    + [body(model="seedance-2-mini", aspect_ratio=r) for r in ("1:1", "21:9", "adaptive")]
    + [body(resolution=r) for r in ("480p", "720p", "1080p")]
    + [
        body(images=[IMAGE] * 4),
        body(model="seedance-2-mini", reference_video_urls=["https://example.com/a.mp4"]),
        body(model="seedance-2-mini", reference_audio_urls=["https://example.com/a.mp3"]),
        body(callback_url="https://hooks.example.com/seedance"),
        body(visibility="private"),
        body(prompt="x" * 2000),
    ]
)


@pytest.mark.parametrize("payload", ACCEPTED)
def test_it_accepts_every_documented_option(api, payload):
    assert api.post(CREATE, payload).status_code == 200


@pytest.mark.parametrize(
    "payload, code, message",
    [
        (
            {"model": "seedance-2.0"},
            "INVALID_PROMPT",
            "Prompt is required and at most 2000 characters",
        ),
        (
            body(prompt="x" * 2001),
            "INVALID_PROMPT",
            "Prompt is required and at most 2000 characters",
        ),
        (body(prompt=""), "INVALID_PROMPT", "Prompt is required and at most 2000 characters"),
        (body(duration=4), "INVALID_DURATION", "duration must be 5, 10, or 15 for 2.0 / Fast"),
        (body(duration=8), "INVALID_DURATION", "duration must be 5, 10, or 15 for 2.0 / Fast"),
        (
            body(model="seedance-2.0-fast", duration=20),
            "INVALID_DURATION",
            "duration must be 5, 10, or 15 for 2.0 / Fast",
        ),
        (
            body(model="seedance-2-mini", duration=3),
            "INVALID_DURATION",
            "duration must be 4–15 for Mini",
        ),
        (
            body(model="seedance-2-mini", duration=16),
            "INVALID_DURATION",
            "duration must be 4–15 for Mini",
        ),
        (body(duration="10"), "INVALID_DURATION", "duration must be 5, 10, or 15 for 2.0 / Fast"),
        (
            body(aspect_ratio="1:1"),
            "INVALID_ASPECT_RATIO",
            "Unsupported aspect_ratio for seedance-2.0: use 16:9, 9:16, 4:3, 3:4",
        ),
        (
            body(model="seedance-2.0-fast", aspect_ratio="adaptive"),
            "INVALID_ASPECT_RATIO",
            "Unsupported aspect_ratio for seedance-2.0-fast: use 16:9, 9:16, 4:3, 3:4",
        ),
        (
            body(model="seedance-2-mini", aspect_ratio="2:1"),
            "INVALID_ASPECT_RATIO",
            "Unsupported aspect_ratio for seedance-2-mini: use 16:9, 9:16, 4:3, 3:4, 1:1, 21:9, adaptive",
        ),
        (body(images=[IMAGE] * 5), "TOO_MANY_IMAGES", "Too many images (max 4)"),
        (
            body(images=["ftp://example.com/a.jpg"]),
            "INVALID_REQUEST",
            "images must be a list of http(s) URLs",
        ),
        (
            body(model="seedance-3"),
            "INVALID_REQUEST",
            "model must be one of seedance-2.0, seedance-2.0-fast, seedance-2-mini",
        ),
        (body(resolution="4k"), "INVALID_REQUEST", "resolution must be one of 480p, 720p, 1080p"),
    ],
)
def test_it_refuses_with_the_documented_codes(api, payload, code, message):
    response = api.post(CREATE, payload)
    assert response.status_code == 400
    assert response.json() == refusal(code, message)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hooks/x",
        "http://127.0.0.1:8000/hooks/x",
        "http://127.10.0.3/hooks/x",
        "http://[::1]:8000/hooks/x",
        "https://app.localhost/hooks/x",
        "not a url",
    ],
)
def test_it_refuses_a_callback_url_that_is_not_public(api, url):
    response = api.post(CREATE, body(callback_url=url))
    assert response.status_code == 400
    assert response.json() == refusal(
        "INVALID_REQUEST", "callback_url must be a public URL (no localhost)"
    )


def test_a_wrong_key_is_invalid_api_key(api):
    response = api.post(CREATE, body(), key="YOUR_API_KEY")
    assert response.status_code == 401
    assert response.json() == refusal("INVALID_API_KEY", "Invalid API key")


@pytest.mark.parametrize(
    "payload, credits",
    [
        (body(duration=5), 240),
        (body(duration=10), 480),
        (body(duration=15), 720),
        (body(model="seedance-2.0-fast", duration=5), 160),
        (body(model="seedance-2.0-fast", duration=15), 480),
        (body(model="seedance-2-mini", duration=8, resolution="480p"), 114),  # ceil(14.25·8)
        (body(model="seedance-2-mini", duration=7, resolution="480p"), 100),  # ceil(99.75)
        (body(model="seedance-2-mini", duration=8, resolution="720p"), 246),  # ceil(30.75·8)
        (body(model="seedance-2-mini", duration=8, resolution="1080p"), 246),  # billed as 720p
        (
            body(
                model="seedance-2-mini",
                duration=8,
                resolution="480p",
                reference_video_urls=["https://e.com/v.mp4"],
            ),
            72,
        ),
        (
            body(
                model="seedance-2-mini",
                duration=5,
                resolution="720p",
                reference_video_urls=["https://e.com/v.mp4"],
            ),
            94,  # ceil(18.75·5 = 93.75)
        ),
    ],
)
def test_it_reports_consumed_credits_by_the_price_tables(api, payload, credits):
    response = api.post(CREATE, payload)
    assert response.json() == {
        "code": 200,
        "message": "success",
        "data": {
            "task_id": response.json()["data"]["task_id"],
            "status": "IN_PROGRESS",
            "consumed_credits": credits,
        },
    }


def test_a_task_stays_in_progress_then_succeeds_with_its_video(api, probe):
    task_id = create(api, body(duration=10, aspect_ratio="3:4", model="seedance-2.0-fast"))
    assert len(task_id) == 19 and task_id.startswith("n") and task_id.endswith("sd20")
    pending = api.get(STATUS, task_id=task_id).json()
    assert pending["data"]["status"] == "IN_PROGRESS" and pending["data"]["response"] == []
    api.advance(task_id, 15)
    assert api.get(STATUS, task_id=task_id).json()["data"]["status"] == "IN_PROGRESS"

    api.finish(task_id)
    done = api.get(STATUS, task_id=task_id).json()
    assert done["code"] == 200 and done["message"] == "success"
    data = done["data"]
    assert data["status"] == "SUCCESS"
    assert data["consumed_credits"] == 320
    assert data["request"] == {
        "prompt": "A slow dolly shot through a neon-lit street in the rain",
        "aspect_ratio": "3:4",
        "duration": 10,
    }
    assert data["error_message"] is None
    assert data["created_at"].endswith("Z")
    clip = probe(data["response"][0])
    assert abs(clip.duration - 10) <= 0.5
    assert (clip.width, clip.height) == (84, 112)


def test_mini_at_1080p_is_made_at_720p(api, probe):
    task_id = create(api, body(model="seedance-2-mini", duration=4, resolution="1080p"))
    api.finish(task_id)
    clip = probe(api.get(STATUS, task_id=task_id).json()["data"]["response"][0])
    assert (clip.width, clip.height) == (128, 72)


@pytest.mark.parametrize("params", [{"task_id": "n00000000000000sd20"}, {}])
def test_an_unknown_task_is_task_not_found(api, params):
    response = api.get(STATUS, **params)
    assert response.status_code == 404
    assert response.json() == refusal("TASK_NOT_FOUND", "Task not found")


def test_another_keys_task_is_task_not_found(api):
    task_id = create(api, body())
    assert api.get(STATUS, key="sk-sandbox-team-b", task_id=task_id).status_code == 404


def test_the_callback_gets_the_status_response(api, callbacks_sent, deliver_callbacks):
    task_id = create(api, body(callback_url="https://hooks.example.com/seedance/abc"))
    api.finish(task_id)
    deliver_callbacks()
    assert callbacks_sent.urls == ["https://hooks.example.com/seedance/abc"]
    assert callbacks_sent.bodies == [api.get(STATUS, task_id=task_id).json()]


def test_a_failed_task_says_why_and_consumes_nothing(api):
    task_id = create(api, body(prompt="Rain [[fault:fail_after:3]]"))
    api.finish(task_id)
    data = api.get(STATUS, task_id=task_id).json()["data"]
    assert data["status"] == "FAILED"
    assert data["error_message"] == "Video generation failed"
    assert data["response"] == [] and data["consumed_credits"] == 0


def test_its_server_error_is_internal_error(api):
    response = api.post(CREATE, body(prompt="Rain [[fault:500]]"))
    assert response.status_code == 500
    assert response.json() == refusal("INTERNAL_ERROR", "Internal server error, retry later")
