"""The life of a generation: submit, route, follow, finalize, settle.

Every step claims its row before it acts (a conditional UPDATE that only one
worker can win), is safe to run twice, and records what happened as an event.
State only moves forward; duplicate and late signals change nothing.
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

log = logging.getLogger(__name__)


def setting(name, default):
    return getattr(settings, name, default)


def lease() -> timedelta:
    """How long one worker may hold a row it claimed before another may take over."""
    return timedelta(seconds=setting("GENERATION_LEASE_SECONDS", 90.0))


def finalize_lease() -> timedelta:
    """Saving a clip may take the whole download deadline: its claim lasts that much longer."""
    return lease() + timedelta(seconds=setting("CLIP_DOWNLOAD_SECONDS", 60))


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
    deadline = now + timedelta(minutes=setting("GENERATION_DEADLINE_MINUTES", 30))
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


def _move(generation, from_states, to_state, **fields) -> bool:
    """Change state if it is still one of `from_states`; False when someone else moved it."""
    fields.setdefault("claimed_at", None)
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


def run_submit(pk) -> None:
    """Send one queued generation to the first vendor account that takes it."""
    claimed = _claim(
        pk, [State.QUEUED], state=State.SUBMITTING, submit_attempts=F("submit_attempts") + 1
    )
    if not claimed:
        return
    generation = Generation.objects.select_related("team", "pinned_account").get(pk=pk)
    generation.claimed_at = claimed  # when the row became ours, for the record (see _claim)
    step = _by_worker(generation.claimed_at)
    if generation.expires_at <= timezone.now():
        finish_unsuccessfully(
            generation,
            [State.SUBMITTING],
            State.EXPIRED,
            "No vendor took the job before its deadline.",
        )
        return
    request = generation.video_request
    offer = routing.route(generation.team, request, generation.pinned_account)
    busy = []
    for route in offer.routes:
        if route.micros > generation.hold.amount:
            continue  # prices changed since the hold; never charge beyond it
        account = route.account
        if not _reserve(generation, account):
            busy.append(account.label)
            continue
        try:
            with account.adapter(client=routing.shared_client()) as adapter:
                created = adapter.create(request, callback_url(generation))
                called_back = adapter.accepts_callback_url(callback_url(generation))
        except VendorError as exc:
            if exc.kind == ErrorKind.UNKNOWN_OUTCOME:
                _move(
                    generation,
                    [State.SUBMITTING],
                    State.NEEDS_ATTENTION,
                    error_kind=exc.kind,
                    error_message=exc.message,
                )
                generation.log(
                    "needs_attention",
                    exc.message + " An operator must check with the vendor.",
                    **step,
                )
                return
            _note_vendor_error(account, exc)
            if exc.kind == ErrorKind.BAD_REQUEST:
                finish_unsuccessfully(
                    generation, [State.SUBMITTING], State.FAILED, exc.message, exc
                )
                return
            generation.log(
                "vendor_refused",
                exc.message,
                vendor=account.label,
                error_kind=str(exc.kind),
                **step,
            )
            if exc.retryable_elsewhere:
                busy.append(account.label)
            Generation.objects.filter(pk=pk).update(vendor_account=None)
            continue
        account.note_success()
        poll_in = _seconds_to_next_check(0, called_back)
        # The event is written in the transaction that lets go of the row, so the story
        # never shows this step ending after the next worker's claim.
        with transaction.atomic():
            moved = _move(
                generation,
                [State.SUBMITTING],
                State.RUNNING,
                vendor_task_id=created.task_id,
                charge_credits=created.charge_credits,
                submitted_at=timezone.now(),
                next_check_at=timezone.now() + timedelta(seconds=poll_in),
                poll_count=0,
            )
            if moved:
                accepted = f"{account.label} accepted the job as task {created.task_id}"
                if created.charge_credits is not None:
                    accepted += f" and reserved {created.charge_credits.normalize():f} credits"
                generation.log("accepted", accepted + ".", **step)
        return
    if busy:
        wait = setting("GENERATION_REQUEUE_SECONDS", 5.0)
        _move(
            generation,
            [State.SUBMITTING],
            State.QUEUED,
            next_check_at=timezone.now() + timedelta(seconds=wait),
            vendor_account=None,
        )
        generation.log(
            "waiting",
            "Every vendor that can take this job is busy or cooling down; trying again shortly.",
            **step,
        )
        return
    finish_unsuccessfully(
        generation,
        [State.SUBMITTING],
        State.FAILED,
        "No vendor could take the job: "
        + ("; ".join(offer.problems) or "every vendor refused it")
        + ".",
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
        base = exc.retry_after or setting("VENDOR_COOLDOWN_SECONDS", 10.0) * 2 ** min(
            account.consecutive_errors, 5
        )
        cooldown = base * random.uniform(1.0, 1.25)  # noqa: S311 - jitter, not security
    elif exc.kind in (ErrorKind.AUTH, ErrorKind.NO_CREDIT):
        cooldown = setting("VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS", 300.0)
    elif exc.kind == ErrorKind.FAULT:
        cooldown = (
            setting("VENDOR_COOLDOWN_SECONDS", 10.0) if account.consecutive_errors >= 2 else None
        )
    account.note_error(exc.message, cooldown)


# --- Following -------------------------------------------------------------------


def _seconds_to_next_check(checks: int, called_back: bool) -> float:
    """How long to wait before asking the vendor again, after `checks` checks.

    Polls start often and back off to GENERATION_POLL_MAX_SECONDS. A vendor that was
    given our callback URL tells us when the task ends, so then polling is only a
    safety net against a lost callback, and far slower.
    """
    longest = setting("GENERATION_POLL_MAX_SECONDS", 8.0)
    if called_back:
        delay = setting("GENERATION_CALLBACK_POLL_SECONDS", 4 * longest)
    else:
        delay = min(setting("GENERATION_POLL_FIRST_SECONDS", 2.0) * 1.5**checks, longest)
    # Jobs sent together would keep being polled together, in waves that the sweep
    # works through seconds late; a little randomness spreads them out.
    return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not security


def check(pk) -> None:
    """Read the task from the vendor and advance the generation (from a poll or a callback)."""
    now = _claim(pk, [State.RUNNING])
    if not now:
        return
    generation = Generation.objects.select_related("vendor_account").get(pk=pk)
    generation.claimed_at = now
    try:
        with generation.vendor_account.adapter(client=routing.shared_client()) as adapter:
            snapshot = adapter.query(generation.vendor_task_id)
            called_back = adapter.accepts_callback_url(callback_url(generation))
    except VendorError as exc:
        _after_failed_check(generation, exc)
        return
    generation.vendor_account.note_success()
    advance(generation, snapshot, save_progress=False)
    if generation.state == State.RUNNING:
        count = generation.poll_count + 1
        delay = _seconds_to_next_check(count, called_back)
        Generation.objects.filter(pk=pk, state=State.RUNNING).update(
            claimed_at=None,
            progress=generation.progress,
            poll_count=count,
            # A callback that came in while we asked (request_check) wants another
            # look at once: the answer we have may predate what it announced.
            next_check_at=Case(
                When(next_check_at__gt=now, then=F("next_check_at")),
                default=Value(now + timedelta(seconds=delay)),
            ),
        )
    elif generation.state == State.FINALIZING:
        finalize(pk)


def request_check(pk) -> None:
    """A callback says the task changed: make the job due now, for the next sweep to check.

    Also when a check is under way: that check keeps this time instead of its own.
    """
    Generation.objects.filter(pk=pk, state=State.RUNNING).update(next_check_at=timezone.now())


def _after_failed_check(generation, exc: VendorError) -> None:
    count = generation.poll_count + 1
    if exc.kind == ErrorKind.NOT_FOUND and count >= setting("GENERATION_LOST_AFTER_CHECKS", 3):
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
    delay = exc.retry_after or setting("GENERATION_POLL_MAX_SECONDS", 8.0)
    Generation.objects.filter(pk=generation.pk, state=State.RUNNING).update(
        claimed_at=None, poll_count=count, next_check_at=timezone.now() + timedelta(seconds=delay)
    )


def advance(generation: Generation, snapshot, save_progress=True) -> None:
    """Apply what the vendor says now; anything that would move backwards is ignored.

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
        return
    charge = (
        snapshot.charge_credits
        if snapshot.charge_credits is not None
        else generation.charge_credits
    )
    if snapshot.state == TaskState.SUCCEEDED:
        if not snapshot.output_urls:
            finish_unsuccessfully(
                generation,
                [State.RUNNING],
                State.FAILED,
                "The vendor finished but gave no video address.",
            )
            return
        with transaction.atomic():  # the event lands before the row is free (see above)
            if _move(
                generation,
                [State.RUNNING],
                State.FINALIZING,
                progress=100,
                output_url=snapshot.output_urls[0],
                charge_credits=charge,
                vendor_done_at=timezone.now(),
            ):
                generation.log("vendor_done", "The vendor finished the clip; saving it.", **step)
        return
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


