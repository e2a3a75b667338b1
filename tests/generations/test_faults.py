"""Every fault the sandbox injects, with the final state, the events and the ledger result."""

import time

import pytest
from django.urls import reverse

from billing.models import Hold
from generations import lifecycle
from generations.models import Generation, State, TeamRouting
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxKey
from tests.generations.conftest import drive, hold_of, kinds, make_account
from tests.generations.conftest import submit_one as submit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("checks_run_inline")]


FAULTS = [
    # marker, final state, hold status
    ("[[fault:fail_after:0.2]]", State.FAILED, "released"),
    ("[[fault:lost]]", State.FAILED, "released"),
    ("[[fault:query_500:2]]", State.SUCCEEDED, "captured"),
    ("[[fault:query_429:1]]", State.SUCCEEDED, "captured"),
    ("[[fault:query_malformed:1]]", State.SUCCEEDED, "captured"),
    ("[[fault:output_404]]", State.FAILED, "captured"),
    ("[[fault:output_html]]", State.FAILED, "captured"),
    ("[[fault:timeout:3]]", State.NEEDS_ATTENTION, "pending"),
    ("[[fault:malformed]]", State.NEEDS_ATTENTION, "pending"),
    ("[[fault:dup_callback]]", State.SUCCEEDED, "captured"),
    ("[[fault:late_callback:1]]", State.SUCCEEDED, "captured"),
    ("[[latency:0.3]]", State.SUCCEEDED, "captured"),
]


@pytest.mark.parametrize(("marker", "final", "hold_status"), FAULTS)
def test_each_sandbox_fault_ends_in_the_expected_state_and_ledger_result(
    marker, final, hold_status, sandbox, funded, member, project
):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project, prompt=f"A lighthouse at dusk {marker}")
    until = (*Generation.FINISHED, State.NEEDS_ATTENTION)
    generation = drive(generation, seconds=25, until=until)
    assert generation.state == final, kinds(generation)
    assert hold_of(generation).status == hold_status
    if final != State.SUCCEEDED:
        assert generation.error_message
    wait_for_background()


@pytest.mark.parametrize("fault", [{"429": 1}, {"500": True}, {"402": True}])
def test_a_refused_create_fails_over_to_the_next_vendor_without_charging_twice(
    fault, sandbox, funded, member, project
):
    SandboxKey.objects.create(key_prefix="sk-sandbox-broken", faults=fault)
    broken = make_account("kinovi", sandbox, key="sk-sandbox-broken-1", priority=1)
    working = make_account("seedance2_ink", sandbox, priority=2)
    TeamRouting.set_policy(funded, "priority")
    generation = drive(submit(funded, member, project))
    assert generation.state == State.SUCCEEDED
    assert generation.vendor_account == working
    assert "vendor_refused" in kinds(generation)
    refusal = generation.events.get(kind="vendor_refused")
    assert refusal.data["account_uuid"] == broken.uuid.hex  # what the Vendors page counts by
    broken.refresh_from_db()
    assert broken.consecutive_errors == 1
    assert Hold.objects.filter(team=funded).count() == 1
    assert hold_of(generation).status == "captured"
    wait_for_background()


def test_a_rate_limited_account_cools_down(sandbox, funded, member, project):
    SandboxKey.objects.create(key_prefix="sk-sandbox-busy", faults={"429": 30})
    account = make_account("kinovi", sandbox, key="sk-sandbox-busy-1")
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    account.refresh_from_db()
    generation.refresh_from_db()
    assert account.cooling_down
    assert generation.state == State.QUEUED
    assert "waiting" in kinds(generation)


def test_a_callback_finishes_the_job_without_any_polling(sandbox, funded, member, project):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.state == State.SUCCEEDED:
            break
        time.sleep(0.1)
    assert generation.state == State.SUCCEEDED
    assert "callback" in kinds(generation)
    assert generation.poll_count == 0
    wait_for_background()


def test_a_forged_callback_is_a_404_and_changes_nothing(sandbox, client, funded, member, project):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    url = reverse("vendor_callback", args=[generation.uuid, "not-the-token"])
    response = client.post(url, data=b'{"status": "success"}', content_type="application/json")
    assert response.status_code == 404
    generation.refresh_from_db()
    assert generation.state == State.QUEUED
    assert "callback" not in kinds(generation)


