"""The life of a generation: submit, route, follow, finalize, settle.

Every step claims its row before it acts, is safe to run twice, and records what
happened as an event; state only moves forward. Whatever a vendor or a worker does,
every job ends: a step that keeps failing is set aside in NEEDS_ATTENTION, and every
state has a deadline after which the sweep ends the job and settles its hold.

| module | what it holds |
|---|---|
| steps | claims, state changes, failed steps and quarantine, stopping workers |
| policy | vendor cooldowns and poll back-off |
| callbacks | each job's secret callback address |
| sending | submit (rows + holds) and sending to the first vendor that takes it |
| follow | checks from polls and callbacks, and what each answer means |
| saving | storing a finished clip and capturing its hold |
| settle | the charge, and releasing or capturing when a job ends badly |
| deadlines | ending jobs past their deadline and grace |
| operators | a member's cancel, an operator's settlement of a stuck job |
| sweeping | the sweep over everything that is due |

Arrows point one way: sweeping → deadlines → follow → saving → settle → steps; sending
→ policy, callbacks, steps; operators → settle, steps. Nothing here imports the task
queue: `sending.queued` is a signal that `generations.tasks` answers.
"""

from generations.lifecycle.callbacks import callback_token, callback_url
from generations.lifecycle.deadlines import expire
from generations.lifecycle.follow import (
    advance,
    check,
    expire_running,
    follow_later,
    recover_from_callback,
    request_check,
)
from generations.lifecycle.operators import (
    CannotCancel,
    ResolveRefused,
    cancel,
    cancel_queued,
    resolve_attach,
    resolve_failed,
    resolve_finished,
)
from generations.lifecycle.policy import note_vendor_error, seconds_to_next_check
from generations.lifecycle.saving import finalize, store_clip
from generations.lifecycle.sending import SubmitRefused, queued, run_submit, submit
from generations.lifecycle.settle import account_price_micros, finish_unsuccessfully, settle_amount
from generations.lifecycle.steps import (
    WorkerStopping,
    by_worker,
    claim,
    describe_error,
    finalize_lease,
    grace,
    guarded,
    lease,
    log_ignored,
    quarantine,
    set_state,
    state_changed,
    step_failed,
    stopping,
    worker_name,
)
from generations.lifecycle.sweeping import due_checks, new_lease_holder, sweep

__all__ = [
    "CannotCancel",
    "ResolveRefused",
    "SubmitRefused",
    "WorkerStopping",
    "account_price_micros",
    "advance",
    "by_worker",
    "callback_token",
    "callback_url",
    "cancel",
    "cancel_queued",
    "check",
    "claim",
    "describe_error",
    "due_checks",
    "expire",
    "expire_running",
    "finalize",
    "finalize_lease",
    "finish_unsuccessfully",
    "follow_later",
    "grace",
    "guarded",
    "lease",
    "log_ignored",
    "new_lease_holder",
    "note_vendor_error",
    "quarantine",
    "queued",
    "recover_from_callback",
    "request_check",
    "resolve_attach",
    "resolve_failed",
    "resolve_finished",
    "run_submit",
    "seconds_to_next_check",
    "set_state",
    "state_changed",
    "settle_amount",
    "step_failed",
    "stopping",
    "store_clip",
    "submit",
    "sweep",
    "worker_name",
]
