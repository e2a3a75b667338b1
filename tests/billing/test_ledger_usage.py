"""The running totals the caps read: what a hold costs the database, and that they stay exact."""

import datetime as dt
import importlib
from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import ledger
from billing.models import Membership, MemberUsage, ProjectUsage

USD = 1_000_000


@dataclass
class Project:
    """Stands in for generations' Project: billing only reads these three."""

    name: str = "Trailer"
    spend_cap: int | None = 50 * USD
    uuid: UUID = field(default_factory=uuid4)


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 100 * USD, operator, "Welcome credits", "welcome")
    return team


@pytest.fixture
def capped(member):
    Membership.objects.filter(user=member).update(monthly_cap=40 * USD)
    return member


def statements_of(call) -> list[str]:
    """The SQL `call` sends, less the savepoints of the test's own transaction."""
    with CaptureQueriesContext(connection) as captured:
        call()
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def usage_rows(team, member, project):
    mine = MemberUsage.objects.get(team=team, member=member)
    ours = ProjectUsage.objects.get(team=team, project_uuid=project.uuid)
    return (mine.pending, mine.spent), (ours.pending, ours.spent)


def at(moment, monkeypatch):
    """Run the ledger's clock at `moment` until monkeypatch.undo()."""
    monkeypatch.setattr(timezone, "now", lambda: moment)


# --- What a hold costs ---


def test_a_hold_sends_six_statements_however_long_the_history(funded, capped):
    """Six on SQLite; on PostgreSQL the same six are one call of billing_place_hold."""
    project = Project()
    ledger.hold(funded, capped, project, USD, "First", "gen-0")

    def one_more(n):
        return statements_of(lambda: ledger.hold(funded, capped, project, 10_000, "Shot", n))

    first = one_more("gen-1")
    for n in range(30):
        held = ledger.hold(funded, capped, project, 10_000, "History", f"old-{n}")
        if n % 3:
            ledger.capture(held, 5_000 * n, "ark", "BytePlus")
        else:
            ledger.release(held, "Vendor failed")
    later = one_more("gen-2")

    # The hold row, the two usage rows, AVAILABLE, HOLDS, the transfer: nothing summed.
    expected = 1 if connection.vendor == "postgresql" else 6
    assert len(first) == len(later) == expected, later
    assert not [sql for sql in later if "SUM(" in sql.upper()]


def test_a_members_first_hold_opens_their_usage_rows(funded, capped):
    project = Project()

    ledger.hold(funded, capped, project, 3 * USD, "First", "gen-1")

    assert usage_rows(funded, capped, project) == ((3 * USD, 0), (3 * USD, 0))
    assert MemberUsage.objects.get(member=capped).month == ledger.month_start().date()


def test_a_refused_hold_leaves_no_usage_row_behind(funded, viewer, outsider):
    for who in (viewer, outsider):
        with pytest.raises(ledger.Refused):
            ledger.hold(funded, who, Project(), USD, "Shot", f"gen-{who.pk}")

    assert not MemberUsage.objects.exists()
    assert not ProjectUsage.objects.exists()


# --- The totals follow the money ---


def test_usage_follows_holds_captures_overages_and_releases(funded, capped):
    project = Project()
    under = ledger.hold(funded, capped, project, 4 * USD, "A", "gen-1")
    over = ledger.hold(funded, capped, project, 2 * USD, "B", "gen-2")
    failed = ledger.hold(funded, capped, project, 5 * USD, "C", "gen-3")
    assert usage_rows(funded, capped, project) == ((11 * USD, 0), (11 * USD, 0))

    ledger.capture(under, 3 * USD, "ark", "BytePlus")
    ledger.capture(over, 3 * USD, "ark", "BytePlus")
    ledger.release(failed, "Vendor failed")

    assert usage_rows(funded, capped, project) == ((0, 6 * USD), (0, 6 * USD))
    assert ledger.member_usage_this_month(funded, capped) == 6 * USD
    assert ledger.project_usage(funded, project.uuid) == 6 * USD
    assert ledger.problems() == []


def test_an_overage_the_team_cannot_pay_counts_only_what_was_paid(team, operator, capped):
    ledger.grant(team, 3 * USD, operator, "Little", "g")
    project = Project()
    held = ledger.hold(team, capped, project, 2 * USD, "A", "gen-1")

    captured = ledger.capture(held, 5 * USD, "ark", "BytePlus")

    assert captured.captured_amount == 3 * USD and captured.shortfall == 2 * USD
    assert usage_rows(team, capped, project) == ((0, 3 * USD), (0, 3 * USD))
    assert ledger.problems() == []


def test_spend_in_a_new_month_starts_the_members_count_afresh(funded, capped, monkeypatch):
    project = Project()
    at(ledger.month_start() - dt.timedelta(hours=1), monkeypatch)
    ledger.capture(
        ledger.hold(funded, capped, project, 30 * USD, "Old", "gen-1"), 30 * USD, "ark", "A"
    )
    monkeypatch.undo()
    assert ledger.member_usage_this_month(funded, capped) == 0

    ledger.capture(ledger.hold(funded, capped, project, 2 * USD, "New", "gen-2"), USD, "ark", "A")

    row = MemberUsage.objects.get(member=capped)
    assert (row.month, row.spent) == (ledger.month_start().date(), USD)
    assert ledger.project_usage(funded, project.uuid) == 31 * USD
    assert ledger.problems() == []


