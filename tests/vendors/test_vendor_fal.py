"""fal, from docs/vendors/fal.md: the queue protocol, field by field per mode."""

import pytest

from generations.vendors import ErrorKind, TaskState, VendorError, VideoRequest
from generations.vendors.fal import FalAdapter

KEY = "fal-SECRET-0123456789abcdef"
BASE = "https://queue.fal.run"
PROMPT = "Paper boats racing down a rainy gutter"
FIRST, LAST = "https://img.example.com/first.png", "https://img.example.com/last.png"
APP = f"{BASE}/bytedance/seedance-2.0/requests/764cabcf"
HOOK = "https://studio.example.com/hooks/abc/token/"


def make_request(**changes):
    return VideoRequest(**({"family": "seedance-2.0", "prompt": PROMPT} | changes))


@pytest.fixture
def fal(vendor):
    return FalAdapter(KEY, client=vendor.client)


def submitted(**changes):
    return {
        "request_id": "764cabcf",
        "status_url": f"{APP}/status",
        "response_url": APP,
        "cancel_url": f"{APP}/cancel",
        "queue_position": 0,
    } | changes


def submit(fal, vendor, request, callback=None, answer=None):
    vendor.answer(json=answer or submitted())
    return fal.create(request, callback)


# --- submit, field by field per mode ---------------------------------------------------------


def test_a_text_request_goes_to_the_text_to_video_endpoint_with_its_fields(fal, vendor):
    request = make_request(duration=7, aspect_ratio="9:16", resolution="1080p", seed=5)
    submit(fal, vendor, request)
    assert vendor.last.method == "POST"
    assert str(vendor.last.url) == f"{BASE}/bytedance/seedance-2.0/text-to-video"
    assert vendor.last.headers["Authorization"] == f"Key {KEY}"
    assert vendor.sent() == {
        "prompt": PROMPT,
        "resolution": "1080p",
        "duration": "7",
        "aspect_ratio": "9:16",
        "generate_audio": False,
        "seed": 5,
    }


def test_adaptive_is_sent_as_auto(fal, vendor):
    submit(fal, vendor, make_request(aspect_ratio="adaptive"))
    assert vendor.sent()["aspect_ratio"] == "auto"


def test_an_image_request_sends_image_url_to_image_to_video(fal, vendor):
    submit(fal, vendor, make_request(mode="image", image_urls=[FIRST]))
    assert str(vendor.last.url) == f"{BASE}/bytedance/seedance-2.0/image-to-video"
    assert vendor.sent()["image_url"] == FIRST
    assert "end_image_url" not in vendor.sent()


def test_a_first_and_last_frame_request_sends_end_image_url(fal, vendor):
    submit(fal, vendor, make_request(mode="first_last", image_urls=[FIRST, LAST]))
    assert str(vendor.last.url) == f"{BASE}/bytedance/seedance-2.0/image-to-video"
    assert (vendor.sent()["image_url"], vendor.sent()["end_image_url"]) == (FIRST, LAST)


@pytest.mark.parametrize(
    "family, path",
    [
        ("seedance-2.0-fast", "bytedance/seedance-2.0/fast/text-to-video"),
        ("seedance-2.0-mini", "bytedance/seedance-2.0/mini/text-to-video"),
    ],
)
def test_each_family_has_its_endpoint(fal, vendor, family, path):
    submit(fal, vendor, make_request(family=family))
    assert str(vendor.last.url) == f"{BASE}/{path}"


def test_the_callback_goes_as_fal_webhook_in_the_query(fal, vendor):
    submit(fal, vendor, make_request(), callback=HOOK)
    assert vendor.last.url.params["fal_webhook"] == HOOK
    assert "fal_webhook" not in vendor.sent()


def test_references_are_not_offered():
    [problem] = FalAdapter(KEY).check(make_request(mode="reference", image_urls=[FIRST]))
    assert problem.startswith("fal offers Seedance 2.0 only as text-to-video, image-to-video")


# --- the addresses the submit returns --------------------------------------------------------


def test_it_follows_the_status_and_response_urls_it_was_given(fal, vendor):
    odd = f"{BASE}/elsewhere/on/this/host/764cabcf"
    created = submit(
        fal,
        vendor,
        make_request(),
        answer=submitted(status_url=f"{odd}/s?x=1", response_url=f"{odd}/r", cancel_url=f"{odd}/c"),
    )
    vendor.answer(json={"status": "COMPLETED"})
    vendor.answer(json={"video": {"url": "https://v3.fal.media/files/out.mp4"}, "seed": 1})
    snapshot = fal.query(created.task_id)
    assert [str(r.url) for r in vendor.requests[1:]] == [f"{odd}/s?x=1", f"{odd}/r"]
    assert all(r.headers["Authorization"] == f"Key {KEY}" for r in vendor.requests)
    assert snapshot.state == TaskState.SUCCEEDED
    assert snapshot.output_urls == ["https://v3.fal.media/files/out.mp4"]
    vendor.answer(202, {"status": "CANCELLATION_REQUESTED"})
    assert fal.cancel(created.task_id).state == TaskState.CANCELLED
    assert (vendor.last.method, str(vendor.last.url)) == ("PUT", f"{odd}/c")


