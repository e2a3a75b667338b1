"""The kinovi sandbox answers as docs/vendors/kinovi.md says."""

import pytest

CREATE = "kinovi/api/v1/jobs/createTask"
QUERY = "kinovi/api/v1/jobs/recordInfo"


def body(**inputs):
    return {
        "model": inputs.pop("model", "seedance-20"),
        "inputs": {"prompt": "A lighthouse in a storm", **inputs},
    }


def create(api, payload):
    response = api.post(CREATE, payload)
    assert response.status_code == 200, response.content
    return response.json()["taskId"]


@pytest.mark.parametrize("duration", [str(seconds) for seconds in range(4, 16)])
def test_it_accepts_durations_from_4_to_15_as_strings(api, duration):
    response = api.post(CREATE, body(duration=duration))
    assert response.status_code == 200
    assert response.json()["taskId"].startswith("task_")
    assert api.task(response.json()["taskId"]).duration == int(duration)


@pytest.mark.parametrize(
    "inputs",
    [{"aspectRatio": ratio} for ratio in ("16:9", "9:16", "1:1", "3:4", "4:3", "21:9")]
    + [
        {"outputResolution": "480p"},
        {"outputResolution": "720p"},
        {"upscaleResolution": "4k"},
        {"mode": "reference"},
        {"model": "seedance2-fast"},
        {"prompt": "x" * 4000},
    ],
)
def test_it_accepts_every_documented_option(api, inputs):
    assert api.post(CREATE, body(**inputs)).status_code == 200


@pytest.mark.parametrize(
    "payload, message",
    [
        (body(duration=5), 'Invalid inputs for model: duration must be a string from "4" to "15"'),
        (
            body(duration="3"),
            'Invalid inputs for model: duration must be a string from "4" to "15"',
        ),
        (
            body(duration="16"),
            'Invalid inputs for model: duration must be a string from "4" to "15"',
        ),
        (
            body(duration="5s"),
            'Invalid inputs for model: duration must be a string from "4" to "15"',
        ),
        (body(prompt=""), "Invalid inputs for model: prompt is required"),
        (
            body(prompt="x" * 4001),
            "Invalid inputs for model: prompt is longer than 4000 characters",
        ),
        (
            body(aspectRatio="2:1"),
            "Invalid inputs for model: aspectRatio must be one of 16:9, 9:16, 1:1, 3:4, 4:3, 21:9",
        ),
        (
            body(outputResolution="1080p"),
            "Invalid inputs for model: outputResolution must be 720p or 480p",
        ),
        (body(upscaleResolution="8k"), "Invalid inputs for model: upscaleResolution must be 4k"),
        (body(mode="remix"), "Invalid inputs for model: mode must be keyframe or reference"),
        (
            body(model="seedance-30"),
            "Invalid request parameters: model must be seedance-20 or seedance2-fast",
        ),
        (
            body(model=["seedance-20"]),
            "Invalid request parameters: model must be seedance-20 or seedance2-fast",
        ),
        ({"model": "seedance-20"}, "Invalid request parameters: inputs is required"),
    ],
)
def test_it_refuses_what_the_document_refuses_with_400_and_a_message(api, payload, message):
    response = api.post(CREATE, payload)
    assert response.status_code == 400
    assert response.json() == {"message": message}


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "\xff"])
def test_it_answers_a_malformed_body_with_400_not_a_crash(api, raw):
    response = api.post(CREATE, raw=raw)
    assert response.status_code == 400
    assert response.json() == {"message": "Request body must be a JSON object"}


@pytest.mark.parametrize(
    "key, message",
    [
        (None, "Missing Authorization header"),
        ("sk-live-real-key", "Invalid API key"),
        ("sk-sandbox-", "Invalid API key"),
    ],
)
def test_it_answers_401_to_a_missing_or_non_sandbox_key(api, key, message):
    assert api.post(CREATE, body(), key=key).status_code == 401
    response = api.get(QUERY, key=key, taskId="task_x")
    assert response.status_code == 401
    assert response.json() == {"message": message}


