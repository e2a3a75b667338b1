"""A submitted job's row is written once, after its hold, with everything in it."""

import pytest

from billing import ledger
from generations.lifecycle.callbacks import callback_token
from generations.models import Generation
from seedance_site.tokens import hash_token
from tests.generations.conftest import hold_of, submit_one
from tests.generations.factories import ProjectFactory, SceneFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db


def test_the_job_row_holds_what_the_submission_made_of_it(team, member, operator, monkeypatch):
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    ledger.grant(team, 50_000_000, by=operator, memo="Budget", key="budget")
    project = ProjectFactory(team=team)
    SceneFactory(project=project, number=1)
    made = submit_one(team, member, project)
    stored = Generation.objects.get(pk=made.pk)
    # Every column as the instance the submission returned has it (as save() would).
    for field in Generation._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(made, field.attname), field.name
    assert stored.hold_id == hold_of(made).pk
    assert hold_of(made).reference == f"generation:{made.uuid}"
    assert stored.callback_token_hash == hash_token(callback_token(stored))
    assert [e.kind for e in stored.events.all()] == ["submitted"]
    assert not made._state.adding
