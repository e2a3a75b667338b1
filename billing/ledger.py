"""The credit ledger: the only code that moves money.

Other apps call five operations and read two:

    hold(team, member, project, amount, memo, key, reference="") -> Hold
    capture(hold, actual, vendor, vendor_label, memo="") -> Hold
    release(hold, reason) -> Hold
    grant(team, amount, by, memo, key) -> Transfer
    adjust(team, amount, by, reason, key) -> Transfer
    balances(team) -> Balances
    problems() -> list[str]          (what `manage.py reconcile_ledger` reports)

Amounts are integers in micro-dollars ($1 = 1_000_000). Every write follows
one recipe, like openedx-ledger but with real locks: in one `atomic()`, lock
the team's two account rows (AVAILABLE, then HOLDS: a fixed order, so two
writers never wait on each other in a cycle), look up the idempotency key,
check the limits, then move balances with conditional `F()` updates and write
the transfer rows. On SQLite `select_for_update()` is a no-op, but settings
open every transaction IMMEDIATE, so writers are serialized anyway. The
database keeps the last guards: balances that must not go negative have a
CheckConstraint, and keys are unique per team and operation.

System accounts (GRANTS, ADJUSTMENTS, VENDOR_SPEND) are shared by all teams,
so they are never locked up front: each operation touches at most one of them,
always after the team's rows, and the UPDATE itself holds its row lock to the
end of the transaction. Call one ledger operation per transaction when several
teams are involved, or you bring back the possibility of a lock cycle.
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Count, F, Max, Q, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from billing import audit
from billing.models import (
    SPEND_KINDS,
    TEAM_ACCOUNT_KINDS,
    Account,
    AccountKind,
    AuditAction,
    Hold,
    HoldStatus,
    Membership,
    Role,
    Team,
    Transfer,
    TransferKind,
)

MICRO = 1_000_000
# Far beyond any real balance, well inside a signed 64-bit integer.
MAX_AMOUNT = 10**9 * MICRO


class LedgerError(Exception):
    """The ledger cannot do what was asked; the message says why, for people."""


class Refused(LedgerError):
    """A limit stops this spend. `limit` is "team", "member", "project" or "role"."""

    def __init__(self, message, *, limit, needed=None, left=None):
        super().__init__(message)
        self.limit = limit
        self.needed = needed
        self.left = left


class KeyReused(LedgerError):
    """An idempotency key came back with different arguments: a caller's bug."""


@dataclass(frozen=True)
class Balances:
    available: int
    on_hold: int
    spent_this_month: int


# --- Money as text -------------------------------------------------------------


def dollars(micro: int) -> str:
    """1_200_000 -> "$1.20"; sub-cent amounts keep their digits: 1_234_500 -> "$1.2345"."""
    sign = "-" if micro < 0 else ""
    whole, fraction = divmod(abs(int(micro)), MICRO)
    decimals = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}${whole:,}.{decimals}"


def parse_dollars(text) -> int:
    """ "12.50", "$1,000" or "0.0045" -> micro-dollars; ValueError with a reason otherwise."""
    cleaned = str(text).strip().replace(",", "").replace(" ", "").replace("$", "", 1)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter an amount in dollars, like 12.50.") from None
    if not value.is_finite():
        raise ValueError("Enter an amount in dollars, like 12.50.")
    if abs(value) > MAX_AMOUNT // MICRO:
        raise ValueError(f"That is more than {dollars(MAX_AMOUNT)}.")
    micro = value * MICRO
    if micro != micro.to_integral_value():
        raise ValueError("Use at most six decimal places (a millionth of a dollar).")
    return int(micro)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """The first instant of the current calendar month, in UTC."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# --- Accounts and moves --------------------------------------------------------


def _check_amount(amount, *, allow_zero=False, allow_negative=False) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Amounts are whole micro-dollars (int), not {type(amount).__name__}.")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"{amount} micro-dollars is beyond what the ledger accepts.")
    if amount < 0 and not allow_negative:
        raise ValueError("Amounts must not be negative.")
    if amount == 0 and not allow_zero:
        raise ValueError("Amounts must not be zero.")


def _check_key(key) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError("An idempotency key (a non-empty string) is required.")
    if len(key) > 200:
        raise ValueError("Idempotency keys are at most 200 characters.")
    return key


def _clip(text, length) -> str:
    return (text or "")[:length]


def _team_accounts(team_id, *, lock: bool) -> tuple[Account, Account]:
    """The team's AVAILABLE and HOLDS accounts, created on first use, locked in pk order."""
    query = Account.objects.filter(team_id=team_id, kind__in=TEAM_ACCOUNT_KINDS).order_by("pk")
    if lock:
        query = query.select_for_update()
    accounts = {a.kind: a for a in query}
    if len(accounts) < len(TEAM_ACCOUNT_KINDS):
        # AVAILABLE first, so it gets the lower pk and the lock order matches.
        for kind in TEAM_ACCOUNT_KINDS:
            Account.objects.get_or_create(team_id=team_id, kind=kind)
        accounts = {a.kind: a for a in query.all()}
    return accounts[AccountKind.AVAILABLE], accounts[AccountKind.HOLDS]


