"""Real races on PostgreSQL: threads, each with its own connection, at one team's balance.

Skipped on SQLite (its writers are serialized by IMMEDIATE transactions, so there
is no race to lose). Run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test.
"""

from dataclasses import dataclass, field
from uuid import UUID, uuid4

import pytest

from billing import ledger
from billing.models import Hold, HoldStatus, Membership, Transfer
from tests.factories import MembershipFactory
from tests.threads import race

USD = 1_000_000

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_racing_holds_on_a_balance_for_five_leave_exactly_zero(team, member, operator):
    ledger.grant(team, 5 * 2 * USD, operator, "Exactly five holds", "grant")

    results = race(20, lambda i: ledger.hold(team, member, None, 2 * USD, "Race", f"race-{i}"))

    placed = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, ledger.Refused)]
    assert len(placed) == 5
    assert len(refused) == 15, [r for r in results if not isinstance(r, Hold | ledger.Refused)]
    assert all(str(r) == "This needs $2.00; the team has $0.00 available." for r in refused)
    assert ledger.balances(team) == ledger.Balances(
        available=0, on_hold=10 * USD, spent_this_month=0
    )
    assert Hold.objects.filter(team=team).count() == 5
    assert ledger.problems() == []


def test_ten_threads_with_the_same_key_place_one_hold(team, member, operator):
    ledger.grant(team, 100 * USD, operator, "Plenty", "grant")

    results = race(
        10, lambda i: ledger.hold(team, member, None, 3 * USD, "Same job", "generation-1")
    )

    assert all(isinstance(r, Hold) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Hold.objects.filter(team=team).count() == 1
    assert ledger.balances(team).available == 97 * USD
    assert ledger.problems() == []


def test_racing_captures_and_releases_resolve_a_hold_once(team, member, operator):
    ledger.grant(team, 10 * USD, operator, "Some", "grant")
    held = ledger.hold(team, member, None, 4 * USD, "Contested", "generation-1")

    def capture_or_release(i):
        if i % 2:
            return ledger.release(held, "Cancelled")
        return ledger.capture(held, 3 * USD, "ark", "BytePlus")

    results = race(10, capture_or_release)

    final = Hold.objects.get(pk=held.pk)
    winners = [r for r in results if isinstance(r, Hold)]
    assert all(r.status == final.status for r in winners)
    assert all(isinstance(r, Hold | ledger.LedgerError) for r in results), results
    assert Transfer.objects.filter(hold=held).exclude(kind="hold").count() in (1, 2)
    expected_available = 7 * USD if final.status == HoldStatus.CAPTURED else 10 * USD
    assert ledger.balances(team).available == expected_available
    assert ledger.problems() == []


def test_racing_grants_with_the_same_key_credit_once(team, operator):
    results = race(8, lambda i: ledger.grant(team, 5 * USD, operator, "Welcome", "welcome"))

    assert len({r.pk for r in results}) == 1, results
    assert ledger.balances(team).available == 5 * USD
    assert ledger.problems() == []


@dataclass
class Project:
    name: str = "Trailer"
    spend_cap: int | None = None
    uuid: UUID = field(default_factory=uuid4)


def test_twenty_racing_holds_against_a_member_cap_for_five_place_five(team, member, operator):
    ledger.grant(team, 100 * USD, operator, "Plenty", "grant")
    Membership.objects.filter(user=member).update(monthly_cap=5 * 2 * USD)

    results = race(20, lambda i: ledger.hold(team, member, None, 2 * USD, "Race", f"race-{i}"))

    placed = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, ledger.Refused)]
    assert len(placed) == 5
    assert len(refused) == 15, [r for r in results if not isinstance(r, Hold | ledger.Refused)]
    assert {(r.limit, r.left) for r in refused} == {("member", 0)}
    assert ledger.member_usage_this_month(team, member) == 10 * USD
    assert ledger.problems() == []


def test_twenty_racing_holds_against_a_project_cap_for_five_place_five(team, operator):
    ledger.grant(team, 100 * USD, operator, "Plenty", "grant")
    members = [MembershipFactory(team=team).user for _ in range(4)]
    project = Project(spend_cap=5 * 2 * USD)

    results = race(
        20, lambda i: ledger.hold(team, members[i % 4], project, 2 * USD, "Race", f"race-{i}")
    )

    placed = [r for r in results if isinstance(r, Hold)]
    refused = [r for r in results if isinstance(r, ledger.Refused)]
    assert len(placed) == 5
    assert len(refused) == 15, [r for r in results if not isinstance(r, Hold | ledger.Refused)]
    assert {(r.limit, r.left) for r in refused} == {("project", 0)}
    assert ledger.project_usage(team, project.uuid) == 10 * USD
    assert ledger.problems() == []


def test_usage_stays_exact_under_racing_holds_captures_and_releases(team, operator):
    """Three members and two projects, every operation at once: no lock cycle, exact totals."""
    ledger.grant(team, 1000 * USD, operator, "Plenty", "grant")
    members = [MembershipFactory(team=team, monthly_cap=400 * USD).user for _ in range(3)]
    projects = [Project(spend_cap=500 * USD), Project(name="Teaser")]
    earlier = [
        ledger.hold(team, members[n % 3], projects[n % 2], 3 * USD, "Earlier", f"earlier-{n}")
        for n in range(16)
    ]

    def work(i):
        member, project = members[i % 3], projects[(i // 3) % 2]
        if i < 16:
            return ledger.hold(team, member, project, (i + 1) * 100_000, "New", f"new-{i}")
        held = earlier[i - 16]
        if i % 2:
            return ledger.release(held, "Cancelled")
        return ledger.capture(held, [USD, 3 * USD, 5 * USD][i % 3], "ark", "BytePlus")

    results = race(32, work)

    assert all(isinstance(r, Hold) for r in results), results
    assert ledger.problems() == []
    usage = ledger.members_usage_this_month(team)
    pending = {
        m.pk: sum(h.amount for h in Hold.objects.filter(member=m, status=HoldStatus.PENDING))
        for m in members
    }
    spent = {
        m.pk: sum(h.captured_amount or 0 for h in Hold.objects.filter(member=m)) for m in members
    }
    assert usage == {m.pk: pending[m.pk] + spent[m.pk] for m in members}
