"""Owners and admins set a project's spending cap from the project page."""

import pytest
from django.urls import reverse

from billing import ledger
from generations.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def trailer(team, owner):
    return Project.objects.create(team=team, name="Trailer", created_by=owner)


def test_owner_sets_and_clears_the_cap(owner_client, trailer):
    url = reverse("set_project_cap", args=[trailer.uuid])
    response = owner_client.post(url, {"spend_cap": "12.50"}, follow=True)
    trailer.refresh_from_db()
    assert trailer.spend_cap == 12_500_000
    assert "may spend $12.50 in all" in response.content.decode()

    owner_client.post(url, {"spend_cap": ""})
    trailer.refresh_from_db()
    assert trailer.spend_cap is None


def test_the_project_page_shows_the_form_to_admins_only(owner_client, member_client, trailer):
    trailer.spend_cap = 3_000_000
    trailer.save()
    page = owner_client.get(reverse("project", args=[trailer.uuid])).content.decode()
    assert 'id="project-cap"' in page
    assert 'value="3.00"' in page
    assert (
        'id="project-cap"'
        not in member_client.get(reverse("project", args=[trailer.uuid])).content.decode()
    )


def test_a_bad_amount_is_shown_next_to_the_field_and_kept(owner_client, trailer):
    trailer.spend_cap = 3_000_000
    trailer.save()
    response = owner_client.post(
        reverse("set_project_cap", args=[trailer.uuid]), {"spend_cap": "-4"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_spend_cap_error"' in page and "Enter zero or more." in page
    assert 'value="-4"' in page
    trailer.refresh_from_db()
    assert trailer.spend_cap == 3_000_000


@pytest.mark.parametrize("persona", ["member_client", "viewer_client"])
def test_members_and_viewers_may_not(request, persona, trailer):
    client = request.getfixturevalue(persona)
    response = client.post(reverse("set_project_cap", args=[trailer.uuid]), {"spend_cap": "1"})
    assert response.status_code == 403
    trailer.refresh_from_db()
    assert trailer.spend_cap is None


def test_another_teams_project_is_404(owner_client, other_team):
    theirs = Project.objects.create(team=other_team, name="Theirs")
    response = owner_client.post(reverse("set_project_cap", args=[theirs.uuid]), {"spend_cap": "1"})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.spend_cap is None


def test_the_cap_then_refuses_a_hold_that_would_pass_it(
    team, owner, operator, trailer, owner_client
):
    ledger.grant(team, 50_000_000, by=operator, memo="budget", key="g")
    owner_client.post(reverse("set_project_cap", args=[trailer.uuid]), {"spend_cap": "1.00"})
    trailer.refresh_from_db()
    with pytest.raises(ledger.Refused) as refused:
        ledger.hold(team, owner, trailer, 1_500_000, memo="clip", key="h1")
    assert "Trailer" in str(refused.value) and "$1.00" in str(refused.value)


def test_a_cap_change_is_audited_once_and_an_unchanged_save_is_not(owner_client, owner, trailer):
    from billing.models import AuditEntry
    from generations.models import GenerationsAuditAction

    url = reverse("set_project_cap", args=[trailer.uuid])
    owner_client.post(url, {"spend_cap": "7"})
    owner_client.post(url, {"spend_cap": "7.00"})
    entries = list(AuditEntry.objects.filter(action=GenerationsAuditAction.PROJECT_CAP_SET))
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.actor, entry.team, entry.target) == (owner, trailer.team, "Trailer")
    assert entry.changes == {"spend_cap": ["no cap", "$7.00"]}
