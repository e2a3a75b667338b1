"""The byteplus_ark sandbox answers as docs/vendors/byteplus_ark.md says."""

import pytest

CREATE = "byteplus_ark/contents/generations/tasks"
IMAGE, VIDEO, AUDIO = (
    "https://x.example/a.png",
    "https://x.example/v.mp4",
    "https://x.example/a.mp3",
)


def text(prompt="A river through an autumn forest"):
    return {"type": "text", "text": prompt}


def item(kind, url, role):
    return {"type": kind, kind: {"url": url}, "role": role}


def body(*media, **fields):
    return {"model": "dreamina-seedance-2-0-260128", "content": [text(), *media]} | fields


def create(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200, response.content
    return response.json()["id"]


def delete(api, task_id, key="sk-sandbox-team-a"):
    return api.client.delete(f"/sandbox/{CREATE}/{task_id}", HTTP_AUTHORIZATION=f"Bearer {key}")


ACCEPTED = [
    body(),
    body(resolution="480p", ratio="adaptive", duration=4, watermark=False, seed=3),
    body(resolution="1080p", ratio="21:9", duration=15, generate_audio=False),
    body(item("image_url", IMAGE, "first_frame")),
    body(item("image_url", IMAGE, "first_frame"), item("image_url", IMAGE, "last_frame")),
    body(item("image_url", "data:image/png;base64,iVBORw0KGgo=", "first_frame")),
    body(*[item("image_url", IMAGE, "reference_image")] * 9),
    body(item("video_url", VIDEO, "reference_video"), item("audio_url", AUDIO, "reference_audio")),
    body(model="seedance-1-5-pro-251215", duration=12),
    body(camera_fixed=True, return_last_frame=True, callback_url="https://hooks.example.com/a"),
]


@pytest.mark.parametrize("payload", ACCEPTED)
def test_it_accepts_every_documented_form(api, payload):
    assert create(api, payload).startswith("cgt-")


@pytest.mark.parametrize(
    "payload, param",
    [
        (body(model="seedance-9"), "model"),
        (body(resolution="4k"), "resolution"),
        (body(ratio="2:1"), "ratio"),
        (body(duration=16), "duration"),
        (body(model="seedance-1-5-pro-251215", duration=13), "duration"),
        (body(duration="5"), "duration"),
        (body(watermark="no"), "watermark"),
        (body(model="seedance-1-5-pro-251215", generate_audio=True), "generate_audio"),
        (body(rs="720p"), "rs"),
        ({"model": "dreamina-seedance-2-0-260128", "content": []}, "content"),
        ({"model": "dreamina-seedance-2-0-260128", "prompt": "x"}, "prompt"),
        (body(item("image_url", IMAGE, "last_frame")), "content.role"),
        (
            body(
                item("image_url", IMAGE, "first_frame"), item("image_url", IMAGE, "reference_image")
            ),
            "content.role",
        ),
        (body(item("video_url", VIDEO, "first_frame")), "content.role"),
        (body(*[item("image_url", IMAGE, "reference_image")] * 10), "content"),
        (body(*[item("video_url", VIDEO, "reference_video")] * 4), "content"),
        (body(item("audio_url", AUDIO, "reference_audio")), "content"),
        (body(item("image_url", "ftp://x/a.png", "first_frame")), "content.image_url.url"),
        (
            body(item("video_url", "data:video/mp4;base64,AAAA", "reference_video")),
            "content.video_url.url",
        ),
        (
            body(item("image_url", IMAGE, "reference_image"), model="seedance-1-5-pro-251215"),
            "content.role",
        ),
    ],
)
def test_it_refuses_what_the_document_does_not_allow(api, payload, param):
    response = api.post(CREATE, payload)
    assert response.status_code in (400, 404)
    error = response.json()["error"]
    assert error["param"] == param
    assert error["code"].startswith(("InvalidParameter", "InvalidEndpointOrModel"))
    assert error["message"] and error["type"] == "BadRequest"


def test_a_task_goes_from_queued_to_succeeded_with_its_clip_and_token_usage(api):
    task_id = create(api, body(resolution="720p", duration=5))
    answer = api.get(f"{CREATE}/{task_id}").json()
    assert answer["status"] == "queued" and answer["content"] is None and answer["usage"] is None
    api.advance(task_id, 15)
    assert api.get(f"{CREATE}/{task_id}").json()["status"] == "running"
    api.finish(task_id)
    answer = api.get(f"{CREATE}/{task_id}").json()
    assert answer["status"] == "succeeded"
    assert answer["content"]["video_url"].startswith("http://testserver/sandbox/files/")
    # 1280 × 720 × 24 fps × 5 s / 1024
    assert answer["usage"] == {"completion_tokens": 108000, "total_tokens": 108000}
    assert (answer["resolution"], answer["duration"], answer["framespersecond"]) == ("720p", 5, 24)


def test_a_failed_task_has_an_error_and_no_usage(api):
    task_id = create(api, body(content=[text("A kite [[fault:fail_after]]")]))
    answer = api.get(f"{CREATE}/{task_id}").json()
    assert answer["status"] == "failed" and answer["usage"] is None
    assert answer["error"]["code"] == "OutputVideoSensitiveContentDetected"


def test_delete_cancels_a_queued_task(api):
    task_id = create(api, body())
    response = delete(api, task_id)
    assert response.status_code == 200
    assert api.get(f"{CREATE}/{task_id}").json()["status"] == "cancelled"


def test_delete_refuses_a_running_task_which_runs_on(api):
    task_id = create(api, body())
    api.advance(task_id, 15)
    response = delete(api, task_id)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidAction.TaskNotCancellable"
    assert api.get(f"{CREATE}/{task_id}").json()["status"] == "running"


def test_another_keys_task_is_not_found(api):
    task_id = create(api, body())
    response = api.get(f"{CREATE}/{task_id}", key="sk-sandbox-team-b")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ResourceNotFound"
    assert delete(api, task_id, key="sk-sandbox-team-b").status_code == 404


def test_a_wrong_key_is_an_authentication_error(api):
    response = api.post(CREATE, body(), key="wrong")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationError"


def test_a_full_queue_is_a_429_quota_exceeded(api):
    response = api.post(CREATE, body(content=[text("A kite [[fault:429:12]]")]))
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "QuotaExceeded"
    assert response["Retry-After"] == "12"


def test_the_callback_is_the_query_body(api, callbacks_sent, deliver_callbacks):
    task_id = create(api, body(callback_url="https://hooks.example.com/a"))
    api.finish(task_id)
    deliver_callbacks()
    [sent] = callbacks_sent.bodies
    assert sent == api.get(f"{CREATE}/{task_id}").json()
    assert "webhook-signature" not in callbacks_sent.requests[0].headers
