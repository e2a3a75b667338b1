"""The ledger's service API: every operation, every refusal, every repeat."""

import datetime as dt
from dataclasses import dataclass, field
from io import StringIO
from uuid import UUID, uuid4

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import ledger
from billing.models import (
    Account,
    AccountKind,
    Hold,
    HoldStatus,
    Membership,
    Transfer,
    TransferKind,
)
from tests.factories import MembershipFactory

USD = 1_000_000


@dataclass
class Project:
    """Stands in for generations' Project: billing only reads these three."""

    name: str = "Trailer"
    spend_cap: int | None = None
    uuid: UUID = field(default_factory=uuid4)


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 10 * USD, operator, "Welcome credits", "welcome")
    return team


def account(team, kind):
    return Account.objects.get(team=team, kind=kind).balance


def vendor_spend(vendor):
    return Account.objects.get(kind=AccountKind.VENDOR_SPEND, vendor=vendor).balance


def assert_reconciles():
    assert ledger.problems() == []


# --- Money as text ---


@pytest.mark.parametrize(
    "micro, text",
    [
        (0, "$0.00"),
        (1_200_000, "$1.20"),
        (850_000, "$0.85"),
        (20 * USD, "$20.00"),
        (1_234_500, "$1.2345"),
        (1, "$0.000001"),
        (1_234_567_890_000, "$1,234,567.89"),
        (-5 * USD, "-$5.00"),
    ],
)
def test_it_writes_micro_dollars_as_dollars(micro, text):
    assert ledger.dollars(micro) == text


@pytest.mark.parametrize(
    "text, micro",
    [
        ("12.50", 12_500_000),
        ("$1,000", 1_000 * USD),
        ("0.0045", 4_500),
        ("-3", -3 * USD),
        (" 7 ", 7 * USD),
    ],
)
def test_it_reads_dollars(text, micro):
    assert ledger.parse_dollars(text) == micro


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "NaN", "Infinity", "0.0000001", "1e20"])
def test_it_rejects_what_is_not_an_amount(text):
    with pytest.raises(ValueError):
        ledger.parse_dollars(text)


# --- Grants ---


def test_a_grant_credits_the_team_from_the_grants_account(team, operator):
    transfer = ledger.grant(team, 10 * USD, operator, "Welcome credits", "welcome")

    assert transfer.kind == TransferKind.GRANT
    assert transfer.created_by == operator
    assert transfer.memo == "Welcome credits"
    assert account(team, AccountKind.AVAILABLE) == 10 * USD
    assert Account.objects.get(kind=AccountKind.GRANTS).balance == -10 * USD
    assert ledger.balances(team) == ledger.Balances(
        available=10 * USD, on_hold=0, spent_this_month=0
    )
    assert_reconciles()


def test_a_repeated_grant_returns_the_first(team, operator):
    first = ledger.grant(team, 10 * USD, operator, "Welcome credits", "welcome")
    again = ledger.grant(team, 10 * USD, operator, "Welcome credits", "welcome")

    assert again.pk == first.pk
    assert account(team, AccountKind.AVAILABLE) == 10 * USD


def test_a_grant_key_with_another_amount_is_refused(team, operator):
    ledger.grant(team, 10 * USD, operator, "Welcome credits", "welcome")

    with pytest.raises(ledger.KeyReused, match="different amount"):
        ledger.grant(team, 11 * USD, operator, "Welcome credits", "welcome")
    assert account(team, AccountKind.AVAILABLE) == 10 * USD


def test_grant_keys_are_per_team(team, other_team, operator):
    ledger.grant(team, 10 * USD, operator, "Welcome credits", "welcome")
    ledger.grant(other_team, 3 * USD, operator, "Welcome credits", "welcome")

    assert account(other_team, AccountKind.AVAILABLE) == 3 * USD


@pytest.mark.parametrize("amount", [0, -1, 1.5, "5", True])
def test_a_grant_needs_a_positive_whole_amount(team, operator, amount):
    with pytest.raises((ValueError, TypeError)):
        ledger.grant(team, amount, operator, "Oops", "k")
    assert not Transfer.objects.exists()


