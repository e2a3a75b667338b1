"""Review of the sweep pass that takes checks that came due while it ran (sweeping._Feed)."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from generations.lifecycle import sweeping
from generations.models import Generation
from tests.generations.factories import GenerationFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("pool_of_its_size")]


def not_due(job, seconds=300):
    later = timezone.now() + timedelta(seconds=seconds)
    Generation.objects.filter(pk=job.pk).update(next_check_at=later, claimed_at=None)


def checked_by(ran, seconds=0.0, again_in=300.0):
    """A stand-in for check(): records (pk, thread), and sets the job's next check."""

    def check(pk):
        ran.append((pk, threading.get_ident()))
        time.sleep(seconds)
        later = timezone.now() + timedelta(seconds=again_in)
        Generation.objects.filter(pk=pk).update(next_check_at=later, claimed_at=None)

    return check


def test_a_lookup_that_fails_on_a_thread_neither_ends_the_pass_early_nor_drops_its_list(
    monkeypatch, settings
):
    """The database fails the feed's lookups (down, restarting): the pass still runs its
    own list, and returns only once every one of its threads is done."""
    settings.SWEEP_THREADS = 2
    ran, running = [], set()

    def step(pk):
        running.add(pk)
        ran.append(pk)
        time.sleep(0.6 if pk == 1 else 0.3)
        running.discard(pk)

    def broken(*args, **kwargs):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(sweeping, "due_checks", broken)
    sweeping._run_on_pool([(step, 1), (step, 2), (step, 3), (step, 4)])
    assert sorted(ran) == [1, 2, 3, 4]
    assert not running  # no thread of this pass still at work after it returned


def test_checks_that_came_due_while_a_slow_step_runs_are_shared_by_the_idle_threads(
    monkeypatch, settings
):
    """One slow step holds the pass; the jobs that come due meanwhile are checked by the
    pass's other threads, not by one thread, one after the other, once the slow step ends."""
    settings.SWEEP_THREADS = 4
    jobs = [GenerationFactory(running=True) for _ in range(6)]
    for job in jobs:
        not_due(job)
    ran = []

    def slow(pk):
        for job in jobs:
            Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
        time.sleep(1.5)

    monkeypatch.setattr(sweeping, "check", checked_by(ran, 0.3))
    began = time.monotonic()
    sweeping._run_on_pool([(slow, 0)])
    took = time.monotonic() - began
    assert sorted(pk for pk, thread in ran) == sorted(job.pk for job in jobs)
    assert len({thread for pk, thread in ran}) > 1, ran
    assert took < 2.5, took  # one thread alone: 1.5 + 6 x 0.3 s


def test_a_vendor_asking_to_be_asked_again_at_once_is_asked_after_the_first_polls_wait(
    settings,
):
    """A sub-second Retry-After would make a job due again at once after every check, and a
    pass that takes what comes due would ask that vendor four times a second."""
    from generations.lifecycle import follow
    from generations.vendors import ErrorKind, VendorError

    settings.GENERATION_POLL_FIRST_SECONDS = 2.0
    job = GenerationFactory(running=True)
    before = timezone.now()
    follow._after_failed_check(
        job, VendorError(ErrorKind.RATE_LIMITED, "Slow down", retry_after=0.1)
    )
    job.refresh_from_db()
    assert job.next_check_at >= before + timedelta(seconds=2)


def test_a_steady_stream_of_due_checks_is_taken_as_it_comes_and_the_pass_still_ends_on_time(
    monkeypatch, settings
):
    """Checks keep coming due (a busy system): the pass takes them as they come instead of
    leaving them for the next one, and takes no new step after SWEEP_PASS_SECONDS."""
    settings.SWEEP_THREADS = 2
    settings.SWEEP_PASS_SECONDS = 1.5
    jobs = [GenerationFactory(running=True) for _ in range(30)]
    for i, job in enumerate(jobs):
        not_due(job, seconds=0.1 * i)  # one comes due every 0.1 s
    ran = []
    monkeypatch.setattr(sweeping, "check", checked_by(ran, 0.05))
    began = time.monotonic()
    sweeping._run_on_pool([(sweeping.check, jobs[0].pk)])
    took = time.monotonic() - began
    assert took >= 1.4, took  # it went on taking what came due ...
    assert took < 4.0, took  # ... and started nothing after 1.5 s (a busy machine: slack)
    assert 5 <= len(ran) < 30 and len(set(ran)) == len(ran), ran  # each due one, once


