"""Adversarial review of the written-SQL ledger, the written poll claim and release, the
sweep's _Feed and the one-string common-words search (adv-final24)."""

import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from billing import ledger
from billing.models import Hold, HoldStatus
from generations.lifecycle import follow, sweeping
from generations.models import Generation, State
from generations.studio import search
from generations.vendors import ErrorKind, VendorError
from tests.generations.factories import GenerationFactory, ProjectFactory
from tests.generations.factories import finished_clip as clip
from tests.threads import race

USD = 1_000_000

on_postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


# --- The sweep's _Feed ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pool_of_its_size")
def test_a_pass_whose_lookup_fails_ends_once_its_own_list_is_done(monkeypatch, settings):
    settings.SWEEP_THREADS = 2
    settings.SWEEP_PASS_SECONDS = 4.0
    ran = []

    def step(pk):
        ran.append(pk)
        time.sleep(0.1)

    def broken(*args, **kwargs):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(sweeping, "due_checks", broken)
    began = time.monotonic()
    sweeping._run_on_pool([(step, 1), (step, 2)])
    took = time.monotonic() - began
    assert sorted(ran) == [1, 2]
    assert took < 2.0, took  # the own list took 0.1 s; the pass waited for SWEEP_PASS_SECONDS


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pool_of_its_size")
def test_idle_threads_of_a_done_pass_stop_looking_soon(monkeypatch, settings):
    """One quick step, nothing else due: how long and how many lookups the tail costs."""
    settings.SWEEP_THREADS = 8
    settings.SWEEP_PASS_SECONDS = 10.0
    looks = []
    real = sweeping.due_checks

    def counted(*args, **kwargs):
        looks.append(kwargs.get("called_back", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(sweeping, "due_checks", counted)
    began = time.monotonic()
    sweeping._run_on_pool([(lambda pk: None, 1)])
    took = time.monotonic() - began
    # Each thread ends only on a look of its own, and looks are one per REFILL_SECONDS for
    # the whole pass: 8 threads x 0.25 s. Bounded, well under SWEEP_PASS_SECONDS.
    assert took < 3.5, (took, len(looks))
    assert len(looks) <= 3 * settings.SWEEP_THREADS, looks


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("pool_of_its_size")
def test_a_job_whose_check_never_claims_is_not_checked_in_a_hot_loop(monkeypatch, settings):
    """A due job whose check fails unexpectedly is handed back with a back-off (guarded),
    so the feed does not take it again four times a second for the rest of the pass."""
    settings.SWEEP_THREADS = 2
    settings.SWEEP_PASS_SECONDS = 2.0
    job = GenerationFactory(running=True)
    Generation.objects.filter(pk=job.pk).update(
        next_check_at=timezone.now() + timedelta(minutes=5), claimed_at=None
    )
    calls = []

    @follow.guarded
    def exploding(pk):
        calls.append(pk)
        follow._claim_for_check(pk)
        raise ValueError("a poisoned answer")

    def first(pk):
        Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
        time.sleep(0.3)

    monkeypatch.setattr(sweeping, "check", exploding)
    sweeping._run_on_pool([(first, 0)])
    assert len(calls) <= 1, calls


# --- A poll's claim and release ---------------------------------------------------


@pytest.mark.django_db
def test_the_written_claim_respects_a_live_lease_and_takes_an_expired_one(settings):
    settings.GENERATION_LEASE_SECONDS = 60
    job = GenerationFactory(running=True)
    Generation.objects.filter(pk=job.pk).update(claimed_at=timezone.now())
    assert follow._claim_for_check(job.pk) is None
    Generation.objects.filter(pk=job.pk).update(
        claimed_at=timezone.now() - timedelta(seconds=61), next_check_at=follow.CALLED_BACK
    )
    assert follow._claim_for_check(job.pk) is not None
    job.refresh_from_db()
    assert job.next_check_at != follow.CALLED_BACK  # moved off the mark
    assert follow._claim_for_check(job.pk) is None  # once


@pytest.mark.django_db
@pytest.mark.parametrize("sql", [follow.CHECKED, follow.CHECKED_INCOMPLETE])
def test_the_written_release_keeps_a_callbacks_mark_and_sets_the_time_otherwise(sql):
    job = GenerationFactory(running=True)
    at = connection.ops.adapt_datetimefield_value
    later = timezone.now() + timedelta(seconds=30)

    def release():
        with connection.cursor() as cursor:
            cursor.execute(
                sql, [5, 1, at(follow.CALLED_BACK), at(later), job.pk, State.RUNNING.value]
            )

    Generation.objects.filter(pk=job.pk).update(next_check_at=follow.CALLED_BACK)
    release()
    job.refresh_from_db()
    assert job.next_check_at == follow.CALLED_BACK and job.claimed_at is None
    Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    release()
    job.refresh_from_db()
    assert abs((job.next_check_at - later).total_seconds()) < 0.001


@pytest.mark.django_db
@pytest.mark.parametrize("retry_after", [-5, 0.001, 10**12])
def test_a_hostile_retry_after_neither_hot_loops_nor_overflows(settings, retry_after):
    settings.GENERATION_POLL_FIRST_SECONDS = 2.0
    job = GenerationFactory(running=True)
    before = timezone.now()
    follow._after_failed_check(
        job, VendorError(ErrorKind.RATE_LIMITED, "Slow down", retry_after=retry_after)
    )
    job.refresh_from_db()
    assert before + timedelta(seconds=2) <= job.next_check_at
    assert job.next_check_at <= timezone.now() + timedelta(seconds=301)


# --- Money ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_capture_retried_after_a_crash_moves_money_once(team, member, operator, monkeypatch):
    from billing.ledger import spend

    ledger.grant(team, 10 * USD, operator, "Some", "grant")
    held = ledger.hold(team, member, None, 4 * USD, "Job", "generation-1")
    real, crashes = spend.record, []

    def crash_once(transfer):
        if not crashes:
            crashes.append(transfer)
            raise RuntimeError("the worker died mid-capture")
        real(transfer)

    monkeypatch.setattr(spend, "record", crash_once)
    with pytest.raises(RuntimeError):
        ledger.capture(held, 3 * USD, "ark", "BytePlus")
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.PENDING
    first = ledger.capture(held, 3 * USD, "ark", "BytePlus")
    again = ledger.capture(held, 9 * USD, "ark", "BytePlus")
    assert first.captured_amount == again.captured_amount == 3 * USD
    assert ledger.balances(team).available == 7 * USD
    with pytest.raises(ledger.LedgerError):
        ledger.release(held, "Too late")
    assert ledger.problems() == []


@pytest.mark.django_db
def test_an_overage_beyond_the_balance_draws_what_there_is_and_records_the_rest(
    team, member, operator
):
    ledger.grant(team, 10 * USD, operator, "Some", "grant")
    a = ledger.hold(team, member, None, 4 * USD, "Job A", "generation-a")
    ledger.hold(team, member, None, 5 * USD, "Job B", "generation-b")
    captured = ledger.capture(a, 9 * USD, "ark", "BytePlus")
    assert captured.captured_amount == 5 * USD
    assert captured.shortfall == 4 * USD
    assert ledger.balances(team).available == 0
    assert ledger.problems() == []


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_overages_never_draw_past_zero(team, member, operator):
    ledger.grant(team, 10 * USD, operator, "Some", "grant")
    holds = [
        ledger.hold(team, member, None, 4 * USD, f"Job {i}", f"generation-{i}") for i in range(2)
    ]
    results = race(2, lambda i: ledger.capture(holds[i], 6 * USD, "ark", "BytePlus"))
    assert all(isinstance(r, Hold) for r in results), results
    final = [Hold.objects.get(pk=h.pk) for h in holds]
    assert sum(h.captured_amount for h in final) == 10 * USD
    assert sum(h.shortfall for h in final) == 2 * USD
    assert ledger.balances(team).available == 0
    assert ledger.problems() == []


@pytest.mark.django_db
def test_the_ledgers_written_reads_see_only_the_teams_own_rows(team, other_team, operator):
    from billing.ledger.accounts import team_accounts

    ledger.grant(team, 3 * USD, operator, "Ours", "grant-1")
    ledger.grant(other_team, 7 * USD, operator, "Theirs", "grant-2")
    with transaction.atomic():
        available, holds = team_accounts(team.pk, lock=True)
    assert (available.team_id, holds.team_id) == (team.pk, team.pk)
    assert available.balance == 3 * USD


# --- The one-string common-words search -----------------------------------------------


def _setting(name):
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def _held(sql, params=()):
    found = search.Found(Generation.objects.all(), search.Order.NEWEST, read_newest_first=True)
    return search.page_rows(found, sql, list(params))


@on_postgres
@pytest.mark.usefixtures("media")
@pytest.mark.parametrize(
    "q",
    [
        "fox'; SET LOCAL enable_sort = on; --",
        "fox; SET enable_seqscan TO DEFAULT; SELECT 1",
        "fox %s %(x)s $1 ;;",
        "fox \u0000 nul",
        "fox ünïcødé 🦊 狐",
        "fox " + "x" * 20_000,
    ],
)
def test_hostile_text_on_the_common_words_path_is_only_text(
    member_client, team, other_team, monkeypatch, q
):
    monkeypatch.setattr(search, "PROBE", 2)
    project = ProjectFactory(team=team, name="Harbour")
    theirs = ProjectFactory(team=other_team, name="Rival")
    clip(project, "Fox fox fox", minutes_ago=10)
    clip(project, "A fox", minutes_ago=5)
    clip(project, "Another fox", minutes_ago=0)
    clip(theirs, "Their fox", minutes_ago=0)
    response = member_client.get("/gallery/", {"q": q})
    assert response.status_code == 200
    assert b"Their fox" not in response.content
    assert _setting("enable_sort") == "on"
    assert _setting("enable_seqscan") == "on"


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_transaction_opened_without_atomic_keeps_no_held_settings():
    """set_autocommit(False): a transaction is open but in_atomic_block is False, so page_rows
    takes the 'own transaction' path and sends no LIFT."""
    transaction.set_autocommit(False)
    try:
        assert _held("SELECT current_setting('enable_sort')") == [("off",)]
        after = _setting("enable_sort")
    finally:
        transaction.rollback()
        transaction.set_autocommit(True)
    assert after == "on", "the page's SET LOCAL outlived it for the rest of the transaction"


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_lift_puts_back_the_servers_value():
    """SET LOCAL ... TO DEFAULT is the value a RESET would give, not one a session SET
    itself (the app sets none): LIFT's comment says so."""
    with connection.cursor() as cursor:
        cursor.execute("SET max_parallel_workers_per_gather = 1")
    try:
        with transaction.atomic():
            _held("SELECT 1")
            inside = _setting("max_parallel_workers_per_gather")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET max_parallel_workers_per_gather")
    assert inside == "2", inside  # PostgreSQL's own default, not the session's 1