def test_a_callback_body_is_only_a_hint(sandbox, client, funded, member, project):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project, prompt="Slow one [[latency:0]]")
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    url = lifecycle.callback_url(generation)
    path = url[len(sandbox) :]
    body = (
        b'{"taskId": "%s", "status": "success", "output": [{"url": "http://evil.example/x.mp4"}]}'
    )
    response = client.post(
        path, data=body % generation.vendor_task_id.encode(), content_type="application/json"
    )
    assert response.status_code == 200
    generation.refresh_from_db()
    assert generation.output_url == "" or generation.output_url.startswith(sandbox)
    drive(generation)
    wait_for_background()


def test_state_never_moves_backwards_on_a_late_running_snapshot(sandbox, funded, member, project):
    from generations.vendors import TaskSnapshot, TaskState

    make_account("kinovi", sandbox)
    generation = drive(submit(funded, member, project))
    assert generation.state == State.SUCCEEDED
    lifecycle.advance(generation, TaskSnapshot(task_id="x", state=TaskState.RUNNING, progress=5))
    lifecycle.advance(generation, TaskSnapshot(task_id="x", state=TaskState.FAILED))
    generation.refresh_from_db()
    assert generation.state == State.SUCCEEDED
    assert hold_of(generation).status == "captured"
    wait_for_background()


def test_cancel_at_a_vendor_that_can_returns_the_hold(sandbox, settings, funded, member, project):
    settings.SANDBOX_RUN_SECONDS = 30  # still running when the member cancels
    make_account("seedance2_ink", sandbox)
    generation = submit(funded, member, project, prompt="Long")
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    message = lifecycle.cancel(generation, member)
    generation.refresh_from_db()
    assert generation.state == State.CANCELLED
    assert "hold was returned" in message
    assert hold_of(generation).status == "released"


def test_cancel_where_the_vendor_cannot_says_it_is_charged(
    sandbox, settings, funded, member, project
):
    settings.SANDBOX_RUN_SECONDS = 30
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    message = lifecycle.cancel(generation, member)
    assert "can't cancel" in message
    generation.refresh_from_db()
    assert generation.state == State.CANCELLED
    assert hold_of(generation).status == "captured"


def test_cancel_before_sending_returns_the_hold(sandbox, funded, member, project):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    lifecycle.cancel(generation, member)
    assert hold_of(generation).status == "released"


def test_an_operator_resolves_a_needs_attention_job_by_attaching_the_task(
    sandbox, funded, member, project, operator
):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project, prompt="x [[fault:timeout:3]]")
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION
    from generations.sandbox.models import SandboxTask

    task = SandboxTask.objects.get()
    lifecycle.resolve_attach(generation, task.task_id, operator)
    generation = drive(generation)
    assert generation.state == State.SUCCEEDED
    assert SandboxTask.objects.count() == 1
    wait_for_background()


def test_an_operator_marks_a_needs_attention_job_failed_and_the_hold_returns(
    sandbox, funded, member, project, operator
):
    make_account("kinovi", sandbox)
    generation = submit(funded, member, project, prompt="x [[fault:malformed]]")
    lifecycle.run_submit(generation.pk)
    generation.refresh_from_db()
    lifecycle.resolve_failed(generation, operator)
    generation.refresh_from_db()
    assert generation.state == State.FAILED
    assert hold_of(generation).status == "released"


def test_a_job_past_its_deadline_expires_and_is_released(sandbox, funded, member, project):
    from django.utils import timezone

    make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    Generation.objects.filter(pk=generation.pk).update(expires_at=timezone.now())
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert hold_of(generation).status == "released"


def test_a_worker_that_died_mid_create_leaves_the_job_for_an_operator(
    sandbox, funded, member, project
):
    from django.utils import timezone

    account = make_account("kinovi", sandbox)
    generation = submit(funded, member, project)
    Generation.objects.filter(pk=generation.pk).update(
        state=State.SUBMITTING,
        vendor_account=account,
        claimed_at=timezone.now() - lifecycle.lease() * 2,
    )
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.NEEDS_ATTENTION
    assert hold_of(generation).status == "pending"


def test_the_concurrency_cap_keeps_extra_jobs_queued(sandbox, funded, member, project):
    make_account("kinovi", sandbox, max_concurrent=1)
    first, second = submit(funded, member, project), submit(funded, member, project)
    lifecycle.run_submit(first.pk)
    lifecycle.run_submit(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == State.RUNNING
    assert second.state == State.QUEUED
    drive(first)
    assert drive(second).state == State.SUCCEEDED
    wait_for_background()
