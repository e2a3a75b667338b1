"""Every event appended to a job's story is also one log line, naming the job: with
LOG_FORMAT=json, one JSON object per step with its generation id, kind and worker."""

import logging

from django.db import connection

from seedance_site import rows

log = logging.getLogger("generations.steps")


def append(event):
    """Save a new event (every step of every job writes one) with an INSERT built once
    per process, as the ledger writes a hold, instead of compiled by the ORM each time;
    then its log line, as post_save would have written it."""
    with connection.cursor() as cursor:
        event.pk = rows.insert(cursor, event, returning=True)
    event._state.adding, event._state.db = False, connection.alias
    log_event(type(event), event, created=True)
    return event


def log_event(sender, instance, created, **kwargs) -> None:
    if not created:
        return
    data = instance.data if isinstance(instance.data, dict) else {}
    log.info(
        instance.message,
        extra={
            "generation": str(instance.generation.uuid),
            "event": instance.kind,
            "worker": data.get("worker"),
        },
    )
