"""Review of f842653 (a capture and a release as statements built once): what the ORM
version did, pinned on both databases. The locks, the money moved once under racing
captures, a month turning between hold and capture, a day's row for every NULL shape,
long vendor labels, and the types handed back to callers."""

import datetime as dt
from uuid import UUID

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import ledger
from billing.ledger.accounts import system_account, team_accounts
from billing.models import (
    Account,
    AccountKind,
    DailySpend,
    Hold,
    HoldStatus,
    Membership,
    MemberUsage,
    ProjectUsage,
    Transfer,
    TransferKind,
)
from tests.billing.test_ledger import Project
from tests.threads import race

USD = 1_000_000


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 10 * USD, operator, "Welcome credits", "welcome")
    return team


def at(moment, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: moment)


def days(team):
    return {
        (r.day, r.member_id, r.project_uuid, r.vendor): r.amount
        for r in DailySpend.objects.filter(team=team)
    }


# --- The locks, as the ORM version took them ---


def _locks(queries):
    """(table, lock clause) of each statement that locks rows by a SELECT, in order."""
    found = []
    for q in queries:
        sql = q["sql"].replace('"', "")
        if sql.lstrip().startswith("SELECT") and "UPDATE" in sql:
            table = "billing_hold" if "FROM billing_hold" in sql else "billing_account"
            clause = "FOR NO KEY UPDATE" if "FOR NO KEY UPDATE" in sql else "FOR UPDATE"
            found.append((table, clause))
    return found


@pytest.mark.postgres
def test_a_capture_and_a_release_lock_the_hold_then_the_teams_accounts(funded, member):
    """The hold FOR UPDATE first (its status is the key of the capture), then the team's
    accounts FOR NO KEY UPDATE, AVAILABLE before HOLDS: the order of f842653^."""
    project = Project()
    captured = ledger.hold(funded, member, project, 2 * USD, "Clip", "captured")
    released = ledger.hold(funded, member, project, 2 * USD, "Clip", "released")
    with CaptureQueriesContext(connection) as capture:
        ledger.capture(captured, 3 * USD, "ark", "BytePlus")
    with CaptureQueriesContext(connection) as release:
        ledger.release(released, "Cancelled")

    expected = [("billing_hold", "FOR UPDATE"), ("billing_account", "FOR NO KEY UPDATE")]
    assert _locks(capture) == expected
    assert _locks(release) == expected
    team_lock = next(q["sql"] for q in capture if "FOR NO KEY UPDATE" in q["sql"])
    assert "ORDER BY kind" in team_lock


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_threads_capturing_one_hold_move_its_money_once(team, member, operator):
    ledger.grant(team, 10 * USD, operator, "Some", "grant")
    held = ledger.hold(team, member, Project(), 4 * USD, "Contested", "generation-1")

    # Each thread asks for another amount: the first to lock the hold decides.
    results = race(8, lambda i: ledger.capture(held, (2 + i % 4) * USD, "ark", "BytePlus"))

    assert all(isinstance(r, Hold) for r in results), results
    final = Hold.objects.get(pk=held.pk)
    assert final.status == HoldStatus.CAPTURED
    assert {r.captured_amount for r in results} == {final.captured_amount}
    charged = final.captured_amount
    kinds = sorted(Transfer.objects.filter(hold=held).values_list("kind", flat=True))
    expected = {
        2 * USD: ["capture", "hold", "return"],
        3 * USD: ["capture", "hold", "return"],
        4 * USD: ["capture", "hold"],
        5 * USD: ["capture", "hold", "overage"],
    }[charged]
    assert kinds == expected
    assert ledger.balances(team).available == 10 * USD - charged
    assert Account.objects.get(kind=AccountKind.VENDOR_SPEND, vendor="ark").balance == charged
    assert sum(days(team).values()) == charged
    assert MemberUsage.objects.get(team=team, member=member).spent == charged
    assert ledger.problems() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_overages_draw_only_what_the_balance_holds_and_none_fails(team, operator):
    """Each capture reads the balance under the team's lock: without it, the captures would
    all see $3 and the guard in SQL would refuse all but three of them."""
    from tests.factories import MembershipFactory

    members = [MembershipFactory(team=team).user for _ in range(4)]
    ledger.grant(team, 13 * USD, operator, "Some", "grant")
    holds = [ledger.hold(team, members[i % 4], None, USD, "Clip", f"gen-{i}") for i in range(10)]
    assert ledger.balances(team).available == 3 * USD

    results = race(10, lambda i: ledger.capture(holds[i], 2 * USD, "ark", "BytePlus"))

    assert all(isinstance(r, Hold) for r in results), results
    assert sum(r.captured_amount for r in results) == 13 * USD
    assert sum(r.shortfall for r in results) == 7 * USD
    assert ledger.balances(team).available == 0
    assert Transfer.objects.filter(team=team, kind=TransferKind.OVERAGE).count() == 3
    assert ledger.problems() == []


