"""The faults of vendors that answer a little differently from their documents, each
proved over HTTP as generations/sandbox/faults.py describes it."""

import json
import re
import time

import httpx
import pytest
from django.core.exceptions import ValidationError

from generations.sandbox import engine
from generations.sandbox import faults as fault_rules
from generations.sandbox.models import SandboxKey, SandboxTask
from tests.sandbox.vendors import CALLING_VENDORS, EVERY_VENDOR, SHARED, VENDORS, create, query

# Vendors that report a charge (fal and Replicate report none, as AIGPTImage).
SILENT = ("aigptimage", "fal", "replicate")
CHARGING_VENDORS = pytest.mark.parametrize(
    "vendor",
    [v for v in SHARED.values() if v.name not in SILENT],
    ids=[name for name in SHARED if name not in SILENT],
)


def finished_answer(api, vendor, task_id):
    api.finish(task_id)
    response = query(api, vendor, task_id)
    assert response.status_code == 200, response.content
    return response.json()


# The grammar.


@pytest.mark.parametrize(
    "prompt, faults",
    [
        ("[[fault:gateway]]", {"gateway": True}),
        ("[[fault:gateway:524]]", {"gateway": 524}),
        ("[[fault:query_404_at:3]] [[fault:query_404]]", {"query_404_at": 3, "query_404": True}),
        ("[[fault:charge:-5]]", {"charge": -5}),
        ("[[fault:charge:12.5]]", {"charge": 12.5}),
        ("[[fault:charge:12345678901]]", {"charge": 12345678901}),
        ("[[fault:long_url:3000]] [[fault:long_error]]", {"long_url": 3000, "long_error": True}),
        ("[[fault:video_size:2600x2]]", {"video_size": "2600x2"}),
        ("[[fault:video_size: 2 X 2600 ]]", {"video_size": "2x2600"}),
        (
            "[[fault:slow_download:0.5]] [[fault:wrong_types]]",
            {"slow_download": 0.5, "wrong_types": True},
        ),
    ],
)
def test_new_markers_are_read_with_their_arguments(prompt, faults):
    assert fault_rules.parse_markers(prompt) == faults


@pytest.mark.parametrize(
    "prompt",
    [
        "[[fault:gateway:503]]",
        "[[fault:charge]]",
        "[[fault:charge:nan]]",
        "[[fault:charge:inf]]",
        "[[fault:long_url:-1]]",
        "[[fault:long_error:2.5]]",
        "[[fault:long_task_id:12]]",
        "[[fault:query_404_at:0]]",
        "[[fault:video_size:3x5]]",
        "[[fault:video_size:big]]",
        "[[fault:video_size]]",
        "[[fault:wrong_types:2]]",
    ],
)
def test_new_markers_with_a_bad_argument_are_ignored(prompt):
    assert fault_rules.parse_markers(prompt) == {}


@pytest.mark.parametrize(
    "faults, message",
    [
        ({"gateway": 503}, "gateway must be one of 502, 504, 520, 522, 524"),
        ({"charge": True}, "charge needs a number of credits"),
        ({"charge": "lots"}, "charge needs a number, not 'lots'"),
        ({"long_url": -1}, "long_url cannot be negative"),
        ({"latency": -1}, "latency cannot be negative"),
        ({"long_error": 2.5}, "long_error needs a whole number, not 2.5"),
        ({"long_task_id": 10}, "long_task_id must be from 64 to 10000"),
        ({"video_size": True}, "video_size needs a size such as 2600x2"),
        (
            {"video_size": "big"},
            "video_size needs a size such as 2600x2 (width x height), not 'big'",
        ),
        ({"video_size": [2600, 2]}, "video_size needs a size such as 2600x2"),
        ({"video_size": "3x5"}, "video_size needs even sides from 2 to 8192 pixels, not '3x5'"),
        ({"video_size": "2x9000"}, "video_size needs even sides from 2 to 8192 pixels"),
        ({"no_output": 1}, "no_output takes no argument"),
    ],
)
def test_a_sandbox_key_refuses_a_new_fault_with_a_bad_argument(db, faults, message):
    key = SandboxKey(key_prefix="sk-sandbox-odd-", faults=faults)
    with pytest.raises(ValidationError, match=re.escape(message)):
        key.full_clean()


