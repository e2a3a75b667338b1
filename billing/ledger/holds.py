"""Money set aside for a job, then captured at what the vendor charged or released.

A hold is the one write on every job, so it takes a short road, in the lock order
of the package docstring. It writes the hold row first, skipped when its key is
taken (the unique constraint is the key lookup); then guarded UPDATEs count it in
the member's and the project's usage rows (their WHERE checks the caps) and take
it from AVAILABLE (the WHERE checks the balance; this takes the team's lock, as
late as it can, so the team's other writers wait only for this statement, the
two after it and the commit). When a guard stops it, everything is rolled back and the hold goes again
the long way, locking the same rows in the same order and asking `check_limits`
why. Six statements for the usual hold, none of them summing history; on PostgreSQL
those six are one call of a function written the same way (migration 0011), which
undoes its own writes when a guard stops it, so the long way needs no rollback first.
"""

import uuid
from functools import cache

from django.db import connection, transaction
from django.utils import timezone

from billing.ledger import usage
from billing.ledger.accounts import (
    check_amount,
    check_key,
    clip,
    move_money,
    same_call,
    set_aside,
    system_account,
    team_accounts,
)
from billing.ledger.errors import LedgerError
from billing.ledger.limits import check_limits
from billing.ledger.money import dollars
from billing.models import AccountKind, Hold, HoldStatus, Transfer, TransferKind
from seedance_site import rows

# The unique constraint that makes a hold's key idempotent (one_hold_per_team_and_key).
KEY_COLUMNS = ("team_id", "idempotency_key")


def _hold_arguments(hold: Hold) -> dict:
    return {
        "member": hold.member_id,
        "project": hold.project_uuid,
        "amount": hold.amount,
        "memo": hold.memo,
        "reference": hold.reference,
    }


def hold(team, member, project, amount, memo, key, reference="", *, savepoint=True) -> Hold:
    """Set `amount` aside from the team's available balance for a job.

    `member` is the User spending; `project` is None or any object with `.uuid`,
    `.name` and `.spend_cap` (micro-dollars, None for no cap). Checked together
    with the hold, each under the lock of the row that counts it (the team's
    AVAILABLE account, the member's and the project's usage rows), so two holds
    never both pass a limit only one fits: the team's available balance, the
    member's `Membership.monthly_cap` (spent this calendar month in UTC plus all
    of the member's pending holds) and the project's lifetime cap (spent plus
    pending holds). A refusal raises `Refused` saying which limit, what was
    needed and what is left.

    Idempotent under `key` (unique per team): the same call again returns the
    first Hold whatever became of it; the key with other arguments (member,
    project, amount, memo or reference) raises `KeyReused`.

    `savepoint=False` when any exception from here leaves the caller's transaction,
    as `transaction.atomic` takes it (PostgreSQL then spends no statements on one).
    """
    check_amount(amount)
    check_key(key)
    now = timezone.now()
    placed = new_hold(team, member, project, amount, memo, key, reference, now)
    if connection.vendor == "postgresql":
        # One call places the usual hold and writes nothing when a guard stops it, so
        # the long way may follow in the same transaction (and no savepoint is needed
        # when the caller's transaction is left by any exception anyway).
        with transaction.atomic(savepoint=savepoint):
            if (done := _place_in_one(placed, project, now)) is not None:
                return done
            return _place(placed, project, now, explain=True)
    with transaction.atomic():
        if (done := _place(placed, project, now)) is not None:
            return done
        # A balance, a cap or a missing usage row stopped it: undo, then again, asking why.
        transaction.set_rollback(True)
    with transaction.atomic():
        return _place(placed, project, now, explain=True)


def new_hold(team, member, project, amount, memo, key, reference, now) -> Hold:
    """The unsaved Hold that `hold` places (its arguments as they are stored)."""
    return Hold(
        team=team,
        member=member,
        project_uuid=uuid.UUID(str(project.uuid)) if project is not None else None,
        project_name=clip(project.name, 200) if project is not None else "",
        amount=amount,
        memo=clip(memo, 500),
        reference=clip(reference, 200),
        idempotency_key=key,
        created=now,
    )


