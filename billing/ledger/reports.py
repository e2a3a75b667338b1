"""Reading the ledger: balances, the statement, spend by day, member, project or vendor.

Spend is read from the daily rows of ledger.spend, which every capture and overage
keeps, so none of these reads grows with the team's history."""

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import Max, Sum
from django.utils import timezone

from billing.ledger.money import month_start
from billing.ledger.spend import day_of
from billing.models import (
    SPEND_KINDS,
    TEAM_ACCOUNT_KINDS,
    Account,
    AccountKind,
    DailySpend,
    Transfer,
)
from seedance_site import written


@dataclass(frozen=True)
class Balances:
    available: int
    on_hold: int
    spent_this_month: int


def sum_of(query, field="amount") -> int:
    return query.aggregate(total=Sum(field))["total"] or 0


def balances(team) -> Balances:
    accounts = dict(
        Account.objects.filter(team=team, kind__in=TEAM_ACCOUNT_KINDS).values_list(
            "kind", "balance"
        )
    )
    spent = sum_of(DailySpend.objects.filter(team=team, day__gte=month_start().date()))
    return Balances(
        available=accounts.get(AccountKind.AVAILABLE, 0),
        on_hold=accounts.get(AccountKind.HOLDS, 0),
        spent_this_month=spent,
    )


def available_balance(team) -> int:
    """Just the available balance: one indexed query, for the balance badge and every
    quote (written out: the ORM's building of it cost more than running it)."""
    sql = "SELECT balance FROM billing_account WHERE team_id = %s AND kind = %s"
    return written.one_value(sql, [team.pk, AccountKind.AVAILABLE.value], 0)


@dataclass(frozen=True)
class StatementLine:
    """A transfer as the team sees it: how it changed available, on hold and spent."""

    transfer: Transfer
    available: int
    on_hold: int
    spent: int


def statement_lines(team, transfers, account_ids=None):
    """Yield a StatementLine per transfer (an iterable, so a CSV export can stream).

    `account_ids` ({kind: pk} of the team's AVAILABLE and HOLDS accounts, as
    Overview has them) saves looking them up again.
    """
    ids = account_ids
    if ids is None:
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


def _spend_per_day(team, first: dt.date) -> dict[dt.date, int]:
    """{day: spend} of the days since `first` that have any."""
    return dict(
        DailySpend.objects.filter(team=team, day__gte=first)
        .values_list("day")
        .annotate(total=Sum("amount"))
        .order_by()
    )


def _last_days(totals: dict, days: int, today: dt.date) -> list[tuple[dt.date, int]]:
    first = today - dt.timedelta(days=days - 1)
    return [(d, totals.get(d, 0)) for d in (first + dt.timedelta(n) for n in range(days))]


def spend_by_day(team, days=30, today=None) -> list[tuple[dt.date, int]]:
    """Spend per UTC day for the last `days` days, oldest first, empty days included."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    totals = _spend_per_day(team, today - dt.timedelta(days=days - 1))
    return _last_days(totals, days, today)


@dataclass(frozen=True)
class Overview:
    """The top of the Billing page: balances(), spend_by_day() and the account ids
    statement_lines() needs, read in two queries instead of five."""

    balances: Balances
    by_day: list[tuple[dt.date, int]]
    account_ids: dict  # {AccountKind: pk} of the team's AVAILABLE and HOLDS accounts


def overview(team, days=30) -> Overview:
    today = timezone.now().astimezone(dt.UTC).date()
    accounts = Account.objects.filter(team=team, kind__in=TEAM_ACCOUNT_KINDS)
    rows = list(accounts.values_list("kind", "pk", "balance"))
    # The chart's days and the month's (which starts at most one day earlier), in one query.
    totals = _spend_per_day(team, overview_first_day(today, days))
    return overview_of(rows, totals, days, today)


def overview_first_day(today: dt.date, days: int) -> dt.date:
    """The first day overview() reads the spend of: the chart's or the month's."""
    return min(today.replace(day=1), today - dt.timedelta(days=days - 1))


def overview_of(accounts, totals: dict, days: int, today: dt.date) -> Overview:
    """The Overview of the team's (kind, pk, balance) accounts and {day: spend} totals
    since overview_first_day(), however they were read."""
    month = today.replace(day=1)  # month_start()'s day
    ids = {kind: pk for kind, pk, _ in accounts}
    balance = {kind: amount for kind, _, amount in accounts}
    return Overview(
        balances=Balances(
            available=balance.get(AccountKind.AVAILABLE, 0),
            on_hold=balance.get(AccountKind.HOLDS, 0),
            spent_this_month=sum(total for day, total in totals.items() if day >= month),
        ),
        by_day=_last_days(totals, days, today),
        account_ids=ids,
    )


# What each breakdown groups by and names its groups with.
DIMENSIONS = {
    "member": ("member", "member__username"),
    "project": ("project_uuid", "project_name"),
    "vendor": ("vendor", "vendor_label"),
}
FALLBACK = {"member": "(former member)", "project": "(no project)", "vendor": "(unknown)"}


def vendor_names() -> dict[str, str]:
    """Each vendor's current name, whatever it was called when it charged."""
    return dict(
        Account.objects.filter(kind=AccountKind.VENDOR_SPEND)
        .exclude(vendor_label="")
        .values_list("vendor", "vendor_label")
    )


