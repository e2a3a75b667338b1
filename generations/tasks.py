"""Every django-q2 call of generations lives here, so moving queues stays local.

Tasks take primary keys, never model instances. A sweeper task runs in a loop
for most of a minute and then queues its successor, so polling never waits for
django-q2's once-a-minute scheduler; the schedule only restarts the chain if a
cluster died. A lease row makes sure one sweeper runs at a time, on any machine.
"""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task

from generations import lifecycle
from generations.models import WorkerLease

log = logging.getLogger(__name__)

SWEEPER = "generations-sweeper"


def enqueue_submit(pk: int) -> None:
    async_task("generations.tasks.submit_generation", pk, task_name=f"submit-{pk}", group="submit")


def enqueue_check(pk: int) -> None:
    async_task("generations.tasks.check_generation", pk, task_name=f"check-{pk}", group="check")


def enqueue_storyboard_export(project_pk: int, user_pk: int) -> None:
    async_task(
        "generations.tasks.build_storyboard_export",
        project_pk,
        user_pk,
        task_name=f"storyboard-export-{project_pk}",
        group="exports",
    )


def build_storyboard_export(project_pk: int, user_pk: int) -> str:
    from generations import exports

    return exports.build_storyboard_export(project_pk, user_pk)


def submit_generation(pk: int) -> None:
    lifecycle.run_submit(pk)


def check_generation(pk: int) -> None:
    lifecycle.check(pk)


def _take_lease(holder: str, seconds: float) -> bool:
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    WorkerLease.objects.get_or_create(name=SWEEPER, defaults={"until": now})
    return bool(
        WorkerLease.objects.filter(name=SWEEPER)
        .filter(Q(until__lt=now) | Q(holder=holder))
        .update(holder=holder, until=until)
    )


def sweep_generations(run_for: float | None = None, chain: bool = True) -> dict:
    """Sweep every SWEEP_INTERVAL seconds for `run_for` seconds, then hand over."""
    run_for = run_for if run_for is not None else getattr(settings, "SWEEP_RUN_SECONDS", 50)
    interval = getattr(settings, "SWEEP_INTERVAL_SECONDS", 1.0)
    holder = lifecycle.new_lease_holder()
    stop_at = time.monotonic() + run_for
    totals: dict = {}
    passes = 0
    if not _take_lease(holder, interval * 10 + 30):
        return {"skipped": "another sweeper holds the lease"}
    try:
        while True:
            started = time.monotonic()
            if settings.SANDBOX_ENABLED:
                from generations.sandbox.engine import sandbox_tick

                sandbox_tick()
            for key, value in lifecycle.sweep().items():
                totals[key] = totals.get(key, 0) + value
            passes += 1
            if time.monotonic() >= stop_at or not _take_lease(holder, interval * 10 + 30):
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        WorkerLease.objects.filter(name=SWEEPER, holder=holder).update(until=timezone.now())
        connection.close()
    if chain:
        async_task("generations.tasks.sweep_generations", task_name="sweeper", group="sweeper")
    totals["passes"] = passes
    return totals


def ensure_schedules() -> None:
    """The minute schedule that (re)starts the sweeper chain."""
    Schedule.objects.update_or_create(
        name="generations: sweep",
        defaults={
            "func": "generations.tasks.sweep_generations",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