def test_a_sandbox_key_takes_the_new_faults_and_a_negative_charge(api):
    key = SandboxKey(
        key_prefix="sk-sandbox-odd-",
        faults={"charge": -3, "video_size": "2600X2", "gateway": 504, "never_finishes": True},
    )
    key.full_clean()
    key.save()
    assert key.faults == {
        "charge": -3,
        "video_size": "2600x2",
        "gateway": 504,
        "never_finishes": True,
    }
    vendor = VENDORS["evolink"]
    response = api.post(vendor.create, vendor.body("A kite", None), key="sk-sandbox-odd-1")
    assert response.status_code == 504
    assert SandboxTask.objects.get().faults == key.faults


# Create.


@EVERY_VENDOR
def test_a_gateway_fault_stores_the_task_and_answers_502(api, vendor):
    response = api.post(vendor.create, vendor.body("A kite [[fault:gateway]]", None))
    assert response.status_code == 502
    assert response["Content-Type"].startswith("text/html")
    assert b"<h1>502 Bad Gateway</h1>" in response.content
    task = SandboxTask.objects.get()
    assert query(api, vendor, task.public_id).status_code == 200


@pytest.mark.parametrize("status", [502, 504, 520, 522, 524])
def test_a_gateway_fault_answers_the_code_it_names_with_a_small_html_page(api, status):
    vendor = VENDORS["kinovi"]
    response = api.post(vendor.create, vendor.body(f"A kite [[fault:gateway:{status}]]", None))
    assert response.status_code == status
    assert response.reason_phrase != "Unknown Status Code"
    assert response.content.startswith(b"<html>") and len(response.content) < 500
    assert SandboxTask.objects.count() == 1


# Queries.


@EVERY_VENDOR
def test_query_404_answers_not_found_for_the_first_n_queries_then_the_task(api, vendor):
    task_id = create(api, vendor, "A kite [[fault:query_404:2]]")
    answers = [query(api, vendor, task_id) for _ in range(3)]
    assert [(r.status_code, r.json()) for r in answers[:2]] == [vendor.not_found] * 2
    assert answers[2].status_code == 200
    assert vendor.answer_id(answers[2].json()) == task_id


def test_query_404_hits_only_the_first_query_by_default(api):
    vendor = VENDORS["seedance2_ink"]
    task_id = create(api, vendor, "A kite [[fault:query_404]]")
    assert [query(api, vendor, task_id).status_code for _ in range(3)] == [404, 200, 200]


@pytest.mark.parametrize(
    "marker, statuses", [("", [200, 404, 200, 200]), (":3", [200, 200, 404, 200])]
)
def test_query_404_at_answers_not_found_only_for_the_kth_query(api, marker, statuses):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, f"A kite [[fault:query_404_at{marker}]]")
    answers = [query(api, vendor, task_id) for _ in range(4)]
    assert [answer.status_code for answer in answers] == statuses
    missing = answers[statuses.index(404)]
    assert (missing.status_code, missing.json()) == vendor.not_found


@EVERY_VENDOR
def test_unknown_status_reports_an_undocumented_status_for_the_first_n_queries(api, vendor):
    task_id = create(api, vendor, "A kite [[fault:unknown_status:2]]")
    statuses = [vendor.status(query(api, vendor, task_id).json()) for _ in range(3)]
    assert statuses[0] == statuses[1]
    assert statuses[0].lower() == "rendering"
    assert statuses[0] not in vendor.statuses.values()
    assert statuses[2] == vendor.statuses["queued"]