# billing_place_hold (migration 0011): _place's usual road in one statement.
PLACE_HOLD = (
    "SELECT billing_place_hold(%s::uuid, %s::bigint, %s::integer, %s::uuid, %s::varchar, "
    "%s::bigint, %s::varchar, %s::varchar, %s::varchar, %s::timestamptz, %s::date, "
    "%s::bigint, %s::uuid)"
)


def _cap_of(project) -> int | None:
    return getattr(project, "spend_cap", None) if project is not None else None


def _place_in_one(placed: Hold, project, now) -> Hold | None:
    """_place without `explain`, on PostgreSQL: the new Hold, or the first one under its
    key; None, with nothing written, when a guard stops it."""
    cap = _cap_of(project)
    arguments = [
        placed.uuid,
        placed.team_id,
        placed.member_id,
        placed.project_uuid,
        placed.project_name,
        placed.amount,
        placed.memo,
        placed.reference,
        placed.idempotency_key,
        now,
        usage.month_of(now),
        cap,
        uuid.uuid4(),
    ]
    with connection.cursor() as cursor:
        cursor.execute(PLACE_HOLD, arguments)
        (pk,) = cursor.fetchone()
    if pk == 0:
        return _first_under_key(placed)
    if pk < 0:
        return None
    placed.pk = pk
    placed._state.adding, placed._state.db = False, connection.alias
    return placed


def _place(placed: Hold, project, now, *, explain=False) -> Hold | None:
    """Write the hold and its transfer and move the balances and usage, in the caller's atomic().

    Returns the new Hold, or the first one under its key; None when a guard stops
    it. With `explain`, the rows the guards would lock are locked first (created
    if new) and `check_limits` raises `Refused` saying why before anything moves.
    """
    cap = _cap_of(project)
    month = usage.month_of(now)
    with connection.cursor() as cursor:
        pk = rows.insert(cursor, placed, returning=True, unless_conflict_on=KEY_COLUMNS)
        if pk is None:
            return _first_under_key(placed)
        if explain:
            usage.lock_rows(placed, month)
            available, _ = team_accounts(placed.team_id, lock=True)
            balance = available.balance
            check_limits(placed.team, placed.member, project, placed.amount, balance, month)
        reserved = usage.reserve(cursor, placed, cap, month)
        accounts = set_aside(cursor, placed.team_id, placed.amount) if reserved else None
        if accounts is None:
            if explain:  # Unreachable: checked with every row locked.
                raise LedgerError("The balances changed while the hold was being placed.")
            return None
        transfer = Transfer(
            debit_id=accounts[0],
            credit_id=accounts[1],
            amount=placed.amount,
            kind=TransferKind.HOLD,
            memo=placed.memo,
            created_by_id=placed.member_id,
            hold_id=pk,
            created=now,
            **_copied_fields(placed),
        )
        rows.insert(cursor, transfer)
    placed.pk = pk
    placed._state.adding, placed._state.db = False, connection.alias
    return placed


def _first_under_key(placed: Hold) -> Hold:
    """The hold already under `placed`'s key, if it was asked for with the same arguments."""
    first = Hold.objects.filter(
        team_id=placed.team_id, idempotency_key=placed.idempotency_key
    ).first()
    if first is None:  # Unreachable: holds are never deleted.
        raise LedgerError("The hold under this key disappeared.")
    return same_call(
        first, _hold_arguments(first), _hold_arguments(placed), "hold", placed.idempotency_key
    )


def _copied_fields(h: Hold) -> dict:
    return {
        "team_id": h.team_id,
        "member_id": h.member_id,
        "project_uuid": h.project_uuid,
        "project_name": h.project_name,
        "reference": h.reference,
    }


