"""What the Billing page reads about its team, in one round trip.

The page needs the statement filters' choices (members, projects, vendors), the
team's balances, spend per day and the three 30-day breakdowns. Those were six small
queries, each built by the ORM and each a round trip; here they are the branches of
one hand-written UNION ALL, tagged by their first column, every value a parameter.
Each branch reads what the ORM query it replaces read, in the same order (the final
ORDER BY sorts members by username and vendors by label, as those queries did).
"""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from billing.ledger.reports import (
    BREAKDOWNS,
    Overview,
    breakdowns_of,
    overview_first_day,
    overview_of,
)
from billing.models import AccountKind

AVAILABLE, HOLDS = AccountKind.AVAILABLE.value, AccountKind.HOLDS.value
VENDOR_SPEND = AccountKind.VENDOR_SPEND.value

# The filters' choices: tags "m", "p", "v" (the breakdowns below use whole words).
CHOICES = f"""
SELECT 'm', CAST(m.uuid AS TEXT), u.username, 0
FROM billing_membership m INNER JOIN auth_user u ON u.id = m.user_id
WHERE m.team_id = %(team)s
UNION ALL
SELECT 'p', CAST(project_uuid AS TEXT), project_name, 0
FROM billing_projectusage WHERE team_id = %(team)s
UNION ALL
SELECT 'v', vendor, vendor_label, 0 FROM billing_account WHERE kind = '{VENDOR_SPEND}'
"""  # noqa: S608 (constants only)
ORDER = "ORDER BY 1, 3, 2"

# ledger.overview()'s two reads (tags "a" and "d"), then ledger.spend_breakdowns()'s.
PAGE = f"""{CHOICES}UNION ALL
SELECT 'a', kind, CAST(id AS TEXT), balance FROM billing_account
WHERE team_id = %(team)s AND kind IN ('{AVAILABLE}', '{HOLDS}')
UNION ALL
SELECT 'd', CAST(day AS TEXT), NULL, SUM(amount) FROM billing_dailyspend
WHERE team_id = %(team)s AND day >= %(first)s GROUP BY day
UNION ALL{BREAKDOWNS}{ORDER}"""  # noqa: S608 (constants only)


@dataclass(frozen=True)
class FilterChoices:
    """What StatementFilterForm offers, as its three ORM queries read it."""

    members: list[tuple[str, str]]  # (membership uuid, username), by username
    projects: dict[str, str]  # {project uuid: name}
    vendors: list[tuple[str, str]]  # (vendor, label), by label


@dataclass(frozen=True)
class BillingReads:
    choices: FilterChoices
    overview: Overview
    breakdowns: dict[str, list[tuple[str, int]]]


def _uuid(text: str) -> str:
    # SQLite keeps a uuid as 32 hex digits, PostgreSQL writes it with dashes.
    return str(uuid.UUID(text)) if len(text) == 32 else text


def _choices(rows) -> FilterChoices:
    return FilterChoices(
        members=[(_uuid(key), name) for tag, key, name, _ in rows if tag == "m"],
        projects={_uuid(key): name for tag, key, name, _ in rows if tag == "p"},
        vendors=[(key, name) for tag, key, name, _ in rows if tag == "v"],
    )


def filter_choices(team) -> FilterChoices:
    """The statement filters' choices alone (the CSV export's and htmx's forms)."""
    with connection.cursor() as cursor:
        cursor.execute(CHOICES + ORDER, {"team": team.pk})
        return _choices(cursor.fetchall())


def billing_reads(team, days: int) -> BillingReads:
    """Everything but the statement, for the last `days` UTC days up to today."""
    today = timezone.now().astimezone(dt.UTC).date()
    first = overview_first_day(today, days)
    # The breakdowns cover the same UTC days as the chart's bars, so their totals agree.
    since = today - dt.timedelta(days=days - 1)
    params = {
        "team": team.pk,
        "first": connection.ops.adapt_datefield_value(first),
        "since": connection.ops.adapt_datefield_value(since),
    }
    with connection.cursor() as cursor:
        cursor.execute(PAGE, params)
        rows = cursor.fetchall()
    choices = _choices(rows)
    accounts = [(kind, int(pk), int(balance)) for tag, kind, pk, balance in rows if tag == "a"]
    totals = {dt.date.fromisoformat(day): int(total) for tag, day, _, total in rows if tag == "d"}
    names = {vendor: label for vendor, label in choices.vendors if label}
    return BillingReads(
        choices=choices,
        overview=overview_of(accounts, totals, days, today),
        breakdowns=breakdowns_of([row for row in rows if len(row[0]) > 1], names),
    )
