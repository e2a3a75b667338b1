"""The life of a generation: submit, route, follow, finalize, settle.

Every step claims its row before it acts (a conditional UPDATE that only one
worker can win), is safe to run twice, and records what happened as an event.
State only moves forward; duplicate and late signals change nothing.

Whatever a vendor or a worker does, every job ends: a step that keeps failing is
quarantined in NEEDS_ATTENTION, and every state, NEEDS_ATTENTION included, has a
deadline after which the sweep ends the job and settles its hold.
"""

import hashlib
import hmac
import logging
import os
import random
import secrets
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import cache
from queue import Empty, SimpleQueue

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from generations import fetch, media, routing
from generations.models import Clip, Generation, State, VendorAccount
from generations.vendors import ErrorKind, TaskState, VendorError
from generations.vendors.base import MAX_TASK_ID_CHARS, clean_output_url, clean_task_id

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


class SubmitRefused(Exception):
    """The submission was refused before anything was created; the message says why."""


# --- Submitting ------------------------------------------------------------------


@dataclass
class Quote:
    routing: routing.Routing

    @property
    def ok(self) -> bool:
        return bool(self.routing.routes)

    @property
    def expected_micros(self) -> int:
        return self.routing.first.micros if self.ok else 0

    @property
    def expected_credits(self) -> Decimal | None:
        return self.routing.first.credits if self.ok else None

    @property
    def hold_micros(self) -> int:
        return self.routing.hold_micros

    @property
    def account(self) -> VendorAccount | None:
        return self.routing.first.account if self.ok else None

    @property
    def problems(self) -> list[str]:
        return self.routing.problems


def quote(team, request, pinned: VendorAccount | None = None) -> Quote:
    return Quote(routing.route(team, request, pinned))


def callback_token(generation: Generation) -> str:
    """The secret in a generation's callback URL: derived, so it never needs storing."""
    message = f"callback:{generation.uuid}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def callback_url(generation: Generation) -> str:
    path = reverse("vendor_callback", args=[generation.uuid, callback_token(generation)])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def submit(
    *,
    team,
    member,
    project,
    request,
    scene=None,
    pinned=None,
    variants=1,
    remix_of=None,
) -> list[Generation]:
    """Create `variants` generations with their holds, all or none, and queue them.

    Raises SubmitRefused (no vendor can take it) or ledger.Refused (no money).
    """
    from generations import tasks

    offer = quote(team, request, pinned)
    if not offer.ok:
        reasons = "; ".join(offer.problems) or "no vendor account is enabled"
        raise SubmitRefused(f"No vendor can take this request: {reasons}.")
    now = timezone.now()
    deadline = now + timedelta(minutes=settings.GENERATION_DEADLINE_MINUTES)
    created = []
    with transaction.atomic():
        for _ in range(variants):
            generation = Generation(
                team=team,
                project=project,
                scene=scene,
                created_by=member,
                request=request.to_dict(),
                family=str(request.family),
                prompt=request.prompt,
                pinned_account=pinned,
                quote_micros=offer.expected_micros,
                quote_credits=offer.expected_credits,
                remix_of=remix_of,
                expires_at=deadline,
                next_check_at=now,
            )
            if created:
                generation.batch = created[0].batch
            generation.save()
            generation.callback_token_hash = Generation.hash_callback_token(
                callback_token(generation)
            )
            generation.hold = ledger.hold(
                team,
                member,
                project,
                offer.hold_micros,
                memo=f"Clip: {request.prompt[:80]}",
                key=f"generation:{generation.uuid}",
                reference=f"generation:{generation.uuid}",
            )
            generation.save(update_fields=["callback_token_hash", "hold"])
            generation.log(
                "submitted",
                f"Submitted {generation.family_label}, {request.duration} s at "
                f"{request.resolution}. Expected {ledger.dollars(offer.expected_micros)} via "
                f"{offer.account.label}; {ledger.dollars(offer.hold_micros)} held.",
            )
            transaction.on_commit(lambda pk=generation.pk: tasks.enqueue_submit(pk))
            created.append(generation)
    return created


def _claim(pk, from_states, *, held_for=None, **updates):
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


def _by_worker(claimed_at) -> dict:
    """Event data naming the worker that did a step and when it claimed the row for it."""
    return {"worker": worker_name(), "claimed_at": claimed_at.isoformat() if claimed_at else None}


def _set_state(generation, from_states, to_state, **fields) -> bool:
    """Change state if it is still one of `from_states`; False when someone else moved it."""
    fields.setdefault("claimed_at", None)
    fields.setdefault("step_failures", 0)
    if to_state in Generation.FINISHED:
        fields.setdefault("finished_at", timezone.now())
        fields.setdefault("next_check_at", None)
    moved = Generation.objects.filter(pk=generation.pk, state__in=from_states).update(
        state=to_state, **fields
    )
    if moved:
        generation.state = to_state
        for name, value in fields.items():
            setattr(generation, name, value)
    return bool(moved)


