"""One team's slow or dead receiver must not hold a worker for its whole backlog, nor keep
other teams' deliveries waiting behind it."""

import time

import httpx
import pytest

from generations.api import tasks, webhooks
from generations.api.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from tests.api.receivers import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def loopback_allowed(monkeypatch):
    monkeypatch.setattr(webhooks, "http_client", lambda seconds: httpx.Client(timeout=seconds))


def endpoint(team, url) -> WebhookEndpoint:
    e = WebhookEndpoint(team=team, url=url)
    e.set_secret(WebhookEndpoint.new_secret())
    e.save()
    return e


def test_a_slow_receiver_gets_one_attempt_per_run_and_other_teams_are_served(
    team, other_team, loopback_allowed, monkeypatch
):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    with Receiver(delay=2.0) as slow, Receiver() as quick:
        slow_end, quick_end = endpoint(team, slow.url), endpoint(other_team, quick.url)
        backlog = [webhooks.emit(slow_end, "generation.failed", f"msg_{i}", {}) for i in range(5)]
        theirs = webhooks.emit(quick_end, "generation.failed", "msg_theirs", {})
        started = time.monotonic()
        tasks.deliver_due_webhooks()
        took = time.monotonic() - started
    assert len(slow.received) == 1
    assert took < 1.5
    theirs.refresh_from_db()
    assert theirs.state == DeliveryState.SUCCEEDED
    waiting = WebhookDelivery.objects.filter(pk__in=[d.pk for d in backlog], attempts=0)
    assert waiting.count() == 4  # still due, for the next run


def test_a_run_stops_starting_attempts_when_its_time_is_up(team, loopback_allowed, monkeypatch):
    with Receiver() as receiver:
        e = endpoint(team, receiver.url)
        for i in range(3):
            webhooks.emit(e, "generation.failed", f"msg_{i}", {})
        assert webhooks.deliver_due(budget_seconds=-1) == 0
        assert webhooks.deliver_due() == 3
    assert len(receiver.received) == 3


def test_events_for_a_receiver_that_just_failed_wait_for_the_schedule(
    team, other_team, loopback_allowed, monkeypatch
):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    with Receiver(delay=2.0) as slow, Receiver() as quick:
        slow_end, quick_end = endpoint(team, slow.url), endpoint(other_team, quick.url)
        first = webhooks.emit(slow_end, "generation.failed", "msg_first", {})
        tasks.deliver_webhook(first.pk)  # times out
        later = [webhooks.emit(slow_end, "generation.failed", f"msg_{i}", {}) for i in range(3)]
        started = time.monotonic()
        for delivery in later:
            tasks.deliver_webhook(delivery.pk)
        assert time.monotonic() - started < 0.5
        theirs = webhooks.emit(quick_end, "generation.failed", "msg_theirs", {})
        tasks.deliver_webhook(theirs.pk)
    assert len(slow.received) == 1 and len(quick.received) == 1
    waiting = WebhookDelivery.objects.filter(pk__in=[d.pk for d in later])
    assert {(d.state, d.attempts) for d in waiting} == {(DeliveryState.PENDING, 0)}
    assert set(webhooks.due()) >= {(d.pk, team.pk) for d in later}
