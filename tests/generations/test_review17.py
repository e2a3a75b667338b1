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
