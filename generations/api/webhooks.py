"""Outgoing webhooks, signed as the Standard Webhooks specification says.

    webhook-id:        the message id, the same on every attempt (receivers drop repeats)
    webhook-timestamp: seconds since the epoch of this attempt
    webhook-signature: "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))

where key is the base64 after "whsec_" in the endpoint's secret. An attempt that gets no
2xx within TIMEOUT_SECONDS is tried again after each wait in RETRY_WAITS (a day in all),
then the delivery is marked failed. Endpoints must be public addresses: the clip
download's checks (generations.media.fetch) refuse the rest at every connect.
"""

import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from collections import Counter
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from generations.api.models import (
    BatchItem,
    DeliveryState,
    Event,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from generations.media import fetch
from generations.models import Generation, State

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
RETRY_WAITS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=8),
    timedelta(hours=8),
]
# A worker that died mid-attempt leaves its claim; another may take the row after this.
CLAIM_SECONDS = 60
# One run of the due schedule stops starting attempts after this, well inside Q_TIMEOUT.
DUE_RUN_SECONDS = 45

STATE_EVENTS = {
    State.SUCCEEDED: Event.SUCCEEDED,
    State.FAILED: Event.FAILED,
    State.EXPIRED: Event.FAILED,
    State.CANCELLED: Event.CANCELLED,
    State.NEEDS_ATTENTION: Event.NEEDS_ATTENTION,
}


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def generation_data(g: Generation) -> dict:
    data = {
        "id": str(g.uuid),
        "state": g.state,
        "model": g.family,
        "project": str(g.project.uuid),
        "scene": str(g.scene.uuid) if g.scene_id else None,
        "submission": str(g.batch),
        "charge_micros": g.charge_micros,
        "error": g.error_message,
        "url": _absolute(reverse("api-1:get_generation", args=[g.uuid])),
    }
    if g.state == State.SUCCEEDED:
        data["download_url"] = _absolute(reverse("api-1:clip_download", args=[g.uuid]))
    return data


def emit(endpoint, event: str, message_id: str, data: dict) -> WebhookDelivery | None:
    """Record one event for `endpoint`; None when the message was already recorded (a
    second announcement of one event). The caller queues its first attempt."""
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": data}
    try:
        with transaction.atomic():
            return WebhookDelivery.objects.create(
                team_id=endpoint.team_id,
                url=endpoint.url,
                event=event,
                message_id=message_id,
                payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
                next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        return None


def events_for_state(generation: Generation, state: str) -> list[WebhookDelivery]:
    """The deliveries a job's new state calls for: its own event, the end of the batch run
    it belongs to, a low balance. One query when the team has no endpoint."""
    event = STATE_EVENTS.get(state)
    endpoint = WebhookEndpoint.objects.filter(team_id=generation.team_id).first()
    if event is None or endpoint is None:
        return []
    generation = Generation.objects.select_related("team", "project", "scene").get(pk=generation.pk)
    data = generation_data(generation)
    made = [emit(endpoint, event, f"msg_{state}_{generation.uuid}", data)]
    if state in Generation.FINISHED:
        made.append(batch_finished(endpoint, generation))
    made.append(balance_low(endpoint, generation.team))
    return [d for d in made if d is not None]


def batch_finished(endpoint, generation) -> WebhookDelivery | None:
    item = BatchItem.objects.filter(generation=generation).select_related("batch").first()
    if item is None:
        return None
    jobs = Generation.objects.filter(batch_item__batch=item.batch)
    if jobs.exclude(state__in=Generation.FINISHED).exists():
        return None
    states = Counter(jobs.values_list("state", flat=True))
    data = {
        "id": str(item.batch.uuid),
        "name": item.batch.name,
        "total": sum(states.values()),
        "states": dict(states),
        "url": _absolute(reverse("api-1:get_batch_detail", args=[item.batch.uuid])),
        "results_url": _absolute(reverse("api-1:batch_results", args=[item.batch.uuid])),
    }
    # Two last jobs ending at once both get here: the message id makes it one delivery.
    return emit(endpoint, Event.BATCH_FINISHED, f"msg_batch_{item.batch.uuid}", data)


def balance_low(endpoint, team) -> WebhookDelivery | None:
    available = ledger.available_balance(team)
    if available >= team.low_balance_threshold:
        return None
    data = {"available_micros": available, "threshold_micros": team.low_balance_threshold}
    # At most one a day: the message id names the day.
    return emit(endpoint, Event.BALANCE_LOW, f"msg_balance_low_{timezone.now():%Y-%m-%d}", data)


def claim(pk) -> WebhookDelivery | None:
    now = timezone.now()
    won = (
        WebhookDelivery.objects.filter(pk=pk, state=DeliveryState.PENDING, next_attempt_at__lte=now)
        .filter(
            Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - timedelta(seconds=CLAIM_SECONDS))
        )
        .update(claimed_at=now)
    )
    return WebhookDelivery.objects.get(pk=pk) if won else None


