"""Every django-q2 call of generations lives here, so moving queues stays local.

Tasks take primary keys, never model instances. A sweeper task sweeps every second
for a few seconds and then queues its successor, so polling never waits for
django-q2's once-a-minute scheduler, and a stopping cluster never waits long for it.
It runs the checks itself and hands sends and saves, which may wait on a vendor for
long, to the other workers as tasks of their own. Every worker process that starts
asks for a sweeper too, so a cluster restarted after a crash resumes at once; the
schedule only restarts the chain if all else failed. A lease row makes sure one
sweeper runs at a time, on any machine.

A worker told to stop with SIGTERM hands back the row it is working on at once, so
another cluster can take it without waiting for the lease to run out.
"""

import logging
import signal
import time
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.signals import post_execute_in_worker, post_spawn, pre_execute
from django_q.tasks import async_task

from generations import lifecycle
from generations.media import exports, video
from generations.models import WorkerLease
from generations.sandbox import engine as sandbox_engine

log = logging.getLogger(__name__)

SWEEPER = "generations-sweeper"

# A job's own tasks return nothing and tell their story in its events: their successes
# are not stored. Storing one costs django-q2 a read of every stored success under a row
# lock (to keep SAVE_LIMIT of them): about 11 ms of CPU a task with 1,000 stored, more
# than the step it records. Failures are stored whatever this says.
JOB_TASK = {"save": False}


def enqueue_submit(pk: int) -> None:
    queue_task(
        "generations.tasks.submit_generation",
        pk,
        task_name=f"submit-{pk}",
        group="submit",
        **JOB_TASK,
    )


@receiver(lifecycle.queued)
def send_when_queued(sender, pk, **kwargs):
    """A submitted job's rows and hold are written, in a transaction not yet committed:
    queue its send. A queue in the same database takes the task's row in that transaction
    (it commits with the job, or neither does; no worker sees it before); Redis is told
    once the transaction has committed, so no worker looks for a job not yet there."""
    if _queue_is_the_database():
        enqueue_submit(pk)
    else:
        # Robust: the job and its hold are committed whatever Redis answers; a failed
        # enqueue is logged and the sweep hands the job out once its lease has passed,
        # where an exception here made the member's submission a 500 page (and a second
        # try, a second job).
        transaction.on_commit(lambda: _send_after_commit(pk), robust=True)


def _send_after_commit(pk: int) -> None:
    """enqueue_submit, its failure logged with the job it leaves to the sweep (Django's
    own log of a robust callback names a lambda, not the job)."""
    try:
        enqueue_submit(pk)
    except Exception:
        log.exception(
            "Generation %s: its send could not be queued; the sweep hands it out once its "
            "lease has passed",
            pk,
        )


def _queue_is_the_database() -> bool:
    return isinstance(_broker(), ORM) and connection.alias == Conf.ORM


def enqueue_check(pk: int) -> None:
    # The sweeper sees it within a second even when the queue is long with submits.
    lifecycle.request_check(pk)
    queue_task(
        "generations.tasks.check_generation", pk, task_name=f"check-{pk}", group="check", **JOB_TASK
    )


def enqueue_recover(pk: int, task_id: str) -> None:
    queue_task(
        "generations.tasks.recover_generation",
        pk,
        task_id,
        task_name=f"recover-{pk}",
        group="check",
        **JOB_TASK,
    )


def recover_generation(pk: int, task_id: str) -> None:
    lifecycle.recover_from_callback(pk, task_id)


def enqueue_sweeper() -> None:
    queue_task("generations.tasks.sweep_generations", task_name="sweeper", group="sweeper")


def enqueue_finalize(pk: int) -> None:
    queue_task(
        "generations.tasks.finalize_generation",
        pk,
        task_name=f"finalize-{pk}",
        group="finalize",
        **JOB_TASK,
    )


_ENQUEUE = {"run_submit": enqueue_submit, "finalize": enqueue_finalize}


def dispatch(function, pks) -> None:
    """The sweep's hand-off of long steps (sends, saves) to other workers."""
    enqueue = _ENQUEUE[function.__name__]
    for pk in pks:
        enqueue(pk)


_in_task = False


@receiver(pre_execute)
def _task_starts(sender, **kwargs):
    global _in_task
    _in_task = True


@receiver(post_execute_in_worker)
def _task_ends(sender, **kwargs):
    global _in_task
    _in_task = False


def _hand_back_on_sigterm(signum, frame):
    """SIGTERM reached this worker (a whole process group was signalled): stop taking
    work; a step in progress hands its row back (lifecycle's guard) and the worker ends."""
    lifecycle.stopping.set()
    if _in_task:
        raise lifecycle.WorkerStopping()
    raise SystemExit(0)