def _hold_fields(h: Hold) -> dict:
    return _copied_fields(h) | {"hold": h}


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
        locked = _locked(hold.pk)
        if locked.status == HoldStatus.CAPTURED:
            return locked
        if locked.status == HoldStatus.RELEASED:
            raise LedgerError("This hold was released, so it cannot be captured.")
        if actual and not vendor:
            raise ValueError("capture() needs the vendor key that charged for the job.")

        from_hold = min(actual, locked.amount)
        now = timezone.now()
        usage.settle(locked, from_hold, now)
        available, holds = team_accounts(locked.team_id, lock=True)
        drawn = min(actual - from_hold, available.balance)
        if drawn:
            usage.settle(locked, drawn, now, pending=False)
        _resolve(
            locked,
            status=HoldStatus.CAPTURED,
            captured_amount=from_hold + drawn,
            shortfall=actual - from_hold - drawn,
            resolved=now,
        )
        if from_hold:
            spend = system_account(AccountKind.VENDOR_SPEND, vendor, vendor_label)
            _charge(locked, holds, available, spend, actual, vendor_label, memo)
        if rest := locked.amount - from_hold:
            move_money(
                holds,
                available,
                rest,
                TransferKind.RETURN,
                **_hold_fields(locked),
                created=now,
                memo=f"Unused {dollars(rest)} of the hold returned",
            )
        return locked


def _locked(pk) -> Hold:
    """The hold, locked to the end of the transaction."""
    found = rows.select(Hold, "id = %s", [pk], lock=rows.UPDATE)
    if not found:
        raise Hold.DoesNotExist(f"No hold #{pk}.")
    return found[0]


@cache
def _resolving(names: tuple[str, ...]) -> tuple[str, list]:
    fields = [Hold._meta.get_field(name) for name in names]
    columns = ", ".join(f"{field.column} = %s" for field in fields)
    return f"UPDATE billing_hold SET {columns} WHERE id = %s AND status = %s", fields  # noqa: S608


def _resolve(locked: Hold, **changes) -> None:
    """Move a locked, pending hold to its resolution, once; `locked` then shows it."""
    sql, fields = _resolving(tuple(changes))
    values = [field.get_db_prep_save(changes[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, locked.pk, HoldStatus.PENDING.value])
        if cursor.rowcount != 1:  # Unreachable under the lock; never move money twice.
            raise LedgerError("This hold changed while it was being resolved.")
    for name, value in changes.items():
        setattr(locked, name, value)


def _charge(locked: Hold, holds, available, spend, actual, vendor_label, memo) -> None:
    """The capture's transfers to the vendor: from the hold, then any overage drawn."""
    from_hold = min(actual, locked.amount)
    drawn = locked.captured_amount - from_hold
    common = _hold_fields(locked) | {
        "created": locked.resolved,
        "vendor": spend.vendor,
        "vendor_label": clip(vendor_label, 200),
    }
    note = memo or locked.memo
    if locked.shortfall:
        note = (
            f"{note} — shortfall: the vendor charged {dollars(actual)} against a "
            f"{dollars(locked.amount)} hold and the team had {dollars(drawn)} "
            f"available for the rest; {dollars(locked.shortfall)} is unpaid."
        ).lstrip(" —")
    move_money(holds, spend, from_hold, TransferKind.CAPTURE, **common, memo=clip(note, 500))
    if drawn:
        move_money(
            available,
            spend,
            drawn,
            TransferKind.OVERAGE,
            **common,
            memo=f"{dollars(drawn)} charged beyond the {dollars(locked.amount)} hold",
        )


def release(hold, reason) -> Hold:
    """Return all of a pending hold to AVAILABLE (a failed, cancelled or expired job).

    Idempotent: releasing a released hold returns it; releasing a captured hold
    raises LedgerError.
    """
    with transaction.atomic():
        locked = _locked(hold.pk)
        if locked.status == HoldStatus.RELEASED:
            return locked
        if locked.status == HoldStatus.CAPTURED:
            raise LedgerError("This hold was already captured, so it cannot be released.")
        now = timezone.now()
        usage.settle(locked, 0, now)
        available, holds = team_accounts(locked.team_id, lock=True)
        _resolve(locked, status=HoldStatus.RELEASED, resolved=now)
        move_money(
            holds,
            available,
            locked.amount,
            TransferKind.RETURN,
            **_hold_fields(locked),
            created=now,
            memo=clip(reason, 500) or "Hold released",
        )
        return locked