def _system_account(kind, vendor="", vendor_label="") -> Account:
    account, created = Account.objects.get_or_create(
        team=None,
        kind=kind,
        vendor=vendor,
        defaults={
            "vendor_label": _clip(vendor_label, 200),
            "may_go_negative": kind in (AccountKind.GRANTS, AccountKind.ADJUSTMENTS),
        },
    )
    if vendor_label and not created and account.vendor_label != vendor_label:
        Account.objects.filter(pk=account.pk).update(vendor_label=_clip(vendor_label, 200))
    return account


def _move(debit: Account, credit: Account, amount: int, kind, **fields) -> Transfer:
    """Write one transfer and move both cached balances, in the caller's transaction."""
    debited = Account.objects.filter(pk=debit.pk)
    if not debit.may_go_negative:
        # Callers have checked under the lock already; this is the guard in SQL.
        debited = debited.filter(balance__gte=amount)
    if debited.update(balance=F("balance") - amount) != 1:
        raise LedgerError(f"{debit} does not hold {dollars(amount)}.")
    Account.objects.filter(pk=credit.pk).update(balance=F("balance") + amount)
    debit.balance -= amount
    credit.balance += amount
    return Transfer.objects.create(debit=debit, credit=credit, amount=amount, kind=kind, **fields)


def _same_call(existing, first: dict, now: dict, what: str, key: str):
    if first != now:
        changed = ", ".join(sorted(k for k in now if first.get(k) != now[k]))
        raise KeyReused(
            f"The key “{key}” was already used for another {what} (different {changed})."
        )
    return existing


# --- Holds ---------------------------------------------------------------------


