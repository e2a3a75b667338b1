"""A submitted job's row is written once, after its hold, with everything in it."""

import pytest

from billing import ledger
from billing.models import Hold
from generations.lifecycle.callbacks import callback_token
from generations.models import Generation, Project, Scene
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


def test_a_refused_submission_leaves_no_project_scene_hold_or_job(
    member_client, team, operator, monkeypatch
):
    """The jobs share the rate check's transaction with no savepoint of their own: a
    refusal still undoes the project and scene typed in, and the next submission works."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    data = {
        "prompt": "A lighthouse at dusk",
        "family": "seedance-2.0",
        "duration": "5",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "new_project": "Coastlines",
        "new_scene": "Opening",
        "variants": "1",
    }
    refused = member_client.post("/generate/", data)
    assert refused.status_code == 200
    assert "the team has $0.00 available" in refused.content.decode()
    assert not Project.objects.filter(team=team).exists()
    assert not Scene.objects.exists()
    assert not Hold.objects.exists() and not Generation.objects.exists()

    ledger.grant(team, 50_000_000, by=operator, memo="Budget", key="budget")
    assert member_client.post("/generate/", data).status_code == 302
    assert Generation.objects.get().scene.title == "Opening"
