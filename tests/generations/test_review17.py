"""Review of #17 (ModelArk, fal, Replicate): money and trust at the edges."""

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import ledger
from billing.models import Hold, HoldStatus
from generations import lifecycle
from generations.models import State
from generations.vendors import ErrorKind, TaskSnapshot, TaskState, VendorError
from generations.vendors.byteplus_ark import BytePlusArkAdapter
from seedance_site.tokens import hash_token
from tests.generations.factories import GenerationFactory, ProjectFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)
HELD = 1_000_000


def job(team, member, account, *, state, **fields):
    project = ProjectFactory(team=team)
    generation = GenerationFactory(
        project=project, created_by=member, state=state, vendor_account=account, **fields
    )
    generation.hold = ledger.hold(
        team, member, project, HELD, "Job", f"generation:{generation.uuid}"
    )
    generation.callback_token_hash = hash_token(lifecycle.callback_token(generation))
    generation.save(update_fields=["hold", "callback_token_hash"])
    return generation


def still_running(self, task_id):
    return TaskSnapshot(task_id=task_id, state=TaskState.RUNNING, progress=50)


def not_cancellable(self, task_id):
    # ModelArk: "a running task cannot be cancelled": the adapter reads it, still running.
    return TaskSnapshot(task_id=task_id, state=TaskState.RUNNING)


def test_a_running_modelark_task_past_its_grace_is_charged_and_says_so(monkeypatch, funded, member):
    # It could not be cancelled, so ModelArk runs it on and bills its tokens: returning
    # the hold would give the team a clip's cost the platform still pays.
    account = VendorAccountFactory(protocol="byteplus_ark")
    generation = job(
        funded, member, account, state=State.RUNNING, vendor_task_id="cgt-1",
        expires_at=timezone.now() - lifecycle.grace() - timedelta(seconds=1),
    )  # fmt: skip
    monkeypatch.setattr(BytePlusArkAdapter, "query", still_running)
    monkeypatch.setattr(BytePlusArkAdapter, "cancel", not_cancellable)
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert Hold.objects.get(pk=generation.hold_id).status == HoldStatus.CAPTURED
    assert "charge" in generation.error_message
    assert "hold was returned" not in generation.error_message


def test_a_modelark_task_whose_cancel_failed_past_its_grace_still_returns_the_hold(
    monkeypatch, funded, member
):
    # Not a verdict on the task: nothing says it ran on, so the hold goes back as before.
    account = VendorAccountFactory(protocol="byteplus_ark")
    generation = job(
        funded, member, account, state=State.RUNNING, vendor_task_id="cgt-1",
        expires_at=timezone.now() - lifecycle.grace() - timedelta(seconds=1),
    )  # fmt: skip

    def cancel_down(self, task_id):
        raise VendorError(ErrorKind.FAULT, "ModelArk had a problem: HTTP 500.")

    monkeypatch.setattr(BytePlusArkAdapter, "query", still_running)
    monkeypatch.setattr(BytePlusArkAdapter, "cancel", cancel_down)
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state == State.EXPIRED
    assert Hold.objects.get(pk=generation.hold_id).status == HoldStatus.RELEASED


def test_a_fal_webhook_naming_another_jobs_request_is_not_attached(monkeypatch, funded, member):
    # fal's webhook names the bare request id; a job follows "id|status|result|cancel". A
    # callback on a job whose create outcome is unknown, naming another job's request,
    # must not make it follow (and be charged for, and show) that other job's clip.
    from generations.vendors.fal import FalAdapter

    account = VendorAccountFactory(protocol="fal")
    app = "/bytedance/seedance-2.0/requests/764cabcf"
    job(
        funded, member, account, state=State.RUNNING,
        vendor_task_id=f"764cabcf|{app}/status|{app}|{app}/cancel",
    )  # fmt: skip
    lost = job(funded, member, account, state=State.NEEDS_ATTENTION, vendor_task_id="")
    monkeypatch.setattr(FalAdapter, "query", still_running)
    assert lifecycle.recover_from_callback(lost.pk, "764cabcf") is False
    lost.refresh_from_db()
    assert lost.state == State.NEEDS_ATTENTION
    assert not lost.vendor_task_id


def test_a_fal_request_announced_by_another_stuck_job_is_not_attached(monkeypatch, funded, member):
    from generations.vendors.fal import FalAdapter

    account = VendorAccountFactory(protocol="fal")
    app = "/bytedance/seedance-2.0/requests/764cabcf"
    other = job(funded, member, account, state=State.NEEDS_ATTENTION, vendor_task_id="")
    other.log(
        "needs_attention", "Saving failed.", vendor_task_id=f"764cabcf|{app}/status|{app}|{app}/c"
    )
    lost = job(funded, member, account, state=State.NEEDS_ATTENTION, vendor_task_id="")
    monkeypatch.setattr(FalAdapter, "query", still_running)
    assert lifecycle.recover_from_callback(lost.pk, "764cabcf") is False
    assert lifecycle.recover_from_callback(lost.pk, "someone-elses") is True