# --- Steps that fail: back off, then quarantine --------------------------------------


def _guarded(step):
    """Run a claimed step so that no error leaves its row stuck.

    An unexpected error (a bug, a value the database refuses, a broken file) is counted:
    the row is handed back to be tried again later, and after GENERATION_STEP_ATTEMPTS
    failures in a row the job moves to NEEDS_ATTENTION with the last error, so one
    poisoned job never loops for ever. A stop (SIGTERM) hands the row back at once.
    """

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
            _step_failed(pk, step.__name__, exc)

    run.__name__ = step.__name__
    run.__doc__ = step.__doc__
    run.unguarded = step
    return run


def _describe_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _step_failed(pk, step_name: str, exc: Exception) -> None:
    connection.close_if_unusable_or_obsolete()
    what = _describe_error(exc)
    try:
        generation = Generation.objects.get(pk=pk)
        if generation.finished:
            return
        failures = generation.step_failures + 1
        if failures >= settings.GENERATION_STEP_ATTEMPTS:
            quarantine(
                generation,
                f"Set aside after {failures} failed attempts to {_STEP_WORDS.get(step_name, step_name)}. "
                f"Last error: {what}.",
            )
            return
        delay = min(settings.GENERATION_STEP_RETRY_SECONDS * 2 ** (failures - 1), 300)
        Generation.objects.filter(pk=pk, state=generation.state).update(
            claimed_at=None,
            step_failures=failures,
            next_check_at=timezone.now() + timedelta(seconds=delay),
        )
        generation.log(
            "step_failed",
            f"Could not {_STEP_WORDS.get(step_name, step_name)} ({what}); trying again in "
            f"{delay:g} s.",
            step=step_name,
            attempt=failures,
        )
    except Exception:
        # The database itself may be what failed: the lease hands the row back.
        log.exception("Could not record the failed %s of generation %s", step_name, pk)


_STEP_WORDS = {
    "run_submit": "send the job to a vendor",
    "check": "check the job with the vendor",
    "finalize": "save the finished clip",
    "expire": "end the job at its deadline",
}


