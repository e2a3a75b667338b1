"""The Billing page's hand-written reads give exactly what the ORM paths give: the
statement (billing/money/statement.py: ledger.statement(), keyset.page(),
statement_lines()) and the rest of the page in one query (billing/money/reads.py:
the filters' choices, ledger.overview(), ledger.spend_breakdowns())."""

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import ledger
from billing.models import Account, AccountKind, DailySpend, ProjectUsage
from billing.money import reads, statement
from billing.money.presenters import statement_rows
from seedance_site import keyset

USD = 1_000_000


class Project:
    def __init__(self, name):
        self.uuid, self.name, self.spend_cap = uuid.uuid4(), name, None


def orm_page(team, filters, size, position=None):
    page = keyset.page(ledger.statement(team, **filters), size, position)
    return statement_rows(ledger.statement_lines(team, page.rows)), page.next_cursor


@pytest.fixture
def history(team, other_team, owner, member, operator):
    """Every kind of entry, in two projects and two vendors, and another team's."""
    ledger.grant(team, 50 * USD, operator, "Welcome <credits>", "welcome")
    ledger.grant(other_team, 50 * USD, operator, "Rival credits", "rival")
    trailer, teaser = Project("Trailer"), Project("")
    for n in range(4):
        held = ledger.hold(team, member if n % 2 else owner, trailer if n % 3 else teaser,
                           2 * USD, f"Shot {n}", f"h{n}")  # fmt: skip
        if n == 3:
            ledger.release(held, "failed")
        else:
            ledger.capture(held, USD + n * 3 * USD // 4, f"v{n % 2}", "Ark" if n % 2 else "")
    ledger.adjust(team, -USD, operator, "Correction", "adj")
    return trailer


FILTERS = [
    {},
    {"vendor": "v1"},
    {
        "since": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        "until": dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
    },
    {"since": dt.datetime(2999, 1, 1, tzinfo=dt.UTC)},
]


@pytest.mark.parametrize("filters", FILTERS)
@pytest.mark.parametrize("size", [1, 3, 50])
def test_every_page_is_the_orm_pages_rows_and_cursor(team, history, filters, size):
    position, pages = None, 0
    while True:
        rows, cursor = statement.page(team, filters, size, position)
        assert (rows, cursor) == orm_page(team, filters, size, position)
        pages += 1
        if cursor is None:
            break
        position = keyset.decode(cursor)
    assert pages < 20


def test_the_member_and_project_filters_are_the_orms(team, history, member):
    for filters in [{"member": member}, {"project_uuid": history.uuid}]:
        rows, cursor = statement.page(team, filters, 50)
        assert rows and (rows, cursor) == orm_page(team, filters, 50)
        assert all(row.project == "Trailer" for row in rows if "project_uuid" in filters)


def test_it_shows_only_the_teams_own_entries(team, other_team, history):
    rows, _ = statement.page(other_team, {}, 50)
    assert [row.memo for row in rows] == ["Rival credits"]
    assert all(row.memo != "Rival credits" for row in statement.page(team, {}, 50)[0])


def orm_choices(team):
    """What StatementFilterForm read through the ORM before reads.filter_choices()."""
    members = team.memberships.order_by("user__username").values_list("uuid", "user__username")
    projects = ProjectUsage.objects.filter(team=team).values_list("project_uuid", "project_name")
    vendors = Account.objects.filter(kind=AccountKind.VENDOR_SPEND).order_by("vendor_label")
    return reads.FilterChoices(
        members=[(str(key), name) for key, name in members],
        projects={str(key): name for key, name in projects},
        vendors=list(vendors.values_list("vendor", "vendor_label")),
    )


def test_the_page_reads_are_the_orm_reads_in_one_query(team, history, member):
    today = timezone.now().astimezone(dt.UTC).date()
    # Spend of a former member, and spend before the chart's days.
    DailySpend.objects.create(team=team, day=today, member=None, amount=250_000)
    DailySpend.objects.create(team=team, day=today - dt.timedelta(days=40), amount=9 * USD)
    since = dt.datetime.combine(today - dt.timedelta(days=29), dt.time.min, tzinfo=dt.UTC)

    with CaptureQueriesContext(connection) as queries:
        found = reads.billing_reads(team, 30)

    assert len(queries) == 1
    assert found.overview == ledger.overview(team, 30)
    assert found.breakdowns == ledger.spend_breakdowns(team, since)
    assert found.choices == orm_choices(team) == reads.filter_choices(team)
    assert len(found.choices.members) == 2 and len(found.choices.projects) == 2
    assert ("v1", "Ark") in found.choices.vendors


def test_the_page_reads_only_the_teams_own_rows(team, other_team, history):
    found = reads.billing_reads(other_team, 30)

    assert found.overview.balances == ledger.balances(other_team)
    assert found.choices.projects == {}
    assert all(total == 0 for _, total in found.overview.by_day)
    assert found.breakdowns == {"member": [], "project": [], "vendor": []}