def test_every_call_needs_a_key(team, operator):
    with pytest.raises(ValueError, match="idempotency key"):
        ledger.grant(team, USD, operator, "No key", "")


# --- Adjustments ---


def test_a_positive_adjustment_credits_the_team(funded, operator):
    transfer = ledger.adjust(funded, 2 * USD, operator, "Refund for a broken clip", "adj-1")

    assert transfer.kind == TransferKind.ADJUSTMENT
    assert transfer.memo == "Refund for a broken clip"
    assert account(funded, AccountKind.AVAILABLE) == 12 * USD
    assert Account.objects.get(kind=AccountKind.ADJUSTMENTS).balance == -2 * USD
    assert_reconciles()


def test_a_negative_adjustment_debits_the_team(funded, operator):
    ledger.adjust(funded, -4 * USD, operator, "Granted twice by mistake", "adj-1")

    assert account(funded, AccountKind.AVAILABLE) == 6 * USD
    assert Account.objects.get(kind=AccountKind.ADJUSTMENTS).balance == 4 * USD
    assert_reconciles()


def test_a_negative_adjustment_cannot_overdraw(funded, operator):
    with pytest.raises(ledger.Refused) as refused:
        ledger.adjust(funded, -12 * USD, operator, "Too much", "adj-1")

    assert str(refused.value) == "This takes away $12.00; the team has $10.00 available."
    assert account(funded, AccountKind.AVAILABLE) == 10 * USD


def test_a_repeated_adjustment_returns_the_first_and_a_changed_one_is_refused(funded, operator):
    first = ledger.adjust(funded, -1 * USD, operator, "Correction", "adj-1")

    assert ledger.adjust(funded, -1 * USD, operator, "Correction", "adj-1").pk == first.pk
    with pytest.raises(ledger.KeyReused):
        ledger.adjust(funded, 1 * USD, operator, "Correction", "adj-1")
    with pytest.raises(ledger.KeyReused):
        ledger.adjust(funded, -1 * USD, operator, "Another reason", "adj-1")
    assert account(funded, AccountKind.AVAILABLE) == 9 * USD


def test_an_adjustment_needs_a_reason(funded, operator):
    with pytest.raises(ValueError, match="reason"):
        ledger.adjust(funded, USD, operator, "  ", "adj-1")


def test_grant_and_adjustment_keys_do_not_collide(funded, operator):
    ledger.adjust(funded, USD, operator, "Goodwill", "welcome")

    assert account(funded, AccountKind.AVAILABLE) == 11 * USD


# --- Holds ---


def test_a_hold_moves_money_from_available_to_holds(funded, member):
    project = Project()
    held = ledger.hold(
        funded, member, project, 1_200_000, "Sunset drone shot", "gen-1", "generation:1"
    )

    assert held.status == HoldStatus.PENDING
    assert held.amount == 1_200_000
    assert held.member == member
    assert held.project_uuid == project.uuid
    assert held.project_name == "Trailer"
    assert held.reference == "generation:1"
    balances = ledger.balances(funded)
    assert (balances.available, balances.on_hold) == (8_800_000, 1_200_000)
    transfer = held.transfers.get()
    assert (transfer.kind, transfer.member, transfer.project_name) == (
        TransferKind.HOLD,
        member,
        "Trailer",
    )
    assert_reconciles()


def test_it_refuses_a_hold_beyond_the_team_balance(team, operator, member):
    ledger.grant(team, 850_000, operator, "A little", "g")

    with pytest.raises(ledger.Refused) as refused:
        ledger.hold(team, member, None, 1_200_000, "Too dear", "gen-1")

    assert str(refused.value) == "This needs $1.20; the team has $0.85 available."
    assert (refused.value.limit, refused.value.needed, refused.value.left) == (
        "team",
        1_200_000,
        850_000,
    )
    assert not Hold.objects.exists()
    assert account(team, AccountKind.AVAILABLE) == 850_000