def quarantine(generation, message: str, **fields) -> bool:
    """Move a job a person must look at to NEEDS_ATTENTION; its money stays held."""
    with transaction.atomic():
        if not _set_state(
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


# --- Sending ---------------------------------------------------------------------------


@_guarded
def run_submit(pk) -> None:
    """Send one queued generation to the first vendor account that takes it."""
    claimed = _claim(
        pk, [State.QUEUED], state=State.SUBMITTING, submit_attempts=F("submit_attempts") + 1
    )
    if not claimed:
        return
    generation = Generation.objects.select_related("team", "pinned_account", "hold").get(pk=pk)
    generation.claimed_at = claimed  # when the row became ours, for the record (see _claim)
    if generation.expires_at <= timezone.now():
        finish_unsuccessfully(
            generation,
            [State.SUBMITTING],
            State.EXPIRED,
            "No vendor took the job before its deadline.",
        )
        return
    offer = routing.route(generation.team, generation.video_request, generation.pinned_account)
    busy = []
    for route in offer.routes:
        if route.micros > generation.hold.amount:
            continue  # prices changed since the hold; never charge beyond it
        outcome = _try_account(generation, route)
        if outcome == "sent":
            return
        if outcome == "busy":
            busy.append(route.account.label)
    if busy:
        _requeue(generation)
        return
    problems = "; ".join(offer.problems) or "every vendor refused it"
    finish_unsuccessfully(
        generation, [State.SUBMITTING], State.FAILED, f"No vendor could take the job: {problems}."
    )


def _try_account(generation, route) -> str:
    """Offer the job to one account: "sent", "busy" (try later) or "refused" (try the next).

    A job that may have reached the vendor is never offered to another: "sent" covers
    acceptance, outright failure and an unknown outcome alike.
    """
    account = route.account
    step = _by_worker(generation.claimed_at)
    if not _reserve(generation, account):
        return "busy"
    url = callback_url(generation)
    try:
        adapter = account.adapter(client=routing.shared_client())
    except Exception as exc:  # an undecryptable key: nothing was sent
        log.exception("Vendor account %s cannot be used", account.pk)
        _account_unusable(generation, account, f"its saved API key cannot be read ({exc!r})")
        return "refused"
    try:
        created = adapter.create(generation.video_request, url)
        called_back = adapter.accepts_callback_url(url)
    except VendorError as exc:
        return _create_refused(generation, account, exc)
    except Exception as exc:
        if not adapter.request_sent:
            log.exception("Building the request for %s failed", account.label)
            _account_unusable(generation, account, f"the request could not be built ({exc!r})")
            return "refused"
        return _create_refused(
            generation,
            account,
            VendorError(
                ErrorKind.UNKNOWN_OUTCOME,
                f"{account.label}'s answer to the new task could not be read "
                f"({_describe_error(exc)}). It may have been created and charged.",
            ),
        )
    account.note_success()
    _accepted(generation, account, route, created, called_back, step)
    return "sent"


def _create_refused(generation, account, exc: VendorError) -> str:
    step = _by_worker(generation.claimed_at)
    if exc.kind == ErrorKind.UNKNOWN_OUTCOME:
        with transaction.atomic():
            if _set_state(
                generation,
                [State.SUBMITTING],
                State.NEEDS_ATTENTION,
                error_kind=exc.kind,
                error_message=exc.message,
            ):
                generation.log(
                    "needs_attention",
                    exc.message + " An operator must check with the vendor.",
                    **step,
                )
        return "sent"
    _note_vendor_error(account, exc)
    if exc.kind == ErrorKind.BAD_REQUEST:
        finish_unsuccessfully(generation, [State.SUBMITTING], State.FAILED, exc.message, exc)
        return "sent"
    generation.log(
        "vendor_refused", exc.message, vendor=account.label, error_kind=str(exc.kind), **step
    )
    Generation.objects.filter(pk=generation.pk).update(vendor_account=None)
    return "busy" if exc.retryable_elsewhere else "refused"


def _account_unusable(generation, account, reason: str) -> None:
    """Nothing reached the vendor: cool the account down and say so, then try the next."""
    message = f"{account.label} could not be used: {reason}. An operator must fix this account."
    account.note_error(message, settings.VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS)
    Generation.objects.filter(pk=generation.pk).update(vendor_account=None)
    generation.log("vendor_refused", message, vendor=account.label, error_kind="account")


def _accepted(generation, account, route, created, called_back, step) -> None:
    """Record the vendor's task. If that cannot be saved, say which task it was."""
    poll_in = _seconds_to_next_check(0, called_back)
    now = timezone.now()
    try:
        # The event is written in the transaction that lets go of the row, so the story
        # never shows this step ending after the next worker's claim.
        with transaction.atomic():
            moved = _set_state(
                generation,
                [State.SUBMITTING],
                State.RUNNING,
                vendor_task_id=created.task_id,
                charge_credits=created.charge_credits,
                price_micros=route.micros,
                submitted_at=now,
                next_check_at=now + timedelta(seconds=poll_in),
                poll_count=0,
                not_found_checks=0,
            )
            if moved:
                accepted = f"{account.label} accepted the job as task {created.task_id}"
                if created.charge_credits is not None:
                    accepted += f" and reserved {created.charge_credits.normalize():f} credits"
                generation.log("accepted", accepted + ".", **step)
                _log_ignored(generation, created.ignored)
    except Exception as exc:
        # Never resent: the vendor has the task. Keep its id where an operator finds it.
        log.exception("Saving task %s of generation %s failed", created.task_id, generation.pk)
        message = (
            f"{account.label} accepted the job as task {created.task_id}, but saving that "
            f"failed ({_describe_error(exc)}). Attach task {created.task_id} to follow it."
        )
        Generation.objects.filter(pk=generation.pk, state=State.SUBMITTING).update(
            state=State.NEEDS_ATTENTION,
            claimed_at=None,
            error_kind="unknown_outcome",
            error_message=message,
        )
        generation.log("needs_attention", message, vendor_task_id=created.task_id)


def _requeue(generation) -> None:
    wait = settings.GENERATION_REQUEUE_SECONDS
    with transaction.atomic():
        if _set_state(
            generation,
            [State.SUBMITTING],
            State.QUEUED,
            next_check_at=timezone.now() + timedelta(seconds=wait),
            vendor_account=None,
        ):
            generation.log(
                "waiting",
                "Every vendor that can take this job is busy or cooling down; trying again "
                "shortly.",
                **_by_worker(generation.claimed_at),
            )


def _reserve(generation, account) -> bool:
    """Pick `account` for this generation if it is usable and under its concurrency cap."""
    with transaction.atomic():
        locked = VendorAccount.objects.select_for_update().filter(pk=account.pk).usable().first()
        if locked is None or not routing.has_room(locked):
            return False
        # Committed before the HTTP call: a worker that dies during the call leaves a
        # SUBMITTING row with an account, which is then never resent blindly.
        Generation.objects.filter(pk=generation.pk).update(vendor_account=locked)
        generation.vendor_account = locked
    return True


def _note_vendor_error(account, exc: VendorError) -> None:
    cooldown = None
    if exc.kind == ErrorKind.RATE_LIMITED:
        base = exc.retry_after or settings.VENDOR_COOLDOWN_SECONDS * 2 ** min(
            account.consecutive_errors, 5
        )
        cooldown = base * random.uniform(1.0, 1.25)  # noqa: S311 - jitter, not security
    elif exc.kind in (ErrorKind.AUTH, ErrorKind.NO_CREDIT):
        cooldown = settings.VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS
    elif exc.kind == ErrorKind.FAULT:
        cooldown = settings.VENDOR_COOLDOWN_SECONDS if account.consecutive_errors >= 2 else None
    account.note_error(exc.message, cooldown)


def _log_ignored(generation, notes) -> None:
    """Say once which vendor values were not believed (they repeat on every poll)."""
    for note in notes or ():
        if not generation.events.filter(kind="vendor_value_ignored", message=note).exists():
            generation.log("vendor_value_ignored", note)


# --- Following -------------------------------------------------------------------


def _seconds_to_next_check(checks: int, called_back: bool) -> float:
    """How long to wait before asking the vendor again, after `checks` checks.

    Polls start often and back off to GENERATION_POLL_MAX_SECONDS. A vendor that was
    given our callback URL tells us when the task ends, so then polling is only a
    safety net against a lost callback, and far slower.
    """
    longest = settings.GENERATION_POLL_MAX_SECONDS
    if called_back:
        delay = settings.GENERATION_CALLBACK_POLL_SECONDS or 4 * longest
    else:
        delay = min(settings.GENERATION_POLL_FIRST_SECONDS * 1.5**checks, longest)
    # Jobs sent together would keep being polled together, in waves that the sweep
    # works through seconds late; a little randomness spreads them out.
    return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not security


@_guarded
def check(pk, *, then_finalize=None) -> None:
    """Read the task from the vendor and advance the generation (from a poll or a callback).

    `then_finalize(pk)` saves a clip the vendor finished; by default at once, in this step.
    """
    now = _claim(pk, [State.RUNNING])
    if not now:
        return
    generation = Generation.objects.select_related("vendor_account", "hold").get(pk=pk)
    generation.claimed_at = now
    if generation.expires_at <= now:
        _expire_running(generation)
        return
    try:
        with generation.vendor_account.adapter(client=routing.shared_client()) as adapter:
            snapshot = adapter.query(generation.vendor_task_id)
            called_back = adapter.accepts_callback_url(callback_url(generation))
    except VendorError as exc:
        _after_failed_check(generation, exc)
        return
    generation.vendor_account.note_success()
    _log_ignored(generation, snapshot.ignored)
    complete = advance(generation, snapshot, save_progress=False)
    if generation.state == State.RUNNING:
        count = generation.poll_count + 1
        delay = _seconds_to_next_check(count, called_back)
        Generation.objects.filter(pk=pk, state=State.RUNNING).update(
            claimed_at=None,
            progress=generation.progress,
            poll_count=count,
            not_found_checks=0,
            # Answers that cannot be acted on count until one can (see advance()).
            step_failures=0 if complete else F("step_failures") + 1,
            # A callback that came in while we asked (request_check) wants another
            # look at once: the answer we have may predate what it announced.
            next_check_at=Case(
                When(next_check_at__gt=now, then=F("next_check_at")),
                default=Value(now + timedelta(seconds=delay)),
            ),
        )
    elif generation.state == State.FINALIZING:
        (then_finalize or finalize)(pk)


def request_check(pk) -> None:
    """A callback says the task changed: make the job due now, for the next sweep to check.

    Also when a check is under way: that check keeps this time instead of its own.
    """
    Generation.objects.filter(pk=pk, state=State.RUNNING).update(next_check_at=timezone.now())


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
    _note_vendor_error(generation.vendor_account, exc)
    generation.log(
        "check_failed", exc.message, error_kind=str(exc.kind), **_by_worker(generation.claimed_at)
    )
    delay = exc.retry_after or settings.GENERATION_POLL_MAX_SECONDS
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
    step = _by_worker(generation.claimed_at)
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
            if _set_state(
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
    _log_ignored(generation, [NO_ADDRESS])
    if generation.step_failures + 1 >= settings.GENERATION_LOST_AFTER_CHECKS:
        quarantine(
            generation,
            f"{NO_ADDRESS} An operator can attach the clip's address from the vendor.",
            charge_credits=charge,
            vendor_done_at=timezone.now(),
        )


def finish_unsuccessfully(
    generation, from_states, state, message, exc=None, code="", keep_charge=False
):
    """Fail, cancel or expire: release the hold, or capture it when the vendor keeps the charge.

    False when the job had already left `from_states` (someone else moved it).
    """
    kind = str(exc.kind) if exc else ""
    code = code or (exc.vendor_code if exc and exc.vendor_code else "")
    # One transaction: a worker that dies here leaves neither a finished job with
    # money still on hold nor money returned for a job still running.
    with transaction.atomic():
        if not _set_state(
            generation,
            from_states,
            state,
            error_message=message[:2000],
            error_kind=kind,
            error_code=code[:100],
        ):
            return False
        generation.log(state, message[:2000])
        _settle_unsuccessful(generation, keep_charge)
    return True


def _settle_unsuccessful(generation, keep_charge: bool) -> None:
    hold = generation.hold
    if hold is None:
        return
    account = generation.vendor_account
    if keep_charge and account is not None:
        actual = settle_amount(generation)
        ledger.capture(
            hold,
            actual,
            vendor=str(account.uuid),
            vendor_label=account.label,
            memo="Charged: the vendor keeps the cost of this job",
        )
        Generation.objects.filter(pk=generation.pk).update(charge_micros=actual)
        generation.log(
            "charged", f"The vendor keeps the charge: {ledger.dollars(actual)} was charged."
        )
    else:
        ledger.release(hold, reason=f"Generation {generation.get_state_display().lower()}")
        generation.log(
            "released", f"{ledger.dollars(hold.amount)} on hold was returned to the team."
        )


def account_price_micros(generation) -> int:
    """What the account that ran the job asks for it: never another vendor's price."""
    if generation.price_micros is not None:
        return generation.price_micros
    account = generation.vendor_account
    try:
        return account.credits_to_micros(account.quote_credits(generation.video_request))
    except Exception:
        # The account's prices were edited into something that no longer prices this
        # request: the hold was the most any candidate would have cost.
        log.exception("Generation %s cannot be priced at %s", generation.pk, account)
        return generation.hold.amount


def settle_amount(generation) -> int:
    """The charge to capture: the vendor's own figure when it is believable, else the
    price of the account that ran the job. A figure that is not believed is an event."""
    price = account_price_micros(generation)
    reported = generation.charge_credits
    if reported is None:
        return price
    account = generation.vendor_account
    micros = account.credits_to_micros(reported) if reported > 0 else 0
    bound = max(generation.hold.amount, price) * settings.GENERATION_CHARGE_TOLERANCE
    if 0 < micros <= bound:
        return micros
    generation.log(
        "vendor_value_ignored",
        f"{account.label} reported a charge of {reported.normalize():f} credits "
        f"({ledger.dollars(micros) if micros else 'nothing'}), which is not believable for "
        f"this job; charged the account's price of {ledger.dollars(price)} instead.",
    )
    return price


# --- Finalizing ------------------------------------------------------------------


@_guarded
def finalize(pk) -> None:
    """Store the clip, probe it, make its poster and capture the hold. Safe to repeat."""
    claimed = _claim(pk, [State.FINALIZING], held_for=finalize_lease())
    if not claimed:
        return
    generation = Generation.objects.select_related("vendor_account", "hold", "team").get(pk=pk)
    generation.claimed_at = claimed
    step = _by_worker(generation.claimed_at)
    if not Clip.objects.filter(generation=generation).exists():
        try:
            store_clip(generation)
        except (fetch.FetchRefused, media.NotAVideo) as exc:
            transient = getattr(exc, "transient", False)
            attempts = generation.events.filter(kind="download_failed").count() + 1
            generation.log("download_failed", str(exc), **step)
            if transient and attempts < settings.GENERATION_DOWNLOAD_ATTEMPTS:
                Generation.objects.filter(pk=pk).update(
                    claimed_at=None, next_check_at=timezone.now() + timedelta(seconds=5)
                )
                return
            finish_unsuccessfully(
                generation,
                [State.FINALIZING],
                State.FAILED,
                f"The vendor finished, but the clip could not be saved: {exc}",
                keep_charge=True,
            )
            return
    account = generation.vendor_account
    with transaction.atomic():
        actual = settle_amount(generation)
        ledger.capture(
            generation.hold,
            actual,
            vendor=str(account.uuid),
            vendor_label=account.label,
            memo=f"Clip by {account.label}",
        )
        if _set_state(
            generation, [State.FINALIZING], State.SUCCEEDED, charge_micros=actual, error_message=""
        ):
            # In the same transaction: the story never shows a job done without its ending.
            credits = (
                f" ({generation.charge_credits.normalize():f} vendor credits)"
                if generation.charge_credits is not None and actual != generation.price_micros
                else ""
            )
            generation.log(
                "succeeded", f"Clip saved. Charged {ledger.dollars(actual)}{credits}.", **step
            )


def store_clip(generation) -> Clip:
    handle, path = tempfile.mkstemp(
        prefix=f"{media.SCRATCH_PREFIX}clip-", suffix=".mp4", dir=media.scratch_dir()
    )
    try:
        with os.fdopen(handle, "wb") as out:
            fetched = fetch.fetch_to_file(
                generation.output_url,
                out,
                max_bytes=settings.CLIP_MAX_BYTES,
                deadline_seconds=settings.CLIP_DOWNLOAD_SECONDS,
            )
        info = media.probe(path)
        try:
            poster = media.poster_jpeg(path, at_seconds=min(1.0, info.duration / 2))
        except Exception as exc:
            # A clip without a poster is still the clip the team paid for.
            log.exception("No poster for generation %s", generation.pk)
            generation.log("poster_failed", f"No poster could be made ({_describe_error(exc)}).")
            poster = media.placeholder_poster()
        name = f"{generation.team.uuid}/{generation.uuid}"
        clip = Clip(
            generation=generation,
            duration=info.duration,
            width=info.width,
            height=info.height,
            fps=info.fps,
            codec=info.codec[:40],
            has_audio=info.has_audio,
            bytes=fetched.bytes,
            sha256=fetched.sha256,
        )
        with open(path, "rb") as saved:
            clip.file.save(f"{name}.mp4", File(saved), save=False)
        clip.poster.save(f"{name}.jpg", ContentFile(poster), save=False)
        clip.save()
        generation.log(
            "stored",
            f"Stored {info.width}×{info.height}, {info.duration:.1f} s at {info.fps:g} fps"
            f"{', with audio' if info.has_audio else ''} ({fetched.bytes / 2**20:.1f} MB).",
            **_by_worker(generation.claimed_at),
        )
        return clip
    finally:
        if os.path.exists(path):
            os.unlink(path)


# --- Deadlines --------------------------------------------------------------------


@_guarded
def expire(pk) -> None:
    """End a job past its deadline, whatever state it is in, and settle its hold.

    A task still running at the vendor is cancelled there when the vendor can cancel,
    and followed through the grace when it cannot (see _expire_running). A job that
    needs attention, or whose clip is still being saved, ends after the grace: the hold
    is returned unless the vendor is known to have finished (then it keeps the charge).
    """
    now = timezone.now()
    generation = Generation.objects.select_related("vendor_account", "hold").filter(pk=pk).first()
    if generation is None or generation.finished:
        return
    if generation.state == State.QUEUED:
        finish_unsuccessfully(
            generation,
            [State.QUEUED],
            State.EXPIRED,
            "No vendor took the job before its deadline; the hold was returned.",
        )
    elif generation.state == State.RUNNING:
        claimed = _claim(pk, [State.RUNNING])
        if claimed:
            generation.claimed_at = claimed
            _expire_running(generation)
    elif generation.expires_at + grace() <= now:
        _expire_after_grace(generation)


def _expire_running(generation) -> None:
    """A running job at its deadline. A last answer that ends it is followed as usual.
    A vendor that can cancel is told to, and the hold returned. One that cannot is
    followed through the grace (the clip may still come, and is charged as usual); after
    that the job expires, and the hold is returned unless the vendor announced a charge
    when it accepted the task (then it keeps it)."""
    account = generation.vendor_account
    in_grace = timezone.now() < generation.expires_at + grace()
    try:
        with account.adapter(client=routing.shared_client()) as adapter:
            snapshot = adapter.query(generation.vendor_task_id)
            if not snapshot.state.finished and account.adapter_class.supports_cancel:
                adapter.cancel(generation.vendor_task_id)
                finish_unsuccessfully(
                    generation,
                    [State.RUNNING],
                    State.EXPIRED,
                    f"The job passed its deadline; it was cancelled at {account.label} and the "
                    "hold was returned.",
                )
                return
    except VendorError as exc:
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
        if in_grace:
            generation.log("check_failed", exc.message, error_kind=str(exc.kind))
            _follow_later(generation)
            return
        snapshot = None
    if snapshot is not None and snapshot.state.finished:
        if advance(generation, snapshot) and generation.state == State.RUNNING:
            _follow_later(generation)
        return
    if in_grace:
        _follow_later(generation)
        return
    announced = generation.charge_credits is not None
    finish_unsuccessfully(
        generation,
        [State.RUNNING],
        State.EXPIRED,
        f"The job passed its deadline and its grace while {account.label} was still working "
        f"on it, and {account.label} cannot cancel a task; we stopped following it. "
        + (
            f"{account.label} charged for the task when it accepted it, so it keeps the charge."
            if announced
            else "The hold was returned."
        ),
        keep_charge=announced,
    )


def _follow_later(generation) -> None:
    delay = settings.GENERATION_POLL_MAX_SECONDS
    Generation.objects.filter(pk=generation.pk, state=State.RUNNING).update(
        claimed_at=None, next_check_at=timezone.now() + timedelta(seconds=delay)
    )


def _expire_after_grace(generation) -> None:
    from_states = [State.SUBMITTING, State.FINALIZING, State.NEEDS_ATTENTION]
    held_for = finalize_lease() if generation.state == State.FINALIZING else lease()
    if generation.claimed_at and generation.claimed_at > timezone.now() - held_for:
        return  # a worker is sending or saving it right now
    finished_at_vendor = generation.vendor_done_at is not None
    if finished_at_vendor:
        message = (
            "The vendor finished this clip, but it could not be saved before the deadline; "
            "the vendor keeps the charge."
        )
    else:
        message = (
            "Nobody could confirm in time whether the vendor made this clip; the job was "
            "ended and the hold returned to the team."
        )
    finish_unsuccessfully(
        generation, from_states, State.EXPIRED, message, keep_charge=finished_at_vendor
    )


# --- Cancelling and operator actions ------------------------------------------------


class CannotCancel(Exception):
    pass


def cancel(generation: Generation, by) -> str:
    """Cancel a job; returns what happened in words. Raises CannotCancel with the reason."""
    if generation.state == State.QUEUED:
        if finish_unsuccessfully(
            generation,
            [State.QUEUED],
            State.CANCELLED,
            f"Cancelled by {by.username} before it was sent.",
        ):
            return "Cancelled before it reached a vendor; the hold was returned."
        generation.refresh_from_db()
    if generation.state == State.RUNNING:
        return _cancel_running(generation, by)
    raise CannotCancel(
        f"A job that is {generation.get_state_display().lower()} can't be cancelled now."
    )


def _cancel_running(generation, by) -> str:
    account = generation.vendor_account
    if account.adapter_class.supports_cancel:
        try:
            with account.adapter(client=routing.shared_client()) as adapter:
                adapter.cancel(generation.vendor_task_id)
        except VendorError as exc:
            raise CannotCancel(exc.message) from None
        if finish_unsuccessfully(
            generation,
            [State.RUNNING],
            State.CANCELLED,
            f"Cancelled at {account.label} by {by.username}.",
        ):
            return f"Cancelled at {account.label}; the hold was returned."
    elif finish_unsuccessfully(
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
    taken = (
        Generation.objects.filter(
            vendor_account_id=generation.vendor_account_id, vendor_task_id=task_id
        )
        .exclude(pk=generation.pk)
        .first()
    )
    if taken is not None:
        raise ResolveRefused(f"Task {task_id} already belongs to another job.", "task_id")
    now = timezone.now()
    with transaction.atomic():
        moved = _set_state(
            generation,
            [State.NEEDS_ATTENTION],
            State.RUNNING,
            vendor_task_id=task_id,
            submitted_at=generation.submitted_at or now,
            next_check_at=now,
            error_message="",
            error_kind="",
            not_found_checks=0,
            # Time enough to follow it: the deadline counts from now.
            expires_at=max(
                generation.expires_at,
                now + timedelta(minutes=settings.GENERATION_DEADLINE_MINUTES),
            ),
        )
        if moved:
            generation.log(
                "attached", f"{by.username} attached vendor task {task_id}; following it."
            )
    return moved


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
    now = timezone.now()
    with transaction.atomic():
        moved = _set_state(
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
                "attached",
                f"{by.username} says the vendor finished the clip; saving it from the address "
                "given.",
            )
    return moved


def recover_from_callback(pk, task_id: str) -> bool:
    """A callback on this job's secret URL named a task we never heard of (its create's
    answer was lost): follow that task if the vendor confirms it and no other job has it."""
    generation = Generation.objects.select_related("vendor_account", "hold").get(pk=pk)
    task_id = clean_task_id(task_id)
    account = generation.vendor_account
    if generation.state != State.NEEDS_ATTENTION or generation.vendor_task_id or not task_id:
        return False
    if Generation.objects.filter(vendor_account=account, vendor_task_id=task_id).exists():
        generation.log("callback_ignored", f"Task {task_id} belongs to another job.")
        return False
    try:
        with account.adapter(client=routing.shared_client()) as adapter:
            adapter.query(task_id)
    except VendorError as exc:
        generation.log("callback_ignored", f"Task {task_id} could not be confirmed: {exc.message}")
        return False
    now = timezone.now()
    with transaction.atomic():
        moved = _set_state(
            generation,
            [State.NEEDS_ATTENTION],
            State.RUNNING,
            vendor_task_id=task_id,
            submitted_at=generation.submitted_at or now,
            next_check_at=now,
            error_message="",
            error_kind="",
            not_found_checks=0,
        )
        if moved:
            generation.log(
                "attached",
                f"{account.label} called back about task {task_id}, which it confirms: this "
                "job's create did reach it. Following the task.",
            )
    return moved


# --- The sweep: what the minute schedule cannot do alone ----------------------------


def due_checks(limit=200) -> list[int]:
    now = timezone.now()
    return list(
        Generation.objects.filter(state=State.RUNNING, next_check_at__lte=now)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease()))
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:limit]
    )


