"""Following a job at its vendor: checks from polls and callbacks, and what each answer
means. State only moves forward; duplicate and late signals change nothing."""

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from generations import routing
from generations.lifecycle.callbacks import callback_url
from generations.lifecycle.policy import note_vendor_error, seconds_to_next_check
from generations.lifecycle.saving import finalize
from generations.lifecycle.settle import finish_unsuccessfully
from generations.lifecycle.steps import (
    TaskTaken,
    attach_task,
    by_worker,
    grace,
    guarded,
    lease,
    log_ignored,
    quarantine,
    set_state,
    task_owner,
)
from generations.models import Generation, State
from generations.vendors import ErrorKind, TaskState, VendorError
from generations.vendors.bounds import clean_task_id

log = logging.getLogger(__name__)


@guarded
def check(pk, *, then_finalize=None) -> None:
    """Read the task from the vendor and advance the generation (from a poll or a callback).

    `then_finalize(pk)` saves a clip the vendor finished; by default at once, in this step.
    """
    # Moved off a callback's mark (see request_check), so that a mark found at the end
    # is a callback that came in while we asked.
    now = _claim_for_check(pk)
    if not now:
        return
    # The hold is read only by a check that ends the job (a join on every poll otherwise).
    generation = Generation.objects.select_related("vendor_account").get(pk=pk)
    generation.claimed_at = now
    if generation.expires_at <= now:
        expire_running(generation)
        return
    try:
        with generation.vendor_account.adapter(client=routing.shared_client()) as adapter:
            snapshot = adapter.query(generation.vendor_task_id)
            called_back = adapter.accepts_callback_url(callback_url(generation))
    except VendorError as exc:
        _after_failed_check(generation, exc)
        return
    generation.vendor_account.note_success()
    log_ignored(generation, snapshot.ignored)
    complete = advance(generation, snapshot, save_progress=False)
    if generation.state == State.RUNNING:
        count = generation.poll_count + 1
        delay = seconds_to_next_check(count, called_back)
        # Answers that cannot be acted on count until one can (see advance()).
        sql = CHECKED if complete else CHECKED_INCOMPLETE
        at = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(
                sql,
                [
                    generation.progress,
                    count,
                    at(CALLED_BACK),
                    at(now + timedelta(seconds=delay)),
                    pk,
                    State.RUNNING.value,
                ],
            )
    elif generation.state == State.FINALIZING:
        (then_finalize or finalize)(pk)


# A check's claim and its release, written once (they run on every poll, and the ORM
# took longer to build them than the database to run them). The claim is steps.claim's
# with next_check_at moved off a callback's mark; the release keeps a callback's mark
# that came in while we asked (request_check): the answer we have may predate what it
# announced, so that job wants another look at once.
CLAIM_FOR_CHECK = """
UPDATE generations_generation SET claimed_at = %s, next_check_at = %s
WHERE id = %s AND state = %s AND (claimed_at IS NULL OR claimed_at < %s)
"""
_CHECKED = """
UPDATE generations_generation SET claimed_at = NULL, progress = %s, poll_count = %s,
    not_found_checks = 0, step_failures = {failures},
    next_check_at = CASE WHEN next_check_at = %s THEN next_check_at ELSE %s END
WHERE id = %s AND state = %s
"""
CHECKED = _CHECKED.format(failures="0")
CHECKED_INCOMPLETE = _CHECKED.format(failures="step_failures + 1")


def _claim_for_check(pk):
    """steps.claim(pk, [State.RUNNING], next_check_at=now), as one written statement."""
    asked = timezone.now()
    at = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            CLAIM_FOR_CHECK, [at(asked), at(asked), pk, State.RUNNING.value, at(asked - lease())]
        )
        won = cursor.rowcount == 1
    return timezone.now() if won else None


# When a job a vendor called back about is due: long before any schedule puts a check,
# so the sweep (longest due first) takes it before every poll that is merely due, and a
# check under way knows it was called back about meanwhile.
CALLED_BACK = datetime(2000, 1, 1, tzinfo=UTC)


def request_check(pk) -> None:
    """A callback says the task changed: make the job due first, for the next sweep.

    Also when a check is under way: that check keeps the mark instead of its own time.
    """
    Generation.objects.filter(pk=pk, state=State.RUNNING).update(next_check_at=CALLED_BACK)