def test_a_team_with_no_credits_yet_has_zero_available(team, member):
    with pytest.raises(ledger.Refused, match=r"the team has \$0.00 available"):
        ledger.hold(team, member, None, USD, "First try", "gen-1")
    assert ledger.balances(team) == ledger.Balances(0, 0, 0)


def test_it_refuses_a_hold_beyond_the_member_cap(funded, member):
    Membership.objects.filter(user=member).update(monthly_cap=20 * USD)
    ledger.hold(funded, member, None, 9_500_000, "Long take", "gen-1")
    ledger.grant(funded, 50 * USD, None, "More", "more")
    captured = ledger.hold(funded, member, None, 10 * USD, "Another", "gen-2")
    ledger.capture(captured, 10 * USD, "ark", "BytePlus")

    with pytest.raises(ledger.Refused) as refused:
        ledger.hold(funded, member, None, 1_200_000, "One more", "gen-3")

    assert str(refused.value) == "This needs $1.20; your monthly cap leaves $0.50 of $20.00."
    assert refused.value.limit == "member"


def test_released_holds_and_last_months_spend_do_not_count_against_the_cap(
    funded, member, monkeypatch
):
    Membership.objects.filter(user=member).update(monthly_cap=2 * USD)
    # Last month's spend happened last month: the clock, not the rows, is moved back.
    last_month = ledger.month_start() - dt.timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: last_month)
    old = ledger.hold(funded, member, None, 2 * USD, "Last month", "gen-1")
    ledger.capture(old, 2 * USD, "ark", "BytePlus")
    monkeypatch.undo()
    released = ledger.hold(funded, member, None, 2 * USD, "Failed", "gen-2")
    ledger.release(released, "Vendor failed")

    assert ledger.hold(funded, member, None, 2 * USD, "This month", "gen-3").is_pending
    assert_reconciles()


def test_the_member_cap_is_per_member(funded, member, owner):
    Membership.objects.filter(user=member).update(monthly_cap=USD)

    assert ledger.hold(funded, owner, None, 3 * USD, "Owner is not capped", "gen-1").is_pending
    with pytest.raises(ledger.Refused, match="your monthly cap leaves \\$1.00 of \\$1.00"):
        ledger.hold(funded, member, None, 3 * USD, "Member is", "gen-2")


def test_it_refuses_a_hold_beyond_the_project_cap(funded, member):
    trailer = Project(name="Trailer", spend_cap=10 * USD)
    ledger.grant(funded, 10 * USD, None, "More", "more")
    first = ledger.hold(funded, member, trailer, 6 * USD, "Take 1", "gen-1")
    ledger.capture(first, 5 * USD, "ark", "BytePlus")
    ledger.hold(funded, member, trailer, 4_600_000, "Take 2", "gen-2")

    with pytest.raises(ledger.Refused) as refused:
        ledger.hold(funded, member, trailer, 1_200_000, "Take 3", "gen-3")

    assert (
        str(refused.value)
        == "This needs $1.20; the project “Trailer” has $0.40 left of its $10.00 cap."
    )
    assert refused.value.limit == "project"
    assert ledger.hold(
        funded, member, Project(name="Other"), 1_200_000, "Elsewhere", "gen-4"
    ).is_pending


def test_a_project_without_a_cap_is_limited_only_by_the_team(funded, member):
    assert ledger.hold(
        funded, member, Project(spend_cap=None), 10 * USD, "All of it", "gen-1"
    ).is_pending


def test_viewers_and_outsiders_cannot_hold(funded, viewer, outsider):
    with pytest.raises(ledger.Refused, match="Viewers cannot spend"):
        ledger.hold(funded, viewer, None, USD, "Look", "gen-1")
    with pytest.raises(ledger.Refused, match="Only members of Northwind Pictures"):
        ledger.hold(funded, outsider, None, USD, "Sneak", "gen-2")


def test_a_repeated_hold_returns_the_first(funded, member):
    project = Project()
    first = ledger.hold(funded, member, project, USD, "Shot", "gen-1", "generation:1")
    again = ledger.hold(funded, member, project, USD, "Shot", "gen-1", "generation:1")

    assert again.pk == first.pk
    assert ledger.balances(funded).on_hold == USD


