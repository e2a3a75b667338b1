"""Outgoing webhooks: signed as Standard Webhooks says (checked by an implementation of
the specification written here, and by the specification's own library), delivered with
retries to public addresses only, logged, replayable, and never in a job's way."""

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import httpx
import pytest
import standardwebhooks
from django.utils import timezone

from billing.models import AuditEntry
from generations import lifecycle
from generations.api import tasks, webhooks
from generations.api.models import (
    Batch,
    BatchItem,
    BatchState,
    DeliveryState,
    WebhookDelivery,
    WebhookEndpoint,
)
from generations.models import State
from tests.api.receivers import Receiver, closed_port_url
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.django_db


def verify(secret: str, headers: dict, body: bytes, tolerance=300) -> dict:
    """The receiver's side, from the specification's text: recompute
    HMAC-SHA256(base64-decoded secret, "{id}.{timestamp}.{body}"), compare it in constant
    time with each "v1,<base64>" in webhook-signature, refuse stale timestamps."""
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(stamp)) > tolerance:
        raise ValueError("stale")
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for part in headers["webhook-signature"].split(" "):
        version, _, signature = part.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(signature), expected):
            return json.loads(body)
    raise ValueError("no valid signature")


def test_it_signs_the_specifications_own_example():
    # The example of the Standard Webhooks reference libraries' tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = webhooks.sign(
        secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_new_secret_is_whsec_and_base64():
    secret = WebhookEndpoint.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 24


@pytest.fixture
def loopback_allowed(monkeypatch):
    """Receivers in these tests live on loopback, which the real client refuses."""
    monkeypatch.setattr(webhooks, "http_client", lambda seconds: httpx.Client(timeout=seconds))


@pytest.fixture
def sent_at_once(monkeypatch, loopback_allowed):
    """Each delivery's first attempt runs when it is queued, as an idle worker would."""
    monkeypatch.setattr(tasks, "enqueue_delivery", tasks.deliver_webhook)


def endpoint_for(team, url) -> tuple[WebhookEndpoint, str]:
    endpoint = WebhookEndpoint(team=team, url=url)
    secret = WebhookEndpoint.new_secret()
    endpoint.set_secret(secret)
    endpoint.save()
    return endpoint, secret


def finish(generation, state=State.SUCCEEDED, capture=None):
    with capture(execute=True):
        assert lifecycle.set_state(generation, [generation.state], state)


def test_a_finished_clip_is_announced_signed_after_commit(
    team, project, sent_at_once, django_capture_on_commit_callbacks
):
    g = GenerationFactory(project=project, state=State.FINALIZING)
    with Receiver() as receiver:
        _, secret = endpoint_for(team, receiver.url)
        with django_capture_on_commit_callbacks() as callbacks:
            lifecycle.set_state(g, [State.FINALIZING], State.SUCCEEDED)
            assert receiver.received == []  # nothing before the change is committed
        for callback in callbacks:
            callback()
    [(headers, body)] = [
        (h, b) for h, b in receiver.received if json.loads(b)["type"] == "generation.succeeded"
    ]
    event = verify(secret, headers, body)
    assert event["type"] == "generation.succeeded"
    assert event["data"]["id"] == str(g.uuid)
    assert event["data"]["download_url"].endswith(f"/api/v1/generations/{g.uuid}/clip/download")
    standardwebhooks.Webhook(secret).verify(body, headers)
    delivery = WebhookDelivery.objects.get(message_id=headers["webhook-id"])
    assert delivery.state == DeliveryState.SUCCEEDED
    assert delivery.attempt_log.get().status_code == 204


def test_a_tampered_body_fails_verification(
    team, project, sent_at_once, django_capture_on_commit_callbacks
):
    g = GenerationFactory(project=project, running=True)
    with Receiver() as receiver:
        _, secret = endpoint_for(team, receiver.url)
        finish(g, State.FAILED, django_capture_on_commit_callbacks)
    headers, body = receiver.received[0]
    assert verify(secret, headers, body)["type"] == "generation.failed"
    with pytest.raises(ValueError):
        verify(secret, headers, body.replace(b"failed", b"succeeded"))
    with pytest.raises(ValueError):
        verify(WebhookEndpoint.new_secret(), headers, body)