def test_the_feed_never_hands_out_a_job_the_pass_has_queued_and_not_finished(monkeypatch):
    monkeypatch.setattr(sweeping._Feed, "REFILL_SECONDS", 0.0)
    job = GenerationFactory(running=True)
    Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now(), claimed_at=None)
    feed = sweeping._Feed([], 1)
    assert feed.came_due() == [job.pk]
    assert feed.came_due() == []  # still queued or under way: never a second time at once
    feed.finished(sweeping.check, job.pk, own=False)
    assert feed.came_due() == [job.pk]  # finished and due again: taken again


def test_every_thread_of_a_pass_closes_its_connection_even_one_that_found_nothing(
    monkeypatch, settings
):
    settings.SWEEP_THREADS = 4
    closed = []

    class Recording:
        def close(self):
            closed.append(threading.get_ident())
            connection.close()  # this thread's

        def __getattr__(self, name):
            return getattr(connection, name)

    monkeypatch.setattr(sweeping, "connection", Recording())
    sweeping._run_on_pool([(lambda pk: time.sleep(0.1), 1)])
    assert len(closed) == 4  # each of the pass's four drains, once, at its end


def test_a_finished_job_checked_by_every_thread_at_once_is_saved_and_charged_once(
    sandbox, monkeypatch, settings, funded, member, project
):
    """The same job on every thread of a pass (listed, and taken again as it comes due):
    the check's claim lets one thread act; the clip is saved, and the hold captured, once."""
    from billing.models.ledger import Transfer, TransferKind
    from generations.sandbox.engine import wait_for_background
    from tests.generations.conftest import kinds, make_account
    from tests.generations.test_sweep import running_and_done

    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("generations.tasks.async_task", lambda *a, **kw: None)
    settings.SWEEP_THREADS = 4
    make_account("kinovi", sandbox)
    job = running_and_done(funded, member, project)
    sweeping._run_on_pool([(sweeping.check, job.pk)] * 4)
    job.refresh_from_db()
    assert job.state == "succeeded"
    assert kinds(job).count("vendor_done") == 1
    captures = Transfer.objects.filter(hold_id=job.hold_id, kind=TransferKind.CAPTURE)
    assert captures.count() == 1
    wait_for_background()


def test_a_pass_whose_lookups_fail_ends_with_its_own_list(monkeypatch, settings):
    """The lookups failing, no thread waits on for a look that will never come: the pass
    ends when its own list is done, not at SWEEP_PASS_SECONDS."""
    settings.SWEEP_THREADS = 4
    settings.SWEEP_PASS_SECONDS = 5

    def broken(*args, **kwargs):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(sweeping, "due_checks", broken)
    began = time.monotonic()
    sweeping._run_on_pool([(lambda pk: time.sleep(0.3), 1)])
    assert time.monotonic() - began < 2.0


def test_one_look_that_finds_nothing_after_the_list_ends_the_pass_for_every_thread(
    monkeypatch, settings
):
    """Not a look per thread, a quarter second apart, while the pass stays open."""
    settings.SWEEP_THREADS = 8
    settings.SWEEP_PASS_SECONDS = 5
    looks = []
    monkeypatch.setattr(sweeping, "due_checks", lambda *a, **k: looks.append(a) or [])
    began = time.monotonic()
    sweeping._run_on_pool([(lambda pk: time.sleep(0.3), 1)])
    took = time.monotonic() - began
    assert took < 1.0, took
    assert len(looks) <= 3, looks  # the called-back look, and one or two for what came due
