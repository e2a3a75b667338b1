"""The Billing page's statement read as SQL (billing/money/statement.py) writes exactly
the rows the ORM path (ledger.statement(), keyset.page(), statement_lines()) does."""

import datetime as dt
import uuid

import pytest

from billing import ledger
from billing.money import statement
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
