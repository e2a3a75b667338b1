from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from billing.models import Invitation, Membership, Role
from tests.factories import MembershipFactory, TeamFactory, UserFactory


def membership_of(user, team):
    return Membership.objects.get(user=user, team=team)


def test_roles_rank_owner_over_admin_over_member_over_viewer(team, owner, member, viewer):
    assert membership_of(owner, team).has_role(Role.ADMIN)
    assert membership_of(member, team).has_role(Role.MEMBER)
    assert not membership_of(member, team).has_role(Role.ADMIN)
    assert not membership_of(viewer, team).can_generate


def test_the_last_owner_cannot_be_demoted(team, owner):
    with pytest.raises(ValidationError, match="last owner"):
        membership_of(owner, team).change_role(Role.ADMIN)
    assert membership_of(owner, team).role == Role.OWNER


def test_an_owner_can_step_down_once_there_is_another(team, owner, member):
    membership_of(member, team).change_role(Role.OWNER)
    membership_of(owner, team).change_role(Role.MEMBER)
    assert membership_of(owner, team).role == Role.MEMBER


def test_the_last_owner_cannot_leave(owner_client, team, owner):
    response = owner_client.post(reverse("leave_team"), follow=True)
    assert b"last owner" in response.content
    assert Membership.objects.filter(user=owner, team=team).exists()


def test_a_member_can_leave(member_client, team, member):
    member_client.post(reverse("leave_team"))
    assert not Membership.objects.filter(user=member, team=team).exists()


def test_an_admin_changes_a_members_role(owner_client, team, member):
    m = membership_of(member, team)
    owner_client.post(reverse("set_role", args=[m.uuid]), {"role": Role.VIEWER})
    m.refresh_from_db()
    assert m.role == Role.VIEWER


def test_a_member_cannot_change_roles(member_client, team, owner):
    m = membership_of(owner, team)
    response = member_client.post(reverse("set_role", args=[m.uuid]), {"role": Role.VIEWER})
    assert response.status_code == 403
    m.refresh_from_db()
    assert m.role == Role.OWNER


def test_an_admin_cannot_make_owners(team, owner, member):
    admin = MembershipFactory(team=team, admin=True).user
    from django.test import Client

    c = Client()
    c.force_login(admin)
    m = membership_of(member, team)
    response = c.post(reverse("set_role", args=[m.uuid]), {"role": Role.OWNER})
    assert response.status_code == 403