def _after_failed_check(generation, exc: VendorError) -> None:
    count = generation.poll_count + 1
    missing = generation.not_found_checks + 1 if exc.kind == ErrorKind.NOT_FOUND else 0
    # Only not-found answers in a row mean the task is gone: a vendor may answer one
    # 404 in the middle of a live task (a replica behind, a load balancer) and go on.
    if missing >= settings.GENERATION_LOST_AFTER_CHECKS:
        finish_unsuccessfully(
            generation,
            [State.RUNNING],
            State.FAILED,
            f"The vendor lost the task: {exc.message}",
            exc,
        )
        return
    note_vendor_error(generation.vendor_account, exc)
    generation.log(
        "check_failed", exc.message, error_kind=str(exc.kind), **by_worker(generation.claimed_at)
    )
    # A vendor asking to be asked again at once is asked after our first poll's wait.
    delay = max(
        exc.retry_after or settings.GENERATION_POLL_MAX_SECONDS,
        settings.GENERATION_POLL_FIRST_SECONDS,
    )
    Generation.objects.filter(pk=generation.pk, state=State.RUNNING).update(
        claimed_at=None,
        poll_count=count,
        not_found_checks=missing,
        next_check_at=timezone.now() + timedelta(seconds=min(delay, 300)),
    )


def advance(generation: Generation, snapshot, save_progress=True) -> bool:
    """Apply what the vendor says now; anything that would move backwards is ignored.

    False when the answer could not be acted on (a success without an address).
    `save_progress=False`: the caller writes `generation.progress` with its own update.
    """
    step = by_worker(generation.claimed_at)
    if snapshot.state in (TaskState.QUEUED, TaskState.RUNNING):
        if snapshot.progress is not None and snapshot.progress > (generation.progress or 0):
            generation.progress = min(snapshot.progress, 100)
            if save_progress:
                Generation.objects.filter(pk=generation.pk, state=State.RUNNING).update(
                    progress=generation.progress
                )
        return True
    charge = (
        snapshot.charge_credits
        if snapshot.charge_credits is not None
        else generation.charge_credits
    )
    if snapshot.state == TaskState.SUCCEEDED:
        if not snapshot.output_urls:
            _finished_without_address(generation, charge)
            return False
        with transaction.atomic():  # the event lands before the row is free (see above)
            if set_state(
                generation,
                [State.RUNNING],
                State.FINALIZING,
                progress=100,
                output_url=snapshot.output_urls[0],
                charge_credits=charge,
                vendor_done_at=timezone.now(),
                next_check_at=timezone.now(),
            ):
                generation.log("vendor_done", "The vendor finished the clip; saving it.", **step)
        return True
    target = {
        TaskState.FAILED: State.FAILED,
        TaskState.CANCELLED: State.CANCELLED,
        TaskState.EXPIRED: State.EXPIRED,
    }[snapshot.state]
    message = snapshot.error_message or f"The vendor reports the task {snapshot.state}."
    generation.charge_credits = charge
    finish_unsuccessfully(
        generation, [State.RUNNING], target, message, code=snapshot.error_code or ""
    )
    return True


NO_ADDRESS = "The vendor says the clip is finished but gave no address we could download it from."


def _finished_without_address(generation, charge) -> None:
    """A success with no usable address: some vendors publish it a moment after the status,
    so ask again; after GENERATION_LOST_AFTER_CHECKS such answers in a row, set the job
    aside for an operator, who can attach the address from the vendor's dashboard. The
    vendor did the work: unless someone settles it otherwise, it keeps the charge."""
    log_ignored(generation, [NO_ADDRESS])
    if generation.step_failures + 1 >= settings.GENERATION_LOST_AFTER_CHECKS:
        quarantine(
            generation,
            f"{NO_ADDRESS} An operator can attach the clip's address from the vendor.",
            charge_credits=charge,
            vendor_done_at=timezone.now(),
        )


