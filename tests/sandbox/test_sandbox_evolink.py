"""The evolink sandbox answers as docs/vendors/evolink.md says."""

import pytest

CREATE = "evolink/v1/videos/generations"
IMAGE = "https://example.com/first-frame.jpg"
VIDEO = "https://example.com/reference.mp4"
AUDIO = "https://example.com/bgm.mp3"


def query_path(task_id):
    return f"evolink/v1/tasks/{task_id}"


def body(**fields):
    return {"model": "seedance-2.0-text-to-video", "prompt": "A cat plays the piano"} | fields


def create(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200, response.content
    return response.json()["id"]


def refusal(param, message, status=400, kind="invalid_request_error"):
    return {"error": {"code": status, "message": message, "type": kind, "param": param}}


ACCEPTED = (
    [body(model=f"seedance-2.0-{speed}text-to-video") for speed in ("", "fast-")]
    + [
        body(model=f"seedance-2.0-{speed}image-to-video", image_urls=[IMAGE])
        for speed in ("", "fast-")
    ]
    + [body(model="seedance-2.0-image-to-video", image_urls=[IMAGE, IMAGE])]
    + [
        body(
            model=f"seedance-2.0-{speed}reference-to-video",
            image_urls=[IMAGE],
            video_urls=[VIDEO],
            audio_urls=[AUDIO],
        )
        for speed in ("", "fast-")
    ]
    + [body(duration=d) for d in range(4, 16)]
    + [body(quality=q) for q in ("480p", "720p")]
    + [body(aspect_ratio=r) for r in ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive")]
    + [body(generate_audio=False), body(callback_url="https://your-domain.com/webhooks/done")]
)


@pytest.mark.parametrize("payload", ACCEPTED)
def test_it_accepts_every_documented_option(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200
    assert response.json()["id"].startswith("task-unified-")


@pytest.mark.parametrize(
    "payload, param, message",
    [
        (
            body(model="seedance-2.0"),
            "model",
            "model must be one of seedance-2.0-text-to-video, seedance-2.0-image-to-video, seedance-2.0-reference-to-video, seedance-2.0-fast-text-to-video, seedance-2.0-fast-image-to-video, seedance-2.0-fast-reference-to-video",
        ),
        (body(prompt=""), "prompt", "prompt is required"),
        (body(duration=3), "duration", "duration must be an integer from 4 to 15"),
        (body(duration=16), "duration", "duration must be an integer from 4 to 15"),
        (body(duration="5"), "duration", "duration must be an integer from 4 to 15"),
        (body(quality="1080p"), "quality", "quality must be 480p or 720p"),
        (
            body(aspect_ratio="2:1"),
            "aspect_ratio",
            "aspect_ratio must be one of 16:9, 9:16, 1:1, 4:3, 3:4, 21:9, adaptive",
        ),
        (body(generate_audio="yes"), "generate_audio", "generate_audio must be true or false"),
        (
            body(video_urls=[VIDEO]),
            "video_urls",
            "seedance-2.0-text-to-video does not support video_urls",
        ),
        (
            body(model="seedance-2.0-image-to-video"),
            "image_urls",
            "image-to-video takes 1 or 2 images",
        ),
        (
            body(model="seedance-2.0-image-to-video", image_urls=[IMAGE] * 3),
            "image_urls",
            "image-to-video takes 1 or 2 images",
        ),
        (
            body(model="seedance-2.0-reference-to-video", audio_urls=[AUDIO]),
            "audio_urls",
            "audio needs at least 1 image or 1 video with it",
        ),
        (
            body(model="seedance-2.0-reference-to-video", video_urls=[VIDEO] * 4),
            "image_urls",
            "at most 9 images, 3 videos and 3 audio clips",
        ),
        (
            body(image_urls="https://example.com/a.jpg"),
            "image_urls",
            "image_urls must be an array of URLs",
        ),
        (
            body(callback_url="http://your-domain.com/webhooks"),
            "callback_url",
            "callback_url must be an HTTPS URL",
        ),
        (
            body(callback_url="https://x.example/" + "a" * 2040),
            "callback_url",
            "callback_url is longer than 2048 characters",
        ),
    ],
)
def test_it_refuses_what_the_document_refuses_in_its_error_shape(api, payload, param, message):
    response = api.post(CREATE, payload)
    assert response.status_code == 400
    assert response.json() == refusal(param, message)


def test_a_wrong_key_is_an_authentication_error(api):
    response = api.post(CREATE, body(), key="sk-evolink-live")
    assert response.status_code == 401
    assert response.json() == refusal(None, "Invalid API key", 401, "authentication_error")


def test_an_unknown_task_is_a_not_found_error(api):
    response = api.get(query_path("task-unified-1-nothere"))
    assert response.status_code == 404
    assert response.json() == refusal(None, "Task not found", 404, "not_found_error")


@pytest.mark.parametrize(
    "payload, credits",
    [
        (body(), 79),  # 0.15715 $/s × 5 s = 78.575 cents
        (body(quality="480p"), 37),
        (body(model="seedance-2.0-fast-text-to-video"), 64),
        (body(model="seedance-2.0-fast-text-to-video", quality="480p", duration=10), 59),
    ],
)
def test_it_reserves_credits_by_the_public_price_list(api, payload, credits):
    response = api.post(CREATE, payload)
    assert response.json()["usage"] == {
        "billing_rule": "per_second",
        "credits_reserved": credits,
        "user_group": "default",
    }


def test_create_answers_a_pending_task_object(api):
    response = api.post(CREATE, body(duration=8)).json()
    assert response == {
        "id": response["id"],
        "object": "video.generation.task",
        "created": response["created"],
        "model": "seedance-2.0-text-to-video",
        "status": "pending",
        "progress": 0,
        "type": "video",
        "task_info": {"can_cancel": True, "estimated_time": 30, "video_duration": 8},
        "usage": {"billing_rule": "per_second", "credits_reserved": 126, "user_group": "default"},
    }


def test_a_task_goes_from_pending_through_processing_with_progress_to_completed(api, probe):
    task_id = create(api, body(duration=5, aspect_ratio="21:9", quality="480p"))
    assert api.get(query_path(task_id)).json()["status"] == "pending"

    api.advance(task_id, 20)  # 10 s queued, then half way through a 20 s run
    running = api.get(query_path(task_id)).json()
    assert running["status"] == "processing"
    assert 40 <= running["progress"] <= 60
    assert "results" not in running

    api.finish(task_id)
    done = api.get(query_path(task_id)).json()
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["task_info"]["can_cancel"] is False
    clip = probe(done["results"][0])
    assert abs(clip.duration - 5) <= 0.5
    assert (clip.width, clip.height) == (100, 44)


@pytest.mark.parametrize("generate_audio, has_audio", [(None, True), (True, True), (False, False)])
def test_the_clip_has_sound_unless_generate_audio_is_false(api, probe, generate_audio, has_audio):
    payload = body(duration=4) | (
        {} if generate_audio is None else {"generate_audio": generate_audio}
    )
    task_id = create(api, payload)
    api.finish(task_id)
    clip = probe(api.get(query_path(task_id)).json()["results"][0])
    assert clip.has_audio is has_audio


def test_a_failed_task_carries_an_error_object(api):
    task_id = create(api, body(prompt="Piano [[fault:fail_after:2]]"))
    api.finish(task_id)
    failed = api.get(query_path(task_id)).json()
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "service_error", "message": "Video generation failed"}
    assert "results" not in failed


def test_the_callback_gets_the_query_body(api, callbacks_sent, deliver_callbacks):
    task_id = create(api, body(callback_url="https://app.example.com/hooks/evolink/abc"))
    api.finish(task_id)
    deliver_callbacks()
    assert callbacks_sent.bodies == [api.get(query_path(task_id)).json()]
    assert callbacks_sent.pauses == []


def test_a_refused_callback_is_retried_three_times_at_1_2_and_4_seconds(
    api, callbacks_sent, deliver_callbacks
):
    callbacks_sent.statuses = [500, 502, 503, 200]
    task_id = create(api, body(callback_url="https://app.example.com/hooks/evolink/abc"))
    api.finish(task_id)
    deliver_callbacks()
    assert len(callbacks_sent.requests) == 4
    assert callbacks_sent.pauses == [1.0, 2.0, 4.0]


def test_after_three_failed_retries_it_gives_up_quietly(api, callbacks_sent, deliver_callbacks):
    callbacks_sent.statuses = [500] * 10
    task_id = create(api, body(callback_url="https://app.example.com/hooks/evolink/abc"))
    api.finish(task_id)
    deliver_callbacks()
    deliver_callbacks()
    assert len(callbacks_sent.requests) == 4
    assert api.get(query_path(task_id)).json()["status"] == "completed"
