"""Spend by day is kept as money moves, proven by reconcile, and the Billing page reads it:
its queries do not grow with the team's history."""

import datetime as dt
from dataclasses import dataclass, field
from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import ledger
from billing.ledger import reconcile, spend
from billing.ledger.accounts import system_account
from billing.models import AccountKind, DailySpend, Transfer
from billing.money.forms import StatementFilterForm

USD = 1_000_000


@dataclass
class Project:
    name: str
    uuid: object = field(default_factory=uuid4)
    spend_cap: int | None = None


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 1_000 * USD, by=operator, memo="Budget", key="budget")
    return team


def spend_some(team, member, n, project=None, start=0):
    for i in range(start, start + n):
        held = ledger.hold(team, member, project, 2 * USD, "Clip", f"gen-{i}")
        # Half of them cost more than was held: an overage is spend too.
        ledger.capture(held, 2 * USD + (i % 2) * USD, "ark", "BytePlus")


def test_captures_and_overages_are_counted_by_day_member_project_and_vendor(funded, member):
    trailer = Project("Trailer")
    spend_some(funded, member, 4, trailer)
    rows = DailySpend.objects.filter(team=funded)
    today = timezone.now().astimezone(dt.UTC).date()
    assert {(r.day, r.member_id, r.project_uuid, r.vendor) for r in rows} == {
        (today, member.pk, trailer.uuid, "ark")
    }
    assert sum(r.amount for r in rows) == 10 * USD
    assert ledger.balances(funded).spent_this_month == 10 * USD
    assert ledger.spend_by_day(funded)[-1] == (today, 10 * USD)
    assert not [p for p in reconcile._usage_problems() if "daily spend" in p]


def test_a_day_that_disagrees_with_its_transfers_is_named_by_reconcile(funded, member):
    spend_some(funded, member, 2)
    assert not [p for p in reconcile._usage_problems() if "daily spend" in p]
    DailySpend.objects.filter(team=funded).update(amount=1)
    problems = [p for p in reconcile._usage_problems() if "daily spend" in p]
    assert len(problems) == 1 and f"Team #{funded.pk} spent {5 * USD} on" in problems[0]


def test_rebuilding_from_the_transfers_gives_the_same_days(funded, member, owner):
    spend_some(funded, member, 3, Project("A"))
    spend_some(funded, owner, 2, None, start=10)
    kept = sorted(
        DailySpend.objects.values_list("day", "member", "project_uuid", "vendor", "amount")
    )
    spend.rebuild()
    assert (
        sorted(DailySpend.objects.values_list("day", "member", "project_uuid", "vendor", "amount"))
        == kept
    )
    assert Transfer.objects.count() > DailySpend.objects.count()


def test_the_billing_page_asks_as_much_after_40_clips_as_after_2(owner_client, funded, owner):
    spend_some(funded, owner, 2, Project("A"))
    owner_client.get("/billing/")
    with CaptureQueriesContext(connection) as few:
        owner_client.get("/billing/")
    spend_some(funded, owner, 38, Project("B"), start=100)
    with CaptureQueriesContext(connection) as many:
        html = owner_client.get("/billing/").content.decode()
    assert len(many) == len(few)
    assert not [
        q for q in many.captured_queries if "billing_transfer" in q["sql"] and "SUM" in q["sql"]
    ]
    assert "$" in html


@pytest.mark.parametrize("today", [dt.date(2026, 3, 31), dt.date(2026, 3, 10)])
def test_the_overview_is_balances_and_spend_by_day_in_two_queries(
    funded, member, owner, monkeypatch, today
):
    ledger.hold(funded, owner, None, USD, "Running", "gen-running")
    # The first of the month (outside the chart on the 31st), the chart's first day, the
    # day before it (last month on the 10th), and today.
    days = [today.replace(day=1), today - dt.timedelta(days=29), today - dt.timedelta(days=30)]
    for n, day in enumerate([*days, today]):
        DailySpend.objects.create(team=funded, day=day, member=member, amount=(n + 1) * USD)
    now = dt.datetime.combine(today, dt.time(12), tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: now)

    with CaptureQueriesContext(connection) as queries:
        overview = ledger.overview(funded, 30)

    assert len(queries) == 2
    assert overview.balances == ledger.balances(funded)
    assert overview.by_day == ledger.spend_by_day(funded, 30)
    assert overview.balances.spent_this_month == sum(
        (n + 1) * USD for n, day in enumerate([*days, today]) if day.month == today.month
    )
    transfer = Transfer.objects.filter(team=funded).order_by("-pk").first()  # the hold
    [line] = ledger.statement_lines(funded, [transfer], overview.account_ids)
    assert (line.available, line.on_hold) == (-USD, USD)