def test_a_repeated_hold_returns_the_first_even_when_money_ran_out(team, operator, member):
    ledger.grant(team, USD, operator, "Just enough", "g")
    first = ledger.hold(team, member, None, USD, "Shot", "gen-1")

    assert ledger.hold(team, member, None, USD, "Shot", "gen-1").pk == first.pk


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 2 * USD},
        {"memo": "Another shot"},
        {"reference": "generation:2"},
        {"project": Project()},
    ],
)
def test_a_hold_key_with_other_arguments_is_refused(funded, member, change):
    arguments = {"amount": USD, "memo": "Shot", "reference": "generation:1", "project": None}
    ledger.hold(funded, member, key="gen-1", **arguments)

    with pytest.raises(ledger.KeyReused, match="“gen-1” was already used for another hold"):
        ledger.hold(funded, member, key="gen-1", **(arguments | change))
    assert Hold.objects.count() == 1


def test_a_hold_key_from_another_member_is_refused(funded, member, owner):
    ledger.hold(funded, member, None, USD, "Shot", "gen-1")

    with pytest.raises(ledger.KeyReused):
        ledger.hold(funded, owner, None, USD, "Shot", "gen-1")


def test_a_hold_rolls_back_with_the_callers_transaction(funded, member):
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger.hold(funded, member, None, USD, "Shot", "gen-1")
        raise RuntimeError("the generation row could not be saved")

    assert not Hold.objects.exists()
    assert ledger.balances(funded).available == 10 * USD


