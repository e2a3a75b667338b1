"""Adversarial review of the issue #13 speed work, part two: sessions and the user with
their teams read by written SQL (seedance_site.written, seedance_site.sessions[_cached],
billing.teams.backends). Every attack here held; each docstring says what was tried.
Run on both databases, and with Redis sessions in front (REDIS_URL=redis://…/7)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.teams.access import SESSION_KEY as TEAM_KEY
from tests.factories import MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db


def signed_in(response) -> bool:
    return response.status_code == 200


# --- Held: sessions read by the written query ----------------------------------------------


def client_with_cookie(key: str) -> Client:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    return client


@pytest.mark.parametrize(
    "key",
    [
        "short",
        "x" * 8,
        "x" * 41,
        "x" * 4000,
        "' OR '1'='1",
        "abcdefgh' OR 1=1 --",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
        "ünïcødé-session-key",
    ],
)
def test_an_unknown_or_malformed_session_key_signs_nobody_in(member_client, key):
    """PASSES. Any cookie that is not a live session's key is nobody: a redirect to sign
    in, never a 500, never another's session (the key is a parameter)."""
    response = client_with_cookie(key).get(reverse("team"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_a_session_key_in_another_case_is_not_that_session(member_client):
    """PASSES. Keys are compared exactly, as the ORM compared them."""
    key = member_client.cookies[settings.SESSION_COOKIE_NAME].value
    caches[settings.SESSION_CACHE_ALIAS].clear()
    assert client_with_cookie(key.upper()).get(reverse("team")).status_code == 302


def test_a_changed_password_ends_every_other_session(member_client, member):
    """PASSES. The written user row carries the password, so the session's hash is checked."""
    assert signed_in(member_client.get(reverse("team")))
    member.set_password("a brand new one")
    member.save()
    assert member_client.get(reverse("team")).status_code == 302


def test_a_deactivated_user_with_teams_is_nobody(member_client, member):
    """PASSES. MembershipsBackend.get_user refuses an inactive user read with their teams."""
    type(member).objects.filter(pk=member.pk).update(is_active=False)
    assert member_client.get(reverse("team")).status_code == 302


def test_a_deleted_user_is_nobody(member_client, member):
    """PASSES."""
    member.delete()
    assert member_client.get(reverse("team")).status_code == 302


def test_a_user_removed_from_all_teams_is_still_themself_with_no_team(member_client, member):
    """PASSES. No memberships: read alone, told to get a team (not someone else's)."""
    member.memberships.all().delete()
    response = member_client.get(reverse("jobs"))
    assert response.status_code == 302 and "team" in response["Location"]


def test_the_chosen_team_is_the_sessions_and_only_among_my_own(
    member_client, member, team, other_team, outsider
):
    """PASSES. With several teams the session's choice wins; a chosen team I was removed
    from, or a rival's uuid planted in the session, falls back to my first team by name."""
    second = MembershipFactory(user=member, team=TeamFactory(name="Aardvark"))
    assert member_client.get(reverse("jobs")).context["current_team"] == second.team  # by name
    member_client.post(reverse("switch_team"), {"team": str(team.uuid), "next": "/"})
    assert member_client.get(reverse("jobs")).context["current_team"] == team
    session = member_client.session
    session[TEAM_KEY] = str(other_team.uuid)
    session.save()
    assert member_client.get(reverse("jobs")).context["current_team"] == second.team
    member_client.post(reverse("switch_team"), {"team": str(team.uuid), "next": "/"})
    team.memberships.filter(user=member).delete()
    assert member_client.get(reverse("jobs")).context["current_team"] == second.team


def test_signing_in_cycles_the_key_and_signing_out_ends_it(client, member):
    """PASSES. The key a visitor had before signing in is not the signed-in session (no
    fixation); after logout the old cookie signs nobody in (Redis or not)."""
    client.get(reverse("login"))
    client.session["planted"] = 1
    session = client.session
    session["planted"] = 1
    session.save()
    before = session.session_key
    response = client.post(
        reverse("login"), {"username": "mateo", "password": "correct horse battery"}
    )
    assert response.status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert client_with_cookie(before).get(reverse("team")).status_code == 302
    assert client_with_cookie(after).get(reverse("team")).status_code == 200
    client.post(reverse("logout"))
    assert client_with_cookie(after).get(reverse("team")).status_code == 302
    assert not Session.objects.filter(session_key=after).exists()


def test_an_expired_row_is_nobody_even_if_the_cache_is_cold(member_client, member):
    """PASSES. The expiry is compared in the written query (with a cold cache in front)."""
    key = member_client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    caches[settings.SESSION_CACHE_ALIAS].clear()
    assert member_client.get(reverse("team")).status_code == 302
    assert member_client.session.get(SESSION_KEY) is None


def test_a_forged_session_for_an_id_past_64_bits_is_nobody(member):
    """PASSES. Even a session row naming an absurd user id (not reachable from outside:
    sessions are server-side) signs nobody in rather than failing."""
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(member.pk)
    store["_auth_user_backend"] = "billing.teams.backends.MembershipsBackend"
    store["_auth_user_hash"] = "nope"
    store.create()
    assert client_with_cookie(store.session_key).get(reverse("team")).status_code == 302