@pytest.mark.parametrize(
    "state, event",
    [
        (State.FAILED, "generation.failed"),
        (State.EXPIRED, "generation.failed"),
        (State.CANCELLED, "generation.cancelled"),
        (State.NEEDS_ATTENTION, "generation.needs_attention"),
    ],
)
def test_each_ending_has_its_event(
    team, project, state, event, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks, "enqueue_delivery", queued.append)
    endpoint_for(team, "https://hooks.example.com/in")
    g = GenerationFactory(project=project, running=True)
    finish(g, state, django_capture_on_commit_callbacks)
    events = list(WebhookDelivery.objects.values_list("event", flat=True))
    assert event in events
    assert len(queued) == len(events)


def test_a_batch_run_is_announced_once_when_all_its_jobs_ended(
    team, project, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(tasks, "enqueue_delivery", lambda pk: None)
    endpoint_for(team, "https://hooks.example.com/in")
    first = GenerationFactory(project=project, running=True)
    second = GenerationFactory(project=project, running=True)
    run = Batch.objects.create(team=team, name="shots.csv", state=BatchState.SUBMITTED)
    for number, g in enumerate([first, second], start=1):
        BatchItem.objects.create(batch=run, row=number, generation=g)
    finish(first, State.SUCCEEDED, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.filter(event="batch.finished").exists()
    finish(second, State.FAILED, django_capture_on_commit_callbacks)
    [announced] = WebhookDelivery.objects.filter(event="batch.finished")
    data = announced.payload["data"]
    assert data["id"] == str(run.uuid) and data["total"] == 2
    assert data["states"] == {"succeeded": 1, "failed": 1}
    assert data["results_url"].endswith(f"/api/v1/batches/{run.uuid}/results.csv")
    webhooks.events_for_state(second, State.FAILED)  # announced again: nothing new
    assert WebhookDelivery.objects.filter(event="batch.finished").count() == 1


def test_jobs_outside_a_batch_run_announce_no_batch(
    team, project, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(tasks, "enqueue_delivery", lambda pk: None)
    endpoint_for(team, "https://hooks.example.com/in")
    finish(
        GenerationFactory(project=project, running=True),
        State.SUCCEEDED,
        django_capture_on_commit_callbacks,
    )
    assert not WebhookDelivery.objects.filter(event="batch.finished").exists()


def test_a_low_balance_is_announced_once_a_day(
    team, project, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(tasks, "enqueue_delivery", lambda pk: None)
    endpoint_for(team, "https://hooks.example.com/in")
    for _ in range(2):
        finish(
            GenerationFactory(project=project, running=True),
            State.FAILED,
            django_capture_on_commit_callbacks,
        )
    [low] = WebhookDelivery.objects.filter(event="balance.low")
    assert low.payload["data"]["threshold_micros"] == team.low_balance_threshold


def test_a_team_without_an_endpoint_gets_nothing(project, django_capture_on_commit_callbacks):
    finish(
        GenerationFactory(project=project, running=True),
        State.FAILED,
        django_capture_on_commit_callbacks,
    )
    assert not WebhookDelivery.objects.exists()


def make_due(delivery):
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def pending_delivery(team, url) -> WebhookDelivery:
    endpoint, _ = endpoint_for(team, url)
    return webhooks.emit(endpoint, "generation.failed", "msg_test", {"id": "x"})


def test_a_receiver_answering_500_is_retried_with_back_off_for_a_day_then_failed(
    team, project, loopback_allowed
):
    g = GenerationFactory(project=project, succeeded=False)
    with Receiver(status=500) as receiver:
        delivery = pending_delivery(team, receiver.url)
        waits = []
        for _ in range(len(webhooks.RETRY_WAITS) + 1):
            before = timezone.now()
            assert webhooks.attempt(delivery.pk) is not None
            assert webhooks.attempt(delivery.pk) is None  # not due again yet
            delivery.refresh_from_db()
            if delivery.next_attempt_at:
                waits.append(delivery.next_attempt_at - before)
                make_due(delivery)
    assert delivery.state == DeliveryState.FAILED
    assert delivery.attempts == len(webhooks.RETRY_WAITS) + 1 == len(receiver.received)
    # Each wait is counted from just before its attempt: it exceeds the back-off by the
    # attempt's own time (seconds on a busy machine), never falls short of it.
    assert len(waits) == len(webhooks.RETRY_WAITS)
    for waited, back_off in zip(waits, webhooks.RETRY_WAITS, strict=True):
        assert timedelta(0) <= waited - back_off < timedelta(seconds=5), (waited, back_off)
    assert timedelta(hours=20) < sum(webhooks.RETRY_WAITS, timedelta()) < timedelta(hours=26)
    assert {a.status_code for a in delivery.attempt_log.all()} == {500}
    assert len({h["webhook-id"] for h, _ in receiver.received}) == 1  # one message, retried
    g.refresh_from_db()
    assert g.state == State.QUEUED


def test_a_receiver_that_is_down_is_logged_and_retried(team, loopback_allowed):
    delivery = pending_delivery(team, closed_port_url())
    webhooks.attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.PENDING and delivery.attempts == 1
    assert "Could not connect" in delivery.attempt_log.get().error


def test_a_slow_receiver_is_cut_off_by_the_short_timeout(team, loopback_allowed, monkeypatch):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    with Receiver(delay=2.0) as receiver:
        delivery = pending_delivery(team, receiver.url)
        started = time.monotonic()
        webhooks.attempt(delivery.pk)
        assert time.monotonic() - started < 1.5
    attempt = WebhookDelivery.objects.get().attempt_log.get()
    assert attempt.status_code is None and "No answer within" in attempt.error


def test_private_addresses_are_refused_when_sending(team):
    with Receiver() as receiver:
        delivery = pending_delivery(team, receiver.url)  # 127.0.0.1, with the real client
        webhooks.attempt(delivery.pk)
    assert receiver.received == []
    assert "loopback" in WebhookDelivery.objects.get().attempt_log.get().error


def test_the_due_schedule_sends_what_is_due(team, loopback_allowed):
    with Receiver() as receiver:
        delivery = pending_delivery(team, receiver.url)
        tasks.deliver_due_webhooks()
        tasks.deliver_due_webhooks()
    assert len(receiver.received) == 1
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED


def test_a_failing_webhook_never_stops_a_job(
    project, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args):
        raise RuntimeError("webhook trouble")

    monkeypatch.setattr(webhooks, "events_for_state", broken)
    g = GenerationFactory(project=project, running=True)
    finish(g, State.SUCCEEDED, django_capture_on_commit_callbacks)
    g.refresh_from_db()
    assert g.state == State.SUCCEEDED


# --- the team's webhook page --------------------------------------------------------


def test_an_owner_sets_an_endpoint_and_sees_the_secret_once(owner_client, team):
    response = owner_client.post(
        "/team/webhook/", {"url": "https://hooks.example.com/in"}, follow=True
    )
    secret = response.context["new_secret"]
    endpoint = WebhookEndpoint.objects.get(team=team)
    assert endpoint.secret == secret and secret.startswith("whsec_")
    assert secret not in owner_client.get("/team/webhook/").content.decode()
    entry = AuditEntry.objects.get(team=team, action="webhook_set")
    assert secret not in json.dumps(entry.changes)
    owner_client.post("/team/webhook/", {"url": "https://hooks.example.com/v2"})
    endpoint.refresh_from_db()
    assert endpoint.secret == secret  # kept unless a new one is asked for
    owner_client.post("/team/webhook/", {"url": "https://hooks.example.com/v2", "rotate": "1"})
    endpoint.refresh_from_db()
    assert endpoint.secret != secret


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/x",
        "http://10.1.2.3/x",
        "http://localhost/x",
        "http://169.254.169.254/",
    ],
)
def test_a_private_endpoint_is_refused_on_the_page(owner_client, team, url):
    response = owner_client.post("/team/webhook/", {"url": url})
    assert response.status_code == 200
    assert "public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_shows_attempts_and_replays(
    owner_client, team, loopback_allowed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks, "enqueue_replay", tasks.replay_webhook)
    with Receiver(status=500) as receiver:
        delivery = pending_delivery(team, receiver.url)
        webhooks.attempt(delivery.pk)
        assert "HTTP 500" in owner_client.get("/team/webhook/").content.decode()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            state=DeliveryState.FAILED, next_attempt_at=None
        )

        moved = Receiver()  # the team fixed its endpoint since: the replay goes there
        with moved:
            WebhookEndpoint.objects.filter(team=team).update(url=moved.url)
            with django_capture_on_commit_callbacks(execute=True):
                response = owner_client.post(f"/team/webhook/deliveries/{delivery.uuid}/replay/")
        assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SUCCEEDED
    assert [h["webhook-id"] for h, _ in receiver.received] == ["msg_test"]
    assert [h["webhook-id"] for h, _ in moved.received] == ["msg_test"]


def test_members_and_other_teams_cannot_reach_the_log(member_client, outsider_client, team):
    delivery = pending_delivery(team, "https://hooks.example.com/in")
    assert member_client.get("/team/webhook/").status_code == 403
    assert (
        outsider_client.post(f"/team/webhook/deliveries/{delivery.uuid}/replay/").status_code == 404
    )
    assert outsider_client.post("/team/webhook/remove/").status_code == 404