@receiver(post_spawn)
def sweep_when_a_cluster_starts(sender, proc_name=None, **kwargs):
    """Each new worker process asks for a sweeper; all but one find the lease taken.

    django-q2 first runs schedules some 30 s after a cluster starts, and the minute
    schedule may be a minute away: without this a cluster restarted after a crash
    would leave every polled job unfollowed for up to a minute and a half.
    A worker also starts after one was killed (a crash, or django-q2's timeout), so it
    clears what such workers left half-written: nothing runs longer than the task
    timeout, and no clip download outlasts its claim.
    """
    signal.signal(signal.SIGTERM, _hand_back_on_sigterm)
    enqueue_sweeper()
    longest = max(settings.Q_CLUSTER["timeout"], lifecycle.finalize_lease().total_seconds())
    try:
        video.remove_abandoned_scratch(older_than_seconds=2 * longest)
    except OSError:
        log.exception("Could not clear abandoned scratch files")


def enqueue_storyboard_export(project_pk: int, user_pk: int) -> None:
    queue_task(
        "generations.tasks.build_storyboard_export",
        project_pk,
        user_pk,
        task_name=f"storyboard-export-{project_pk}",
        group="exports",
    )


@receiver(exports.export_queued)
def export_when_queued(sender, project_pk, user_pk, **kwargs):
    """A storyboard export's status says queued: build it on a worker."""
    enqueue_storyboard_export(project_pk, user_pk)


def build_storyboard_export(project_pk: int, user_pk: int) -> str:
    return exports.build_storyboard_export(project_pk, user_pk)


def submit_generation(pk: int) -> None:
    lifecycle.run_submit(pk)


def check_generation(pk: int) -> None:
    lifecycle.check(pk)


def finalize_generation(pk: int) -> None:
    lifecycle.finalize(pk)


def _take_lease(holder: str, seconds: float) -> bool:
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    WorkerLease.objects.get_or_create(name=SWEEPER, defaults={"until": now})
    return bool(
        WorkerLease.objects.filter(name=SWEEPER)
        .filter(Q(until__lte=now) | Q(holder=holder))
        .update(holder=holder, until=until)
    )


@cache
def _broker():
    """This process's broker. django-q2 builds a new one for each task queued unless
    given one: with Redis, a new client, connection pool and connection each time."""
    return get_broker()


def queue_task(func: str, *args, **options):
    """async_task with this process's broker (every task of this project is queued here)."""
    return async_task(func, *args, broker=_broker(), **options)


def queue_size() -> int:
    """Tasks waiting in the broker (for /metrics)."""
    return _broker().queue_size()


def _successor_would_wait() -> bool:
    """The queue is first in, first out: a successor queued now starts only after every
    task before it. True when more wait than the workers take at once."""
    try:
        return _broker().queue_size() > settings.Q_CLUSTER["workers"]
    except Exception:
        log.exception("Could not read the length of the task queue")
        return False


def _time_to_hand_over(began: float, run_for: float, chain: bool) -> bool:
    """After `run_for` seconds; but while a successor would wait behind a long queue
    (a burst of submits), sweep on, up to a quarter of Q_TIMEOUT: polls and saves never
    wait for the queue, and a cluster told to stop still waits well within Q_TIMEOUT."""
    ran = time.monotonic() - began
    if ran < run_for:
        return False
    if not chain or ran >= settings.Q_CLUSTER["timeout"] / 4:
        return True
    return not _successor_would_wait()


def sweep_generations(run_for: float | None = None, chain: bool = True) -> dict:
    """Sweep every SWEEP_INTERVAL seconds for `run_for` seconds (longer while the queue
    is long, see _time_to_hand_over), then hand over.

    Whatever a pass raises, the lease is given up and the successor queued: one bad
    row never stops every job in the system.
    """
    run_for = run_for if run_for is not None else settings.SWEEP_RUN_SECONDS
    interval = settings.SWEEP_INTERVAL_SECONDS
    # Renewed every pass; after a crash the next sweeper waits this long at most.
    lease = settings.SWEEP_LEASE_SECONDS
    holder = lifecycle.new_lease_holder()
    began = time.monotonic()
    totals: dict = {}
    passes = failed = 0
    pass_seconds = []  # lifecycle.sweep() alone, the app's share of each pass
    if not _take_lease(holder, lease):
        return {"skipped": "another sweeper holds the lease"}
    try:
        while not lifecycle.stopping.is_set():
            started = time.monotonic()
            try:
                if settings.SANDBOX_ENABLED:
                    sandbox_engine.sandbox_tick()
                swept = time.monotonic()
                for key, value in lifecycle.sweep(dispatch=dispatch).items():
                    totals[key] = totals.get(key, 0) + value
                pass_seconds.append(round(time.monotonic() - swept, 3))
            except Exception:
                failed += 1
                log.exception("A sweep pass failed")
                connection.close()
            passes += 1
            if _time_to_hand_over(began, run_for, chain) or not _take_lease(holder, lease):
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        try:
            WorkerLease.objects.filter(name=SWEEPER, holder=holder).update(until=timezone.now())
        except Exception:
            log.exception("Could not give up the sweeper lease; it runs out by itself")
        connection.close()
        if chain and not lifecycle.stopping.is_set():
            enqueue_sweeper()
    totals["passes"] = passes
    totals["failed_passes"] = failed
    totals["pass_seconds"] = pass_seconds
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