def test_another_teams_member_is_a_404(owner_client, outsider, other_team):
    m = membership_of(outsider, other_team)
    response = owner_client.post(reverse("set_role", args=[m.uuid]), {"role": Role.VIEWER})
    assert response.status_code == 404
    response = owner_client.post(reverse("remove_member", args=[m.uuid]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=m.pk, role=Role.OWNER).exists()


def test_the_team_page_lists_only_my_teams_people(owner_client, member, outsider):
    response = owner_client.get(reverse("team"))
    assert b"mateo" in response.content
    assert b"oscar" not in response.content


def test_a_person_switches_between_teams(client, team, other_team):
    user = UserFactory()
    MembershipFactory(user=user, team=team)
    MembershipFactory(user=user, team=other_team)
    client.force_login(user)
    client.post(reverse("switch_team"), {"team": str(other_team.uuid)})
    assert other_team.name.encode() in client.get(reverse("team")).content
    client.post(reverse("switch_team"), {"team": str(team.uuid)})
    response = client.get(reverse("team"))
    assert b"<h1>Northwind Pictures</h1>" in response.content


def test_switching_to_a_team_you_are_not_in_is_a_404(member_client, other_team):
    response = member_client.post(reverse("switch_team"), {"team": str(other_team.uuid)})
    assert response.status_code == 404


@pytest.mark.parametrize("value", ["", "not-a-uuid", "1' OR 1=1 --"])
def test_switching_to_a_malformed_team_id_is_a_404(member_client, value):
    response = member_client.post(reverse("switch_team"), {"team": value})
    assert response.status_code == 404


def test_switching_goes_back_to_the_page_but_never_off_site(member_client, team):
    switch = reverse("switch_team")
    back = member_client.post(switch, {"team": str(team.uuid), "next": "/gallery/?project=x"})
    assert back["Location"] == "/gallery/?project=x"
    for elsewhere in ["https://evil.example/", "//evil.example/", "javascript:alert(1)"]:
        response = member_client.post(switch, {"team": str(team.uuid), "next": elsewhere})
        assert response["Location"] == reverse("home"), elsewhere


def test_a_user_without_a_team_is_told_how_to_get_one(client, db):
    client.force_login(UserFactory())
    response = client.get(reverse("team"), follow=True)
    assert b"not in a team yet" in response.content


def test_anonymous_visitors_are_sent_to_log_in(client, db):
    response = client.get(reverse("team"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# Invitations


def invite(team, by, role=Role.MEMBER):
    return Invitation.create(team, role, by)


def test_an_admin_creates_an_invitation_link_shown_once(owner_client, team):
    owner_client.post(reverse("invite"), {"role": Role.VIEWER, "note": "Sam"})
    invitation = Invitation.objects.get(team=team)
    assert invitation.role == Role.VIEWER
    first = owner_client.get(reverse("team")).content.decode()
    assert "Send this link" in first
    assert "Send this link" not in owner_client.get(reverse("team")).content.decode()


def test_a_viewer_cannot_invite(viewer_client, team):
    assert viewer_client.post(reverse("invite"), {"role": Role.MEMBER}).status_code == 403
    assert not Invitation.objects.exists()


def test_a_new_user_accepts_an_invitation_by_signing_up(client, team, owner):
    _, token = invite(team, owner, Role.VIEWER)
    url = reverse("accept_invitation", args=[token])
    response = client.post(
        url,
        {
            "username": "newbie",
            "password1": "a long secret phrase",
            "password2": "a long secret phrase",
        },
    )
    assert response.status_code == 302
    assert Membership.objects.get(user__username="newbie", team=team).role == Role.VIEWER


def test_a_logged_in_user_accepts_an_invitation(client, team, owner, outsider):
    _, token = invite(team, owner)
    client.force_login(outsider)
    client.post(reverse("accept_invitation", args=[token]))
    assert Membership.objects.filter(user=outsider, team=team, role=Role.MEMBER).exists()


def test_an_invitation_works_only_once(client, team, owner):
    _, token = invite(team, owner)
    first, second = UserFactory(), UserFactory()
    client.force_login(first)
    client.post(reverse("accept_invitation", args=[token]))
    client.force_login(second)
    response = client.post(reverse("accept_invitation", args=[token]))
    assert response.status_code == 410
    assert b"already been used" in response.content
    assert not Membership.objects.filter(user=second, team=team).exists()


def test_an_expired_invitation_is_refused(client, team, owner):
    invitation, token = invite(team, owner)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires=timezone.now() - timedelta(minutes=1)
    )
    client.force_login(UserFactory())
    response = client.post(reverse("accept_invitation", args=[token]))
    assert response.status_code == 410
    assert b"expired" in response.content


def test_an_invitation_to_a_team_you_are_in_says_so(member_client, team, owner):
    _, token = invite(team, owner)
    response = member_client.post(reverse("accept_invitation", args=[token]))
    assert b"already a member" in response.content
    assert Invitation.objects.get().accepted_at is None


def test_a_withdrawn_invitation_is_refused(owner_client, client, team, owner):
    invitation, token = invite(team, owner)
    owner_client.post(reverse("revoke_invitation", args=[invitation.uuid]))
    client.force_login(UserFactory())
    assert b"withdrawn" in client.post(reverse("accept_invitation", args=[token])).content


def test_a_made_up_token_is_a_404(client, db):
    assert client.get(reverse("accept_invitation", args=["nope"])).status_code == 404


def test_only_a_hash_of_the_token_is_stored(team, owner):
    invitation, token = invite(team, owner)
    assert token not in invitation.token_hash


def test_a_user_in_two_teams_sees_only_the_current_ones_members(client, db):
    user = UserFactory()
    a, b = TeamFactory(name="A"), TeamFactory(name="B")
    MembershipFactory(user=user, team=a)
    MembershipFactory(user=user, team=b)
    MembershipFactory(team=b, user__username="only-in-b")
    client.force_login(user)
    client.post(reverse("switch_team"), {"team": str(a.uuid)})
    assert b"only-in-b" not in client.get(reverse("team")).content