# --- A month turning between the hold and the capture ---


@pytest.mark.parametrize("how", ["capture", "overage", "release"])
def test_a_hold_from_last_month_resolved_this_month_counts_in_this_month(
    funded, member, monkeypatch, how
):
    Membership.objects.filter(user=member).update(monthly_cap=8 * USD)
    this_month = ledger.month_start()
    project = Project()
    # The member spent $5 last month, and holds $2 in its last second.
    at(this_month - dt.timedelta(hours=1), monkeypatch)
    ledger.capture(ledger.hold(funded, member, project, 5 * USD, "Old", "old"), 5 * USD, "ark", "A")
    held = ledger.hold(funded, member, project, 2 * USD, "Across", "across")
    at(this_month + dt.timedelta(seconds=1), monkeypatch)
    if how == "release":
        ledger.release(held, "Cancelled")
    else:
        ledger.capture(held, {"capture": USD, "overage": 3 * USD}[how], "ark", "A")
    monkeypatch.undo()

    charged = {"capture": USD, "overage": 3 * USD, "release": 0}[how]
    row = MemberUsage.objects.get(team=funded, member=member)
    # Last month's $5 no longer counts; the new month starts with what this one charged.
    assert (row.month, row.pending, row.spent) == (this_month.date(), 0, charged)
    assert ledger.member_usage_this_month(funded, member) == charged
    assert ProjectUsage.objects.get(project_uuid=project.uuid).spent == 5 * USD + charged
    expected_days = {
        (this_month.date() - dt.timedelta(days=1), member.pk, project.uuid, "ark"): 5 * USD
    }
    if charged:
        expected_days[(this_month.date(), member.pk, project.uuid, "ark")] = charged
    assert days(funded) == expected_days
    assert ledger.balances(funded).available == 10 * USD - 5 * USD - charged
    assert ledger.problems() == []


# --- The day's row for every shape of key ---


