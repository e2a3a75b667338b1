"""What people do to a job: a member's cancel, an operator's settlement of a stuck job."""

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from generations import routing
from generations.lifecycle.follow import advance
from generations.lifecycle.settle import finish_unsuccessfully
from generations.lifecycle.steps import TaskTaken, attach_task, lease, set_state
from generations.media import fetch
from generations.models import Generation, State
from generations.vendors import TaskState, VendorError
from generations.vendors.bounds import MAX_TASK_ID_CHARS, clean_output_url, clean_task_id

log = logging.getLogger(__name__)


class CannotCancel(Exception):
    pass


def cancel(generation: Generation, by) -> str:
    """Cancel a job; returns what happened in words. Raises CannotCancel with the reason."""
    if generation.state == State.QUEUED:
        if cancel_queued(generation, by):
            return "Cancelled before it reached a vendor; the hold was returned."
        generation.refresh_from_db()
    if generation.state == State.RUNNING:
        return _cancel_running(generation, by)
    raise CannotCancel(
        f"A job that is {generation.get_state_display().lower()} can't be cancelled now."
    )


def cancel_queued(generation: Generation, by) -> bool:
    """Cancel a job only if it has not left the queue; False when a worker took it first."""
    return finish_unsuccessfully(
        generation,
        [State.QUEUED],
        State.CANCELLED,
        f"Cancelled by {by.username} before it was sent.",
    )


def _cancel_running(generation, by) -> str:
    account = generation.vendor_account
    if account.adapter_class.supports_cancel:
        try:
            with account.adapter(client=routing.shared_client()) as adapter:
                answer = adapter.cancel(generation.vendor_task_id)
        except VendorError as exc:
            raise CannotCancel(exc.message) from None
        if answer is not None and answer.state.finished and answer.state != TaskState.CANCELLED:
            advance(generation, answer)  # it ended first: follow that ending as usual
            raise CannotCancel(
                f"{account.label} had already {answer.state} this job, so it was not cancelled."
            )
        if answer is not None and not answer.state.finished:
            # The vendor cancels only queued tasks (ModelArk, fal): this one runs on there.
            return _stop_running(generation, by, account)
        if finish_unsuccessfully(
            generation,
            [State.RUNNING],
            State.CANCELLED,
            f"Cancelled at {account.label} by {by.username}.",
        ):
            return f"Cancelled at {account.label}; the hold was returned."
    else:
        return _stop_running(generation, by, account)
    return _raced_cancel(generation)


def _stop_running(generation, by, account) -> str:
    if finish_unsuccessfully(
        generation,
        [State.RUNNING],
        State.CANCELLED,
        f"Cancelled by {by.username}. {account.label} cannot cancel a running task, so it "
        "finishes there and its cost is charged; we stopped following it.",
        keep_charge=True,
    ):
        return f"{account.label} can't cancel a running task: it was charged and is no longer followed."
    return _raced_cancel(generation)


def _raced_cancel(generation) -> str:
    """The job moved while we cancelled it (the vendor's own callback, a poll): say truly
    where it ended, or why it was not cancelled."""
    generation.refresh_from_db()
    hold = generation.hold
    if generation.finished and generation.state != State.SUCCEEDED:
        hold.refresh_from_db()
        money = "the hold was returned" if hold.status == "released" else "it was charged"
        return f"The job is {generation.get_state_display().lower()}; {money}."
    raise CannotCancel(
        f"The job is {generation.get_state_display().lower()} now, so it was not cancelled"
        + (
            ": the vendor had already finished the clip, which is saved and charged."
            if generation.state in (State.FINALIZING, State.SUCCEEDED)
            else "."
        )
    )


class ResolveRefused(Exception):
    """An operator's resolution was refused; the message says why, for the field."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


def resolve_failed(generation, by) -> bool:
    """Operator: the vendor has no such task; fail it and return the money."""
    return finish_unsuccessfully(
        generation,
        [State.NEEDS_ATTENTION],
        State.FAILED,
        f"Marked failed by {by.username}: the vendor has no task for it. The hold was returned.",
    )


def resolve_attach(generation, task_id: str, by) -> bool:
    """Operator: the vendor did create the task; follow it from now on."""
    task_id = clean_task_id(task_id)
    if task_id is None:
        raise ResolveRefused(
            f"Give the vendor's task id: 1 to {MAX_TASK_ID_CHARS} characters, no spaces.",
            "task_id",
        )
    if generation.vendor_account_id is None:
        raise ResolveRefused("This job never reached a vendor account; mark it failed instead.")
    now = timezone.now()
    try:
        return attach_task(
            generation,
            task_id,
            f"{by.username} attached vendor task {task_id}; following it.",
            # Time enough to follow it: the deadline counts from now.
            expires_at=max(
                generation.expires_at,
                now + timedelta(minutes=settings.GENERATION_DEADLINE_MINUTES),
            ),
        )
    except TaskTaken:
        raise ResolveRefused(f"Task {task_id} already belongs to another job.", "task_id") from None


# The event that says an operator gave the clip's address (see saving.finalize).
OPERATOR_RESULT = "result_attached"


def resolve_finished(generation, output_url: str, charge_credits, by) -> bool:
    """Operator: the vendor finished the clip; save it from `output_url` and charge.

    `charge_credits` is what the vendor charged, in its credits (None: the account's price).
    """
    url = clean_output_url(output_url)
    if url is None:
        raise ResolveRefused("Give the clip's full http(s) address from the vendor.", "output_url")
    if generation.vendor_account_id is None:
        raise ResolveRefused("This job never reached a vendor account; mark it failed instead.")
    if charge_credits is not None and not (0 < charge_credits < Decimal(10) ** 9):
        raise ResolveRefused("The charge must be a positive number of vendor credits.", "charge")
    if reason := fetch.refusal(url):
        raise ResolveRefused(reason, "output_url")
    now = timezone.now()
    with transaction.atomic():
        moved = set_state(
            generation,
            [State.NEEDS_ATTENTION],
            State.FINALIZING,
            output_url=url,
            charge_credits=charge_credits,
            vendor_done_at=generation.vendor_done_at or now,
            next_check_at=now,
            error_message="",
            error_kind="",
            expires_at=max(generation.expires_at, now + lease()),
        )
        if moved:
            generation.log(
                OPERATOR_RESULT,
                f"{by.username} says the vendor finished the clip; saving it from the address "
                "given.",
            )
    return moved