def test_the_breakdowns_in_one_query_are_spend_by_for_each_dimension(funded, member, owner):
    trailer, teaser = Project("Trailer"), Project("Teaser")
    for n, (who, project, amount, vendor, label) in enumerate(
        [
            (member, trailer, 3 * USD, "ark", "BytePlus"),
            (owner, trailer, 2 * USD, "fal", "fal.ai"),
            (owner, None, USD, "ark", "BytePlus"),
            (member, teaser, 500_000, "kin", ""),
        ]
    ):
        ledger.capture(
            ledger.hold(funded, who, project, amount, "Clip", f"g{n}"), amount, vendor, label
        )
    # A deleted member's spend, and spend from before the breakdowns' days.
    today = timezone.now().astimezone(dt.UTC).date()
    DailySpend.objects.create(team=funded, day=today, member=None, amount=250_000)
    DailySpend.objects.create(team=funded, day=today - dt.timedelta(days=31), amount=9 * USD)
    since = timezone.now() - dt.timedelta(days=30)
    names = ledger.vendor_names()

    with CaptureQueriesContext(connection) as queries:
        breakdowns = ledger.spend_breakdowns(funded, since, names)

    assert len(queries) == 1
    assert breakdowns == {
        d: ledger.spend_by(funded, d, since) for d in ("member", "project", "vendor")
    }
    assert breakdowns["vendor"] == [
        ("BytePlus", 4 * USD),
        ("fal.ai", 2 * USD),
        ("(unknown)", 500_000),  # "kin" has no name
        ("(unknown)", 250_000),  # written without a vendor
    ]
    assert breakdowns["project"] == [
        ("Trailer", 5 * USD),
        ("(no project)", USD + 250_000),
        ("Teaser", 500_000),
    ]
    assert breakdowns["member"][-1] == ("(former member)", 250_000)
    assert ledger.spend_breakdowns(funded, since) == breakdowns  # reads the names itself


def test_the_filter_form_reads_the_vendor_names_the_breakdowns_use(funded, member):
    ledger.capture(ledger.hold(funded, member, None, USD, "Clip", "g"), USD, "ark", "BytePlus")
    system_account(AccountKind.VENDOR_SPEND, "unnamed")

    form = StatementFilterForm({}, team=funded)

    assert form.vendor_names == ledger.vendor_names() == {"ark": "BytePlus"}
    assert ("unnamed", "unnamed") in form.fields["vendor"].choices


def test_spend_with_no_member_or_project_adds_to_one_row_per_day_and_vendor(funded, member):
    """The day's row is found by IS NULL for a member or project that is none (a written
    statement: `= NULL` would match nothing and start a new row on every capture)."""
    for i in range(3):
        held = ledger.hold(funded, None, None, 2 * USD, "Clip", f"nobody-{i}")
        ledger.capture(held, USD, "ark", "BytePlus")
    trailer = Project("Trailer")
    for i in range(2):
        held = ledger.hold(funded, member, trailer, 2 * USD, "Clip", f"someone-{i}")
        ledger.capture(held, USD, "ark", "BytePlus")
    held = ledger.hold(funded, member, None, 2 * USD, "Clip", "no-project")
    ledger.capture(held, USD, "ark", "BytePlus")
    rows = {(r.member_id, r.project_uuid): r.amount for r in DailySpend.objects.filter(team=funded)}
    assert rows == {
        (None, None): 3 * USD,
        (member.pk, trailer.uuid): 2 * USD,
        (member.pk, None): USD,
    }
    assert not [p for p in reconcile._usage_problems() if "daily spend" in p]


def test_a_vendor_renamed_between_captures_keeps_one_spend_account_with_the_new_name(
    funded, member
):
    first = ledger.hold(funded, member, None, 2 * USD, "Clip", "first")
    ledger.capture(first, USD, "ark", "BytePlus")
    second = ledger.hold(funded, member, None, 2 * USD, "Clip", "second")
    ledger.capture(second, USD, "ark", "BytePlus Ark (EU)")
    account = system_account(AccountKind.VENDOR_SPEND, "ark")
    assert account.vendor_label == "BytePlus Ark (EU)" and account.balance == 2 * USD
    assert DailySpend.objects.get(team=funded).vendor_label == "BytePlus Ark (EU)"


def test_a_capture_sends_the_same_statements_whatever_the_history(funded, member):
    """A capture's statements are fixed (its day's row found, not searched for): the
    tenth capture sends as many as the second."""
    counts = []
    for i in range(10):
        held = ledger.hold(funded, member, Project("P"), 2 * USD, "Clip", f"count-{i}")
        with CaptureQueriesContext(connection) as queries:
            ledger.capture(held, 3 * USD, "ark", "BytePlus")
        counts.append(len(queries))
    assert len(set(counts[1:])) == 1, counts
