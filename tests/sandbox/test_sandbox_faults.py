"""Every fault marker (and a key's faults) behaves as generations/sandbox/faults.py says."""

import io
import json
import time

import av
import pytest
from django.core.exceptions import ValidationError

from generations.sandbox import faults as fault_rules
from generations.sandbox.models import SandboxKey, SandboxTask
from tests.sandbox.vendors import CALLING_VENDORS, EVERY_VENDOR, VENDORS, create, query

# The grammar.


@pytest.mark.parametrize(
    "prompt, faults",
    [
        ("A kite [[fault:429]]", {"429": True}),
        ("[[fault:429:5]] a kite", {"429": 5.0}),
        ("A kite [[latency:0.5]] [[fault:dup_callback]]", {"latency": 0.5, "dup_callback": True}),
        ("[[FAULT:Fail_After:2]]", {"fail_after": 2.0}),
        ("[[ fault : late_callback : 5 ]]", {"late_callback": 5.0}),
        ("[[fault:latency:1.5]]", {"latency": 1.5}),
        ("[[fault:500]] then [[fault:500]]", {"500": True}),
        ("[[fault:timeout:2]]", {"timeout": 2.0}),
        ("no markers at all", {}),
    ],
)
def test_markers_are_read_from_anywhere_in_the_prompt(prompt, faults):
    assert fault_rules.parse_markers(prompt) == faults


@pytest.mark.parametrize(
    "prompt",
    [
        "[[fault:explode]]",
        "[[latency:soon]]",
        "[[latency:]]",
        "[[fault:output_404:3]]",
        "[fault:429]",
    ],
)
def test_unknown_or_malformed_markers_are_ignored(prompt):
    assert fault_rules.parse_markers(prompt) == {}


@pytest.mark.parametrize(
    "faults, message",
    [
        ({"explode": True}, "unknown fault 'explode'"),
        ({"latency": True}, "latency needs a number of seconds"),
        ({"429": "soon"}, "429 needs a number, not 'soon'"),
        ({"fail_after": -1}, "fail_after cannot be negative"),
        ([1, 2], "faults must be a JSON object"),
    ],
)
def test_a_sandbox_key_refuses_faults_it_does_not_know(db, faults, message):
    key = SandboxKey(key_prefix="sk-sandbox-flaky-", faults=faults)
    with pytest.raises(ValidationError, match=message):
        key.full_clean()


def test_a_sandbox_key_prefix_must_be_a_sandbox_key(db):
    with pytest.raises(ValidationError, match="Sandbox keys start with"):
        SandboxKey(key_prefix="sk-live-", faults={}).full_clean()


def test_faults_of_the_longest_matching_key_prefix_apply_and_the_prompt_wins(api, slept):
    SandboxKey.objects.create(key_prefix="sk-sandbox-slow-", faults={"latency": 1})
    SandboxKey.objects.create(
        key_prefix="sk-sandbox-slow-and-late-", faults={"latency": 2, "late_callback": 3}
    )
    vendor = VENDORS["evolink"]

    plain = create(api, vendor, "A kite")
    slow = create(api, vendor, "A kite", key="sk-sandbox-slow-1")
    both = create(api, vendor, "A kite", key="sk-sandbox-slow-and-late-1")
    overridden = create(api, vendor, "A kite [[latency:0.25]]", key="sk-sandbox-slow-and-late-2")

    assert api.task(plain).faults == {}
    assert api.task(slow).faults == {"latency": 1.0}
    assert api.task(both).faults == {"latency": 2.0, "late_callback": 3.0}
    assert api.task(overridden).faults == {"latency": 0.25, "late_callback": 3.0}
    assert slept == [1.0, 2.0, 0.25]


def test_a_key_can_make_every_create_a_429(api):
    SandboxKey.objects.create(key_prefix="sk-sandbox-busy", faults={"429": 30})
    vendor = VENDORS["kinovi"]
    response = api.post(vendor.create, vendor.body("A kite", None), key="sk-sandbox-busy-7")
    assert response.status_code == 429
    assert response["Retry-After"] == "30"


# Each fault.


def test_latency_delays_the_create_and_every_query(api, slept):
    vendor = VENDORS["seedance2_ink"]
    task_id = create(api, vendor, "A kite [[latency:0.5]]")
    query(api, vendor, task_id)
    query(api, vendor, task_id)
    assert slept == [0.5, 0.5, 0.5]


def test_latency_really_waits(api):
    vendor = VENDORS["kinovi"]
    started = time.monotonic()
    create(api, vendor, "A kite [[latency:0.3]]")
    assert time.monotonic() - started >= 0.3


@EVERY_VENDOR
def test_a_429_says_when_to_retry_and_stores_nothing(api, vendor):
    response = api.post(vendor.create, vendor.body("A kite [[fault:429:12]]", None))
    assert response.status_code == 429
    assert response["Retry-After"] == "12"
    assert response["X-RateLimit-Remaining"] == "0"
    assert response.json()  # the vendor's own JSON body
    assert not SandboxTask.objects.exists()


@EVERY_VENDOR
@pytest.mark.parametrize("status", [402, 500])
def test_a_402_or_500_is_the_vendors_answer_and_stores_nothing(api, vendor, status):
    response = api.post(vendor.create, vendor.body(f"A kite [[fault:{status}]]", None))
    # ModelArk says an overdue account with 403 AccountOverdueError.
    overdue = 403 if vendor.name == "byteplus_ark" and status == 402 else status
    assert response.status_code == overdue
    assert response.json()
    assert not SandboxTask.objects.exists()


