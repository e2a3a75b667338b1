"""Generations end to end against the sandbox over real HTTP."""

import pytest

from billing.models import Hold
from generations import lifecycle
from generations.models import Generation, State
from generations.sandbox.engine import wait_for_background
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