def _past_deadline(now) -> list[int]:
    """Jobs past their deadline that nobody is working on; the oldest first."""
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease())
    return list(
        Generation.objects.active()
        .filter(
            # A running job past its deadline is handled by its next check (check()).
            Q(expires_at__lte=now, state=State.QUEUED) | Q(expires_at__lte=now - grace())
        )
        .filter(free | Q(state=State.NEEDS_ATTENTION))
        .order_by("expires_at")
        .values_list("pk", flat=True)[:100]
    )


def _abandoned_sends(now) -> None:
    """A worker died during the create call: the vendor may have the task."""
    # A claim that ran out, or none at all: a stopping worker handed the row back.
    stale = Generation.objects.filter(state=State.SUBMITTING).filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease())
    )
    for generation in stale:
        if generation.vendor_account_id is None:
            _set_state(generation, [State.SUBMITTING], State.QUEUED, next_check_at=now)
            continue
        message = (
            "A worker stopped while sending this job to the vendor, so we don't know whether "
            "the vendor has it. It was not resent: an operator must check with the vendor."
        )
        with transaction.atomic():
            if _set_state(
                generation,
                [State.SUBMITTING],
                State.NEEDS_ATTENTION,
                error_message=message,
                error_kind="unknown_outcome",
            ):
                generation.log("needs_attention", message)