def test_regress_reports_a_finished_task_running_on_every_other_query(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:regress]]")
    assert query(api, vendor, task_id).json()["status"] == "pending"  # query 1
    api.finish(task_id)
    answers = [query(api, vendor, task_id).json() for _ in range(4)]  # queries 2 to 5
    assert [a["status"] for a in answers] == ["processing", "completed"] * 2
    assert answers[0]["progress"] == 99 and "results" not in answers[0]
    assert answers[1]["results"]


def test_oversized_pads_every_query_answer_with_an_extra_field(api):
    vendor = VENDORS["seedanceapi_org"]
    task_id = create(api, vendor, "A kite [[fault:oversized:100000]]")
    for _ in range(2):
        answer = query(api, vendor, task_id).json()
        assert len(answer["padding"]) == 100_000
        assert vendor.answer_id(answer) == task_id


def test_oversized_pads_with_three_megabytes_by_default(api):
    vendor = VENDORS["kinovi"]
    task_id = create(api, vendor, "A kite [[fault:oversized]]")
    response = query(api, vendor, task_id)
    assert len(response.content) > 3_000_000
    assert json.loads(response.content)["status"] == "waiting"


def kinovi_mistyped(done, failed):
    assert isinstance(done["creditsUsed"], dict)
    url = done["output"][0]["url"]
    assert isinstance(url, list) and isinstance(url[0], list) and url[0][0].startswith("http")
    assert done["error"] == []
    assert isinstance(done["createTime"], str) and isinstance(done["completeTime"], str)
    assert failed["error"] == ["generation_failed", "Task execution failed"]


def seedance2_ink_mistyped(done, failed):
    assert isinstance(done["output"]["url"], int)
    assert done["error"] == []
    assert failed["error"] == ["provider_error", "Video generation failed upstream"]


def seedanceapi_org_mistyped(done, failed):
    assert isinstance(done["data"]["consumed_credits"], dict)
    assert isinstance(done["data"]["response"][0], list)
    assert done["data"]["error_message"] == []
    assert isinstance(done["data"]["created_at"], int)  # documented as text
    assert failed["data"]["error_message"] == ["Video generation failed"]


def evolink_mistyped(done, failed):
    assert done["progress"] == "done"
    assert isinstance(done["usage"]["credits_reserved"], dict)
    assert isinstance(done["results"][0], list)
    assert done["error"] == []
    assert isinstance(done["created"], str)
    assert failed["error"] == ["service_error", "Video generation failed"]


def aigptimage_mistyped(done, failed):
    data = done["data"]
    assert isinstance(json.loads(data["resultJson"])["resultUrls"][0], list)
    assert data["failCode"] == [] and data["failMsg"] == []
    for name in ("costTime", "completeTime", "createTime"):
        assert isinstance(data[name], str)
    assert failed["data"]["failCode"] == ["GENERATION_FAILED"]
    assert failed["data"]["failMsg"] == ["Video generation failed"]


def byteplus_ark_mistyped(done, failed):
    assert isinstance(done["usage"]["completion_tokens"], dict)
    assert isinstance(done["content"]["video_url"][0], list)
    assert done["error"] == []
    assert isinstance(done["created_at"], str)
    assert failed["error"][0] == "OutputVideoSensitiveContentDetected"


def replicate_mistyped(done, failed):
    assert isinstance(done["output"][0], list)
    assert isinstance(done["metrics"], str)
    assert isinstance(done["created_at"], int)
    assert done["error"] == []
    assert failed["error"] == ["Prediction failed: the model raised an error"]


MISTYPED = {
    "byteplus_ark": byteplus_ark_mistyped,
    "replicate": replicate_mistyped,
    "kinovi": kinovi_mistyped,
    "seedance2_ink": seedance2_ink_mistyped,
    "seedanceapi_org": seedanceapi_org_mistyped,
    "evolink": evolink_mistyped,
    "aigptimage": aigptimage_mistyped,
}


