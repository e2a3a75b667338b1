"""The Team page's written reads (billing/teams/page.py, the API tokens' section): the
members and the open invitations in one round trip, only what is still open or live."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Invitation, Role
from generations.api.models import ApiToken
from tests.factories import MembershipFactory


def page(client) -> tuple[str, list[str]]:
    client.get(reverse("team"))
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("team"))
    assert response.status_code == 200
    return response.content.decode(), [q["sql"] for q in captured]


def test_members_and_open_invitations_are_one_query(owner_client, team, owner):
    Invitation.create(team, Role.MEMBER, owner, "Someone")
    _, sqls = page(owner_client)
    reading = [sql for sql in sqls if "billing_invitation" in sql]
    assert len(reading) == 1 and "billing_membership" in reading[0]


def test_a_viewer_reads_no_invitations(viewer_client, team, owner):
    Invitation.create(team, Role.MEMBER, owner, "Someone")
    html, sqls = page(viewer_client)
    assert "Someone" not in html
    assert not any("billing_invitation" in sql for sql in sqls)


def test_members_by_username_and_only_open_invitations(owner_client, team, owner):
    for name in ("zoe", "adam", "mia"):
        MembershipFactory(team=team, user__username=name)
    Invitation.create(team, Role.MEMBER, owner, "Open one")
    for note, change in [
        ("Withdrawn one", {"revoked_at": timezone.now()}),
        ("Accepted one", {"accepted_at": timezone.now()}),
        ("Expired one", {"expires": timezone.now() - timedelta(minutes=1)}),
    ]:
        invitation, _ = Invitation.create(team, Role.MEMBER, owner, note)
        Invitation.objects.filter(pk=invitation.pk).update(**change)
    html, _ = page(owner_client)
    assert "Open one" in html
    for gone in ("Withdrawn one", "Accepted one", "Expired one"):
        assert gone not in html
    names = ["adam", "mia", owner.username, "zoe"]
    positions = [html.index(f"<td>{name}") for name in sorted(names)]
    assert positions == sorted(positions)


def test_revoked_tokens_are_not_listed(owner_client, team, owner):
    live, _ = ApiToken.issue(team, owner, "Live script", "read")
    revoked, _ = ApiToken.issue(team, owner, "Old script", "read")
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    html, _ = page(owner_client)
    assert "Live script" in html and "Old script" not in html
    assert f"/team/api-tokens/{live.uuid}/revoke/" in html