def _hold_arguments(hold: Hold) -> dict:
    return {
        "member": hold.member_id,
        "project": hold.project_uuid,
        "amount": hold.amount,
        "memo": hold.memo,
        "reference": hold.reference,
    }


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
    _check_amount(amount)
    _check_key(key)
    memo, reference = _clip(memo, 500), _clip(reference, 200)
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
            return _same_call(first, _hold_arguments(first), arguments, "hold", key)
        return None

    try:
        with transaction.atomic():
            available, holds = _team_accounts(team.pk, lock=True)
            if (first := repeat()) is not None:
                return first
            _check_limits(team, member, project, amount, available.balance)
            now = timezone.now()
            placed = Hold.objects.create(
                team=team,
                member=member,
                project_uuid=arguments["project"],
                project_name=_clip(project.name, 200) if project is not None else "",
                amount=amount,
                memo=memo,
                reference=reference,
                idempotency_key=key,
                created=now,
            )
            _move(
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


def refusal(team, member, project, amount, available=None) -> Refused | None:
    """Why a hold of `amount` would be refused now, or None.

    For quotes: the same checks and words as `hold`, with nothing locked or moved.
    """
    if available is None:
        available = balances(team).available
    try:
        _check_limits(team, member, project, amount, available)
    except Refused as refused:
        return refused
    return None


def _check_limits(team, member, project, amount, available) -> None:
    if amount > available:
        raise Refused(
            f"This needs {dollars(amount)}; the team has {dollars(available)} available.",
            limit="team",
            needed=amount,
            left=available,
        )
    if member is not None:
        # One query: the membership with what already counts against its cap.
        row = (
            Membership.objects.filter(team=team, user=member)
            .order_by()
            .annotate(**_member_usage(team, member))
            .values_list("role", "monthly_cap", "spent", "pending")
            .first()
        )
        if row is None:
            raise Refused(f"Only members of {team.name} can spend its credits.", limit="role")
        role, cap, spent, pending = row
        if role == Role.VIEWER:
            raise Refused("Viewers cannot spend the team's credits.", limit="role")
        if cap is not None:
            left = max(cap - spent - pending, 0)
            if amount > left:
                raise Refused(
                    f"This needs {dollars(amount)}; your monthly cap leaves "
                    f"{dollars(left)} of {dollars(cap)}.",
                    limit="member",
                    needed=amount,
                    left=left,
                )
    cap = getattr(project, "spend_cap", None) if project is not None else None
    if cap is not None:
        left = max(cap - project_usage(team, project.uuid), 0)
        if amount > left:
            raise Refused(
                f"This needs {dollars(amount)}; the project “{project.name}” has "
                f"{dollars(left)} left of its {dollars(cap)} cap.",
                limit="project",
                needed=amount,
                left=left,
            )


def _sum(query, field="amount") -> int:
    return query.aggregate(total=Sum(field))["total"] or 0


def _total(query) -> Coalesce:
    """SUM(amount) of one team's rows as a scalar subquery, 0 when there are none."""
    sums = query.order_by().values("team").annotate(total=Sum("amount")).values("total")
    return Coalesce(Subquery(sums), 0, output_field=BigIntegerField())


def _member_usage(team, user) -> dict:
    return {
        "spent": _total(
            Transfer.objects.filter(
                team=team, member=user, kind__in=SPEND_KINDS, created__gte=month_start()
            )
        ),
        "pending": _total(Hold.objects.filter(team=team, member=user, status=HoldStatus.PENDING)),
    }


def _project_usage(team, project_uuid) -> dict:
    return {
        "spent": _total(
            Transfer.objects.filter(team=team, project_uuid=project_uuid, kind__in=SPEND_KINDS)
        ),
        "pending": _total(
            Hold.objects.filter(team=team, project_uuid=project_uuid, status=HoldStatus.PENDING)
        ),
    }


def _usage(team, expressions) -> int:
    row = (
        Team.objects.filter(pk=team.pk)
        .order_by()
        .annotate(**expressions)
        .values_list("spent", "pending")
        .first()
    )
    return sum(row) if row else 0


def member_usage_this_month(team, user) -> int:
    """What counts against the member's monthly cap: spent this month plus pending holds."""
    return _usage(team, _member_usage(team, user))


def project_usage(team, project_uuid) -> int:
    """What counts against a project's cap: all it has spent plus its pending holds."""
    return _usage(team, _project_usage(team, project_uuid))


def members_usage_this_month(team) -> dict[int, int]:
    """member_usage_this_month for every member at once: {user_id: micro-dollars}."""
    usage: dict[int, int] = {}
    spent = (
        Transfer.objects.filter(team=team, kind__in=SPEND_KINDS, created__gte=month_start())
        .exclude(member=None)
        .values_list("member")
        .annotate(total=Sum("amount"))
    )
    pending = (
        Hold.objects.filter(team=team, status=HoldStatus.PENDING)
        .exclude(member=None)
        .values_list("member")
        .annotate(total=Sum("amount"))
    )
    for user_id, total in [*spent, *pending]:
        usage[user_id] = usage.get(user_id, 0) + total
    return usage


def _locked_hold(hold) -> tuple[Account, Account, Hold]:
    available, holds = _team_accounts(hold.team_id, lock=True)
    return available, holds, Hold.objects.select_for_update().get(pk=hold.pk)


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
    _check_amount(actual, allow_zero=True)
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
            spend = _system_account(AccountKind.VENDOR_SPEND, vendor, vendor_label)
            note = memo or locked.memo
            if shortfall:
                note = (
                    f"{note} — shortfall: the vendor charged {dollars(actual)} against a "
                    f"{dollars(locked.amount)} hold and the team had {dollars(drawn)} "
                    f"available for the rest; {dollars(shortfall)} is unpaid."
                ).lstrip(" —")
            vendor_fields = {"vendor": vendor, "vendor_label": _clip(vendor_label, 200)}
            _move(
                holds,
                spend,
                from_hold,
                TransferKind.CAPTURE,
                **common,
                **vendor_fields,
                memo=_clip(note, 500),
            )
            if drawn:
                _move(
                    available,
                    spend,
                    drawn,
                    TransferKind.OVERAGE,
                    **common,
                    **vendor_fields,
                    memo=f"{dollars(drawn)} charged beyond the {dollars(locked.amount)} hold",
                )
        if rest := locked.amount - from_hold:
            _move(
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
        _move(
            holds,
            available,
            locked.amount,
            TransferKind.RETURN,
            **_hold_fields(locked),
            created=now,
            memo=_clip(reason, 500) or "Hold released",
        )
        locked.refresh_from_db()
        return locked


# --- Grants and adjustments ----------------------------------------------------


def _keyed_transfer(team, kind, key, arguments, describe, perform) -> Transfer:
    def repeat():
        first = (
            Transfer.objects.select_related("credit")
            .filter(team=team, kind=kind, idempotency_key=key)
            .first()
        )
        if first is not None:
            return _same_call(first, describe(first), arguments, kind.label.lower(), key)
        return None

    try:
        with transaction.atomic():
            available, _ = _team_accounts(team.pk, lock=True)
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
    _check_amount(amount)
    _check_key(key)
    memo = _clip(memo, 500)
    arguments = {"amount": amount, "memo": memo, "by": by.pk if by else None}

    def describe(t):
        return {"amount": t.amount, "memo": t.memo, "by": t.created_by_id}

    def perform(available):
        transfer = _move(
            _system_account(AccountKind.GRANTS),
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
    _check_amount(amount, allow_negative=True)
    _check_key(key)
    reason = _clip(reason, 500).strip()
    if not reason:
        raise ValueError("An adjustment needs a reason.")
    arguments = {"amount": amount, "reason": reason, "by": by.pk if by else None}

    def describe(t):
        signed = t.amount if t.credit.kind == AccountKind.AVAILABLE else -t.amount
        return {"amount": signed, "reason": t.memo, "by": t.created_by_id}

    def perform(available):
        source = _system_account(AccountKind.ADJUSTMENTS)
        debit, credit = (source, available) if amount > 0 else (available, source)
        if amount < 0 and -amount > available.balance:
            raise Refused(
                f"This takes away {dollars(-amount)}; the team has "
                f"{dollars(available.balance)} available.",
                limit="team",
                needed=-amount,
                left=available.balance,
            )
        transfer = _move(
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


# --- Reading -------------------------------------------------------------------


def balances(team) -> Balances:
    accounts = dict(
        Account.objects.filter(team=team, kind__in=TEAM_ACCOUNT_KINDS).values_list(
            "kind", "balance"
        )
    )
    spent = _sum(
        Transfer.objects.filter(team=team, kind__in=SPEND_KINDS, created__gte=month_start())
    )
    return Balances(
        available=accounts.get(AccountKind.AVAILABLE, 0),
        on_hold=accounts.get(AccountKind.HOLDS, 0),
        spent_this_month=spent,
    )


def available_balance(team) -> int:
    """Just the available balance: one indexed query, for the balance badge."""
    return (
        Account.objects.filter(team=team, kind=AccountKind.AVAILABLE)
        .values_list("balance", flat=True)
        .first()
        or 0
    )


@dataclass(frozen=True)
class StatementLine:
    """A transfer as the team sees it: how it changed available, on hold and spent."""

    transfer: Transfer
    available: int
    on_hold: int
    spent: int


def statement_lines(team, transfers):
    """Yield a StatementLine per transfer (an iterable, so a CSV export can stream)."""
    ids = dict(
        Account.objects.filter(team=team, kind__in=TEAM_ACCOUNT_KINDS).values_list("kind", "pk")
    )

    def change(t, kind):
        account = ids.get(kind)
        return t.amount if t.credit_id == account else -t.amount if t.debit_id == account else 0

    for t in transfers:
        yield StatementLine(
            transfer=t,
            available=change(t, AccountKind.AVAILABLE),
            on_hold=change(t, AccountKind.HOLDS),
            spent=t.amount if t.kind in SPEND_KINDS else 0,
        )


def statement(team, *, since=None, until=None, member=None, project_uuid=None, vendor=None):
    """The team's transfers, newest first (keyset.page() pages it).

    `since` and `until` are aware datetimes (until exclusive).
    """
    query = Transfer.objects.filter(team=team).select_related("member")
    if since is not None:
        query = query.filter(created__gte=since)
    if until is not None:
        query = query.filter(created__lt=until)
    if member is not None:
        query = query.filter(member=member)
    if project_uuid is not None:
        query = query.filter(project_uuid=project_uuid)
    if vendor:
        query = query.filter(vendor=vendor)
    return query.order_by("-created", "-pk")


def spend_by_day(team, days=30, today=None) -> list[tuple[dt.date, int]]:
    """Spend per UTC day for the last `days` days, oldest first, empty days included."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time.min, tzinfo=dt.UTC)
    totals = dict(
        Transfer.objects.filter(team=team, kind__in=SPEND_KINDS, created__gte=since)
        .annotate(day=TruncDate("created", tzinfo=dt.UTC))
        .values_list("day")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return [(d, totals.get(d, 0)) for d in (first + dt.timedelta(n) for n in range(days))]


def spend_by(team, dimension, since) -> list[tuple[str, int]]:
    """Spend since `since` grouped by "member", "project" or "vendor", largest first."""
    key, label = {
        "member": ("member", "member__username"),
        "project": ("project_uuid", "project_name"),
        "vendor": ("vendor", "vendor_label"),
    }[dimension]
    rows = (
        Transfer.objects.filter(team=team, kind__in=SPEND_KINDS, created__gte=since)
        .values_list(key)
        .annotate(name=Max(label), total=Sum("amount"))
        .order_by("-total")
    )
    names = {}
    if dimension == "vendor":
        # A vendor's current name, whatever it was called when it charged.
        names = dict(
            Account.objects.filter(kind=AccountKind.VENDOR_SPEND)
            .exclude(vendor_label="")
            .values_list("vendor", "vendor_label")
        )
    fallback = {"member": "(former member)", "project": "(no project)", "vendor": "(unknown)"}
    return [(names.get(group) or name or fallback[dimension], total) for group, name, total in rows]


# --- Reconciliation ------------------------------------------------------------

# Which accounts each kind of transfer may move money between.
ALLOWED_MOVES = {
    TransferKind.GRANT: {(AccountKind.GRANTS, AccountKind.AVAILABLE)},
    TransferKind.ADJUSTMENT: {
        (AccountKind.ADJUSTMENTS, AccountKind.AVAILABLE),
        (AccountKind.AVAILABLE, AccountKind.ADJUSTMENTS),
    },
    TransferKind.HOLD: {(AccountKind.AVAILABLE, AccountKind.HOLDS)},
    TransferKind.CAPTURE: {(AccountKind.HOLDS, AccountKind.VENDOR_SPEND)},
    TransferKind.OVERAGE: {(AccountKind.AVAILABLE, AccountKind.VENDOR_SPEND)},
    TransferKind.RETURN: {(AccountKind.HOLDS, AccountKind.AVAILABLE)},
}
HOLD_KINDS = (TransferKind.HOLD, TransferKind.CAPTURE, TransferKind.OVERAGE, TransferKind.RETURN)


def _some(ids, limit=5) -> str:
    ids = list(ids)
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return ", ".join(str(i) for i in ids[:limit]) + more


def problems() -> list[str]:
    """Everything wrong with the ledger, in words; an empty list means it reconciles."""
    found = []

    unbalanced = Transfer.objects.filter(Q(amount__lte=0) | Q(debit=F("credit")))
    if ids := list(unbalanced.values_list("pk", flat=True)):
        found.append(f"{len(ids)} transfer(s) move no money or go nowhere: #{_some(ids)}.")

    for row in (
        Transfer.objects.values("kind", "debit__kind", "credit__kind")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        pair = (row["debit__kind"], row["credit__kind"])
        if pair not in ALLOWED_MOVES.get(row["kind"], ()):
            found.append(
                f"{row['n']} {row['kind']} transfer(s) move money from {pair[0]} to {pair[1]}."
            )

    foreign = Transfer.objects.filter(
        (Q(debit__team__isnull=False) & ~Q(debit__team=F("team")))
        | (Q(credit__team__isnull=False) & ~Q(credit__team=F("team")))
    )
    if ids := list(foreign.values_list("pk", flat=True)):
        found.append(f"{len(ids)} transfer(s) touch another team's account: #{_some(ids)}.")

    orphans = Transfer.objects.filter(
        Q(kind__in=HOLD_KINDS, hold__isnull=True)
        | (~Q(kind__in=HOLD_KINDS) & Q(hold__isnull=False))
    )
    if ids := list(orphans.values_list("pk", flat=True)):
        found.append(f"{len(ids)} transfer(s) are linked to holds wrongly: #{_some(ids)}.")

    total = _sum(Account.objects.all(), "balance")
    if total != 0:
        found.append(f"The balances add up to {total} micro-dollars, not zero.")

    credits = dict(Transfer.objects.values_list("credit").annotate(s=Sum("amount")).order_by())
    debits = dict(Transfer.objects.values_list("debit").annotate(s=Sum("amount")).order_by())
    for account in Account.objects.select_related("team").order_by("pk"):
        expected = credits.get(account.pk, 0) - debits.get(account.pk, 0)
        if account.balance != expected:
            found.append(
                f"Account #{account.pk} ({account}) shows {account.balance} but its transfers "
                f"add up to {expected}."
            )
        if account.balance < 0 and not account.may_go_negative:
            found.append(f"Account #{account.pk} ({account}) is below zero: {account.balance}.")

    pending = dict(
        Hold.objects.filter(status=HoldStatus.PENDING)
        .values_list("team")
        .annotate(s=Sum("amount"))
        .order_by()
    )
    for team_id, on_hold in Account.objects.filter(kind=AccountKind.HOLDS).values_list(
        "team", "balance"
    ):
        if on_hold != pending.get(team_id, 0):
            found.append(
                f"Team #{team_id} has {on_hold} on hold but its pending holds add up to "
                f"{pending.get(team_id, 0)}."
            )

    found.extend(_hold_problems())
    # Apps whose objects own holds check them too (generations: jobs against holds),
    # without the ledger knowing what they are.
    for config in apps.get_app_configs():
        if hasattr(config, "ledger_problems"):
            found.extend(config.ledger_problems())
    return found


def _hold_problems() -> list[str]:
    def by_kind(kind, what):
        return what(
            "transfers__amount" if what is Sum else "transfers", filter=Q(transfers__kind=kind)
        )

    rows = Hold.objects.annotate(
        n_hold=by_kind(TransferKind.HOLD, Count),
        held=by_kind(TransferKind.HOLD, Sum),
        n_capture=by_kind(TransferKind.CAPTURE, Count),
        from_hold=by_kind(TransferKind.CAPTURE, Sum),
        n_overage=by_kind(TransferKind.OVERAGE, Count),
        overage=by_kind(TransferKind.OVERAGE, Sum),
        n_return=by_kind(TransferKind.RETURN, Count),
        returned=by_kind(TransferKind.RETURN, Sum),
    ).values_list(
        "pk", "status", "amount", "captured_amount",
        "n_hold", "held", "n_capture", "from_hold", "n_overage", "overage", "n_return", "returned",
    )  # fmt: skip
    found = []
    for (pk, status, amount, captured, n_hold, held, n_capture, from_hold, n_overage, overage,
         n_return, returned) in rows.iterator(chunk_size=2000):  # fmt: skip
        from_hold, overage, returned = from_hold or 0, overage or 0, returned or 0
        wrong = []
        if n_hold != 1 or held != amount:
            wrong.append(f"{n_hold} hold transfer(s) for {held} instead of one for {amount}")
        if n_capture > 1 or n_overage > 1 or n_return > 1:
            wrong.append("was resolved more than once")
        if status == HoldStatus.PENDING and (n_capture or n_overage or n_return):
            wrong.append("is pending but has money moved out of it")
        if status == HoldStatus.RELEASED and (n_capture or n_overage or returned != amount):
            wrong.append("is released but did not return exactly its amount")
        if status == HoldStatus.CAPTURED:
            if from_hold + returned != amount:
                wrong.append(f"captured {from_hold} and returned {returned} of {amount}")
            if from_hold + overage != captured:
                wrong.append(
                    f"says it captured {captured} but its transfers charged {from_hold + overage}"
                )
            if overage and returned:
                wrong.append("both drew beyond the hold and returned part of it")
        if wrong:
            found.append(f"Hold #{pk} ({status}) " + "; ".join(wrong) + ".")
    return found


def summary() -> dict:
    """Totals for the reconciliation report."""
    by_kind = dict(Account.objects.values_list("kind").annotate(s=Sum("balance")).order_by())
    return {
        "accounts": Account.objects.count(),
        "transfers": Transfer.objects.count(),
        "holds": dict(Hold.objects.values_list("status").annotate(n=Count("pk")).order_by()),
        "teams": Team.objects.filter(ledger_accounts__isnull=False).distinct().count(),
        "balances": by_kind,
    }
