"""The fal sandbox answers as docs/vendors/fal.md says: the queue's submit, status,
result and cancel addresses, `Key` authorization, and failures that end COMPLETED."""

import pytest

TEXT = "fal/bytedance/seedance-2.0/text-to-video"
IMAGE_TO_VIDEO = "fal/bytedance/seedance-2.0/image-to-video"
IMAGE = "https://x.example/a.png"
QUEUE = "http://testserver/sandbox/fal/bytedance/seedance-2.0/requests"


def body(**fields):
    return {"prompt": "A river through an autumn forest"} | fields


def submit(api, payload=None, path=TEXT):
    response = api.post(path, payload or body())
    assert response.status_code == 200, response.content
    return response.json()


def read(api, url, **kwargs):
    return api.get(url.removeprefix("http://testserver/sandbox/"), **kwargs)


def put(api, url, key="sk-sandbox-team-a"):
    return api.client.put(url.removeprefix("http://testserver"), HTTP_AUTHORIZATION=f"Key {key}")


def test_a_submit_answers_with_the_requests_three_addresses(api):
    answer = submit(api)
    request_id = answer["request_id"]
    assert answer == {
        "request_id": request_id,
        "status_url": f"{QUEUE}/{request_id}/status",
        "response_url": f"{QUEUE}/{request_id}",
        "cancel_url": f"{QUEUE}/{request_id}/cancel",
        "queue_position": 0,
    }


@pytest.mark.parametrize(
    "path, payload",
    [
        (TEXT, body(resolution="1080p", duration="15", aspect_ratio="21:9", seed=1)),
        (TEXT, body(generate_audio=False, enable_safety_checker=True, aspect_ratio="auto")),
        (IMAGE_TO_VIDEO, body(image_url=IMAGE)),
        (IMAGE_TO_VIDEO, body(image_url=IMAGE, end_image_url=IMAGE)),
        ("fal/bytedance/seedance-2.0/fast/text-to-video", body()),
        (
            "fal/bytedance/seedance-2.0/mini/image-to-video",
            body(image_url=IMAGE, resolution="480p"),
        ),
    ],
)
def test_it_accepts_every_documented_input(api, path, payload):
    assert submit(api, payload, path)["request_id"]


@pytest.mark.parametrize(
    "path, payload, field",
    [
        (TEXT, body(duration=5), "duration"),
        (TEXT, body(duration="16"), "duration"),
        (TEXT, body(aspect_ratio="adaptive"), "aspect_ratio"),
        (TEXT, body(image_url=IMAGE), "image_url"),
        (TEXT, body(ratio="16:9"), "ratio"),
        (IMAGE_TO_VIDEO, body(), "image_url"),
        (IMAGE_TO_VIDEO, body(image_url=IMAGE, end_image_url=5), "end_image_url"),
        ("fal/bytedance/seedance-2.0/mini/text-to-video", body(resolution="1080p"), "resolution"),
    ],
)
def test_it_refuses_invalid_input_with_a_422(api, path, payload, field):
    response = api.post(path, payload)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_an_unknown_model_is_not_found(api):
    assert api.post("fal/bytedance/seedance-9/text-to-video", body()).status_code == 404


def test_keys_travel_as_key_not_bearer(api):
    response = api.client.post(
        f"/sandbox/{TEXT}",
        data=body(),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer sk-sandbox-team-a",
    )
    assert response.status_code == 401


def test_a_request_goes_in_queue_in_progress_then_completed_with_its_video(api):
    answer = submit(api)
    request_id = answer["request_id"]
    status = read(api, answer["status_url"]).json()
    assert status["status"] == "IN_QUEUE" and status["queue_position"] == 0
    assert read(api, answer["response_url"]).status_code == 400
    api.advance(request_id, 15)
    assert read(api, answer["status_url"]).json()["status"] == "IN_PROGRESS"
    api.finish(request_id)
    assert read(api, answer["status_url"]).json()["status"] == "COMPLETED"
    result = read(api, answer["response_url"])
    assert result.status_code == 200
    assert result.json()["video"]["url"].startswith("http://testserver/sandbox/files/")


def test_a_failed_request_ends_completed_and_its_result_is_an_error(api):
    answer = submit(api, body(prompt="A kite [[fault:fail_after]]"))
    assert read(api, answer["status_url"]).json()["status"] == "COMPLETED"
    result = read(api, answer["response_url"])
    assert result.status_code == 422
    assert result.json() == {"detail": "Video generation failed"}


def test_cancel_while_queued_is_requested_and_too_late_once_running(api):
    queued = submit(api)
    response = put(api, queued["cancel_url"])
    assert (response.status_code, response.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    running = submit(api)
    api.advance(running["request_id"], 15)
    response = put(api, running["cancel_url"])
    assert (response.status_code, response.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert read(api, running["status_url"]).json()["status"] == "IN_PROGRESS"


def test_cancelling_an_unknown_request_is_not_found(api):
    response = put(api, f"{QUEUE}/no-such-request/cancel")
    assert (response.status_code, response.json()) == (404, {"status": "NOT_FOUND"})


def test_the_webhook_carries_the_result_as_its_payload(
    api, client, callbacks_sent, deliver_callbacks
):
    response = client.post(
        f"/sandbox/{TEXT}?fal_webhook=https://hooks.example.com/f",
        data=body(),
        content_type="application/json",
        HTTP_AUTHORIZATION="Key sk-sandbox-team-a",
    )
    answer = response.json()
    api.finish(answer["request_id"])
    deliver_callbacks()
    [sent] = callbacks_sent.bodies
    assert str(callbacks_sent.requests[0].url) == "https://hooks.example.com/f"
    assert sent["request_id"] == answer["request_id"] and sent["status"] == "OK"
    assert sent["payload"]["video"]["url"].startswith("http://testserver/sandbox/files/")


def test_faults_bend_the_status_read(api):
    answer = submit(api, body(prompt="A kite [[fault:query_500:1]]"))
    assert read(api, answer["status_url"]).status_code == 500
    assert read(api, answer["status_url"]).status_code == 200