@pytest.mark.parametrize("field", ["status_url", "response_url", "cancel_url"])
def test_an_address_on_another_host_is_refused_as_malformed(fal, vendor, field):
    with pytest.raises(VendorError) as caught:
        submit(fal, vendor, make_request(), answer=submitted(**{field: "https://evil.example/x"}))
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert "evil.example" in caught.value.message


def test_an_answer_without_a_request_id_is_refused(fal, vendor):
    with pytest.raises(VendorError) as caught:
        submit(fal, vendor, make_request(), answer=submitted(request_id=None))
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME


# --- following ---------------------------------------------------------------------------------


@pytest.fixture
def task_id(fal, vendor):
    return submit(fal, vendor, make_request()).task_id


@pytest.mark.parametrize(
    "status, state", [("IN_QUEUE", TaskState.QUEUED), ("IN_PROGRESS", TaskState.RUNNING)]
)
def test_an_unfinished_request_is_read_from_its_status_alone(fal, vendor, task_id, status, state):
    vendor.answer(json={"status": status, "queue_position": 2})
    assert fal.query(task_id).state == state
    assert str(vendor.last.url) == f"{APP}/status"


@pytest.mark.parametrize("code", [400, 422, 500])
def test_a_completed_request_whose_result_is_an_error_is_a_failure(fal, vendor, task_id, code):
    vendor.answer(json={"status": "COMPLETED"})
    vendor.answer(code, {"detail": "The image could not be read"})
    snapshot = fal.query(task_id)
    assert snapshot.state == TaskState.FAILED
    assert "The image could not be read" in snapshot.error_message
    assert snapshot.output_urls == []


@pytest.mark.parametrize("code", [401, 429, 502])
def test_trouble_reading_the_result_is_not_a_verdict(fal, vendor, task_id, code):
    vendor.answer(json={"status": "COMPLETED"})
    vendor.answer(code, {"detail": "try later"})
    with pytest.raises(VendorError):
        fal.query(task_id)


def test_a_webhook_is_a_hint_naming_the_request(fal):
    hint = fal.parse_callback(b'{"request_id": "764cabcf", "status": "OK", "payload": {}}')
    assert (hint.task_id, hint.state) == ("764cabcf", None)


def test_a_bare_request_id_is_followed_at_the_queues_documented_addresses(fal, vendor):
    vendor.answer(json={"status": "IN_PROGRESS"})
    fal.query("764cabcf")
    assert str(vendor.last.url) == f"{APP}/status"


def test_cancelling_too_late_reads_how_it_ended(fal, vendor, task_id):
    vendor.answer(400, {"status": "ALREADY_COMPLETED"})
    vendor.answer(json={"status": "IN_PROGRESS"})
    assert fal.cancel(task_id).state == TaskState.RUNNING
    assert [r.method for r in vendor.requests[1:]] == ["PUT", "GET"]


def test_cancelling_an_unknown_request_is_not_found(fal, vendor, task_id):
    vendor.answer(404, {"status": "NOT_FOUND"})
    with pytest.raises(VendorError) as caught:
        fal.cancel(task_id)
    assert caught.value.kind == ErrorKind.NOT_FOUND


# --- review #17: a COMPLETED request's result read strictly -----------------------------------


@pytest.mark.parametrize(
    "result",
    [{"detail": "Internal error while generating"}, {"seed": 3}, {"video": {"url": ""}}],
    ids=["error-with-200", "no-video", "empty-url"],
)
def test_a_completed_result_without_a_video_is_a_failure_not_a_success(
    fal, vendor, task_id, result
):
    vendor.answer(json={"status": "COMPLETED"})
    vendor.answer(json=result)
    snapshot = fal.query(task_id)
    assert snapshot.state == TaskState.FAILED
    assert snapshot.output_urls == []
    assert snapshot.error_message.startswith("fal finished the request without a clip")
    if "detail" in result:
        assert "Internal error while generating" in snapshot.error_message


def test_a_validation_list_in_detail_is_said_in_its_words(fal, vendor, task_id):
    vendor.answer(json={"status": "COMPLETED"})
    vendor.answer(
        422,
        {
            "detail": [
                {
                    "loc": ["body", "prompt"],
                    "msg": "The content was flagged by a content checker",
                    "type": "content_policy_violation",
                }
            ]
        },
    )
    snapshot = fal.query(task_id)
    assert snapshot.state == TaskState.FAILED
    assert "prompt: The content was flagged by a content checker" in snapshot.error_message
    assert "Unprocessable Entity" not in snapshot.error_message


def test_a_refused_submit_with_a_validation_list_says_which_field(fal, vendor):
    vendor.answer(422, {"detail": [{"loc": ["body", "duration"], "msg": "must be 4 to 15"}]})
    with pytest.raises(VendorError) as caught:
        fal.create(make_request(), None)
    assert caught.value.kind == ErrorKind.BAD_REQUEST
    assert "duration: must be 4 to 15" in caught.value.message
