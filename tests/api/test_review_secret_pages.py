"""A secret "shown once" must not stay in the browser's cache: the pages that show one
say no-store, so Back or a shared machine's cache does not show it again."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_page_showing_a_new_token_is_not_cached(owner_client, team):
    response = owner_client.post(
        "/team/api-tokens/", {"name": "farm", "scope": "generate"}, follow=True
    )
    assert response.context["new_token"] in response.content.decode()
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_the_page_showing_a_new_webhook_secret_is_not_cached(owner_client, team):
    response = owner_client.post(
        "/team/webhook/", {"url": "https://hooks.example.com/in"}, follow=True
    )
    assert response.context["new_secret"] in response.content.decode()
    assert "no-store" in response.headers.get("Cache-Control", "")
