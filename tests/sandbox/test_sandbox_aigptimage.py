"""The aigptimage sandbox answers as docs/vendors/aigptimage.md says."""

import json

import pytest

CREATE = "aigptimage/api/v1/jobs/createTask"
QUERY = "aigptimage/api/v1/jobs/recordInfo"
MODEL = "seedance-2.0-text-to-video"


def body(**inputs):
    return {
        "model": inputs.pop("model", MODEL),
        "input": {"prompt": "A slow dolly shot through a botanical lab", **inputs},
    }


def create(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200, response.content
    return response.json()["data"]["taskId"]


def refusal(status, message):
    return {"code": status, "msg": message, "data": None}


ACCEPTED = (
    [body(ratio=r) for r in ("16:9", "9:16", "1:1")]
    + [body(aspect_ratio=r) for r in ("16:9", "9:16", "1:1")]
    + [body(resolution=r) for r in ("480p", "720p", "1080p")]
    + [body(duration=d) for d in (4, 5, 7.5, 15)]
    + [
        body(generate_audio=True, web_search=True, nsfw_checker=False),
        body(prompt="x" * 20000),
    ]
)


@pytest.mark.parametrize("payload", ACCEPTED)
def test_it_accepts_every_documented_option(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200
    assert response.json() == {
        "code": 200,
        "msg": "success",
        "data": {"taskId": response.json()["data"]["taskId"]},
    }


@pytest.mark.parametrize(
    "payload, status, message",
    [
        (body(model="seedance-2.0"), 422, f"model must be exactly {MODEL}"),
        (body(model="Seedance-2.0-Text-To-Video"), 422, f"model must be exactly {MODEL}"),
        ({"input": {"prompt": "x"}}, 400, "model is required"),
        ({"model": MODEL}, 400, "input is required and must be an object"),
        ({"model": MODEL, "input": {}}, 400, "input.prompt is required"),
        (body(prompt="x" * 20001), 422, "input.prompt must be 1 to 20000 characters"),
        (
            body(ratio="2:1"),
            422,
            "input.ratio must be one of 16:9, 9:16, 1:1, 4:3, 3:4, 21:9, adaptive",
        ),
        (
            body(ratio="2:1", aspect_ratio="16:9"),
            422,
            "input.ratio must be one of 16:9, 9:16, 1:1, 4:3, 3:4, 21:9, adaptive",
        ),
        (body(resolution="4k"), 422, "input.resolution must be 480p, 720p or 1080p"),
        (body(duration="5"), 422, "input.duration must be a number"),
        (body(duration=30), 422, "input.duration must be from 4 to 15 seconds"),
        (body(generate_audio="yes"), 422, "input.generate_audio must be true or false"),
    ],
)
def test_it_refuses_bad_requests_with_400_and_bad_values_with_422(api, payload, status, message):
    response = api.post(CREATE, payload)
    assert response.status_code == status
    assert response.json() == refusal(status, message)


def test_a_wrong_key_is_its_401(api):
    response = api.post(CREATE, body(), key="YOUR_API_KEY")
    assert response.status_code == 401
    assert response.json() == refusal(401, "Invalid API key")


def test_an_unknown_task_is_its_404(api):
    response = api.get(QUERY, taskId="task_nothinghere0")
    assert response.status_code == 404
    assert response.json() == refusal(404, "Task not found")


def test_ratio_wins_over_aspect_ratio(api, probe):
    task_id = create(api, body(ratio="9:16", aspect_ratio="16:9", duration=4))
    api.finish(task_id)
    result = json.loads(api.get(QUERY, taskId=task_id).json()["data"]["resultJson"])
    clip = probe(result["resultUrls"][0])
    assert (clip.width, clip.height) == (72, 128)


def test_a_task_waits_then_succeeds_with_a_result_json_string(api, probe):
    payload = body(
        ratio="16:9", resolution="720p", duration=5, generate_audio=False, nsfw_checker=False
    )
    task_id = create(api, payload)
    assert task_id.startswith("task_") and len(task_id) == 18

    waiting = api.get(QUERY, taskId=task_id).json()
    assert waiting == {
        "code": 200,
        "msg": "success",
        "data": {
            "taskId": task_id,
            "model": MODEL,
            "state": "waiting",
            "param": waiting["data"]["param"],
            "resultJson": None,
            "failCode": None,
            "failMsg": None,
            "costTime": None,
            "completeTime": None,
            "createTime": waiting["data"]["createTime"],
        },
    }
    assert json.loads(waiting["data"]["param"]) == payload
    api.advance(task_id, 15)
    assert api.get(QUERY, taskId=task_id).json()["data"]["state"] == "waiting"

    api.finish(task_id)
    data = api.get(QUERY, taskId=task_id).json()["data"]
    assert data["state"] == "success"
    assert isinstance(data["resultJson"], str)
    assert data["costTime"] == data["completeTime"] - data["createTime"] == 30_000
    clip = probe(json.loads(data["resultJson"])["resultUrls"][0])
    assert abs(clip.duration - 5) <= 0.5
    assert not clip.has_audio


def test_generate_audio_gives_the_clip_a_sound_track(api, probe):
    task_id = create(api, body(generate_audio=True, duration=4))
    api.finish(task_id)
    data = api.get(QUERY, taskId=task_id).json()["data"]
    assert probe(json.loads(data["resultJson"])["resultUrls"][0]).has_audio


def test_a_failed_task_has_a_fail_code_and_message(api):
    task_id = create(api, body(prompt="Lab [[fault:fail_after:4]]"))
    api.finish(task_id)
    data = api.get(QUERY, taskId=task_id).json()["data"]
    assert data["state"] == "fail" and data["resultJson"] is None
    assert (data["failCode"], data["failMsg"]) == ("GENERATION_FAILED", "Video generation failed")
    assert data["costTime"] == 4000


def test_it_sends_no_callback_even_when_given_a_url(api, callbacks_sent, deliver_callbacks):
    payload = body() | {"callBackUrl": "https://app.example.com/hooks/aig"}
    task_id = create(api, payload)
    api.finish(task_id)
    deliver_callbacks()
    assert callbacks_sent.requests == []
    assert api.task(task_id).request["callBackUrl"] == "https://app.example.com/hooks/aig"