@EVERY_VENDOR
def test_wrong_types_keep_the_documented_status_but_change_the_other_types(api, vendor):
    done_id = create(api, vendor, "A kite [[fault:wrong_types]]")
    failed_id = create(api, vendor, "A kite [[fault:wrong_types]] [[fault:fail_after]]")
    done = finished_answer(api, vendor, done_id)
    failed = query(api, vendor, failed_id).json()
    assert vendor.status(done) == vendor.statuses["succeeded"]
    assert vendor.status(failed) == vendor.statuses["failed"]
    MISTYPED[vendor.name](done, failed)


def test_wrong_types_make_progress_a_word_while_running(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:wrong_types]]")
    api.advance(task_id, 15)
    answer = query(api, vendor, task_id).json()
    assert (answer["status"], answer["progress"]) == ("processing", "started")


# What a task reports.


@CHARGING_VENDORS
@pytest.mark.parametrize("charge", [-5, 0, 12.5, 12345678901])
def test_the_charge_fault_sets_the_charge_the_vendor_reports(api, vendor, charge):
    response = api.post(vendor.create, vendor.body(f"A kite [[fault:charge:{charge}]]", None))
    created = response.json()
    assert vendor.created_charge(created) in (None, charge)
    answer = finished_answer(api, vendor, vendor.task_id(created))
    assert vendor.charge(answer) in (None, charge)
    assert charge in (vendor.created_charge(created), vendor.charge(answer))


def test_the_charge_fault_is_reported_for_a_failed_task_too(api):
    vendor = VENDORS["kinovi"]
    plain = create(api, vendor, "A kite [[fault:fail_after]]")
    charged = create(api, vendor, "A kite [[fault:fail_after]] [[fault:charge:-40]]")
    assert query(api, vendor, plain).json()["creditsUsed"] == 0
    assert query(api, vendor, charged).json()["creditsUsed"] == -40


def test_the_charge_fault_leaves_a_vendor_without_charges_as_it_was(api):
    vendor = VENDORS["aigptimage"]
    task_id = create(api, vendor, "A kite [[fault:charge:-5]]")
    answer = finished_answer(api, vendor, task_id)
    assert vendor.status(answer) == "success"
    # No field says -5. (Not a search of the whole text: a rendered file's random name
    # may hold "-5", as "G8-5So_AO4wQU7dmKf0NC7sa.mp4" once did.)
    fields = {k: v for k, v in answer["data"].items() if k != "param"}
    assert not [k for k, v in fields.items() if v in (-5, -5.0, "-5")]
    assert not re.search(r'\w\\?"\s*:\s*-5\b', json.dumps(fields))  # nor a nested one


@EVERY_VENDOR
def test_long_error_stretches_the_code_and_message_of_a_failed_task(api, vendor):
    task_id = create(api, vendor, "A kite [[fault:fail_after]] [[fault:long_error:40]]")
    answer = query(api, vendor, task_id).json()
    assert vendor.status(answer) == vendor.statuses["failed"]
    code, message = vendor.error(answer)
    assert code is None or len(code) == 40
    assert len(message) == 400


def test_long_error_is_300_and_3000_characters_by_default(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:fail_after]] [[fault:long_error]]")
    code, message = vendor.error(query(api, vendor, task_id).json())
    assert (len(code), len(message)) == (300, 3000)
    assert code.startswith("service_error_") and message.startswith("Video generation failed ")


@EVERY_VENDOR
def test_long_task_id_hands_out_a_long_id_that_queries_still_find(api, vendor):
    task_id = create(api, vendor, "A kite [[fault:long_task_id]]")
    assert len(task_id) == 300
    response = query(api, vendor, task_id)
    assert response.status_code == 200
    assert vendor.answer_id(response.json()) == task_id
    # The vendor knows the task by the id it handed out, not by a shorter one.
    own_id = SandboxTask.objects.get().task_id
    assert (query(api, vendor, own_id).status_code, query(api, vendor, own_id).json()) == (
        vendor.not_found
    )
    assert query(api, vendor, task_id[:-1] + "z").status_code == 404  # "z" is not hex