def test_a_hold_key_race_is_settled_by_the_insert_before_any_money_moves(funded, member):
    # The hold row goes in first, skipped on the key's unique constraint: a second
    # call (or one racing the first) finds the winner without touching a balance.
    winner = ledger.hold(funded, member, None, USD, "Shot", "gen-1")

    with CaptureQueriesContext(connection) as queries:
        again = ledger.hold(funded, member, None, USD, "Shot", "gen-1")

    assert again.pk == winner.pk
    assert not [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert Hold.objects.count() == 1
    assert ledger.balances(funded).on_hold == USD


# --- Captures ---


def test_a_capture_for_less_returns_the_rest(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")

    captured = ledger.capture(held, 2 * USD, "ark", "BytePlus ModelArk", "10 s at 720p")

    assert (captured.status, captured.captured_amount, captured.shortfall) == (
        HoldStatus.CAPTURED,
        2 * USD,
        0,
    )
    assert captured.resolved is not None
    assert ledger.balances(funded) == ledger.Balances(
        available=8 * USD, on_hold=0, spent_this_month=2 * USD
    )
    assert vendor_spend("ark") == 2 * USD
    spend = captured.transfers.get(kind=TransferKind.CAPTURE)
    assert (spend.vendor, spend.vendor_label, spend.memo, spend.member) == (
        "ark",
        "BytePlus ModelArk",
        "10 s at 720p",
        member,
    )
    assert captured.transfers.get(kind=TransferKind.RETURN).amount == USD
    assert_reconciles()


def test_a_capture_of_exactly_the_hold_returns_nothing(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")

    ledger.capture(held, 3 * USD, "ark", "BytePlus")

    assert sorted(held.transfers.values_list("kind", flat=True)) == ["capture", "hold"]
    assert ledger.balances(funded) == ledger.Balances(7 * USD, 0, 3 * USD)


def test_a_capture_of_nothing_returns_everything(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")

    captured = ledger.capture(held, 0, "", "")

    assert (captured.status, captured.captured_amount) == (HoldStatus.CAPTURED, 0)
    assert ledger.balances(funded) == ledger.Balances(10 * USD, 0, 0)
    assert_reconciles()


def test_a_capture_for_more_draws_the_extra_from_available(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")

    captured = ledger.capture(held, 3_500_000, "ark", "BytePlus")

    assert (captured.captured_amount, captured.shortfall) == (3_500_000, 0)
    assert ledger.balances(funded) == ledger.Balances(6_500_000, 0, 3_500_000)
    overage = captured.transfers.get(kind=TransferKind.OVERAGE)
    assert overage.amount == 500_000
    assert overage.memo == "$0.50 charged beyond the $3.00 hold"
    assert vendor_spend("ark") == 3_500_000
    assert_reconciles()


def test_a_capture_beyond_the_balance_takes_what_there_is_and_records_the_shortfall(
    team, operator, member
):
    ledger.grant(team, 4 * USD, operator, "Some", "g")
    held = ledger.hold(team, member, None, 3 * USD, "Shot", "gen-1")

    captured = ledger.capture(held, 5 * USD, "ark", "BytePlus", "Long render")

    assert (captured.captured_amount, captured.shortfall) == (4 * USD, USD)
    assert ledger.balances(team) == ledger.Balances(0, 0, 4 * USD)
    assert captured.transfers.get(kind=TransferKind.CAPTURE).memo == (
        "Long render — shortfall: the vendor charged $5.00 against a $3.00 hold and the "
        "team had $1.00 available for the rest; $1.00 is unpaid."
    )
    assert_reconciles()


def test_a_capture_with_an_empty_balance_records_the_whole_extra_as_shortfall(
    team, operator, member
):
    ledger.grant(team, 3 * USD, operator, "Some", "g")
    held = ledger.hold(team, member, None, 3 * USD, "Shot", "gen-1")

    captured = ledger.capture(held, 4 * USD, "ark", "BytePlus")

    assert (captured.captured_amount, captured.shortfall) == (3 * USD, USD)
    assert not captured.transfers.filter(kind=TransferKind.OVERAGE).exists()
    assert "$1.00 is unpaid" in captured.transfers.get(kind=TransferKind.CAPTURE).memo
    assert_reconciles()


def test_capturing_twice_changes_nothing(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")
    first = ledger.capture(held, 2 * USD, "ark", "BytePlus")

    again = ledger.capture(held, 3 * USD, "ark", "BytePlus")

    assert (again.pk, again.captured_amount) == (first.pk, 2 * USD)
    assert held.transfers.count() == 3
    assert ledger.balances(funded).available == 8 * USD


def test_capturing_a_released_hold_is_an_error(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")
    ledger.release(held, "Cancelled")

    with pytest.raises(
        ledger.LedgerError, match="This hold was released, so it cannot be captured."
    ):
        ledger.capture(held, USD, "ark", "BytePlus")
    assert ledger.balances(funded) == ledger.Balances(10 * USD, 0, 0)


def test_a_capture_needs_the_vendor(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")

    with pytest.raises(ValueError, match="vendor"):
        ledger.capture(held, USD, "", "")
    assert Hold.objects.get().is_pending


def test_each_vendor_has_its_own_spend_account(funded, member):
    ledger.capture(ledger.hold(funded, member, None, USD, "A", "gen-1"), USD, "ark", "BytePlus")
    ledger.capture(
        ledger.hold(funded, member, None, 2 * USD, "B", "gen-2"), 2 * USD, "fal", "fal.ai"
    )

    assert (vendor_spend("ark"), vendor_spend("fal")) == (USD, 2 * USD)


def test_a_capture_uses_a_stale_hold_object_safely(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")
    stale = Hold.objects.get(pk=held.pk)
    ledger.release(held, "Cancelled")

    with pytest.raises(ledger.LedgerError):
        ledger.capture(stale, USD, "ark", "BytePlus")


# --- Releases ---


def test_a_release_returns_the_whole_hold(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")

    released = ledger.release(held, "The vendor rejected the prompt")

    assert released.status == HoldStatus.RELEASED
    assert released.resolved is not None
    assert released.captured_amount is None
    assert released.transfers.get(kind=TransferKind.RETURN).memo == "The vendor rejected the prompt"
    assert ledger.balances(funded) == ledger.Balances(10 * USD, 0, 0)
    assert_reconciles()


def test_releasing_twice_changes_nothing(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")
    ledger.release(held, "Cancelled")

    assert ledger.release(held, "Cancelled again").status == HoldStatus.RELEASED
    assert held.transfers.count() == 2
    assert ledger.balances(funded).available == 10 * USD


def test_releasing_a_captured_hold_is_an_error(funded, member):
    held = ledger.hold(funded, member, None, 3 * USD, "Shot", "gen-1")
    ledger.capture(held, USD, "ark", "BytePlus")

    with pytest.raises(
        ledger.LedgerError, match="This hold was already captured, so it cannot be released."
    ):
        ledger.release(held, "Too late")


# --- The database's own guards ---


def test_the_database_refuses_a_negative_team_balance(funded):
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(team=funded, kind=AccountKind.AVAILABLE).update(balance=-1)


def test_the_database_refuses_a_transfer_of_nothing(funded):
    available = Account.objects.get(team=funded, kind=AccountKind.AVAILABLE)
    grants = Account.objects.get(kind=AccountKind.GRANTS)
    with pytest.raises(IntegrityError), transaction.atomic():
        Transfer.objects.create(
            debit=grants, credit=available, amount=0, kind=TransferKind.GRANT, team=funded
        )


def test_transfers_cannot_be_edited(funded):
    transfer = Transfer.objects.get()
    transfer.amount = 1
    with pytest.raises(ValueError, match="immutable"):
        transfer.save()


# --- Reading ---


def test_spent_this_month_counts_only_this_months_spend(funded, member, monkeypatch):
    this_month = ledger.month_start()
    monkeypatch.setattr(timezone, "now", lambda: this_month - dt.timedelta(days=3))
    ledger.capture(
        ledger.hold(funded, member, None, 2 * USD, "Old", "gen-1"), 2 * USD, "ark", "BytePlus"
    )
    monkeypatch.undo()
    ledger.capture(ledger.hold(funded, member, None, USD, "New", "gen-2"), USD, "ark", "BytePlus")

    assert ledger.balances(funded).spent_this_month == USD


def test_spend_is_grouped_by_day_member_project_and_vendor(funded, member, owner):
    trailer = Project(name="Trailer")
    ledger.capture(
        ledger.hold(funded, member, trailer, 2 * USD, "A", "gen-1"), 2 * USD, "ark", "BytePlus"
    )
    ledger.capture(ledger.hold(funded, owner, None, USD, "B", "gen-2"), USD, "fal", "fal.ai")
    since = timezone.now() - dt.timedelta(days=30)

    days = ledger.spend_by_day(funded)
    assert len(days) == 30
    assert days[-1] == (timezone.now().astimezone(dt.UTC).date(), 3 * USD)
    assert sum(total for _, total in days) == 3 * USD
    assert ledger.spend_by(funded, "member", since) == [("mateo", 2 * USD), ("olivia", USD)]
    assert ledger.spend_by(funded, "project", since) == [
        ("Trailer", 2 * USD),
        ("(no project)", USD),
    ]
    assert ledger.spend_by(funded, "vendor", since) == [("BytePlus", 2 * USD), ("fal.ai", USD)]


def test_usage_counts_spend_and_pending_holds(funded, member):
    project = Project()
    ledger.capture(
        ledger.hold(funded, member, project, 2 * USD, "A", "gen-1"), USD, "ark", "BytePlus"
    )
    ledger.hold(funded, member, project, 3 * USD, "B", "gen-2")

    assert ledger.member_usage_this_month(funded, member) == 4 * USD
    assert ledger.members_usage_this_month(funded) == {member.pk: 4 * USD}
    assert ledger.project_usage(funded, project.uuid) == 4 * USD


# --- Reconciliation ---


def test_reconcile_ledger_reports_a_healthy_ledger(funded, member):
    ledger.capture(
        ledger.hold(funded, member, None, 2 * USD, "A", "gen-1"), 3 * USD, "ark", "BytePlus"
    )
    ledger.hold(funded, member, None, USD, "B", "gen-2")
    out = StringIO()

    call_command("reconcile_ledger", stdout=out)

    # A grant, a hold, its capture and overage, and a second hold.
    assert "5 transfers" in out.getvalue()
    assert "The ledger reconciles." in out.getvalue()


def test_reconcile_ledger_names_a_cached_balance_that_drifted(funded):
    Account.objects.filter(team=funded, kind=AccountKind.AVAILABLE).update(balance=9 * USD)

    with pytest.raises(CommandError) as error:
        call_command("reconcile_ledger", stdout=StringIO())

    message = str(error.value)
    assert "add up to -1000000 micro-dollars, not zero" in message
    assert "shows 9000000 but its transfers add up to 10000000" in message


def test_reconcile_ledger_names_a_hold_resolved_twice(funded, member):
    held = ledger.capture(
        ledger.hold(funded, member, None, 2 * USD, "A", "gen-1"), USD, "ark", "BytePlus"
    )
    spend = Account.objects.get(kind=AccountKind.VENDOR_SPEND)
    holds = Account.objects.get(team=funded, kind=AccountKind.HOLDS)
    # A second capture written behind the ledger's back (balances kept consistent).
    Transfer.objects.create(
        debit=spend, credit=holds, amount=USD, kind=TransferKind.HOLD, team=funded, hold=held
    )
    Transfer.objects.create(
        debit=holds, credit=spend, amount=USD, kind=TransferKind.CAPTURE, team=funded, hold=held
    )

    found = ledger.problems()

    assert any(f"Hold #{held.pk} (captured)" in p and "resolved more than once" in p for p in found)
    assert any("hold transfer(s) move money from vendor_spend to holds" in p for p in found)


def test_reconcile_ledger_names_a_transfer_into_another_teams_account(funded, other_team, operator):
    ledger.grant(other_team, USD, operator, "Theirs", "g")
    theirs = Account.objects.get(team=other_team, kind=AccountKind.AVAILABLE)
    ours = Account.objects.get(team=funded, kind=AccountKind.AVAILABLE)
    Transfer.objects.create(
        debit=ours, credit=theirs, amount=1, kind=TransferKind.ADJUSTMENT, team=funded
    )

    assert any("touch another team's account" in p for p in ledger.problems())


def test_reconcile_ledger_names_pending_holds_that_do_not_match_the_holds_balance(funded, member):
    held = ledger.hold(funded, member, None, 2 * USD, "A", "gen-1")
    Hold.objects.filter(pk=held.pk).update(amount=3 * USD)

    found = ledger.problems()

    assert any("has 2000000 on hold but its pending holds add up to 3000000" in p for p in found)


def test_reconcile_ledger_handles_an_empty_ledger(db):
    out = StringIO()
    call_command("reconcile_ledger", stdout=out)
    assert "The ledger reconciles" in out.getvalue()


def test_members_can_share_a_team_budget_across_teams(funded, member, other_team, operator):
    MembershipFactory(team=other_team, user=member)
    ledger.grant(other_team, USD, operator, "Theirs", "g")

    ledger.hold(other_team, member, None, USD, "Elsewhere", "gen-1")

    assert ledger.balances(funded).available == 10 * USD
    assert ledger.balances(other_team).available == 0


def test_refusal_names_the_limit_a_hold_would_meet_without_moving_money(team, member):
    refused = ledger.refusal(team, member, None, 1_000_000)
    assert str(refused) == "This needs $1.00; the team has $0.00 available."
    assert refused.limit == "team"
    assert ledger.balances(team).on_hold == 0
    assert ledger.refusal(team, member, None, 0) is None


def test_capturing_or_releasing_a_hold_that_does_not_exist_says_so(team, member, operator):
    from billing.models import Hold

    ledger.grant(team, 10_000_000, by=operator, memo="Budget", key="budget-missing")
    held = ledger.hold(team, member, None, 1_000_000, "Clip", "missing")
    ghost = Hold(pk=held.pk + 1000, team=team, amount=1)
    with pytest.raises(Hold.DoesNotExist):
        ledger.capture(ghost, 1, "ark", "BytePlus")
    with pytest.raises(Hold.DoesNotExist):
        ledger.release(ghost, "gone")
