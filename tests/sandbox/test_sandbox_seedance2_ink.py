"""The seedance2_ink sandbox answers as docs/vendors/seedance2_ink.md says."""

import pytest

CREATE = "seedance2_ink/api/open/v1/video/generations"


def query_path(task_id):
    return f"{CREATE}/{task_id}"


def cancel_path(task_id):
    return f"{CREATE}/{task_id}/cancel"


def body(**fields):
    return {"model": "seedance-2.0", "prompt": "A river through an autumn forest"} | fields


def create(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200, response.content
    return response.json()["requestId"]


def refusal(message, code="invalid_request"):
    return {"success": False, "error": {"code": code, "message": message}}


ACCEPTED = (
    [
        body(model=model, duration=d)
        for model in ("seedance-2.0", "seedance-2.0-fast")
        for d in (4, 15)
    ]
    + [body(model="seedance-1.5-pro", duration=d) for d in (5, 10)]
    + [body(aspectRatio=ratio) for ratio in ("16:9", "9:16", "1:1")]
    + [body(resolution=res) for res in ("480p", "720p", "1080p")]
    + [body(metadata={"projectId": "proj_1001", "sceneId": "scene_08"}), body(duration=5.0)]
)


@pytest.mark.parametrize("payload", ACCEPTED)
def test_it_accepts_every_documented_option(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200
    assert response.json()["requestId"].startswith("req_")


@pytest.mark.parametrize(
    "payload, message",
    [
        (
            body(model="seedance-1.5-pro", duration=4),
            "duration must be 5 or 10 for seedance-1.5-pro",
        ),
        (
            body(model="seedance-1.5-pro", duration=15),
            "duration must be 5 or 10 for seedance-1.5-pro",
        ),
        (body(duration=3), "duration must be an integer from 4 to 15 for seedance-2.0"),
        (body(duration=16), "duration must be an integer from 4 to 15 for seedance-2.0"),
        (body(duration="5"), "duration must be an integer from 4 to 15 for seedance-2.0"),
        (body(duration=5.5), "duration must be an integer from 4 to 15 for seedance-2.0"),
        (body(aspectRatio="4:3"), "aspectRatio must be one of 16:9, 9:16, 1:1"),
        (body(resolution="4k"), "resolution must be one of 480p, 720p, 1080p"),
        (
            body(model="seedance-3.0"),
            "model must be one of seedance-2.0, seedance-2.0-fast, seedance-1.5-pro",
        ),
        ({"model": "seedance-2.0"}, "prompt is required"),
        (body(metadata="proj_1001"), "metadata must be an object"),
    ],
)
def test_it_refuses_what_the_document_refuses_in_its_error_shape(api, payload, message):
    response = api.post(CREATE, payload)
    assert response.status_code == 400
    assert response.json() == refusal(message)


def test_a_malformed_body_is_its_400(api):
    response = api.post(CREATE, raw="{")
    assert response.status_code == 400
    assert response.json() == refusal("Request body must be a JSON object")


def test_a_wrong_key_is_its_401(api):
    response = api.post(CREATE, body(), key="sd2_live_real")
    assert response.status_code == 401
    assert response.json() == refusal("Invalid API key", code="unauthorized")


@pytest.mark.parametrize(
    "payload, credits",
    [
        (body(), 40),
        (body(duration=10), 80),
        (body(resolution="480p"), 20),
        (body(resolution="1080p"), 80),
    ],
)
def test_it_charges_credits_at_acceptance(api, payload, credits):
    response = api.post(CREATE, payload)
    assert response.json() == {
        "success": True,
        "requestId": response.json()["requestId"],
        "status": "queued",
        "creditsCharged": credits,
    }


def test_a_task_goes_from_queued_through_processing_to_succeeded(api, probe):
    task_id = create(api, body(duration=4, aspectRatio="1:1", resolution="480p"))
    queued = api.get(query_path(task_id)).json()
    assert queued == {
        "success": True,
        "requestId": task_id,
        "status": "queued",
        "model": "seedance-2.0",
        "prompt": "A river through an autumn forest",
        "duration": 4,
        "aspectRatio": "1:1",
        "output": None,
        "error": None,
    }
    api.advance(task_id, 15)
    assert api.get(query_path(task_id)).json()["status"] == "processing"

    api.finish(task_id)
    done = api.get(query_path(task_id)).json()
    assert done["status"] == "succeeded" and done["error"] is None
    assert done["output"]["type"] == "video"
    clip = probe(done["output"]["url"])
    assert abs(clip.duration - 4) <= 0.5
    assert (clip.width, clip.height) == (64, 64)


def test_another_keys_task_is_not_found(api):
    task_id = create(api, body())
    response = api.get(query_path(task_id), key="sk-sandbox-team-b")
    assert response.status_code == 404
    assert response.json() == refusal("Task not found", code="not_found")


def test_it_cancels_a_queued_task_and_says_so_on_query_and_callback(
    api, callbacks_sent, deliver_callbacks
):
    task_id = create(api, body(webhookUrl="http://127.0.0.1:8000/hooks/ink"))
    response = api.post(cancel_path(task_id))
    assert response.status_code == 200
    assert response.json() == {"success": True, "requestId": task_id, "status": "cancelled"}

    cancelled = api.get(query_path(task_id)).json()
    assert cancelled["status"] == "cancelled" and cancelled["output"] is None
    deliver_callbacks()
    assert callbacks_sent.bodies == [cancelled]


def test_it_cancels_a_processing_task(api):
    task_id = create(api, body())
    api.advance(task_id, 15)
    assert api.post(cancel_path(task_id)).json()["status"] == "cancelled"
    api.finish(task_id)
    assert api.get(query_path(task_id)).json()["status"] == "cancelled"


def test_it_refuses_to_cancel_a_finished_task(api):
    task_id = create(api, body())
    api.finish(task_id)
    response = api.post(cancel_path(task_id))
    assert response.status_code == 409
    assert response.json() == refusal(
        "Only queued or processing tasks can be cancelled", code="task_not_cancellable"
    )
    assert api.get(query_path(task_id)).json()["status"] == "succeeded"


def test_it_does_not_cancel_another_keys_task(api):
    task_id = create(api, body())
    assert api.post(cancel_path(task_id), key="sk-sandbox-team-b").status_code == 404
    assert api.get(query_path(task_id)).json()["status"] == "queued"


def test_cancel_needs_a_post(api):
    task_id = create(api, body())
    response = api.get(cancel_path(task_id))
    assert response.status_code == 405
    assert response.json()["success"] is False


def test_the_webhook_gets_the_query_body_when_the_task_succeeds(
    api, callbacks_sent, deliver_callbacks
):
    task_id = create(api, body(webhookUrl="https://app.example.com/hooks/ink/abc"))
    api.finish(task_id)
    deliver_callbacks()
    assert callbacks_sent.bodies == [api.get(query_path(task_id)).json()]
    assert callbacks_sent.bodies[0]["status"] == "succeeded"


def test_a_failed_task_names_the_provider_error(api):
    task_id = create(api, body(prompt="River [[fault:fail_after:1]]"))
    api.finish(task_id)
    failed = api.get(query_path(task_id)).json()
    assert failed["status"] == "failed" and failed["output"] is None
    assert failed["error"] == {
        "code": "provider_error",
        "message": "Video generation failed upstream",
    }


def test_the_metadata_is_kept_with_the_task(api):
    payload = body(metadata={"projectId": "proj_1001", "sceneId": "scene_08"})
    assert api.task(create(api, payload)).request["metadata"] == {
        "projectId": "proj_1001",
        "sceneId": "scene_08",
    }
