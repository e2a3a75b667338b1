"""What the generations tasks put on django-q2's queue, and how the sweeper shares it."""

import time

import pytest
from django_q.models import OrmQ
from django_q.tasks import async_task

from generations import lifecycle, tasks


@pytest.fixture
def enqueued(monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks, "async_task", lambda func, *args, **options: sent.append((func, options))
    )
    # No broker either: building the ORM one asks the database (this test has none), and
    # whether this process had built one already depends on the tests before it.
    monkeypatch.setattr(tasks, "_broker", lambda: None)
    monkeypatch.setattr(lifecycle, "request_check", lambda pk: None)
    return sent


def test_a_jobs_own_tasks_store_no_success_but_the_sweeper_keeps_its_results(enqueued):
    tasks.enqueue_submit(1)
    tasks.enqueue_check(1)
    tasks.enqueue_finalize(1)
    tasks.enqueue_recover(1, "task-1")
    tasks.enqueue_sweeper()
    saved = {func.rsplit(".", 1)[1]: options.get("save", True) for func, options in enqueued}
    assert saved == {
        "submit_generation": False,
        "check_generation": False,
        "finalize_generation": False,
        "recover_generation": False,
        "sweep_generations": True,
    }


def test_a_successor_would_wait_when_more_tasks_are_queued_than_workers(db, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 4}
    for n in range(4):
        async_task("math.floor", n)
    assert not tasks._successor_would_wait()
    async_task("math.floor", 5)
    assert OrmQ.objects.count() == 5
    assert tasks._successor_would_wait()


@pytest.fixture
def quick_sweeper(settings, monkeypatch, db):
    settings.SANDBOX_ENABLED = False
    settings.SWEEP_INTERVAL_SECONDS = 0.01
    successors = []
    monkeypatch.setattr(tasks, "enqueue_sweeper", lambda: successors.append(1))
    return successors


def test_the_sweeper_sweeps_on_while_its_successor_would_wait_behind_the_queue(
    quick_sweeper, monkeypatch
):
    waiting = iter([True, True, False])
    monkeypatch.setattr(tasks, "_successor_would_wait", lambda: next(waiting))
    totals = tasks.sweep_generations(run_for=0)
    assert totals["passes"] == 3
    assert quick_sweeper == [1]


def test_the_sweeper_hands_over_within_a_quarter_of_q_timeout_however_long_the_queue(
    quick_sweeper, monkeypatch, settings
):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 1.2}
    monkeypatch.setattr(tasks, "_successor_would_wait", lambda: True)
    decided, decide = [], tasks._time_to_hand_over

    def deciding(began, run_for, chain):
        # What it decided after each pass, between two readings of the sweeper's clock.
        before = time.monotonic() - began
        over = decide(began, run_for, chain)
        decided.append((before if not over else time.monotonic() - began, over))
        return over

    monkeypatch.setattr(tasks, "_time_to_hand_over", deciding)
    totals = tasks.sweep_generations(run_for=0)
    # It sweeps on while it has run less than a quarter of Q_TIMEOUT (0.3 s), and hands
    # over after the first pass that ends past it: decided on the sweeper's clock, not
    # bounded by wall time, which a busy machine stretches by one slow pass.
    *before, (ran, handed_over) = decided
    assert handed_over and ran >= 0.3
    assert before and all(not over and at < 0.3 for at, over in before)
    assert totals["passes"] == len(decided)
    assert quick_sweeper == [1]


def test_every_task_of_a_process_goes_through_one_broker(monkeypatch):
    """django-q2 builds a broker per task unless given one: with Redis, a new client and
    connection for every task queued."""
    built, pushed = [], []

    class Broker:
        list_key = "seedance"

        def __init__(self):
            built.append(self)

        def enqueue(self, package):
            pushed.append(package)
            return len(pushed)

    monkeypatch.setattr(tasks, "get_broker", Broker)
    monkeypatch.setattr(lifecycle, "request_check", lambda pk: None)
    tasks._broker.cache_clear()
    try:
        tasks.enqueue_submit(1)
        tasks.enqueue_check(2)
        tasks.enqueue_finalize(3)
    finally:
        tasks._broker.cache_clear()
    assert len(built) == 1
    assert len(pushed) == 3
