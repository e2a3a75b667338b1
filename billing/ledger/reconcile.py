"""Proving the books: what `manage.py reconcile_ledger` reports."""

import datetime as dt

from django.apps import apps
from django.db.models import Count, DateField, F, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth

from billing.ledger.reports import sum_of
from billing.ledger.usage import month_of
from billing.models import (
    SPEND_KINDS,
    Account,
    AccountKind,
    DailySpend,
    Hold,
    HoldStatus,
    MemberUsage,
    ProjectUsage,
    Team,
    Transfer,
    TransferKind,
)

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
    found = _transfer_problems() + _balance_problems() + _hold_problems() + _usage_problems()
    # Apps whose objects own holds check them too (generations: jobs against holds),
    # without the ledger knowing what they are.
    for config in apps.get_app_configs():
        if hasattr(config, "ledger_problems"):
            found.extend(config.ledger_problems())
    return found


def _transfer_problems() -> list[str]:
    """Transfers that move no money, between the wrong kinds of account or teams, or holds."""
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
    return found


def _balance_problems() -> list[str]:
    """Cached balances that do not add up to zero, to their transfers or to pending holds."""
    found = []
    total = sum_of(Account.objects.all(), "balance")
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


def _totals(query, *keys) -> dict:
    rows = query.values_list(*keys).annotate(total=Sum("amount")).order_by()
    return {tuple(row[:-1]): row[-1] for row in rows}


def _usage_problems() -> list[str]:
    """Running totals (usage.py, spend.py) that disagree with what they count."""
    return _member_usage_problems() + _project_usage_problems() + _daily_spend_problems()


def _daily_spend_problems() -> list[str]:
    # By the whole key the breakdowns read (member, project, vendor), not the day alone.
    key = ("team", "day", "member", "project_uuid", "vendor")
    day = TruncDate("created", tzinfo=dt.UTC)
    spent = _totals(Transfer.objects.filter(kind__in=SPEND_KINDS).annotate(day=day), *key)
    counted = _totals(DailySpend.objects.all(), *key)
    return [
        f"Team #{k[0]} spent {spent.get(k, 0)} on {k[1]:%Y-%m-%d} (member #{k[2]}, project "
        f"{k[3]}, vendor “{k[4]}”) by its transfers, but its daily spend rows add up to "
        f"{counted.get(k, 0)}."
        for k in sorted(spent.keys() | counted.keys(), key=str)
        if spent.get(k, 0) != counted.get(k, 0)
    ]


def _member_usage_problems() -> list[str]:
    found = []
    held = _totals(
        Hold.objects.filter(status=HoldStatus.PENDING).exclude(member=None), "team", "member"
    )
    month = TruncMonth("created", tzinfo=dt.UTC, output_field=DateField())
    spend = Transfer.objects.filter(kind__in=SPEND_KINDS).exclude(member=None)
    spent = _totals(spend.annotate(month=month), "team", "member", "month")
    rows = MemberUsage.objects.values_list("team", "member", "pending", "month", "spent")
    seen = set()
    for team, member, row_pending, row_month, row_spent in rows.order_by("pk"):
        seen.add((team, member))
        want = (held.get((team, member), 0), spent.get((team, member, row_month), 0))
        if (row_pending, row_spent) != want:
            found.append(
                f"Member #{member} of team #{team} shows {row_pending} pending and {row_spent} "
                f"spent in {row_month:%B %Y}, but the holds and transfers add up to {want[0]} "
                f"and {want[1]}."
            )
    this_month = month_of()
    counting = held.keys() | {key[:2] for key in spent if key[2] >= this_month}
    if missing := sorted(counting - seen):
        found.append(f"{len(missing)} member(s) have usage but no usage row: {_some(missing)}.")
    return found


def _project_usage_problems() -> list[str]:
    found = []
    pending = Hold.objects.filter(status=HoldStatus.PENDING).exclude(project_uuid=None)
    held = _totals(pending, "team", "project_uuid")
    spend = Transfer.objects.filter(kind__in=SPEND_KINDS).exclude(project_uuid=None)
    spent = _totals(spend, "team", "project_uuid")
    rows = ProjectUsage.objects.values_list("team", "project_uuid", "pending", "spent")
    seen = set()
    for team, project, row_pending, row_spent in rows.order_by("pk"):
        seen.add((team, project))
        want = (held.get((team, project), 0), spent.get((team, project), 0))
        if (row_pending, row_spent) != want:
            found.append(
                f"Project {project} of team #{team} shows {row_pending} pending and "
                f"{row_spent} spent, but the holds and transfers add up to {want[0]} and "
                f"{want[1]}."
            )
    if missing := sorted((held.keys() | spent.keys()) - seen, key=str):
        found.append(f"{len(missing)} project(s) have usage but no usage row: {_some(missing)}.")
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