def finish_unsuccessfully(
    generation, from_states, state, message, exc=None, code="", keep_charge=False
):
    """Fail, cancel or expire: release the hold, or capture it when the vendor keeps the charge."""
    kind = str(exc.kind) if exc else ""
    # One transaction: a worker that dies here leaves neither a finished job with
    # money still on hold nor money returned for a job still running.
    with transaction.atomic():
        if not _move(
            generation,
            from_states,
            state,
            error_message=message,
            error_kind=kind,
            error_code=code or (exc.vendor_code if exc and exc.vendor_code else ""),
        ):
            return False
        generation.log(state, message)
        _settle_unsuccessful(generation, keep_charge)
    return True


def _settle_unsuccessful(generation, keep_charge: bool) -> None:
    hold = generation.hold
    if hold is None:
        return
    account = generation.vendor_account
    if keep_charge and account is not None:
        actual = _charge_micros(generation)
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


def _charge_micros(generation) -> int:
    if generation.charge_credits is not None and generation.vendor_account is not None:
        return generation.vendor_account.credits_to_micros(generation.charge_credits)
    return generation.quote_micros


# --- Finalizing ------------------------------------------------------------------


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
            if transient and attempts < setting("GENERATION_DOWNLOAD_ATTEMPTS", 3):
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
    actual = _charge_micros(generation)
    account = generation.vendor_account
    with transaction.atomic():
        ledger.capture(
            generation.hold,
            actual,
            vendor=str(account.uuid),
            vendor_label=account.label,
            memo=f"Clip by {account.label}",
        )
        if _move(
            generation, [State.FINALIZING], State.SUCCEEDED, charge_micros=actual, error_message=""
        ):
            # In the same transaction: the story never shows a job done without its ending.
            credits = (
                f" ({generation.charge_credits.normalize():f} vendor credits)"
                if generation.charge_credits is not None
                else ""
            )
            generation.log(
                "succeeded", f"Clip saved. Charged {ledger.dollars(actual)}{credits}.", **step
            )


