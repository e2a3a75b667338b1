"""On PostgreSQL the usual hold is one call of billing_place_hold (migration 0011); SQLite
and the long way keep the Python statements (holds._place). The two are written apart,
so each case here runs both on the same rows and compares what they did: the outcome,
the balances, the usage rows, the hold and its transfer."""

import datetime as dt
from uuid import uuid4

import pytest
from django.db import connection, transaction
from django.utils import timezone

from billing import ledger
from billing.ledger import holds
from billing.models import Account, Hold, Membership, MemberUsage, ProjectUsage, Role, Transfer
from tests.billing.test_ledger_usage import USD, Project

pytestmark = pytest.mark.postgres


def state(team):
    """Everything a hold may write, without the ids and uuids a run draws afresh."""
    return {
        "balances": sorted(Account.objects.filter(team=team).values_list("kind", "balance")),
        "members": sorted(MemberUsage.objects.filter(team=team).values_list("member_id", "pending", "spent", "month")),
        "projects": sorted(ProjectUsage.objects.filter(team=team).values_list("project_uuid", "pending", "spent")),
        "holds": sorted(
            Hold.objects.filter(team=team).values_list(
                "member_id", "project_uuid", "project_name", "amount", "status", "memo",
                "reference", "idempotency_key", "shortfall", "captured_amount", "created",
            ),
            key=repr,
        ),
        "transfers": sorted(
            Transfer.objects.filter(team=team).values_list(
                "debit__kind", "credit__kind", "amount", "kind", "memo", "created_by_id",
                "member_id", "project_uuid", "project_name", "vendor", "vendor_label",
                "reference", "hold__idempotency_key", "idempotency_key", "created",
            ),
            key=repr,
        ),
    }  # fmt: skip


def outcome(place, team):
    """What `place` answers and what it wrote, then undone. When a guard stopped it, the
    Python statements leave what they wrote to the caller's rollback: then only the
    answer counts, and the function must have written nothing."""
    before = state(team)
    with transaction.atomic():
        if place() is None:
            return "stopped", state(team) == before
        result = "placed", state(team)
        transaction.set_rollback(True)
    return result


def both_ways(team, member, project, amount, key="job-1"):
    """(the function's outcome, the Python statements' outcome) on the same rows."""
    now = timezone.now()

    def placed():
        return holds.new_hold(team, member, project, amount, "Clip: a boat", key, "gen:1", now)

    in_one = outcome(lambda: holds._place_in_one(placed(), project, now), team)
    by_statements = outcome(lambda: holds._place(placed(), project, now), team)
    if in_one[0] == "stopped":
        assert in_one[1], "the function wrote something, then answered that it was stopped"
        return in_one[0], by_statements[0]
    return in_one, by_statements


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 100 * USD, operator, "Welcome credits", "welcome")
    return team


@pytest.fixture
def project(funded, member):
    """A project the member has held for before (so both usage rows exist)."""
    chosen = Project(spend_cap=50 * USD)
    ledger.release(ledger.hold(funded, member, chosen, USD, "Before", "before"), "Done")
    return chosen


CASES = {
    "within every limit": dict(amount=10 * USD),
    "past the member's monthly cap": dict(amount=30 * USD, cap=25 * USD),
    "past the project's cap": dict(amount=30 * USD, project_cap=20 * USD),
    "more than the balance": dict(amount=150 * USD),
    "by a viewer": dict(amount=USD, role=Role.VIEWER),
    "exactly the balance": dict(amount=100 * USD),
    "exactly the caps": dict(amount=20 * USD, cap=20 * USD, project_cap=20 * USD),
    "no project": dict(amount=USD, no_project=True),
    "no member": dict(amount=USD, no_member=True),
}


@pytest.mark.parametrize("case", CASES)
def test_the_function_does_what_the_statements_do(case, funded, member, project):
    given = CASES[case]
    Membership.objects.filter(user=member).update(
        monthly_cap=given.get("cap"), role=given.get("role", Role.MEMBER)
    )
    project.spend_cap = given.get("project_cap")
    in_one, by_statements = both_ways(
        funded,
        None if given.get("no_member") else member,
        None if given.get("no_project") else project,
        given["amount"],
    )
    assert in_one == by_statements
    stopped = case.startswith(("past", "more", "by a viewer"))
    assert (in_one == "stopped") if stopped else (in_one[0] == "placed")


def test_last_months_spending_does_not_count_either_way(funded, member, project):
    last_month = timezone.now().date().replace(day=1) - dt.timedelta(days=1)
    MemberUsage.objects.filter(member=member).update(spent=39 * USD, month=last_month)
    Membership.objects.filter(user=member).update(monthly_cap=40 * USD)
    in_one, by_statements = both_ways(funded, member, project, 30 * USD)
    assert in_one == by_statements
    assert in_one[0] == "placed"


def test_a_first_hold_without_usage_rows_is_stopped_by_both(funded, member):
    """The long way creates the rows; the short one only counts in existing ones."""
    in_one, by_statements = both_ways(funded, member, Project(uuid=uuid4()), USD)
    assert in_one == by_statements == "stopped"


def test_a_taken_key_answers_the_first_hold(funded, member, project):
    first = ledger.hold(funded, member, project, USD, "Clip: a boat", "job-1", "gen:1")
    now = timezone.now()
    again = holds.new_hold(funded, member, project, USD, "Clip: a boat", "job-1", "gen:1", now)
    assert holds._place_in_one(again, project, now).pk == first.pk
    other = holds.new_hold(funded, member, project, 2 * USD, "Clip: a boat", "job-1", "", now)
    with pytest.raises(ledger.KeyReused):
        holds._place_in_one(other, project, now)


def test_a_refusal_after_the_short_way_leaves_the_callers_transaction_usable(
    funded, member, project
):
    """hold(savepoint=False) refused: nothing was written by the function, and the long
    way raised before writing, so the caller's rows survive when it catches Refused in
    a savepoint of its own."""
    with transaction.atomic():
        ledger.hold(funded, member, project, USD, "Kept", "kept")
        with pytest.raises(ledger.Refused), transaction.atomic():
            ledger.hold(funded, member, project, 500 * USD, "Too much", "big", savepoint=False)
    assert Hold.objects.filter(idempotency_key="kept").exists()
    assert not Hold.objects.filter(idempotency_key="big").exists()
    assert connection.vendor == "postgresql"
