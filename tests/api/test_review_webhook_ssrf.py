"""Webhook endpoints that spell a private address in another way: decimal, octal, hex,
short IPv4, IPv4 inside IPv6. Refused when typed, and again when sent."""

import pytest

from generations.api import webhooks
from generations.api.models import WebhookEndpoint

pytestmark = pytest.mark.django_db

SPELLINGS = [
    "http://2130706433/hooks",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/hooks",  # octal
    "http://0x7f.0.0.1/hooks",  # hex
    "http://127.1/hooks",  # short form
    "http://167772161/hooks",  # 10.0.0.1
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/",
]


@pytest.mark.parametrize("url", SPELLINGS)
def test_a_private_address_in_any_spelling_is_refused_when_typed(url):
    assert webhooks.endpoint_refusal(url)


@pytest.mark.parametrize("url", SPELLINGS)
def test_a_private_address_in_any_spelling_is_refused_when_sent(team, url):
    endpoint = WebhookEndpoint(team=team, url=url)
    endpoint.set_secret(WebhookEndpoint.new_secret())
    endpoint.save()
    delivery = webhooks.emit(endpoint, "generation.failed", "msg_x", {})
    webhooks.attempt(delivery.pk)
    attempt = delivery.attempt_log.get()
    # Refused by the address check, or (octal) by httpx as no valid address: never sent.
    assert attempt.status_code is None
    assert "not a public one" in attempt.error or "Invalid IPv4" in attempt.error


def test_a_public_name_is_allowed_when_typed():
    assert webhooks.endpoint_refusal("https://hooks.example.com/in") is None
    assert webhooks.endpoint_refusal("https://8.8.8.8/in") is None
