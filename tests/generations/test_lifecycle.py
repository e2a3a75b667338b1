"""Generations end to end against the sandbox over real HTTP."""

import time

import pytest
from django.db import DatabaseError

from billing.models import Hold, HoldStatus, Transfer, TransferKind
from generations import lifecycle
from generations.models import Generation, State
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxTask
from tests.generations.conftest import PROTOCOLS, drive, make_account, text_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """Workers are driven by hand here: nothing goes to the django-q2 broker."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("generations.tasks.enqueue_check", lambda pk: None)


def submit(team, member, project, **kw):
    [generation] = lifecycle.submit(
        team=team, member=member, project=project, request=text_request(**kw)
    )
    return generation


REQUESTS = {
    "kinovi": {},
    "seedance2_ink": {},
    "seedanceapi_org": {},
    "evolink": {},
    "aigptimage": {},
    "byteplus_ark": {},
    "fal": {},
    "replicate": {},
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_each_vendor_takes_a_prompt_to_a_stored_clip_and_a_charge(
    protocol, sandbox, funded, member, project
):
    account = make_account(protocol, sandbox)
    generation = submit(funded, member, project, **REQUESTS[protocol])
    assert generation.hold.amount == generation.quote_micros
    generation = drive(generation)
    assert generation.state == State.SUCCEEDED, generation.events.values_list("message", flat=True)
    assert generation.vendor_account == account
    clip = generation.clip
    assert abs(clip.duration - 5) < 0.6
    assert clip.width > clip.height
    assert clip.file.size == clip.bytes
    hold = Hold.objects.get(pk=generation.hold_id)
    assert hold.status == "captured"
    assert generation.charge_micros == hold.captured_amount
    assert generation.events.filter(kind="succeeded").exists()
    wait_for_background()


def test_a_submission_without_money_creates_nothing(sandbox, team, member, project):
    from billing import ledger

    make_account("kinovi", sandbox)
    with pytest.raises(ledger.Refused, match="This needs"):
        submit(team, member, project)
    assert not Generation.objects.exists()


def test_a_request_no_vendor_accepts_is_refused_with_the_reason(sandbox, funded, member, project):
    make_account("seedanceapi_org", sandbox)
    with pytest.raises(lifecycle.SubmitRefused, match="5, 10 or 15"):
        submit(funded, member, project, duration=7)
    assert not Generation.objects.exists()


def test_a_job_is_never_done_without_the_event_that_says_so(
    sandbox, monkeypatch, funded, member, project
):
    """The charge, the state and the "succeeded" event commit together, or none of them."""
    make_account("evolink", sandbox)
    job = submit(funded, member, project, prompt="Ends in one piece")
    # Sent, not swept: a sweep pass goes on checking what comes due, and could finish it.
    lifecycle.run_submit(job.pk)
    job.refresh_from_db()
    assert job.state == State.RUNNING
    real_log = Generation.log

    def log_fails_at_the_end(self, kind, message, **data):
        if kind == "succeeded":
            raise DatabaseError("disk I/O error")
        return real_log(self, kind, message, **data)

    monkeypatch.setattr(Generation, "log", log_fails_at_the_end)
    task = SandboxTask.objects.get(prompt="Ends in one piece")
    deadline = time.monotonic() + 10
    while task.snapshot().state != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    lifecycle.check(job.pk)  # the vendor is done: stores the clip, then fails to finalize
    job.refresh_from_db()
    assert job.state == State.FINALIZING and job.charge_micros is None
    assert job.hold.status == HoldStatus.PENDING
    assert job.step_failures == 1 and job.claimed_at is None  # handed back, to try again
    assert "disk I/O error" in job.events.get(kind="step_failed").message

    monkeypatch.setattr(Generation, "log", real_log)
    lifecycle.finalize(job.pk)
    job.refresh_from_db()
    assert job.state == State.SUCCEEDED and job.hold.status == HoldStatus.CAPTURED
    assert job.events.filter(kind="succeeded").count() == 1
    assert Transfer.objects.filter(hold=job.hold, kind=TransferKind.CAPTURE).count() == 1
    wait_for_background()
