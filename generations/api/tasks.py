"""Every django-q2 call of the API app: webhook deliveries and their schedule.

Tasks take primary keys. A delivery's first attempt is queued when its event is
committed; retries are picked up by a schedule that runs every minute.
"""

import logging

from django.dispatch import receiver
from django_q.models import Schedule

from generations import lifecycle
from generations.api import submitting, webhooks
from generations.tasks import queue_task

log = logging.getLogger(__name__)

DUE_SCHEDULE = "api-webhooks-due"
KEYS_SCHEDULE = "api-idempotency-keys-expire"


def enqueue_delivery(pk: int) -> None:
    # Each attempt is in the delivery log: django-q2 need not store the task's success.
    queue_task(
        "generations.api.tasks.deliver_webhook",
        pk,
        task_name=f"webhook-{pk}",
        group="webhook",
        save=False,
    )


def enqueue_replay(pk: int) -> None:
    # An admin asked for it: sent now, even to a receiver that just failed.
    queue_task(
        "generations.api.tasks.replay_webhook",
        pk,
        task_name=f"webhook-replay-{pk}",
        group="webhook",
        save=False,
    )


def deliver_webhook(pk: int) -> None:
    webhooks.first_attempt(pk)


def replay_webhook(pk: int) -> None:
    webhooks.attempt(pk)


def deliver_due_webhooks() -> None:
    webhooks.deliver_due()


def forget_expired_idempotency_keys() -> int:
    return submitting.forget_expired_keys()


def ensure_schedule() -> None:
    Schedule.objects.update_or_create(
        name=DUE_SCHEDULE,
        defaults={
            "func": "generations.api.tasks.deliver_due_webhooks",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
    Schedule.objects.update_or_create(
        name=KEYS_SCHEDULE,
        defaults={
            "func": "generations.api.tasks.forget_expired_idempotency_keys",
            "schedule_type": Schedule.HOURLY,
            "repeats": -1,
        },
    )


@receiver(lifecycle.state_changed)
def announce_state(sender, generation, state, **kwargs):
    """A job's state changed (committed): queue what the team's webhook should hear.

    Never lets a webhook problem reach the job's own step."""
    try:
        for delivery in webhooks.events_for_state(generation, state):
            enqueue_delivery(delivery.pk)
    except Exception:
        log.exception("Queuing webhooks for generation %s failed", generation.pk)
