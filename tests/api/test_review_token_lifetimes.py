"""A token outlives nothing its creator lost: removed from the team and invited back, the
member starts with no live tokens."""

import pytest

from generations.api.models import ApiToken
from tests.api.conftest import ApiClient, token_for
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_a_removed_members_tokens_stay_dead_when_they_are_invited_back(team, owner, member):
    secret = token_for(team, member)
    api = ApiClient(secret)
    assert api.get("/projects").status_code == 200
    member.memberships.get(team=team).leave()
    assert api.get("/projects").status_code == 401
    MembershipFactory(team=team, user=member)  # back, as a new member
    assert api.get("/projects").status_code == 401
    assert not ApiToken.objects.live().filter(created_by=member).exists()


def test_leaving_one_team_keeps_the_tokens_made_in_another(team, other_team, member):
    MembershipFactory(team=other_team, user=member)
    elsewhere = ApiClient(token_for(other_team, member))
    token_for(team, member)
    member.memberships.get(team=team).leave()
    assert elsewhere.get("/projects").status_code == 200


def test_a_token_in_the_query_string_is_not_accepted(team, owner):
    secret = token_for(team, owner)
    anonymous = ApiClient(None)
    for name in ("token", "access_token", "api_key"):
        assert anonymous.get("/projects", **{name: secret}).status_code == 401