def test_a_long_task_id_can_be_cancelled_and_is_named_in_the_callback(
    api, callbacks_sent, deliver_callbacks
):
    vendor = VENDORS["seedance2_ink"]
    task_id = create(api, vendor, "A kite [[fault:long_task_id:1000]]", callback=True)
    assert len(task_id) == 1000
    cancel = api.post(f"seedance2_ink/api/open/v1/video/generations/{task_id}/cancel")
    assert (cancel.status_code, cancel.json()["requestId"]) == (200, task_id)
    deliver_callbacks()
    assert [body["requestId"] for body in callbacks_sent.bodies] == [task_id]


NO_OUTPUT = {
    "byteplus_ark": lambda answer: answer["content"] == {"video_url": ""},
    "replicate": lambda answer: answer["output"] is None,
    "kinovi": lambda answer: answer["output"] == [],
    "seedance2_ink": lambda answer: answer["output"] == {"type": "video", "url": ""},
    "seedanceapi_org": lambda answer: answer["data"]["response"] == [],
    "evolink": lambda answer: "results" not in answer,
    "aigptimage": lambda answer: json.loads(answer["data"]["resultJson"]) == {"resultUrls": []},
}


@EVERY_VENDOR
def test_no_output_succeeds_without_an_output_url(api, vendor):
    task_id = create(api, vendor, "A kite [[fault:no_output]]")
    answer = finished_answer(api, vendor, task_id)
    assert vendor.status(answer) == vendor.statuses["succeeded"]
    assert not vendor.output_url(answer)
    assert NO_OUTPUT[vendor.name](answer)


def test_never_finishes_keeps_the_task_running_without_a_callback(
    api, callbacks_sent, deliver_callbacks
):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:never_finishes]]", callback=True)
    assert query(api, vendor, task_id).json()["status"] == "pending"
    api.finish(task_id)
    answer = query(api, vendor, task_id).json()
    assert (answer["status"], answer["progress"]) == ("processing", 99)
    deliver_callbacks()
    assert callbacks_sent.requests == []
    assert api.task(task_id).settled_at is None


def test_a_task_that_never_finishes_can_still_be_cancelled(api):
    vendor = VENDORS["seedance2_ink"]
    task_id = create(api, vendor, "A kite [[fault:never_finishes]]")
    api.finish(task_id)
    cancel = api.post(f"seedance2_ink/api/open/v1/video/generations/{task_id}/cancel")
    assert cancel.status_code == 200
    assert query(api, vendor, task_id).json()["status"] == "cancelled"


def test_cancel_500_answers_the_vendors_500_and_cancels_nothing(api):
    vendor = VENDORS["seedance2_ink"]
    task_id = create(api, vendor, "A kite [[fault:cancel_500]]")
    cancel = api.post(f"seedance2_ink/api/open/v1/video/generations/{task_id}/cancel")
    assert cancel.status_code == 500
    assert cancel.json()["error"]["code"] == "internal_error"
    assert query(api, vendor, task_id).json()["status"] == "queued"


# The output URL.


def test_long_url_pads_the_output_url_and_it_still_serves_the_clip(api, probe):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:long_url]]")
    url = vendor.output_url(finished_answer(api, vendor, task_id))
    assert len(url) == 2500
    assert "?pad=" in url
    assert probe(url).duration > 0


def test_long_url_takes_the_length_it_is_given(api):
    vendor = VENDORS["kinovi"]
    task_id = create(api, vendor, "A kite [[fault:long_url:4000]]")
    url = vendor.output_url(finished_answer(api, vendor, task_id))
    assert len(url) == 4000
    response, content = api.download(url)
    assert response.status_code == 200 and content[4:8] == b"ftyp"


