"""Money set aside for a job, then captured at what the vendor charged or released."""

import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.ledger.accounts import (
    check_amount,
    check_key,
    clip,
    move_money,
    same_call,
    system_account,
    team_accounts,
)
from billing.ledger.errors import LedgerError
from billing.ledger.limits import check_limits
from billing.ledger.money import dollars
from billing.models import Account, AccountKind, Hold, HoldStatus, TransferKind


def _hold_arguments(hold: Hold) -> dict:
    return {
        "member": hold.member_id,
        "project": hold.project_uuid,
        "amount": hold.amount,
        "memo": hold.memo,
        "reference": hold.reference,
    }


# Long with its docstring, which is the contract callers rely on; the body is one
# transaction (lock, repeat check, limits, hold row, transfer) that reads best unbroken.
def hold(team, member, project, amount, memo, key, reference="") -> Hold:
    """Set `amount` aside from the team's available balance for a job.

    `member` is the User spending; `project` is None or any object with `.uuid`,
    `.name` and `.spend_cap` (micro-dollars, None for no cap). Checked together
    with the hold, under the team's lock: the team's available balance, the
    member's `Membership.monthly_cap` (spent this calendar month in UTC plus all
    of the member's pending holds) and the project's lifetime cap (spent plus
    pending holds). A refusal raises `Refused` saying which limit, what was
    needed and what is left.

    Idempotent under `key` (unique per team): the same call again returns the
    first Hold whatever became of it; the key with other arguments (member,
    project, amount, memo or reference) raises `KeyReused`.
    """
    check_amount(amount)
    check_key(key)
    memo, reference = clip(memo, 500), clip(reference, 200)
    arguments = {
        "member": member.pk if member is not None else None,
        "project": uuid.UUID(str(project.uuid)) if project is not None else None,
        "amount": amount,
        "memo": memo,
        "reference": reference,
    }

    def repeat():
        first = Hold.objects.filter(team=team, idempotency_key=key).first()
        if first is not None:
            return same_call(first, _hold_arguments(first), arguments, "hold", key)
        return None

    try:
        with transaction.atomic():
            available, holds = team_accounts(team.pk, lock=True)
            if (first := repeat()) is not None:
                return first
            check_limits(team, member, project, amount, available.balance)
            now = timezone.now()
            placed = Hold.objects.create(
                team=team,
                member=member,
                project_uuid=arguments["project"],
                project_name=clip(project.name, 200) if project is not None else "",
                amount=amount,
                memo=memo,
                reference=reference,
                idempotency_key=key,
                created=now,
            )
            move_money(
                available,
                holds,
                amount,
                TransferKind.HOLD,
                **_hold_fields(placed),
                memo=memo,
                created_by=member,
                created=now,
            )
            return placed
    except IntegrityError:
        # Another process won the race for this key; its hold is the answer.
        if (first := repeat()) is not None:
            return first
        raise


def _hold_fields(h: Hold) -> dict:
    return {
        "team_id": h.team_id,
        "member_id": h.member_id,
        "project_uuid": h.project_uuid,
        "project_name": h.project_name,
        "reference": h.reference,
        "hold": h,
    }


def _locked_hold(hold) -> tuple[Account, Account, Hold]:
    available, holds = team_accounts(hold.team_id, lock=True)
    return available, holds, Hold.objects.select_for_update().get(pk=hold.pk)


# Over 50 lines on purpose: one transaction read top to bottom (lock, claim, then up to
# three transfers), so the order of the locks and the moves stays in view.
def capture(hold, actual, vendor, vendor_label, memo="") -> Hold:
    """Charge `actual` micro-dollars of a pending hold to the vendor's spend account.

    Less than the hold: the rest returns to AVAILABLE. More than the hold: the
    extra is drawn from AVAILABLE in the same transaction, as far as the balance
    allows. The vendor has already charged us, so a capture never fails for want
    of balance (and caps, which guard new spending, are not checked again): what
    cannot be drawn is recorded as `Hold.shortfall` and spelled out in the memo
    of the capture transfer, for an operator to settle with `adjust`. The Hold's
    `captured_amount` is what the team actually paid.

    Idempotent: capturing a captured hold returns it unchanged (whatever `actual`
    is this time); capturing a released hold raises LedgerError.
    """
    check_amount(actual, allow_zero=True)
    with transaction.atomic():
        available, holds, locked = _locked_hold(hold)
        if locked.status == HoldStatus.CAPTURED:
            return locked
        if locked.status == HoldStatus.RELEASED:
            raise LedgerError("This hold was released, so it cannot be captured.")
        if actual and not vendor:
            raise ValueError("capture() needs the vendor key that charged for the job.")

        from_hold = min(actual, locked.amount)
        drawn = min(actual - from_hold, available.balance)
        shortfall = actual - from_hold - drawn
        now = timezone.now()
        claimed = Hold.objects.filter(pk=locked.pk, status=HoldStatus.PENDING).update(
            status=HoldStatus.CAPTURED,
            captured_amount=from_hold + drawn,
            shortfall=shortfall,
            resolved=now,
        )
        if claimed != 1:  # Unreachable under the lock; never move money twice.
            raise LedgerError("This hold changed while it was being captured.")

        common = _hold_fields(locked) | {"created": now}
        if from_hold:
            spend = system_account(AccountKind.VENDOR_SPEND, vendor, vendor_label)
            note = memo or locked.memo
            if shortfall:
                note = (
                    f"{note} — shortfall: the vendor charged {dollars(actual)} against a "
                    f"{dollars(locked.amount)} hold and the team had {dollars(drawn)} "
                    f"available for the rest; {dollars(shortfall)} is unpaid."
                ).lstrip(" —")
            vendor_fields = {"vendor": vendor, "vendor_label": clip(vendor_label, 200)}
            move_money(
                holds,
                spend,
                from_hold,
                TransferKind.CAPTURE,
                **common,
                **vendor_fields,
                memo=clip(note, 500),
            )
            if drawn:
                move_money(
                    available,
                    spend,
                    drawn,
                    TransferKind.OVERAGE,
                    **common,
                    **vendor_fields,
                    memo=f"{dollars(drawn)} charged beyond the {dollars(locked.amount)} hold",
                )
        if rest := locked.amount - from_hold:
            move_money(
                holds,
                available,
                rest,
                TransferKind.RETURN,
                **common,
                memo=f"Unused {dollars(rest)} of the hold returned",
            )
        locked.refresh_from_db()
        return locked


def release(hold, reason) -> Hold:
    """Return all of a pending hold to AVAILABLE (a failed, cancelled or expired job).

    Idempotent: releasing a released hold returns it; releasing a captured hold
    raises LedgerError.
    """
    with transaction.atomic():
        available, holds, locked = _locked_hold(hold)
        if locked.status == HoldStatus.RELEASED:
            return locked
        if locked.status == HoldStatus.CAPTURED:
            raise LedgerError("This hold was already captured, so it cannot be released.")
        now = timezone.now()
        claimed = Hold.objects.filter(pk=locked.pk, status=HoldStatus.PENDING).update(
            status=HoldStatus.RELEASED, resolved=now
        )
        if claimed != 1:  # Unreachable under the lock; never move money twice.
            raise LedgerError("This hold changed while it was being released.")
        move_money(
            holds,
            available,
            locked.amount,
            TransferKind.RETURN,
            **_hold_fields(locked),
            created=now,
            memo=clip(reason, 500) or "Hold released",
        )
        locked.refresh_from_db()
        return locked