def sweep(dispatch=None) -> dict:
    """One pass over everything that is due; returns what it did, by kind.

    Checks run here on the pool's threads. Sends and saves can wait on a vendor for long:
    `dispatch(function, pks)` hands them to other workers; without it they run here too.
    One row that fails never stops the pass.
    """
    now = timezone.now()
    counts = {"submitted": 0, "checked": 0, "finalized": 0, "expired": 0, "stuck": 0}
    steps = []
    for part in (_abandoned_sends,):
        try:
            part(now)
        except Exception:
            log.exception("The sweep could not look for abandoned sends")
    try:
        expiring = _past_deadline(now)
        counts["expired"] = len(expiring)
        steps += [(expire, pk) for pk in expiring]
        queued = list(
            Generation.objects.filter(state=State.QUEUED, next_check_at__lte=now)
            .exclude(pk__in=expiring)
            .order_by("next_check_at")  # longest waiting first
            .values_list("pk", flat=True)[:100]
        )
        finalizing = list(
            Generation.objects.filter(state=State.FINALIZING)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - finalize_lease()))
            .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
            .exclude(pk__in=expiring)
            .order_by("next_check_at")
            .values_list("pk", flat=True)[:50]
        )
        counts["submitted"] = len(queued)
        counts["finalized"] = len(finalizing)
        long_steps = [(run_submit, queued), (finalize, finalizing)]
        if dispatch is None:
            steps += [(function, pk) for function, pks in long_steps for pk in pks]
        else:
            for function, pks in long_steps:
                _dispatch(dispatch, function, pks, now)
        # Claimed one by one as the threads get to them: a callback's own check task may
        # still take one first, at once, instead of waiting behind the whole pass.
        due = [pk for pk in due_checks() if pk not in expiring]
        counts["checked"] = len(due)
        if dispatch is None:
            steps += [(check, pk) for pk in due]
        else:
            steps += [(_check_then_dispatch(dispatch), pk) for pk in due]
    except Exception:
        log.exception("The sweep could not list what is due")
    _run_on_pool(steps)
    return counts


