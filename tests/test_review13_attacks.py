"""Review 13: attacks on the page-speed changes (cached fragments, the shared favourite
form, MembershipsBackend, cached_db sessions, the one-query gallery page)."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import caches
from django.test import Client
from django.urls import reverse

from billing.models import Invitation, Role


@pytest.fixture(autouse=True)
def empty_fragments():
    caches["template_fragments"].clear()
    yield
    caches["template_fragments"].clear()


# --- MembershipsBackend -------------------------------------------------------------


def test_a_new_user_who_signs_up_through_an_invitation_stays_signed_in(client, team, owner):
    """accept_invitation logs the new user in with backend=ModelBackend, which is no longer
    in AUTHENTICATION_BACKENDS: Django's get_user then answers AnonymousUser on the very
    next request, so a new member is signed out straight after signing up."""
    _, token = Invitation.create(team, Role.MEMBER, owner)
    response = client.post(
        reverse("accept_invitation", args=[token]),
        {"username": "newbie", "password1": "a long secret phrase", "password2": "a long secret phrase"},
    )
    assert response.status_code == 302
    after = client.get(reverse("team"))
    assert after.status_code == 200, after.get("Location")


def test_a_session_signed_in_before_the_deploy_stays_signed_in(member, team):
    """Every session made before this change names django.contrib.auth.backends.ModelBackend
    (as does tests/deploy/check_deployment.py): with only MembershipsBackend listed, every
    signed-in user is signed out at deploy."""
    from importlib import import_module

    from django.conf import settings

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(member.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = member.get_session_auth_hash()
    store.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    response = client.get(reverse("team"))
    assert response.status_code == 200, response.get("Location")