def _post(delivery, secret, client) -> tuple[int | None, str]:
    body = json.dumps(delivery.payload, separators=(",", ":"))
    stamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "SeedanceStudio-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, delivery.message_id, stamp, body),
    }
    try:
        response = client.post(delivery.url, content=body.encode(), headers=headers)
        response.close()
    except fetch.FetchRefused as exc:
        return None, str(exc)[:300]
    # httpx's errors, and httpcore's that the pinned transport passes through unmapped: a
    # receiver's trouble is recorded on the attempt, never raised into a worker.
    except Exception as exc:
        return None, _describe(exc)[:300]
    return response.status_code, ""


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    if "Timeout" in name:
        return f"No answer within {TIMEOUT_SECONDS:g} seconds ({name})."
    if "Connect" in name:
        return f"Could not connect ({name}: {exc})."
    return f"The request failed ({name}: {exc})."


def http_client(seconds: float) -> httpx.Client:
    """Public addresses only, and all of an attempt within `seconds`."""
    return fetch.public_client(seconds)


def attempt(pk) -> WebhookDelivery | None:
    """One attempt of a due delivery; None when it was not due or another worker has it."""
    delivery = claim(pk)
    if delivery is None:
        return None
    endpoint = WebhookEndpoint.objects.filter(team_id=delivery.team_id).first()
    started = time.monotonic()
    if endpoint is None:
        status, error = None, "The team has no webhook endpoint any more."
    else:
        # The endpoint as it is now: a replay after the team fixed its URL goes there.
        delivery.url = endpoint.url
        with http_client(TIMEOUT_SECONDS) as client:
            status, error = _post(delivery, endpoint.secret, client)
    _record(delivery, status, error, int((time.monotonic() - started) * 1000))
    return delivery


def first_attempt(pk) -> WebhookDelivery | None:
    """The attempt queued when an event is committed; skipped (the delivery stays due for
    the schedule) while the team's receiver failed an attempt in the last CLAIM_SECONDS.

    A batch run of hundreds of jobs ending at a dead or slow receiver would otherwise
    queue hundreds of TIMEOUT_SECONDS attempts, taking the workers that send and follow
    every team's jobs."""
    team_id = WebhookDelivery.objects.filter(pk=pk).values_list("team_id", flat=True).first()
    since = timezone.now() - timedelta(seconds=CLAIM_SECONDS)
    recent = WebhookAttempt.objects.filter(delivery__team_id=team_id, created__gte=since)
    if recent.exclude(status_code__gte=200, status_code__lt=300).exists():
        return None
    return attempt(pk)


def _record(delivery, status, error, milliseconds) -> None:
    WebhookAttempt.objects.create(
        delivery=delivery, status_code=status, error=error, milliseconds=milliseconds
    )
    delivery.attempts += 1
    delivery.claimed_at = None
    if status is not None and 200 <= status < 300:
        delivery.state = DeliveryState.SUCCEEDED
        delivery.next_attempt_at = None
    elif delivery.attempts > len(RETRY_WAITS):
        delivery.state = DeliveryState.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = timezone.now() + RETRY_WAITS[delivery.attempts - 1]
    delivery.save(update_fields=["url", "attempts", "claimed_at", "state", "next_attempt_at"])


def replay(delivery: WebhookDelivery) -> None:
    """Send a delivery again from now (same message id), whatever became of it."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=DeliveryState.PENDING, next_attempt_at=timezone.now(), claimed_at=None
    )


def due(limit=100) -> list[tuple[int, int]]:
    """(delivery pk, team pk) of what is due, oldest first."""
    return list(
        WebhookDelivery.objects.filter(
            state=DeliveryState.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", "team_id")[:limit]
    )


def deliver_due(limit=100, budget_seconds=DUE_RUN_SECONDS) -> int:
    """Attempt what is due within `budget_seconds`; how many attempts were made.

    A receiver that does not take a delivery (slow, down, failing) gets no second one in
    the same run: its team's other deliveries wait for the next run. Otherwise one team's
    black hole, TIMEOUT_SECONDS a delivery, holds a worker for its whole backlog and the
    run outlives the cluster's task timeout (Q_TIMEOUT) while other teams wait.
    """
    started = time.monotonic()
    stalled = set()
    made = 0
    for pk, team_id in due(limit):
        if team_id in stalled:
            continue
        if time.monotonic() - started > budget_seconds:
            break
        delivery = attempt(pk)
        if delivery is None:
            continue
        made += 1
        if delivery.state != DeliveryState.SUCCEEDED:
            stalled.add(team_id)
    return made


def endpoint_refusal(url: str) -> str | None:
    """Why `url` cannot be a team's endpoint, as far as can be told when it is typed.

    A name that does not resolve now is allowed (it may later); every attempt checks
    the addresses it connects to, so a name that turns private is refused then."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "The endpoint must be an http or https address with a host name."
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return "The endpoint must be a public address, not this machine."
    try:
        ipaddress.ip_address(host)
    except ValueError:
        # What the resolver reads as IPv4 ("2130706433", "0177.0.0.1", "0x7f.1", "127.1")
        # is an address, not a name: checked now like one.
        try:
            host = socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return None
    reason = fetch.non_public_reason(host)
    return f"The endpoint must be a public address, not a {reason} one." if reason else None