def _dispatch(dispatch, function, pks, now) -> None:
    """Hand `pks` to `dispatch`, marking them so the next passes do not hand them again
    while they wait in the queue; the step's own claim decides who runs them."""
    if not pks:
        return
    Generation.objects.filter(pk__in=pks).update(next_check_at=now + lease())
    dispatch(function, pks)


def _check_then_dispatch(dispatch):
    def check_from_sweep(pk):
        check(pk, then_finalize=lambda done: _dispatch(dispatch, finalize, [done], timezone.now()))

    check_from_sweep.__name__ = "check"
    return check_from_sweep


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=settings.SWEEP_THREADS, thread_name_prefix="generation-sweep"
    )


def _run_on_pool(steps) -> None:
    """Run (function, pk) steps on the pool's threads, each taking the next as it frees up.

    A slow check holds up one thread, not the checks queued behind it, and a step that
    fails is logged without stopping the rest. Each thread keeps one database connection
    for the whole pass. When the worker is stopping, steps not yet started are left for
    the next sweeper.
    """
    if not steps:
        return
    waiting = SimpleQueue()
    for step in steps:
        waiting.put(step)

    def drain(_):
        try:
            while not stopping.is_set():
                try:
                    function, pk = waiting.get_nowait()
                except Empty:
                    return
                try:
                    function(pk)
                except Exception:
                    log.exception("%s of generation %s failed", function.__name__, pk)
                    connection.close()  # it may be unusable now
        finally:
            connection.close()

    threads = min(len(steps), settings.SWEEP_THREADS)
    list(_pool().map(drain, range(threads)))


def new_lease_holder() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"
