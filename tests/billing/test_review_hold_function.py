"""Review of billing_place_hold (migration 0011): the attacks on the one-call hold that
held, pinned. Each compares the function with the Python statements on the same rows
(tests/billing/test_hold_in_one_statement.py), or runs the whole hold on PostgreSQL."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from billing import ledger
from billing.ledger import holds
from billing.models import Hold, HoldStatus, Membership, MemberUsage, Role
from tests.billing import test_hold_in_one_statement as pinned
from tests.billing.test_ledger_concurrency import race
from tests.billing.test_ledger_usage import USD, Project
from tests.factories import MembershipFactory

pytestmark = pytest.mark.postgres

# Its cases' fixtures and helpers: a funded team, a project with both usage rows.
funded, project, both_ways, outcome = (
    pinned.funded,
    pinned.project,
    pinned.both_ways,
    pinned.outcome,
)

HOSTILE = {
    "quotes": "it's a \"boat\"'); DROP TABLE billing_hold; --",
    "dollar quoting": "$$ || pg_sleep(1) || $$ $x$",
    "backslashes": "C:\\clips\\n\\t",
    "unicode": "🎬 Ça tourne — 東京 ﷽ e\u0301",
    "very long": "é" * 5000,
    "astral, long": "🎬" * 700,
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_memo_reference_and_project_name_are_stored_and_clipped_alike(
    case, funded, member, project
):
    text = HOSTILE[case]
    project.name = text
    now = timezone.now()

    def placed():
        return holds.new_hold(funded, member, project, USD, text, "job-x", text, now)

    in_one = outcome(lambda: holds._place_in_one(placed(), project, now), funded)
    assert in_one == outcome(lambda: holds._place(placed(), project, now), funded)
    assert in_one[0] == "placed"


def test_a_project_cap_of_zero_stops_both_and_none_stops_neither(funded, member, project):
    project.spend_cap = 0
    assert both_ways(funded, member, project, USD, key="zero") == ("stopped", "stopped")
    project.spend_cap = None
    in_one, by_statements = both_ways(funded, member, project, USD, key="none")
    assert in_one == by_statements and in_one[0] == "placed"


def test_a_member_removed_from_the_team_is_stopped_by_both_then_refused(funded, member, project):
    """Their usage row stays; the membership the guard looks for is gone."""
    Membership.objects.filter(user=member, team=funded).delete()
    assert both_ways(funded, member, project, USD, key="gone") == ("stopped", "stopped")
    with pytest.raises(ledger.Refused, match="Only members"):
        ledger.hold(funded, member, project, USD, "Clip", "gone-2")
    assert not Hold.objects.filter(idempotency_key="gone-2").exists()


def test_another_teams_member_holding_here_is_stopped_by_both(
    funded, member, project, other_team, operator
):
    ledger.grant(other_team, 10 * USD, operator, "Theirs", "theirs")
    assert both_ways(other_team, member, project, USD, key="x") == ("stopped", "stopped")
    assert not MemberUsage.objects.filter(team=other_team).exists()


@pytest.mark.parametrize("offset", [-1, 0], ids=["last microsecond of a month", "first of next"])
def test_spend_recorded_in_the_month_the_clock_turns_to_counts_alike(
    offset, funded, member, project, monkeypatch
):
    first = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    Membership.objects.filter(user=member).update(monthly_cap=10 * USD)
    MemberUsage.objects.filter(member=member).update(spent=9 * USD, month=first.date())
    monkeypatch.setattr(timezone, "now", lambda: first + dt.timedelta(microseconds=offset))
    assert both_ways(funded, member, project, 2 * USD, key="over") == ("stopped", "stopped")
    in_one, by_statements = both_ways(funded, member, project, USD, key="fits")
    assert in_one == by_statements and in_one[0] == "placed"


def test_reconcile_ledger_passes_after_many_holds_placed_in_one_call(funded, operator, capsys):
    ledger.grant(funded, 1000 * USD, operator, "More", "more")
    members = [MembershipFactory(team=funded, monthly_cap=60 * USD).user for _ in range(3)]
    projects = [Project(spend_cap=300 * USD), Project(name="Teaser", spend_cap=None), None]
    refused = 0
    for n in range(240):
        try:
            held = ledger.hold(
                funded, members[n % 3], projects[n % 3], (n % 7 + 1) * USD // 2, "Clip", f"k-{n}"
            )
        except ledger.Refused:
            refused += 1
            continue
        if n % 4 == 1:
            ledger.release(held, "Cancelled")
        elif n % 4 == 2:
            ledger.capture(held, held.amount + (n % 3) * USD // 4, "ark", "BytePlus")
    call_command("reconcile_ledger")
    assert 0 < refused < 240
    assert f"{240 - refused} holds" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_eight_threads_of_mixed_holds_on_one_team_keep_caps_usage_and_balance(team, operator):
    """First holds (no usage rows yet), a viewer, a zero cap, holds without a savepoint in
    a caller's transaction, reused keys, captures and releases, eight at a time."""
    ledger.grant(team, 40 * USD, operator, "Some", "grant")
    members = [MembershipFactory(team=team, monthly_cap=9 * USD).user for _ in range(3)]
    viewer = MembershipFactory(team=team, role=Role.VIEWER).user
    projects = [Project(spend_cap=12 * USD), Project(name="Teaser"), Project(spend_cap=0)]
    earlier = [
        ledger.hold(team, members[n % 3], projects[n % 2], USD, "Earlier", f"earlier-{n}")
        for n in range(3)
    ]

    def work(i):
        member, chosen, kind = members[i % 3], projects[(i // 3) % 3], i % 8
        if kind == 7:
            held = earlier[i // 8]
            return ledger.release(held, "x") if i % 2 else ledger.capture(held, 2 * USD, "ark", "B")
        if kind == 6:
            return ledger.hold(team, viewer, chosen, USD, "Viewer", f"viewer-{i}")
        if kind == 5:
            with transaction.atomic():
                return ledger.hold(team, member, chosen, 2 * USD, "In", f"in-{i}", savepoint=False)
        if kind == 4:
            return ledger.hold(team, member, Project(), USD, "First", f"first-{i}")
        return ledger.hold(team, member, chosen, 2 * USD, "Again", f"again-{i % 4}")

    for turn in range(3):
        results = race(8, lambda i, turn=turn: work(i + 8 * turn))
        assert all(isinstance(r, Hold | ledger.Refused | ledger.KeyReused) for r in results), (
            results
        )
    assert ledger.problems() == []
    for member in members:
        usage = MemberUsage.objects.get(team=team, member=member)
        mine = Hold.objects.filter(team=team, member=member, status=HoldStatus.PENDING)
        assert usage.pending == sum(h.amount for h in mine)
        assert usage.pending + usage.spent <= 9 * USD
    assert not Hold.objects.filter(member=viewer).exists()
    assert ledger.project_usage(team, projects[0].uuid) <= 12 * USD
    assert ledger.project_usage(team, projects[2].uuid) == 0
