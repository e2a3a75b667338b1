"""The replicate sandbox answers as docs/vendors/replicate.md says, signing its webhooks
as the Standard Webhooks specification does (checked here with the test's own HMAC)."""

import base64
import hashlib
import hmac
import time

import pytest

CREATE = "replicate/v1/models/bytedance/seedance-2.0/predictions"
IMAGE, VIDEO, AUDIO = (
    "https://x.example/a.png",
    "https://x.example/v.mp4",
    "https://x.example/a.mp3",
)
HOOK = "https://hooks.example.com/r"


def body(webhook=None, **inputs):
    payload = {"input": {"prompt": "A river through an autumn forest"} | inputs}
    if webhook:
        payload |= {"webhook": webhook, "webhook_events_filter": ["completed"]}
    return payload


def create(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 201, response.content
    return response.json()["id"]


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"duration": -1},
        {"duration": 15, "resolution": "480p", "aspect_ratio": "adaptive", "seed": 4},
        {"generate_audio": False},
        {"image": IMAGE},
        {"image": IMAGE, "last_frame_image": IMAGE},
        {"reference_images": [IMAGE] * 9, "reference_videos": [VIDEO] * 3},
        {"reference_audios": [AUDIO] * 3, "reference_videos": [VIDEO]},
    ],
)
def test_it_accepts_every_documented_input(api, inputs):
    response = api.post(CREATE, body(**inputs))
    assert response.status_code == 201
    prediction = response.json()
    assert prediction["status"] == "starting" and prediction["output"] is None
    assert prediction["urls"]["get"].endswith(f"/v1/predictions/{prediction['id']}")


@pytest.mark.parametrize(
    "inputs, field",
    [
        ({"duration": 3}, "input.duration"),
        ({"resolution": "4k"}, "input.resolution"),
        ({"aspect_ratio": "2:1"}, "input.aspect_ratio"),
        ({"generate_audio": "yes"}, "input.generate_audio"),
        ({"last_frame_image": IMAGE}, "input.last_frame_image"),
        ({"reference_images": [IMAGE] * 10}, "input.reference_images"),
        ({"reference_audios": [AUDIO] * 4}, "input.reference_audios"),
        ({"image": IMAGE, "reference_images": [IMAGE]}, "input.reference_images"),
        ({"image_url": IMAGE}, "input.image_url"),
    ],
)
def test_it_refuses_invalid_input_with_a_422_problem(api, inputs, field):
    response = api.post(CREATE, body(**inputs))
    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    assert problem["invalid_fields"][0]["field"] == field


def test_an_unknown_model_is_not_found(api):
    response = api.post("replicate/v1/models/bytedance/seedance-9/predictions", body())
    assert response.status_code == 404


def test_a_prediction_succeeds_with_its_output_url(api):
    task_id = create(api, body())
    api.advance(task_id, 15)
    assert api.get(f"replicate/v1/predictions/{task_id}").json()["status"] == "processing"
    api.finish(task_id)
    answer = api.get(f"replicate/v1/predictions/{task_id}").json()
    assert answer["status"] == "succeeded"
    assert answer["output"].startswith("http://testserver/sandbox/files/")
    assert answer["metrics"]["predict_time"] > 0


def test_cancel_answers_with_the_canceled_prediction(api):
    task_id = create(api, body())
    response = api.post(f"replicate/v1/predictions/{task_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"


def test_a_wrong_key_is_unauthenticated(api):
    response = api.post(CREATE, body(), key="nope")
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthenticated"


def test_the_webhook_secret_is_per_key(api):
    first = api.get("replicate/v1/webhooks/default/secret").json()["key"]
    again = api.get("replicate/v1/webhooks/default/secret").json()["key"]
    other = api.get("replicate/v1/webhooks/default/secret", key="sk-sandbox-team-b").json()["key"]
    assert first == again != other
    assert first.startswith("whsec_") and base64.b64decode(first.removeprefix("whsec_"))
    assert api.get("replicate/v1/webhooks/default/secret", key="").status_code == 401


def test_the_completed_webhook_is_signed_with_the_keys_secret(
    api, callbacks_sent, deliver_callbacks
):
    secret = api.get("replicate/v1/webhooks/default/secret").json()["key"]
    task_id = create(api, body(webhook=HOOK))
    api.finish(task_id)
    deliver_callbacks()
    [sent] = callbacks_sent.requests
    assert str(sent.url) == HOOK
    assert callbacks_sent.bodies[0]["status"] == "succeeded"
    msg_id, stamp = sent.headers["webhook-id"], sent.headers["webhook-timestamp"]
    assert abs(int(stamp) - time.time()) < 60
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + sent.content, hashlib.sha256)
    assert sent.headers["webhook-signature"] == "v1," + base64.b64encode(expected.digest()).decode()


def test_a_webhook_filtered_to_other_events_is_not_sent(api, callbacks_sent, deliver_callbacks):
    payload = body() | {"webhook": HOOK, "webhook_events_filter": ["start"]}
    task_id = create(api, payload)
    api.finish(task_id)
    deliver_callbacks()
    assert callbacks_sent.requests == []
