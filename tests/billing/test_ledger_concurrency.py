"""Real races on PostgreSQL: threads, each with its own connection, at one team's balance.

Skipped on SQLite (its writers are serialized by IMMEDIATE transactions, so there
is no race to lose). Run with DATABASE_URL=postgres://postgres@127.0.0.1:5432/test.
"""

import threading

import pytest
from django.db import connection

from billing import ledger
from billing.models import Hold, HoldStatus, Transfer

USD = 1_000_000

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(count, work):
    """Run work(i) in `count` threads released at the same instant; results by index."""
    start = threading.Barrier(count)
    results = [None] * count

    def run(i):
        try:
            start.wait()
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 (the test inspects what each thread got)
            results[i] = e
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


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
