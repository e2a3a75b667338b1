"""Team API tokens: made and revoked on the Team page by owners and admins, shown once,
stored hashed, never more than their creator, audited, and their last use recorded."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import AuditEntry, Role
from generations.api.models import ApiToken, Scope
from seedance_site.tokens import hash_token
from tests.api.conftest import ApiClient, token_for

pytestmark = pytest.mark.django_db


def test_an_owner_creates_a_token_that_is_shown_once_and_stored_hashed(owner_client, team):
    response = owner_client.post(
        "/team/api-tokens/", {"name": "render farm", "scope": "generate"}, follow=True
    )
    secret = response.context["new_token"]
    assert secret.startswith("sds_")
    assert secret in response.content.decode()
    token = ApiToken.objects.get(team=team)
    assert token.token_hash == hash_token(secret)
    assert secret not in str(token.__dict__)
    assert (token.name, token.scope) == ("render farm", Scope.GENERATE)
    again = owner_client.get("/team/")
    assert secret not in again.content.decode()
    assert "render farm" in again.content.decode()


def test_creating_and_revoking_a_token_is_in_the_audit_log(owner_client, team):
    owner_client.post("/team/api-tokens/", {"name": "ci", "scope": "read"})
    token = ApiToken.objects.get(team=team)
    owner_client.post(f"/team/api-tokens/{token.uuid}/revoke/")
    actions = list(AuditEntry.objects.filter(team=team).values_list("action", flat=True))
    assert actions == ["api_token_revoked", "api_token_created"]
    entry = AuditEntry.objects.get(action="api_token_created")
    assert "sds_" not in str(entry.changes) and entry.target == "API token ci"


def test_an_admin_may_make_tokens_and_a_member_may_not(team_admin, member_client, client, team):
    client.force_login(team_admin)
    assert client.post("/team/api-tokens/", {"name": "a", "scope": "read"}).status_code == 302
    assert (
        member_client.post("/team/api-tokens/", {"name": "m", "scope": "read"}).status_code == 403
    )
    assert ApiToken.objects.filter(team=team).count() == 1
    assert "Create token" not in member_client.get("/team/").content.decode()


def test_a_revoked_token_no_longer_works(owner_client, team, owner):
    secret = token_for(team, owner)
    token = ApiToken.objects.get(team=team)
    assert ApiClient(secret).get("/balance").status_code == 200
    owner_client.post(f"/team/api-tokens/{token.uuid}/revoke/")
    response = ApiClient(secret).get("/balance")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_another_teams_token_cannot_be_revoked(owner_client, other_team, outsider):
    token_for(other_team, outsider)
    token = ApiToken.objects.get(team=other_team)
    assert owner_client.post(f"/team/api-tokens/{token.uuid}/revoke/").status_code == 404
    assert ApiToken.objects.live().filter(pk=token.pk).exists()


def test_it_records_when_a_token_was_last_used(team, owner):
    secret = token_for(team, owner)
    token = ApiToken.objects.get(team=team)
    assert token.last_used_at is None
    ApiClient(secret).get("/balance")
    token.refresh_from_db()
    assert token.last_used_at is not None
    long_ago = timezone.now() - timedelta(hours=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)
    ApiClient(secret).get("/balance")
    token.refresh_from_db()
    assert token.last_used_at > long_ago


def test_a_token_never_does_more_than_its_creators_role_now(team, owner, team_admin, project):
    secret = token_for(team, team_admin, Scope.GENERATE)
    api = ApiClient(secret)
    assert api.post("/projects", {"name": "Ok"}).status_code == 201
    membership = team_admin.memberships.get(team=team)
    membership.role = Role.VIEWER
    membership.save()
    response = api.post("/projects", {"name": "Not now"})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    membership.delete()
    assert api.get("/projects").status_code == 401


def test_the_command_prints_a_working_token(team, owner):
    out = io.StringIO()
    call_command("create_api_token", team=team.name, user=owner.username, name="cron", stdout=out)
    secret = out.getvalue().strip()
    token = ApiToken.objects.get(team=team, name="cron")
    assert token.scope == Scope.GENERATE
    assert ApiClient(secret).get("/balance").status_code == 200
    assert AuditEntry.objects.filter(team=team, action="api_token_created").exists()


def test_the_command_makes_read_only_tokens_and_refuses_strangers(team, owner, member, outsider):
    out = io.StringIO()
    call_command("create_api_token", "--read-only", team=team.name, user=owner.username, stdout=out)
    assert ApiToken.objects.get(team=team).scope == Scope.READ
    with pytest.raises(CommandError, match="not a member"):
        call_command("create_api_token", team=team.name, user=outsider.username)
    with pytest.raises(CommandError, match="Only owners and admins"):
        call_command("create_api_token", team=team.name, user=member.username)