@pytest.mark.parametrize(
    "payload, credits",
    [
        (body(), 200),  # "A 5-second 720P video costs 200 credits ($1.00) with Pro"
        (body(model="seedance2-fast"), 140),
        (body(outputResolution="480p"), 100),
        (body(model="seedance2-fast", outputResolution="480p"), 70),
        (body(upscaleResolution="4k"), 340),
        (body(duration="15"), 600),
        (body(model="seedance2-fast", duration="15", upscaleResolution="4k"), 840),
    ],
)
def test_it_reports_credits_used_by_the_published_rates(api, payload, credits):
    task_id = create(api, payload)
    assert api.get(QUERY, taskId=task_id).json()["creditsUsed"] == credits


def test_a_task_goes_from_waiting_through_generating_to_success_with_its_video(api, probe):
    task_id = create(api, body(duration="6", aspectRatio="9:16"))

    waiting = api.get(QUERY, taskId=task_id).json()
    assert waiting["status"] == "waiting"
    assert waiting["output"] == [] and waiting["error"] is None
    assert waiting["completeTime"] is None

    api.advance(task_id, 15)  # queue 10 s, run 20 s
    assert api.get(QUERY, taskId=task_id).json()["status"] == "generating"

    api.finish(task_id)
    done = api.get(QUERY, taskId=task_id).json()
    assert set(done) == {
        "taskId",
        "model",
        "status",
        "creditsUsed",
        "output",
        "error",
        "createTime",
        "completeTime",
    }
    assert done["status"] == "success"
    assert done["taskId"] == task_id and done["model"] == "seedance-20"
    assert done["completeTime"] > done["createTime"]
    [output] = done["output"]
    assert output["mediaType"] == "video"
    clip = probe(output["url"])
    assert abs(clip.duration - 6) <= 0.5
    assert (clip.width, clip.height) == (output["width"], output["height"]) == (72, 128)
    assert not clip.has_audio


def test_a_missing_task_id_is_a_400(api):
    response = api.get(QUERY)
    assert response.status_code == 400
    assert response.json() == {"message": "Missing taskId parameter"}


def test_another_keys_task_is_not_found(api):
    task_id = create(api, body())
    response = api.get(QUERY, key="sk-sandbox-team-b", taskId=task_id)
    assert response.status_code == 404
    assert response.json() == {"message": "Task not found"}


def test_unknown_fields_are_ignored_but_kept_with_the_task(api):
    payload = body(seed=42)
    payload["webhookSecret"] = "abc"
    task_id = create(api, payload)
    assert api.task(task_id).request == payload


def test_the_callback_gets_the_wrapped_result_when_the_task_ends(
    api, callbacks_sent, deliver_callbacks
):
    payload = body() | {"callBackUrl": "http://127.0.0.1:8000/hooks/kinovi/secret"}
    task_id = create(api, payload)
    deliver_callbacks()
    assert callbacks_sent.requests == []  # still waiting

    api.finish(task_id)
    deliver_callbacks()
    [sent] = callbacks_sent.bodies
    assert callbacks_sent.urls == ["http://127.0.0.1:8000/hooks/kinovi/secret"]
    assert sent["code"] == 200 and sent["message"] == "success"
    assert sent["data"] == api.get(QUERY, taskId=task_id).json()
    assert sent["data"]["status"] == "success"


def test_a_failed_task_reports_the_error_charges_nothing_and_calls_back(
    api, callbacks_sent, deliver_callbacks
):
    payload = body(prompt="Storm [[fault:fail_after:5]]") | {"callBackUrl": "http://hooks.test/k"}
    task_id = create(api, payload)
    api.finish(task_id)
    failed = api.get(QUERY, taskId=task_id).json()
    assert failed["status"] == "fail"
    assert failed["creditsUsed"] == 0 and failed["output"] == []
    assert failed["error"] == {"code": "generation_failed", "message": "Task execution failed"}
    deliver_callbacks()
    [sent] = callbacks_sent.bodies
    assert sent["code"] == 501 and sent["data"]["status"] == "fail"


def test_its_429_carries_the_concurrency_limit(api, slept):
    response = api.post(CREATE, body(prompt="Busy [[fault:429:7]]"))
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert response.json() == {
        "message": "Concurrency limit reached (3). You have 3 tasks in progress. "
        "Please wait for them to complete.",
        "limit": 3,
        "current": 3,
    }


def test_its_402_says_what_was_required(api):
    response = api.post(CREATE, body(prompt="Broke [[fault:402]]"))
    assert response.status_code == 402
    assert response.json() == {"message": "Insufficient credits", "required": 200, "available": 0}
