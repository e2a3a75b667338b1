"""`manage.py reconcile_ledger` also proves jobs against their holds."""

import pytest
from django.core.management import CommandError, call_command

from billing import ledger
from generations import lifecycle
from generations.models import Clip, Generation, GenerationEvent, State
from tests.generations.conftest import text_request
from tests.generations.factories import VendorAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(funded, member, project, queued):
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    [generation] = lifecycle.submit(
        team=funded, member=member, project=project, request=text_request()
    )
    Generation.objects.filter(pk=generation.pk).update(vendor_account=account)
    generation.refresh_from_db()
    return generation


def problems_after():
    return [p for p in ledger.problems() if "job(s)" in p]


def test_a_job_that_finished_with_its_money_on_hold_is_reported(job):
    Generation.objects.filter(pk=job.pk).update(state=State.FAILED)  # as an admin edit did
    [problem] = problems_after()
    assert "finished with their money still on hold" in problem and str(job.uuid) in problem
    with pytest.raises(CommandError, match="money still on hold"):
        call_command("reconcile_ledger")


def test_a_job_that_succeeded_without_a_capture_is_reported(job):
    Generation.objects.filter(pk=job.pk).update(state=State.SUCCEEDED)
    found = problems_after()
    assert any("succeeded without being charged" in p for p in found)
    assert any("succeeded without a stored clip" in p for p in found)


def test_a_failed_job_charged_without_the_vendor_keeping_the_charge_is_reported(job):
    ledger.capture(job.hold, 1_000_000, vendor="v", vendor_label="Kinovi")
    Generation.objects.filter(pk=job.pk).update(state=State.FAILED, charge_micros=1_000_000)
    [problem] = problems_after()
    assert "no event saying the vendor keeps the charge" in problem

    GenerationEvent.objects.create(generation=job, kind="charged", message="kept")
    assert problems_after() == []


def test_a_job_still_running_with_a_released_hold_is_reported(job):
    ledger.release(job.hold, reason="by hand")
    Generation.objects.filter(pk=job.pk).update(state=State.RUNNING)
    [problem] = problems_after()
    assert "still in progress although their hold was settled" in problem


def test_a_charge_that_differs_from_the_hold_capture_is_reported(job):
    ledger.capture(job.hold, 1_000_000, vendor="v", vendor_label="Kinovi")
    Generation.objects.filter(pk=job.pk).update(state=State.SUCCEEDED, charge_micros=2_000_000)
    Clip.objects.create(
        generation=job,
        duration=5,
        width=1,
        height=1,
        fps=1,
        codec="h264",
        has_audio=False,
        bytes=1,
        sha256="0" * 64,
    )
    [problem] = problems_after()
    assert "different amount" in problem


def test_jobs_that_settled_as_they_should_reconcile(job, capsys):
    lifecycle.finish_unsuccessfully(job, [State.QUEUED], State.FAILED, "No vendor.")
    assert problems_after() == []
    call_command("reconcile_ledger")
    assert "The ledger reconciles." in capsys.readouterr().out