def store_clip(generation) -> Clip:
    max_bytes = setting("CLIP_MAX_BYTES", 500 * 2**20)
    deadline = setting("CLIP_DOWNLOAD_SECONDS", 60)
    handle, path = tempfile.mkstemp(
        prefix=f"{media.SCRATCH_PREFIX}clip-", suffix=".mp4", dir=media.scratch_dir()
    )
    try:
        with os.fdopen(handle, "wb") as out:
            fetched = fetch.fetch_to_file(
                generation.output_url,
                out,
                max_bytes=max_bytes,
                deadline_seconds=deadline,
            )
        info = media.probe(path)
        poster = media.poster_jpeg(path, at_seconds=min(1.0, info.duration / 2))
        name = f"{generation.team.uuid}/{generation.uuid}"
        clip = Clip(
            generation=generation,
            duration=info.duration,
            width=info.width,
            height=info.height,
            fps=info.fps,
            codec=info.codec,
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


# --- Cancelling and operator actions ------------------------------------------------


class CannotCancel(Exception):
    pass


def cancel(generation: Generation, by) -> str:
    """Cancel a job; returns what happened in words."""
    if generation.state == State.QUEUED and finish_unsuccessfully(
        generation,
        [State.QUEUED],
        State.CANCELLED,
        f"Cancelled by {by.username} before it was sent.",
    ):
        return "Cancelled before it reached a vendor; the hold was returned."
    if generation.state == State.RUNNING:
        account = generation.vendor_account
        if account.adapter_class.supports_cancel:
            try:
                with account.adapter(client=routing.shared_client()) as adapter:
                    adapter.cancel(generation.vendor_task_id)
            except VendorError as exc:
                raise CannotCancel(exc.message) from None
            finish_unsuccessfully(
                generation,
                [State.RUNNING],
                State.CANCELLED,
                f"Cancelled at {account.label} by {by.username}.",
            )
            return f"Cancelled at {account.label}; the hold was returned."
        finish_unsuccessfully(
            generation,
            [State.RUNNING],
            State.CANCELLED,
            f"Cancelled by {by.username}. {account.label} cannot cancel a running task, so it "
            "finishes there and its cost is charged; we stopped following it.",
            keep_charge=True,
        )
        return f"{account.label} can't cancel a running task: it was charged and is no longer followed."
    raise CannotCancel(
        f"A job that is {generation.get_state_display().lower()} can't be cancelled now."
    )


def resolve_failed(generation, by) -> None:
    """Operator: the vendor has no such task; fail it and return the money."""
    finish_unsuccessfully(
        generation,
        [State.NEEDS_ATTENTION],
        State.FAILED,
        f"Marked failed by {by.username}: the vendor has no task for it.",
    )


def resolve_attach(generation, task_id: str, by) -> None:
    """Operator: the vendor did create the task; follow it from now on."""
    if _move(
        generation,
        [State.NEEDS_ATTENTION],
        State.RUNNING,
        vendor_task_id=task_id.strip(),
        submitted_at=timezone.now(),
        next_check_at=timezone.now(),
        error_message="",
        error_kind="",
    ):
        generation.log("attached", f"{by.username} attached vendor task {task_id}; following it.")


# --- The sweep: what the minute schedule cannot do alone ----------------------------


def due_checks(limit=200) -> list[int]:
    now = timezone.now()
    return list(
        Generation.objects.filter(state=State.RUNNING, next_check_at__lte=now)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease()))
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:limit]
    )


