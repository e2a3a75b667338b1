"""Operators' credits and corrections, each audited in the transaction that moves the money."""

from django.db import IntegrityError, transaction

from billing import audit
from billing.ledger.accounts import (
    check_amount,
    check_key,
    clip,
    move_money,
    same_call,
    system_account,
    team_accounts,
)
from billing.ledger.errors import Refused
from billing.ledger.money import dollars
from billing.models import AccountKind, AuditAction, Transfer, TransferKind


def _keyed_transfer(team, kind, key, arguments, describe, perform) -> Transfer:
    def repeat():
        first = (
            Transfer.objects.select_related("credit")
            .filter(team=team, kind=kind, idempotency_key=key)
            .first()
        )
        if first is not None:
            return same_call(first, describe(first), arguments, kind.label.lower(), key)
        return None

    try:
        with transaction.atomic():
            available, _ = team_accounts(team.pk, lock=True)
            if (first := repeat()) is not None:
                return first
            return perform(available)
    except IntegrityError:
        if (first := repeat()) is not None:
            return first
        raise


def grant(team, amount, by, memo, key) -> Transfer:
    """An operator adds credits to the team's available balance, from GRANTS.

    Idempotent under `key` (unique per team among grants); the key again with
    another amount, memo or operator raises KeyReused. The audit entry is written
    with the transfer, so a repeated call records nothing twice.
    """
    check_amount(amount)
    check_key(key)
    memo = clip(memo, 500)
    arguments = {"amount": amount, "memo": memo, "by": by.pk if by else None}

    def describe(t):
        return {"amount": t.amount, "memo": t.memo, "by": t.created_by_id}

    def perform(available):
        transfer = move_money(
            system_account(AccountKind.GRANTS),
            available,
            amount,
            TransferKind.GRANT,
            team=team,
            created_by=by,
            memo=memo,
            idempotency_key=key,
        )
        audit.record(
            by,
            AuditAction.CREDITS_GRANTED,
            team=team,
            target=team.name,
            changes={"amount": [None, dollars(amount)], "memo": [None, memo]},
        )
        return transfer

    return _keyed_transfer(team, TransferKind.GRANT, key, arguments, describe, perform)


def adjust(team, amount, by, reason, key) -> Transfer:
    """A correction: a positive amount credits the team, a negative one debits it.

    A debit is refused (`Refused`) if it would take the available balance below
    zero. Idempotent under `key` (unique per team among adjustments), audited as
    grant() is.
    """
    check_amount(amount, allow_negative=True)
    check_key(key)
    reason = clip(reason, 500).strip()
    if not reason:
        raise ValueError("An adjustment needs a reason.")
    arguments = {"amount": amount, "reason": reason, "by": by.pk if by else None}

    def describe(t):
        signed = t.amount if t.credit.kind == AccountKind.AVAILABLE else -t.amount
        return {"amount": signed, "reason": t.memo, "by": t.created_by_id}

    def perform(available):
        source = system_account(AccountKind.ADJUSTMENTS)
        debit, credit = (source, available) if amount > 0 else (available, source)
        if amount < 0 and -amount > available.balance:
            raise Refused(
                f"This takes away {dollars(-amount)}; the team has "
                f"{dollars(available.balance)} available.",
                limit="team",
                needed=-amount,
                left=available.balance,
            )
        transfer = move_money(
            debit,
            credit,
            abs(amount),
            TransferKind.ADJUSTMENT,
            team=team,
            created_by=by,
            memo=reason,
            idempotency_key=key,
        )
        signed = dollars(amount) if amount < 0 else "+" + dollars(amount)
        audit.record(
            by,
            AuditAction.BALANCE_ADJUSTED,
            team=team,
            target=team.name,
            changes={"amount": [None, signed], "reason": [None, reason]},
        )
        return transfer

    return _keyed_transfer(team, TransferKind.ADJUSTMENT, key, arguments, describe, perform)
