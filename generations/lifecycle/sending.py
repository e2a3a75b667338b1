"""Submitting a job (rows, holds, queued in one transaction) and sending it to the first
vendor account that takes it. A create that may have reached a vendor is never resent."""

import logging
from datetime import timedelta
from uuid import uuid4

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from billing import ledger
from generations import routing
from generations.assets import inputs as asset_inputs
from generations.lifecycle.callbacks import callback_token, callback_url
from generations.lifecycle.policy import note_vendor_error, seconds_to_next_check
from generations.lifecycle.settle import finish_unsuccessfully
from generations.lifecycle.steps import (
    announce,
    by_worker,
    claim,
    describe_error,
    guarded,
    log_ignored,
    set_state,
)
from generations.models import Generation, State, VendorAccount
from generations.vendors import ErrorKind, VendorError
from seedance_site import rows
from seedance_site.tokens import hash_token

log = logging.getLogger(__name__)


class SubmitRefused(Exception):
    """The submission was refused before anything was created; the message says why."""


# Sent when a job's rows and hold are written, inside their transaction: the task queue
# sends it to a vendor. A receiver acts in that transaction or after its commit.
queued = Signal()


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
    inputs=(),
    accounts=None,
    savepoint=True,
) -> list[Generation]:
    """Create `variants` generations with their holds, all or none, and queue them.
    Raises SubmitRefused (no vendor can take it) or ledger.Refused (no money).

    `inputs`: the (role, asset) pairs the request is made from; the stored request keeps
    its mode but no addresses (signed afresh when the job is sent). `accounts`: the
    enabled vendor accounts when the caller has just read them. `savepoint=False` when
    any exception raised here leaves the caller's transaction (a refusal undoes it all)."""
    now = timezone.now()
    deadline = now + timedelta(minutes=settings.GENERATION_DEADLINE_MINUTES)
    as_sent = asset_inputs.with_urls(request, inputs, asset_inputs.url_deadline(deadline))
    offer = routing.route(team, as_sent, pinned, accounts=accounts)
    if offer.first is None:
        # Before anything is created or held: a refusal costs the member nothing.
        raise SubmitRefused(refusal(offer, pinned))
    if inputs:
        request = asset_inputs.without_urls(request)
    created = []
    with transaction.atomic(savepoint=savepoint):
        gone = asset_inputs.lock_chosen(inputs)
        if gone:
            raise SubmitRefused(
                "Deleted from the asset library meanwhile: "
                + ", ".join(f"“{name}”" for name in gone)
                + ". Choose or upload another."
            )
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
                quote_micros=offer.first.micros,
                quote_credits=offer.first.credits,
                remix_of=remix_of,
                expires_at=deadline,
                next_check_at=now,
                batch=created[0].batch if created else uuid4(),
            )
            _hold_and_queue(generation, offer, member, inputs)
            created.append(generation)
    return created


def refusal(offer, pinned=None) -> str:
    """Why no vendor (or the one pinned) can take a request, in the member's words."""
    if pinned is None:
        reasons = "; ".join(offer.problems) or "no vendor account is enabled"
        return f"No vendor can take this request: {reasons}."
    reasons = "; ".join(offer.problems) or f"{pinned.label} is not enabled"
    return f"The chosen vendor cannot take this request: {reasons}."


def _hold_and_queue(generation, offer, member, inputs) -> None:
    """Save a new job with its inputs, its secret, its hold and its first event; queue
    it once all of it commits."""
    request = generation.video_request
    # The hold's key and the callback secret come from the job's uuid, not its row: the
    # hold is placed first so the row is written once, with both (no UPDATE after it).
    generation.hold = ledger.hold(
        generation.team,
        member,
        generation.project,
        offer.hold_micros,
        memo=f"Clip: {request.prompt[:80]}",
        key=f"generation:{generation.uuid}",
        reference=f"generation:{generation.uuid}",
        # Whatever it raises leaves submit's atomic block, which rolls back to its own
        # savepoint or with its transaction: one of the hold's own would be spent for nothing.
        savepoint=False,
    )
    generation.callback_token_hash = hash_token(callback_token(generation))
    _insert(generation)
    asset_inputs.record(generation, inputs)
    generation.log(
        "submitted",
        f"Submitted {generation.family_label}, {request.duration} s at "
        f"{request.resolution}. Expected {ledger.dollars(offer.first.micros)} via "
        f"{offer.first.account.label}; {ledger.dollars(offer.hold_micros)} held.",
    )
    queued.send(Generation, pk=generation.pk)


def _insert(generation) -> None:
    """generation.save() for a new job, with its INSERT of some forty columns built once
    per process (as the ledger writes a hold) instead of compiled by the ORM per submit."""
    with connection.cursor() as cursor:
        generation.pk = rows.insert(cursor, generation, returning=True)
    generation._state.adding, generation._state.db = False, connection.alias


