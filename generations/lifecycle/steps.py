"""The machinery every step shares: claims, state changes, and what happens when a
step fails or its worker is told to stop.

Every step claims its row before it acts (a conditional UPDATE that only one worker can
win), is safe to run twice, and records what happened as an event. A step that fails
unexpectedly is handed back with back-off and, after GENERATION_STEP_ATTEMPTS failures in
a row, set aside in NEEDS_ATTENTION: one poisoned job never loops for ever.
"""

import functools
import logging
import os
import threading
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from generations import clip_counts
from generations.models import Generation, State

log = logging.getLogger(__name__)


# Set when this worker process is told to stop: the sweep hands back what it has not
# started, and a step in progress finishes (or, on SIGTERM, hands its row back).
stopping = threading.Event()


class WorkerStopping(BaseException):
    """Raised in a worker's main thread by SIGTERM: hand the row back and exit."""


def lease() -> timedelta:
    """How long one worker may hold a row it claimed before another may take over."""
    return timedelta(seconds=settings.GENERATION_LEASE_SECONDS)


def finalize_lease() -> timedelta:
    """Saving a clip may take the whole download deadline: its claim lasts that much longer."""
    return lease() + timedelta(seconds=settings.CLIP_DOWNLOAD_SECONDS)


def grace() -> timedelta:
    """How long past its deadline a job may take to end (a last check, a cancel, a save)."""
    return timedelta(minutes=settings.GENERATION_GRACE_MINUTES)


def claim(pk, from_states, *, held_for=None, **updates):
    """Take a row for this worker: when the claim took effect for the one worker that wins
    it, else None.

    The conditional update may first wait on another worker's transaction, so the time
    it stores (which starts the lease) can be older than the moment the row became ours:
    the lease only gets shorter by that wait, and the worker's record uses the later time.
    """
    asked = timezone.now()
    won = (
        Generation.objects.filter(pk=pk, state__in=from_states)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=asked - (held_for or lease())))
        .update(claimed_at=asked, **updates)
    )
    return timezone.now() if won else None


def worker_name() -> str:
    """Who does a step: this machine, process and thread."""
    return f"{os.uname().nodename}:{os.getpid()}:{threading.get_ident()}"


def by_worker(claimed_at) -> dict:
    """Event data naming the worker that did a step and when it claimed the row for it."""
    return {"worker": worker_name(), "claimed_at": claimed_at.isoformat() if claimed_at else None}


# Sent once a job's new state is committed (outgoing webhooks answer it), with
# `generation` and `state`; a state change that was rolled back sends nothing.
state_changed = Signal()


def announce(generation, state) -> None:
    transaction.on_commit(
        lambda: state_changed.send(Generation, generation=generation, state=state)
    )


def set_state(generation, from_states, to_state, **fields) -> bool:
    """Change state if it is still one of `from_states`; False when someone else moved it."""
    fields.setdefault("claimed_at", None)
    fields.setdefault("step_failures", 0)
    if to_state in Generation.FINISHED:
        fields.setdefault("finished_at", timezone.now())
        fields.setdefault("next_check_at", None)
    rows = Generation.objects.filter(pk=generation.pk, state__in=from_states)
    if to_state == State.SUCCEEDED:
        # The projects list and a project's page read these counters, never the history.
        with transaction.atomic():
            moved = rows.update(state=to_state, **fields)
            if moved:
                clip_counts.count_clip(generation)
    else:
        moved = rows.update(state=to_state, **fields)
    if moved:
        generation.state = to_state
        for name, value in fields.items():
            setattr(generation, name, value)
        announce(generation, to_state)
    return bool(moved)


def guarded(step):
    """Run a claimed step so that no error leaves its row stuck.

    An unexpected error (a bug, a value the database refuses, a broken file) is counted:
    the row is handed back to be tried again later, and after GENERATION_STEP_ATTEMPTS
    failures in a row the job moves to NEEDS_ATTENTION with the last error, so one
    poisoned job never loops for ever. A stop (SIGTERM) hands the row back at once.
    """

    @functools.wraps(step)
    def run(pk, *args, **kwargs):
        try:
            return step(pk, *args, **kwargs)
        except (WorkerStopping, KeyboardInterrupt, SystemExit):
            Generation.objects.filter(pk=pk).exclude(state__in=Generation.FINISHED).update(
                claimed_at=None
            )
            raise
        except Exception as exc:
            log.exception("%s of generation %s failed", step.__name__, pk)
            step_failed(pk, step.__name__, exc)

    run.unguarded = step
    return run