def _grouped(team, dimension, since):
    key, label = DIMENSIONS[dimension]
    # By whole UTC days, as the chart: `since` is the start of one.
    return (
        DailySpend.objects.filter(team=team, day__gte=day_of(since))
        .values_list(key)
        .annotate(name=Max(label), total=Sum("amount"))
    )


def _named(dimension, rows, names) -> list[tuple[str, int]]:
    names = names if dimension == "vendor" else {}
    return [(names.get(group) or name or FALLBACK[dimension], total) for group, name, total in rows]


def spend_by(team, dimension, since) -> list[tuple[str, int]]:
    """Spend since `since` grouped by "member", "project" or "vendor", largest first."""
    rows = _grouped(team, dimension, since).order_by("-total")
    return _named(dimension, rows, vendor_names() if dimension == "vendor" else {})


# Hand-written, as spend_by() would write each part: a UNION of three groupings
# took the ORM several times longer to build than the database to answer.
BREAKDOWNS = """
SELECT 'member', CAST(s.member_id AS TEXT), MAX(u.username), SUM(s.amount)
FROM billing_dailyspend s LEFT OUTER JOIN auth_user u ON s.member_id = u.id
WHERE s.team_id = %(team)s AND s.day >= %(since)s GROUP BY s.member_id
UNION ALL
SELECT 'project', CAST(project_uuid AS TEXT), MAX(project_name), SUM(amount)
FROM billing_dailyspend WHERE team_id = %(team)s AND day >= %(since)s GROUP BY project_uuid
UNION ALL
SELECT 'vendor', vendor, MAX(vendor_label), SUM(amount)
FROM billing_dailyspend WHERE team_id = %(team)s AND day >= %(since)s GROUP BY vendor
"""


def spend_breakdowns(team, since, names=None) -> dict[str, list[tuple[str, int]]]:
    """spend_by() for each dimension, read in one query.

    `names` is vendor_names(), if the caller has it already.
    """
    since_day = connection.ops.adapt_datefield_value(day_of(since))
    with connection.cursor() as cursor:
        cursor.execute(BREAKDOWNS, {"team": team.pk, "since": since_day})
        rows = cursor.fetchall()
    return breakdowns_of(rows, vendor_names() if names is None else names)


def breakdowns_of(rows, names) -> dict[str, list[tuple[str, int]]]:
    """spend_breakdowns() of (dimension, group, name, total) rows as BREAKDOWNS reads them."""
    grouped = {dimension: [] for dimension in DIMENSIONS}
    # Largest first, as spend_by() orders them (PostgreSQL's SUM is a Decimal).
    for dimension, group, name, total in sorted(rows, key=lambda row: -row[3]):
        grouped[dimension].append((group, name, int(total)))
    return {dimension: _named(dimension, found, names) for dimension, found in grouped.items()}