def sweep() -> dict:
    """One pass over everything that is due; returns what it did, by kind."""
    now = timezone.now()
    counts = {"submitted": 0, "checked": 0, "finalized": 0, "expired": 0, "stuck": 0}

    for generation in (
        Generation.objects.active()
        .filter(expires_at__lte=now)
        .exclude(state__in=[State.FINALIZING, State.NEEDS_ATTENTION])[:100]
    ):
        if finish_unsuccessfully(
            generation,
            [State.QUEUED, State.RUNNING],
            State.EXPIRED,
            "The job passed its deadline without a result.",
        ):
            counts["expired"] += 1

    # A worker died during the create call: the vendor may have the task.
    stale = now - lease()
    for generation in Generation.objects.filter(state=State.SUBMITTING, claimed_at__lt=stale):
        if generation.vendor_account_id is None:
            _move(generation, [State.SUBMITTING], State.QUEUED, next_check_at=now)
        elif _move(
            generation,
            [State.SUBMITTING],
            State.NEEDS_ATTENTION,
            error_message="A worker stopped while sending this job; the vendor may have it.",
        ):
            generation.log(
                "needs_attention",
                "A worker stopped while sending this job to the vendor. "
                "It was not resent: an operator must check whether the vendor has it.",
            )
            counts["stuck"] += 1

    queued = (
        Generation.objects.filter(state=State.QUEUED, next_check_at__lte=now)
        .order_by("next_check_at")  # longest waiting first
        .values_list("pk", flat=True)[:100]
    )
    finalizing = (
        Generation.objects.filter(state=State.FINALIZING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - finalize_lease()))
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:50]
    )
    steps = [(run_submit, pk) for pk in queued]
    counts["submitted"] = len(steps)
    steps += [(finalize, pk) for pk in finalizing]
    counts["finalized"] = len(steps) - counts["submitted"]
    # Claimed one by one as the threads get to them: a callback's own check task may
    # still take one first, at once, instead of waiting behind the whole pass.
    due = due_checks()
    steps += [(check, pk) for pk in due]
    counts["checked"] = len(due)
    _run_on_pool(steps)
    return counts


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=setting("SWEEP_THREADS", 8), thread_name_prefix="generation-sweep"
    )


def _run_on_pool(steps) -> None:
    """Run (function, pk) steps on the pool's threads, each taking the next as it frees up.

    A slow create or download holds up one thread, not the checks queued behind it,
    and a step that fails is logged without stopping the rest. Each thread keeps one
    database connection for the whole pass.
    """
    waiting = SimpleQueue()
    for step in steps:
        waiting.put(step)

    def drain(_):
        try:
            while True:
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

    threads = min(len(steps), setting("SWEEP_THREADS", 8))
    list(_pool().map(drain, range(threads)))


def new_lease_holder() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"