def expire_running(generation) -> None:
    """A running job at its deadline. A last answer that ends it is followed as usual.
    A vendor that can cancel is told to, and the hold returned. One that cannot (or whose
    cancel fails) is followed through the grace: the clip may still come, and is charged
    as usual. After the grace the job expires, and the hold is returned unless the vendor
    announced a charge when it accepted the task, or finished it (then it keeps it)."""
    account = generation.vendor_account
    in_grace = timezone.now() < generation.expires_at + grace()
    runs_on = False  # the vendor refused the cancel because the task runs on (and bills)
    try:
        with account.adapter(client=routing.shared_client()) as adapter:
            snapshot = adapter.query(generation.vendor_task_id)
            if not snapshot.state.finished and account.adapter_class.supports_cancel:
                ended, runs_on = _cancel_at_deadline(generation, adapter)
                snapshot = ended or snapshot
    except VendorError as exc:
        # Only the query's not-found means the task is gone.
        if exc.kind == ErrorKind.NOT_FOUND:
            finish_unsuccessfully(
                generation,
                [State.RUNNING],
                State.EXPIRED,
                f"The job passed its deadline and {account.label} has no such task; the hold "
                "was returned.",
                exc,
            )
            return
        generation.log("check_failed", exc.message, error_kind=str(exc.kind))
        snapshot = None
    if generation.state != State.RUNNING:
        return  # cancelled at the vendor
    if snapshot is not None and snapshot.state.finished:
        if advance(generation, snapshot):
            return
        if not in_grace:  # finished, but never with an address: the vendor keeps the charge
            finish_unsuccessfully(
                generation, [State.RUNNING], State.EXPIRED, NO_ADDRESS, keep_charge=True
            )
            return
        Generation.objects.filter(pk=generation.pk).update(step_failures=F("step_failures") + 1)
    if in_grace:
        follow_later(generation)
        return
    _stop_following(generation, runs_on=runs_on)


def _stop_following(generation, runs_on=False) -> None:
    """Past the grace, still unfinished: the hold is returned unless the vendor announced
    a charge when it accepted the task, or refused to cancel it because it is running
    (ModelArk, fal: a running task finishes there and is billed)."""
    account = generation.vendor_account
    announced = generation.charge_credits is not None
    if announced:
        money = f"{account.label} charged for the task when it accepted it, so it keeps the charge."
    elif runs_on:
        money = (
            f"{account.label} cannot cancel a running task: it finishes there and its cost "
            "is charged."
        )
    else:
        money = "The hold was returned."
    finish_unsuccessfully(
        generation,
        [State.RUNNING],
        State.EXPIRED,
        f"The job passed its deadline and its grace while {account.label} was still working "
        f"on it, and it could not be cancelled there; we stopped following it. " + money,
        keep_charge=announced or runs_on,
    )


def _cancel_at_deadline(generation, adapter):
    """Cancel at the vendor: (its answer when it says the task had already ended, whether
    it refused because the task is running and runs on). A cancel that fails is not a
    verdict on the task: it is followed through the grace."""
    account = generation.vendor_account
    try:
        answer = adapter.cancel(generation.vendor_task_id)
    except VendorError as exc:
        generation.log("cancel_failed", exc.message, error_kind=str(exc.kind))
        return None, False
    if answer is not None and answer.state.finished and answer.state != TaskState.CANCELLED:
        return answer, False
    if answer is not None and not answer.state.finished:
        # Only queued tasks can be cancelled there: this one runs on, so follow it.
        generation.log("cancel_failed", f"{account.label} cannot cancel a running task.")
        return None, answer.state == TaskState.RUNNING
    finish_unsuccessfully(
        generation,
        [State.RUNNING],
        State.EXPIRED,
        f"The job passed its deadline; it was cancelled at {account.label} and the hold was "
        "returned.",
    )
    return None, False


def follow_later(generation) -> None:
    delay = settings.GENERATION_POLL_MAX_SECONDS
    Generation.objects.filter(pk=generation.pk, state=State.RUNNING).update(
        claimed_at=None, next_check_at=timezone.now() + timedelta(seconds=delay)
    )


def recover_from_callback(pk, task_id: str) -> bool:
    """A callback on this job's secret URL named a task we never heard of (its create's
    answer was lost): follow that task if the vendor confirms it and no other job has it."""
    generation = Generation.objects.select_related("vendor_account", "hold").get(pk=pk)
    task_id = clean_task_id(task_id)
    account = generation.vendor_account
    if generation.state != State.NEEDS_ATTENTION or generation.vendor_task_id or not task_id:
        return False
    if task_owner(generation, task_id) is not None:
        generation.log("callback_ignored", f"Task {task_id} belongs to another job.")
        return False
    try:
        with account.adapter(client=routing.shared_client()) as adapter:
            adapter.query(task_id)
    except VendorError as exc:
        generation.log("callback_ignored", f"Task {task_id} could not be confirmed: {exc.message}")
        return False
    try:
        moved = attach_task(
            generation,
            task_id,
            f"{account.label} called back about task {task_id}, which it confirms: this "
            "job's create did reach it. Following the task.",
        )
    except TaskTaken:
        generation.log("callback_ignored", f"Task {task_id} belongs to another job.")
        return False
    return moved