@guarded
def run_submit(pk) -> None:
    """Send one queued generation to the first vendor account that takes it."""
    claimed = claim(
        pk, [State.QUEUED], state=State.SUBMITTING, submit_attempts=F("submit_attempts") + 1
    )
    if not claimed:
        return
    generation = Generation.objects.select_related("team", "pinned_account", "hold").get(pk=pk)
    generation.claimed_at = claimed  # when the row became ours, for the record (see claim)
    if generation.expires_at <= timezone.now():
        finish_unsuccessfully(
            generation,
            [State.SUBMITTING],
            State.EXPIRED,
            "No vendor took the job before its deadline.",
        )
        return
    gone = asset_inputs.missing_roles(generation)
    if gone:
        # Sending the rest would make (and charge for) another clip than the one asked for.
        finish_unsuccessfully(
            generation,
            [State.SUBMITTING],
            State.FAILED,
            f"Its {', '.join(gone)} {'was' if len(gone) == 1 else 'were'} deleted from the "
            "asset library before the job was sent; nothing was sent and the hold was returned.",
        )
        return
    # The inputs' signed addresses are made now, valid until past the job's deadline.
    request = asset_inputs.request_for_sending(generation)
    offer = routing.route(generation.team, request, generation.pinned_account)
    busy = []
    for route in offer.routes:
        if route.micros > generation.hold.amount:
            continue  # prices changed since the hold; never charge beyond it
        outcome = _try_account(generation, request, route)
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


def _try_account(generation, request, route) -> str:
    """Offer the job to one account: "sent", "busy" (try later) or "refused" (try the next).

    A job that may have reached the vendor is never offered to another: "sent" covers
    acceptance, outright failure and an unknown outcome alike.
    """
    account = route.account
    step = by_worker(generation.claimed_at)
    if not _reserve(generation, route):
        return "busy"
    url = callback_url(generation)
    try:
        adapter = account.adapter(client=routing.shared_client())
    except Exception as exc:  # an undecryptable key: nothing was sent
        log.exception("Vendor account %s cannot be used", account.pk)
        _account_unusable(generation, account, f"its saved API key cannot be read ({exc!r})")
        return "refused"
    # Known before the call: nothing after an accepted create may lose its task id.
    called_back = adapter.accepts_callback_url(url)
    try:
        created = adapter.create(request, url)
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
                f"({describe_error(exc)}). It may have been created and charged.",
            ),
        )
    account.note_success()
    _accepted(generation, account, route, created, called_back, step)
    return "sent"


def _create_refused(generation, account, exc: VendorError) -> str:
    step = by_worker(generation.claimed_at)
    if exc.kind == ErrorKind.UNKNOWN_OUTCOME:
        with transaction.atomic():
            if set_state(
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
    note_vendor_error(account, exc)
    if exc.kind == ErrorKind.BAD_REQUEST:
        finish_unsuccessfully(generation, [State.SUBMITTING], State.FAILED, exc.message, exc)
        return "sent"
    generation.log(
        "vendor_refused",
        exc.message,
        vendor=account.label,
        account_uuid=account.uuid.hex,
        error_kind=str(exc.kind),
        **step,
    )
    Generation.objects.filter(pk=generation.pk).update(vendor_account=None, price_micros=None)
    return "busy" if exc.retryable_elsewhere else "refused"


def _account_unusable(generation, account, reason: str) -> None:
    """Nothing reached the vendor: cool the account down and say so, then try the next."""
    message = f"{account.label} could not be used: {reason}. An operator must fix this account."
    account.note_error(message, settings.VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS)
    Generation.objects.filter(pk=generation.pk).update(vendor_account=None, price_micros=None)
    generation.log(
        "vendor_refused",
        message,
        vendor=account.label,
        account_uuid=account.uuid.hex,
        error_kind="account",
    )


def _accepted(generation, account, route, created, called_back, step) -> None:
    """Record the vendor's task. If that cannot be saved, say which task it was."""
    poll_in = seconds_to_next_check(0, called_back)
    now = timezone.now()
    try:
        # The event is written in the transaction that lets go of the row, so the story
        # never shows this step ending after the next worker's claim.
        with transaction.atomic():
            moved = set_state(
                generation,
                [State.SUBMITTING],
                State.RUNNING,
                vendor_task_id=created.task_id,
                charge_credits=created.charge_credits,
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
                log_ignored(generation, created.ignored)
    except Exception as exc:
        # Never resent: the vendor has the task. Keep its id where an operator finds it.
        log.exception("Saving task %s of generation %s failed", created.task_id, generation.pk)
        message = (
            f"{account.label} accepted the job as task {created.task_id}, but saving that "
            f"failed ({describe_error(exc)}). Attach task {created.task_id} to follow it."
        )
        if Generation.objects.filter(pk=generation.pk, state=State.SUBMITTING).update(
            state=State.NEEDS_ATTENTION,
            claimed_at=None,
            error_kind="unknown_outcome",
            error_message=message,
        ):
            announce(generation, State.NEEDS_ATTENTION)
        generation.log("needs_attention", message, vendor_task_id=created.task_id)


def _requeue(generation) -> None:
    wait = settings.GENERATION_REQUEUE_SECONDS
    with transaction.atomic():
        if set_state(
            generation,
            [State.SUBMITTING],
            State.QUEUED,
            next_check_at=timezone.now() + timedelta(seconds=wait),
            vendor_account=None,
            price_micros=None,
        ):
            generation.log(
                "waiting",
                "Every vendor that can take this job is busy or cooling down; trying again "
                "shortly.",
                **by_worker(generation.claimed_at),
            )


def _reserve(generation, route) -> bool:
    """Pick the route's account for this generation if it is usable and under its
    concurrency cap, at the route's price (what the job costs if this account runs it)."""
    account = route.account
    with transaction.atomic():
        locked = VendorAccount.objects.select_for_update().filter(pk=account.pk).usable().first()
        if locked is None or not routing.has_room(locked):
            return False
        # Committed before the HTTP call: a worker that dies during the call leaves a
        # SUBMITTING row with an account, which is then never resent blindly.
        Generation.objects.filter(pk=generation.pk).update(
            vendor_account=locked, price_micros=route.micros
        )
        generation.vendor_account = locked
        generation.price_micros = route.micros
    return True