def describe_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def step_failed(pk, step_name: str, exc: Exception) -> None:
    connection.close_if_unusable_or_obsolete()
    what = describe_error(exc)
    try:
        generation = Generation.objects.get(pk=pk)
        if generation.finished:
            return
        failures = generation.step_failures + 1
        if failures >= settings.GENERATION_STEP_ATTEMPTS:
            quarantine(
                generation,
                f"Set aside after {failures} failed attempts to {STEP_WORDS.get(step_name, step_name)}. "
                f"Last error: {what}.",
            )
            return
        if generation.state == State.SUBMITTING and generation.vendor_account_id:
            # Past choosing an account the create may have left: never resent blindly.
            quarantine(
                generation,
                f"Sending the job failed ({what}) after an account was chosen, so the vendor "
                "may have it. An operator must check with the vendor.",
            )
            return
        delay = min(settings.GENERATION_STEP_RETRY_SECONDS * 2 ** (failures - 1), 300)
        # A send that failed waits queued, with its count and back-off kept.
        state = State.QUEUED if generation.state == State.SUBMITTING else generation.state
        Generation.objects.filter(pk=pk, state=generation.state).update(
            state=state,
            claimed_at=None,
            step_failures=failures,
            next_check_at=timezone.now() + timedelta(seconds=delay),
        )
        generation.log(
            "step_failed",
            f"Could not {STEP_WORDS.get(step_name, step_name)} ({what}); trying again in "
            f"{delay:g} s.",
            step=step_name,
            attempt=failures,
        )
    except Exception:
        # The database itself may be what failed: the lease hands the row back.
        log.exception("Could not record the failed %s of generation %s", step_name, pk)


STEP_WORDS = {
    "run_submit": "send the job to a vendor",
    "check": "check the job with the vendor",
    "finalize": "save the finished clip",
    "expire": "end the job at its deadline",
}


def quarantine(generation, message: str, **fields) -> bool:
    """Move a job a person must look at to NEEDS_ATTENTION; its money stays held."""
    with transaction.atomic():
        if not set_state(
            generation,
            [State.QUEUED, State.SUBMITTING, State.RUNNING, State.FINALIZING],
            State.NEEDS_ATTENTION,
            error_message=message,
            error_kind="quarantined",
            **fields,
        ):
            return False
        generation.log("needs_attention", message)
    return True


def log_ignored(generation, notes) -> None:
    """Say once which vendor values were not believed (they repeat on every poll)."""
    for note in notes or ():
        if not generation.events.filter(kind="vendor_value_ignored", message=note).exists():
            generation.log("vendor_value_ignored", note)


class TaskTaken(Exception):
    """The vendor task belongs to another job."""


def task_owner(generation, task_id: str):
    """Another job known to own `task_id` at this job's account: by its recorded task, or
    by the task its create was accepted as when saving that failed (kept in its event)."""
    same_account = Generation.objects.filter(vendor_account_id=generation.vendor_account_id)
    ids, prefixes = generation.vendor_account.adapter_class.same_task(task_id)
    recorded = Q(vendor_task_id__in=ids)
    announced = Q(events__data__vendor_task_id__in=ids)
    for prefix in prefixes:
        recorded |= Q(vendor_task_id__startswith=prefix)
        announced |= Q(events__data__vendor_task_id__startswith=prefix)
    return (
        same_account.filter(recorded).exclude(pk=generation.pk).first()
        or same_account.exclude(pk=generation.pk)
        .filter(announced, events__kind="needs_attention")
        .first()
    )


def attach_task(generation, task_id: str, message: str, **fields) -> bool:
    """Follow `task_id` for a job that needs attention; TaskTaken if another job has it."""
    if task_owner(generation, task_id) is not None:
        raise TaskTaken(task_id)
    now = timezone.now()
    try:
        with transaction.atomic():
            moved = set_state(
                generation,
                [State.NEEDS_ATTENTION],
                State.RUNNING,
                vendor_task_id=task_id,
                submitted_at=generation.submitted_at or now,
                next_check_at=now,
                error_message="",
                error_kind="",
                not_found_checks=0,
                **fields,
            )
            if moved:
                generation.log("attached", message)
    except IntegrityError:  # another job took it at the same moment (one_job_per_vendor_task)
        generation.vendor_task_id = ""
        raise TaskTaken(task_id) from None
    return moved