def test_a_capture_that_lands_late_counts_in_its_own_month(funded, capped, monkeypatch):
    # Two workers, two clocks: last month's capture commits after this month's.
    project = Project()
    at(ledger.month_start() - dt.timedelta(seconds=1), monkeypatch)
    late = ledger.hold(funded, capped, project, 2 * USD, "Late", "gen-1")
    monkeypatch.undo()
    ledger.capture(ledger.hold(funded, capped, project, USD, "Now", "gen-2"), USD, "ark", "A")

    at(ledger.month_start() - dt.timedelta(seconds=1), monkeypatch)
    ledger.capture(late, 2 * USD, "ark", "A")
    monkeypatch.undo()

    assert ledger.member_usage_this_month(funded, capped) == USD
    assert ledger.problems() == []


def test_a_hold_in_a_months_last_instant_is_checked_against_that_month(funded, capped, monkeypatch):
    this_month = ledger.month_start()
    at(this_month - dt.timedelta(minutes=5), monkeypatch)
    ledger.capture(ledger.hold(funded, capped, None, 38 * USD, "A", "gen-1"), 38 * USD, "ark", "A")
    # The hold reads the clock a microsecond before midnight; its refusal is worked out after.
    clock = iter([this_month - dt.timedelta(microseconds=1)])
    monkeypatch.setattr(timezone, "now", lambda: next(clock, this_month))

    with pytest.raises(ledger.Refused) as refused:
        ledger.hold(funded, capped, None, 5 * USD, "B", "gen-2")

    assert (refused.value.limit, refused.value.left) == ("member", 2 * USD)


def test_the_cap_reads_the_running_total(funded, capped):
    project = Project(spend_cap=None)
    ledger.capture(
        ledger.hold(funded, capped, project, 30 * USD, "A", "gen-1"), 25 * USD, "ark", "A"
    )
    ledger.hold(funded, capped, project, 10 * USD, "B", "gen-2")

    with pytest.raises(ledger.Refused) as refused:
        ledger.hold(funded, capped, project, 6 * USD, "C", "gen-3")

    assert str(refused.value) == "This needs $6.00; your monthly cap leaves $5.00 of $40.00."
    assert ledger.hold(funded, capped, project, 5 * USD, "D", "gen-4").is_pending


# --- Proving the totals ---


def test_reconcile_ledger_names_usage_rows_that_drifted(funded, capped):
    project = Project()
    ledger.hold(funded, capped, project, 2 * USD, "A", "gen-1")
    MemberUsage.objects.update(pending=3 * USD)
    ProjectUsage.objects.update(spent=USD)

    found = ledger.problems()

    assert any(
        f"Member #{capped.pk} of team #{funded.pk} shows 3000000 pending and 0 spent" in p
        and "add up to 2000000 and 0" in p
        for p in found
    ), found
    assert any(
        f"Project {project.uuid} of team #{funded.pk} shows 2000000 pending and 1000000 spent" in p
        for p in found
    ), found


def test_reconcile_ledger_names_usage_with_no_row(funded, capped):
    ledger.hold(funded, capped, Project(), 2 * USD, "A", "gen-1")
    MemberUsage.objects.all().delete()
    ProjectUsage.objects.all().delete()

    found = ledger.problems()

    assert f"1 member(s) have usage but no usage row: ({funded.pk}, {capped.pk})." in found
    assert any("1 project(s) have usage but no usage row" in p for p in found), found


def test_the_migration_counts_the_history_into_usage_rows(funded, capped, owner, monkeypatch):
    trailer, teaser = Project(), Project(name="Teaser")
    at(ledger.month_start() - dt.timedelta(days=2), monkeypatch)
    ledger.capture(
        ledger.hold(funded, capped, trailer, 5 * USD, "Old", "gen-1"), 4 * USD, "ark", "A"
    )
    monkeypatch.undo()
    ledger.capture(
        ledger.hold(funded, capped, teaser, 2 * USD, "New", "gen-2"), 3 * USD, "ark", "A"
    )
    ledger.hold(funded, owner, trailer, USD, "Pending", "gen-3")
    ledger.release(ledger.hold(funded, owner, None, USD, "Failed", "gen-4"), "Vendor failed")
    before = sorted(MemberUsage.objects.values_list("member", "pending", "spent"))
    MemberUsage.objects.all().delete()
    ProjectUsage.objects.all().delete()

    migration = importlib.import_module("billing.migrations.0008_usage_running_totals")
    migration.count_usage(apps, None)

    # Last month's spend is not this month's; the released hold left nothing pending.
    assert before == sorted([(capped.pk, 0, 3 * USD), (owner.pk, USD, 0)])
    assert sorted(MemberUsage.objects.values_list("member", "pending", "spent")) == before
    assert ledger.project_usage(funded, trailer.uuid) == 5 * USD
    assert ledger.project_usage(funded, teaser.uuid) == 3 * USD
    assert ledger.problems() == []


def test_deleting_a_user_keeps_the_books_reconciled(funded, capped):
    project = Project()
    ledger.capture(ledger.hold(funded, capped, project, 2 * USD, "A", "gen-1"), USD, "ark", "A")
    ledger.hold(funded, capped, project, 3 * USD, "B", "gen-2")

    get_user_model().objects.filter(pk=capped.pk).delete()

    assert not MemberUsage.objects.exists()
    assert ledger.project_usage(funded, project.uuid) == 4 * USD
    assert ledger.problems() == []