def test_each_shape_of_member_and_project_keeps_one_row_a_day(funded, member):
    """The four statements (member and project each none or not) each find their own row,
    and only theirs: a parameter out of place would start new rows or add to another's."""
    project = Project()
    shapes = [(None, None), (member, None), (None, project), (member, project)]
    for round_ in range(2):
        for i, (who, what) in enumerate(shapes):
            held = ledger.hold(funded, who, what, USD // 2, "Clip", f"shape-{round_}-{i}")
            ledger.capture(held, (i + 1) * USD // 4, "ark", "BytePlus")
    today = timezone.now().astimezone(dt.UTC).date()
    assert days(funded) == {
        (today, None, None, "ark"): 2 * USD // 4,
        (today, member.pk, None, "ark"): 2 * 2 * USD // 4,
        (today, None, project.uuid, "ark"): 2 * 3 * USD // 4,
        (today, member.pk, project.uuid, "ark"): 2 * 4 * USD // 4,
    }
    assert ledger.problems() == []


# --- Vendor labels longer than their column ---


def test_a_vendor_label_over_200_characters_is_cut_to_200_everywhere(funded, member):
    long = "BytePlus " + "x" * 300
    for i in range(2):
        held = ledger.hold(funded, member, None, 2 * USD, "Clip", f"long-{i}")
        ledger.capture(held, 3 * USD, "ark", long)
    account = system_account(AccountKind.VENDOR_SPEND, "ark", long)
    assert account.vendor_label == long[:200]
    assert Account.objects.get(pk=account.pk).vendor_label == long[:200]
    assert account.balance == 6 * USD
    labels = set(Transfer.objects.filter(vendor="ark").values_list("vendor_label", flat=True))
    assert labels == {long[:200]}
    (day,) = DailySpend.objects.filter(team=funded)
    assert (day.vendor_label, day.amount) == (long[:200], 6 * USD)
    assert ledger.problems() == []


# --- What callers get back ---


def test_callers_get_the_types_the_orm_gave_them(funded, member):
    project = Project()
    held = ledger.hold(funded, member, project, 2 * USD, "Clip", "types")
    captured = ledger.capture(held, USD, "ark", "BytePlus")
    again = ledger.capture(held, 5 * USD, "ark", "BytePlus")

    for hold in (captured, again):
        assert isinstance(hold.pk, int) and isinstance(hold.uuid, UUID)
        assert hold.project_uuid == project.uuid and isinstance(hold.project_uuid, UUID)
        assert hold.status == HoldStatus.CAPTURED and hold.captured_amount == USD
        assert hold.resolved.tzinfo is not None and hold.created.tzinfo is not None
        assert not hold._state.adding
    assert again.resolved == Hold.objects.get(pk=held.pk).resolved

    available, holds = team_accounts(funded.pk, lock=False)
    for account in (available, holds):
        assert type(account.may_go_negative) is bool and account.may_go_negative is False
        assert type(account.balance) is int and account.team_id == funded.pk
    assert (available.kind, holds.kind) == (AccountKind.AVAILABLE, AccountKind.HOLDS)
    assert available.balance == 9 * USD and holds.balance == 0

    grants = system_account(AccountKind.GRANTS)
    assert grants.may_go_negative is True and grants.balance == -10 * USD

    transfer = ledger.grant(funded, USD, None, "More", "more")
    stored = Transfer.objects.get(pk=transfer.pk)
    assert (stored.uuid, stored.amount, stored.kind) == (transfer.uuid, USD, TransferKind.GRANT)
    assert transfer.debit.balance == -11 * USD and transfer.credit.balance == 10 * USD
    assert not transfer._state.adding


def test_grants_and_adjustments_drive_their_system_accounts_below_zero(funded, operator):
    ledger.adjust(funded, 2 * USD, operator, "Goodwill", "up")
    ledger.adjust(funded, -5 * USD, operator, "Correction", "down")
    assert system_account(AccountKind.GRANTS).balance == -10 * USD
    assert system_account(AccountKind.ADJUSTMENTS).balance == 3 * USD
    ledger.adjust(funded, 4 * USD, operator, "More goodwill", "up-again")
    assert system_account(AccountKind.ADJUSTMENTS).balance == -USD
    assert ledger.balances(funded).available == 11 * USD
    with pytest.raises(ledger.Refused):
        ledger.adjust(funded, -12 * USD, operator, "Too much", "too-much")
    assert ledger.balances(funded).available == 11 * USD
    assert ledger.problems() == []


# --- A lock asked for outside a transaction ---


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_locking_the_teams_accounts_outside_a_transaction_is_refused(team):
    """As the ORM's select_for_update did: in autocommit the lock would end with the
    SELECT, so a caller that forgot its transaction would move money unlocked."""
    from django.db.transaction import TransactionManagementError

    with pytest.raises(TransactionManagementError):
        team_accounts(team.pk, lock=True)
    available, holds = team_accounts(team.pk, lock=False)
    assert (available.kind, holds.kind) == (AccountKind.AVAILABLE, AccountKind.HOLDS)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_locking_a_hold_outside_a_transaction_is_refused_too(funded, member):
    """Every locked read goes through rows.select, which refuses a lock that would end
    with its own SELECT: the hold's, as the team's accounts'."""
    from django.db.transaction import TransactionManagementError

    from billing.ledger.holds import _locked

    held = ledger.hold(funded, member, None, USD, "Clip", "outside")
    with pytest.raises(TransactionManagementError):
        _locked(held.pk)
    with transaction.atomic():
        assert _locked(held.pk).status == HoldStatus.PENDING
