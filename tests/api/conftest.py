"""Tokens for the three personas and a client that speaks to /api/v1/ with one."""

import pytest
from django.test import Client

from generations.api.models import ApiToken, Scope
from tests.factories import MembershipFactory
from tests.generations.conftest import (  # noqa: F401 (fixtures)
    funded,
    kinovi,
    project,
    sandbox,
)


class ApiClient:
    """The test client with a bearer token and JSON bodies."""

    def __init__(self, secret: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def get(self, path, **params):
        return self.client.get("/api/v1" + path, params, headers=self.headers)

    def post(self, path, body=None, headers=None):
        return self.client.post(
            "/api/v1" + path,
            body or {},
            content_type="application/json",
            headers={**self.headers, **(headers or {})},
        )


def token_for(team, user, scope=Scope.GENERATE, name="script") -> str:
    return ApiToken.issue(team, user, name, scope)[1]


@pytest.fixture
def team_admin(team, owner):
    return MembershipFactory(team=team, admin=True, user__username="ada").user


@pytest.fixture
def owner_api(team, owner):
    return ApiClient(token_for(team, owner))


@pytest.fixture
def member_api(team, member):
    return ApiClient(token_for(team, member))


@pytest.fixture
def viewer_api(team, viewer):
    return ApiClient(token_for(team, viewer))


@pytest.fixture
def read_api(team, owner):
    return ApiClient(token_for(team, owner, Scope.READ))


@pytest.fixture
def outsider_api(other_team, outsider):
    return ApiClient(token_for(other_team, outsider))


@pytest.fixture
def anonymous_api(db):
    return ApiClient(None)