def test_a_timeout_hangs_the_answer_only_after_the_task_is_stored(api, monkeypatch):
    tasks_while_hanging = []

    def hang(seconds):
        if seconds:
            tasks_while_hanging.append((seconds, SandboxTask.objects.count()))

    monkeypatch.setattr(fault_rules, "sleep", hang)
    vendor = VENDORS["kinovi"]
    task_id = create(api, vendor, "A kite [[fault:timeout]]")
    create(api, vendor, "A kite [[fault:timeout:45]]")
    assert tasks_while_hanging == [(0.05, 1), (45.0, 2)]  # SANDBOX_HANG_SECONDS, then the marker's
    assert query(api, vendor, task_id).json()["status"] == "waiting"


def test_a_timeout_really_hangs(api):
    started = time.monotonic()
    create(api, VENDORS["evolink"], "A kite [[fault:timeout:0.3]]")
    assert time.monotonic() - started >= 0.3


@EVERY_VENDOR
def test_a_malformed_answer_is_truncated_json_for_a_task_that_exists(api, vendor):
    response = api.post(vendor.create, vendor.body("A kite [[fault:malformed]]", None))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    task = SandboxTask.objects.get()
    assert query(api, vendor, task.task_id).status_code == 200


def test_query_faults_hit_only_the_first_n_queries(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:query_500:2]]")
    assert [query(api, vendor, task_id).status_code for _ in range(3)] == [500, 500, 200]

    task_id = create(api, vendor, "A kite [[fault:query_429]]")
    limited = query(api, vendor, task_id)
    assert (limited.status_code, limited["Retry-After"]) == (429, "1")
    assert query(api, vendor, task_id).status_code == 200

    task_id = create(api, vendor, "A kite [[fault:query_malformed]]")
    with pytest.raises(json.JSONDecodeError):
        json.loads(query(api, vendor, task_id).content)
    assert query(api, vendor, task_id).json()["id"] == task_id


@EVERY_VENDOR
def test_a_lost_task_is_the_vendors_not_found_and_never_calls_back(
    api, vendor, callbacks_sent, deliver_callbacks
):
    task_id = create(api, vendor, "A kite [[fault:lost]]", callback=bool(vendor.callback_url))
    api.finish(task_id)
    response = query(api, vendor, task_id)
    assert (response.status_code, response.json()) == vendor.not_found
    deliver_callbacks()
    assert callbacks_sent.requests == []


def test_a_lost_task_cannot_be_cancelled(api):
    task_id = create(api, VENDORS["seedance2_ink"], "A kite [[fault:lost]]")
    response = api.post(f"seedance2_ink/api/open/v1/video/generations/{task_id}/cancel")
    assert response.status_code == 404


def test_fail_after_fails_the_task_that_many_seconds_after_creation(api):
    vendor = VENDORS["seedance2_ink"]
    task_id = create(api, vendor, "A kite [[fault:fail_after:2]]")
    api.advance(task_id, 1)
    assert query(api, vendor, task_id).json()["status"] == "queued"
    api.advance(task_id, 1.5)
    assert query(api, vendor, task_id).json()["status"] == "failed"


def test_fail_after_during_the_run(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:fail_after:25]]")
    api.advance(task_id, 20)
    running = query(api, vendor, task_id).json()
    assert running["status"] == "processing" and 0 < running["progress"] < 100
    api.advance(task_id, 6)
    assert query(api, vendor, task_id).json()["status"] == "failed"


@CALLING_VENDORS
def test_dup_callback_posts_the_same_callback_twice(api, vendor, callbacks_sent, deliver_callbacks):
    task_id = create(api, vendor, "A kite [[fault:dup_callback]]", callback=True)
    api.finish(task_id)
    deliver_callbacks()
    deliver_callbacks()
    assert len(callbacks_sent.requests) == 2
    first, second = callbacks_sent.bodies
    assert first == second
    assert callbacks_sent.urls == [vendor.callback_url] * 2


def test_late_callback_waits_that_long_after_the_end(api, callbacks_sent, deliver_callbacks):
    vendor = VENDORS["kinovi"]
    task_id = create(api, vendor, "A kite [[fault:late_callback:5]]", callback=True)
    api.advance(task_id, 31)  # queue 10 s + run 20 s
    assert query(api, vendor, task_id).json()["status"] == "success"
    deliver_callbacks()
    assert callbacks_sent.requests == []
    api.advance(task_id, 5)
    deliver_callbacks()
    assert len(callbacks_sent.requests) == 1


def test_output_404_succeeds_with_a_url_that_is_not_there(api):
    vendor = VENDORS["seedance2_ink"]
    task_id = create(api, vendor, "A kite [[fault:output_404]]")
    api.finish(task_id)
    done = query(api, vendor, task_id).json()
    assert done["status"] == "succeeded"
    response, _ = api.download(done["output"]["url"])
    assert response.status_code == 404


def test_output_html_serves_a_web_page_labelled_as_video(api):
    vendor = VENDORS["evolink"]
    task_id = create(api, vendor, "A kite [[fault:output_html]]")
    api.finish(task_id)
    response, content = api.download(query(api, vendor, task_id).json()["results"][0])
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert content.startswith(b"<!doctype html>")
    with pytest.raises(av.error.InvalidDataError):
        av.open(io.BytesIO(content))