@pytest.mark.parametrize("size", ["2600x2", "2x2600"])
def test_video_size_renders_the_clip_at_exactly_that_size(api, probe, size):
    vendor = VENDORS["kinovi"]
    task_id = create(api, vendor, f"A kite [[fault:video_size:{size}]]")
    answer = finished_answer(api, vendor, task_id)
    clip = probe(vendor.output_url(answer))
    width, height = map(int, size.split("x"))
    assert (clip.width, clip.height) == (width, height)
    assert (answer["output"][0]["width"], answer["output"][0]["height"]) == (width, height)


def test_slow_download_trickles_the_clip_in_small_chunks(api, slept):
    vendor = VENDORS["seedanceapi_org"]
    task_id = create(api, vendor, "A kite [[fault:slow_download]]")
    response, content = api.download(vendor.output_url(finished_answer(api, vendor, task_id)))
    assert content == api.task(task_id).output_path.read_bytes()
    assert int(response["Content-Length"]) == len(content)
    assert len(slept) >= 2
    assert sum(slept) == pytest.approx(5.0)


def test_slow_download_really_takes_its_time(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:slow_download:0.3]]")
    url = vendor.output_url(finished_answer(api, vendor, task_id))
    response = api.client.get(url.removeprefix("http://testserver"))
    started = time.monotonic()
    chunks = list(response.streaming_content)
    assert time.monotonic() - started >= 0.3
    assert len(chunks) > 1 and max(len(chunk) for chunk in chunks) <= 1024


def test_truncated_download_declares_the_full_length_and_sends_half(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:truncated_download]]")
    url = vendor.output_url(finished_answer(api, vendor, task_id))
    response, content = api.download(url)
    size = api.task(task_id).output_path.stat().st_size
    assert response.status_code == 200
    assert int(response["Content-Length"]) == size
    assert len(content) == (size + 1) // 2
    # A client that resumes with a byte range gets its bytes.
    rest, content = api.download(url, HTTP_RANGE=f"bytes={len(content)}-")
    assert rest.status_code == 206 and len(content) == size // 2


def test_a_truncated_download_ends_early_for_a_real_http_client(api, live_server):
    vendor = VENDORS["kinovi"]
    task_id = create(api, vendor, "A kite [[fault:truncated_download]]")
    path = vendor.output_url(finished_answer(api, vendor, task_id)).removeprefix(
        "http://testserver"
    )
    with httpx.Client(base_url=live_server.url, timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete|without sending"):
            client.get(path)
    # The connection was closed, not left to time out.
    assert time.monotonic() - started < 4


# Callbacks.


@CALLING_VENDORS
def test_early_callback_announces_success_while_the_task_is_still_queued(
    api, vendor, callbacks_sent, deliver_callbacks
):
    task_id = create(api, vendor, "A kite [[fault:early_callback]]", callback=True)
    engine.wait_for_background()
    assert [vendor.callback_status(body) for body in callbacks_sent.bodies] == [
        vendor.statuses["succeeded"]
    ]
    assert vendor.status(query(api, vendor, task_id).json()) == vendor.statuses["queued"]
    api.finish(task_id)
    deliver_callbacks()
    assert len(callbacks_sent.requests) == 2
    assert vendor.callback_status(callbacks_sent.bodies[1]) == vendor.statuses["succeeded"]


def test_callback_garbage_sends_a_body_that_is_not_json(api, callbacks_sent, deliver_callbacks):
    vendor = VENDORS["seedanceapi_org"]
    task_id = create(api, vendor, "A kite [[fault:callback_garbage]]", callback=True)
    api.finish(task_id)
    deliver_callbacks()
    (request,) = callbacks_sent.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.content
    with pytest.raises(ValueError):
        json.loads(request.content)
