"""No generation is worked on by two workers at once, however many there are.

Two real clusters on one PostgreSQL database (where row locks and concurrent
transactions are real), and threads racing inside this process on either database.
Every step that holds a row records its worker and its claim time in its event.
"""

import threading
import time
from datetime import datetime

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from billing import ledger
from billing.models import HoldStatus, Transfer, TransferKind
from generations import lifecycle, tasks
from generations.models import Clip, Generation, GenerationEvent, State
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxTask
from tests.generations.clusters import (  # noqa: F401 - fixtures
    accounts_fixture,
    clusters_fixture,
    submit,
    survivors,
    vendor_calls_fixture,
    wait_for,
)
from tests.generations.conftest import PROTOCOLS

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = ["accepted", "vendor_done", "stored", "succeeded"]


def worked_intervals(generation):
    """(worker, claimed at, event time) for each step that held the row."""
    return [
        (e.data["worker"], datetime.fromisoformat(e.data["claimed_at"]), e.created)
        for e in generation.events.all()
        if e.data.get("claimed_at")
    ]


def overlapping_work(generation):
    intervals = worked_intervals(generation)
    return [
        (a, b)
        for i, a in enumerate(intervals)
        for b in intervals[i + 1 :]
        if a[0] != b[0] and a[1] < b[2] and b[1] < a[2]
    ]


def run_together(function, pk, threads=8):
    """Call function(pk) from `threads` threads released at the same instant."""
    gate = threading.Barrier(threads)
    errors = []

    def work():
        try:
            gate.wait()
            function(pk)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert not errors, errors


@pytest.mark.postgres
def test_two_clusters_never_work_one_generation_at_the_same_time(
    clusters, accounts, vendor_calls, funded, member, project
):
    first, second = clusters(), clusters()
    jobs = []
    for n in range(30):
        protocol = PROTOCOLS[n % len(PROTOCOLS)]
        # Duplicate callbacks ask for a check twice, from whichever cluster is free.
        marker = " [[fault:dup_callback]]" if n % 3 == 0 else ""
        jobs.append(
            submit(funded, member, project, accounts[protocol], f"Race {n} via {protocol}{marker}")
        )
        # A broker delivers at least once: every job's submit task arrives twice.
        tasks.enqueue_submit(jobs[-1].pk)
    pids = {first: set(), second: set()}

    def all_finished():
        for cluster in pids:
            pids[cluster].update(survivors(cluster.pgid))
        return not Generation.objects.exclude(state__in=Generation.FINISHED).exists()

    wait_for(all_finished, 60, "every job to finish", clusters=[first, second], interval=0.2)

    for generation in Generation.objects.select_related("hold"):
        story = list(generation.events.values_list("kind", flat=True))
        assert generation.state == State.SUCCEEDED, (generation.prompt, story)
        assert [story.count(step) for step in STEPS] == [1, 1, 1, 1], story
        assert SandboxTask.objects.filter(prompt__contains=generation.prompt).count() == 1
        captures = Transfer.objects.filter(hold=generation.hold, kind=TransferKind.CAPTURE)
        assert captures.count() == 1 and generation.hold.status == HoldStatus.CAPTURED
        assert overlapping_work(generation) == [], generation.prompt

    assert SandboxTask.objects.count() == Clip.objects.count() == 30
    vendor_calls.settled()
    for task in SandboxTask.objects.all():
        queries = [c for c in vendor_calls if c.kind == "query" and c.names(task.task_id)]
        downloads = [c for c in vendor_calls if c.kind == "download" and c.names(task.output_token)]
        assert len(downloads) == 1, task
        assert not [
            (a, b) for i, a in enumerate(queries) for b in queries[i + 1 :] if a.overlaps(b)
        ]

    # Both clusters did part of the work.
    workers = {
        int(e.data["worker"].split(":")[1]) for e in GenerationEvent.objects.filter(kind__in=STEPS)
    }
    assert workers & pids[first] and workers & pids[second], (workers, pids)
    assert ledger.problems() == []
    wait_for_background()


@pytest.fixture
def by_hand(monkeypatch):
    """This process's threads are the only workers: nothing goes to the broker."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("generations.tasks.enqueue_check", lambda pk: None)


def test_eight_threads_submitting_one_job_create_one_vendor_task(
    by_hand, accounts, vendor_calls, funded, member, project
):
    job = submit(funded, member, project, accounts["evolink"], "Eight senders")
    run_together(lifecycle.run_submit, job.pk)
    job.refresh_from_db()
    assert job.state == State.RUNNING
    assert job.submit_attempts == 1
    assert SandboxTask.objects.count() == 1
    assert [c.kind for c in vendor_calls.settled() if c.path.startswith("/sandbox/")] == ["create"]
    assert list(job.events.values_list("kind", flat=True)) == ["submitted", "accepted"]
    wait_for_background()


def test_eight_threads_checking_one_finished_job_ask_the_vendor_once(
    by_hand, accounts, vendor_calls, funded, member, project
):
    job = submit(funded, member, project, accounts["evolink"], "Eight checkers")
    lifecycle.run_submit(job.pk)
    task = SandboxTask.objects.get()
    wait_for(
        lambda: task.snapshot().state == "succeeded",
        10,
        "the vendor to finish",
    )
    Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    run_together(lambda pk: (lifecycle.check(pk), lifecycle.finalize(pk)), job.pk)

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
    kinds = [c.kind for c in vendor_calls.settled() if c.path.startswith("/sandbox/")]
    assert kinds == ["create", "query", "download"]
    story = list(job.events.values_list("kind", flat=True))
    assert [story.count(step) for step in STEPS] == [1, 1, 1, 1], story
    assert Transfer.objects.filter(hold=job.hold, kind=TransferKind.CAPTURE).count() == 1
    assert overlapping_work(job) == []
    wait_for_background()


def test_a_claim_that_waited_on_a_lock_is_recorded_from_when_it_took_effect(
    by_hand, accounts, funded, member, project
):
    """Another transaction holds the row: the check's claim waits, and its record starts
    after that transaction ends, not when the check first asked (two workers would
    otherwise appear to overlap)."""
    job = submit(funded, member, project, accounts["evolink"], "Waits for a lock")
    lifecycle.run_submit(job.pk)
    task = SandboxTask.objects.get()
    wait_for(lambda: task.snapshot().state == "succeeded", 10, "the vendor to finish")
    Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
    locked, released_at = threading.Event(), []

    def hold_the_row():
        try:
            with transaction.atomic():
                Generation.objects.filter(pk=job.pk).update(poll_count=F("poll_count"))
                locked.set()
                time.sleep(0.5)
                released_at.append(timezone.now())
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    assert locked.wait(5)
    asked_at = timezone.now()
    lifecycle.check(job.pk)
    holder.join(5)

    [vendor_done] = job.events.filter(kind="vendor_done")
    claimed_at = datetime.fromisoformat(vendor_done.data["claimed_at"])
    assert claimed_at >= released_at[0] > asked_at
    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
    wait_for_background()
