"""A request's user is read together with their teams (billing.teams.backends), and
signing in still means what Django's ModelBackend makes it mean."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import Membership
from tests.factories import MembershipFactory, TeamFactory, UserFactory


def read(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return response, [q["sql"] for q in captured]


def test_a_team_page_reads_the_user_with_their_teams_in_one_query(member_client, member):
    response, sqls = read(member_client, "/team/")
    assert response.status_code == 200
    alone = [
        s for s in sqls if s.startswith('SELECT "auth_user"') and "billing_membership" not in s
    ]
    # The written query of billing.teams.backends.teams_of.
    joined = [s for s in sqls if re.search(r"WHERE m\.user_id = \d", s)]
    assert alone == [] and len(joined) == 1
    assert re.search(r'\bu\."password"', joined[0])  # the user came with the join
    assert response.context["request"].user == member


def test_the_switcher_still_lists_every_team_and_the_chosen_one(member_client, member, team):
    second = TeamFactory(name="Another Studio")
    MembershipFactory(team=second, user=member)
    member_client.post("/team/switch/", {"team": str(second.uuid), "next": "/team/"})
    html = member_client.get("/team/").content.decode()
    assert ">Another Studio</option>" in html and f">{team.name}</option>" in html
    assert f'<option value="{second.uuid}" selected>' in html


def test_a_user_with_no_team_is_still_signed_in(db):
    lonely = UserFactory(username="lonely")
    client = Client()
    client.force_login(lonely)
    response = client.get("/team/")
    # Shown how to get a team, not sent to the login page.
    assert response.status_code == 302 and response["Location"] == "/teams/none/"
    assert client.get("/teams/none/").status_code == 200


def test_a_changed_password_ends_other_sessions(member_client, member):
    member.set_password("a whole new secret")
    member.save()
    response = member_client.get("/team/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_deactivated_user_is_signed_out(member_client, member):
    member.is_active = False
    member.save()
    response = member_client.get("/team/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_removed_member_no_longer_sees_the_team(member_client, member, team):
    Membership.objects.filter(user=member, team=team).delete()
    response = member_client.get("/gallery/")
    assert response.status_code != 200 or team.name not in response.content.decode()


@pytest.mark.parametrize("password", ["right", "wrong"])
def test_signing_in_with_the_form(db, password):
    user = UserFactory(username="nadia")
    user.set_password("right")
    user.save()
    client = Client()
    response = client.post("/login/", {"username": "nadia", "password": password})
    signed_in = response.status_code == 302
    assert signed_in == (password == "right")


def test_a_user_with_no_team_is_read_once(db):
    operator = UserFactory(username="ops-only", is_staff=True)
    client = Client()
    client.force_login(operator)
    response, sqls = read(client, "/vendors/")
    assert response.status_code == 200
    assert sum("billing_membership" in s and "WHERE" in s for s in sqls) == 1
