"""A real worker cluster, SIGKILLed at each step of a job's life and restarted.

Runs on SQLite and on PostgreSQL. The clusters are `manage.py qcluster` processes on
the test database; the sandbox answers from this process's live server.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import OrmQ

from billing import ledger
from billing.models import HoldStatus, Transfer, TransferKind
from generations import lifecycle, tasks
from generations.models import Generation, State, WorkerLease
from generations.sandbox import faults as fault_rules
from generations.sandbox import views as sandbox_views
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxTask
from generations.tasks import SWEEPER
from tests.generations.clusters import (  # noqa: F401 - fixtures
    accounts_fixture,
    clusters_fixture,
    submit,
    wait_for,
)
from tests.generations.conftest import PROTOCOLS

pytestmark = pytest.mark.django_db(transaction=True)


def state_of(generation):
    return Generation.objects.values_list("state", "claimed_at", "vendor_account_id").get(
        pk=generation.pk
    )


def sweeper_running():
    return WorkerLease.objects.filter(name=SWEEPER, until__gt=timezone.now()).exists()


def sweeper_lease_lapsed():
    return not sweeper_running()


def a_submit_was_taken_from_the_broker() -> bool:
    """The ORM broker locks a task it hands out (and hands it out again after Q_RETRY).
    Redis's broker pops one only when the busy worker's queue has room, often after the
    slow create has returned, and never hands it out again: there the kill comes during
    the create, and the sweep sends the queued jobs whose tasks were lost."""
    if settings.REDIS_URL:
        time.sleep(0.3)
        return True
    return OrmQ.objects.filter(lock__gt=timezone.now()).exists()


def test_a_fresh_cluster_follows_a_polled_job_within_seconds(
    clusters, accounts, funded, member, project
):
    # django-q2's scheduler first looks at schedules 30 s after a cluster starts;
    # the sweeper must not wait for it.
    cluster = clusters()
    job = submit(funded, member, project, accounts["evolink"], "A kite over dunes")
    wait_for(
        lambda: Generation.objects.filter(pk=job.pk, state=State.SUCCEEDED).exists(),
        timeout=15,
        what="a polled job to finish under a freshly started cluster",
        clusters=[cluster],
    )
    job.refresh_from_db()
    assert job.poll_count >= 1
    assert job.finished_at - job.vendor_done_at < timedelta(seconds=5)
    wait_for_background()


def test_every_job_survives_a_cluster_killed_at_each_step_of_its_life(
    clusters, accounts, funded, member, project, operator, monkeypatch
):
    jobs = []

    def job(protocol, prompt):
        generation = submit(funded, member, project, accounts[protocol], f"{prompt} #{len(jobs)}")
        jobs.append(generation)
        return generation

    def restart(**timings):
        # The dead sweeper's lease has to lapse first (SWEEP_LEASE_SECONDS); a cluster
        # that starts earlier leaves the sweeping to the minute schedule.
        wait_for(sweeper_lease_lapsed, 10, "the dead sweeper's lease to lapse")
        cluster = clusters(**timings)
        wait_for(sweeper_running, 20, "the new cluster's sweeper", clusters=[cluster])
        return cluster

    def nothing_else_sending(*expected):
        sending = Generation.objects.filter(state=State.SUBMITTING)
        return not sending.exclude(pk__in=[g.pk for g in expected]).exists()

    # 1 and 2. One worker, busy sweeping; the sweep is inside a create call that the
    # vendor answers after 2 s. Meanwhile one job per vendor is submitted and enqueued, and the
    # cluster has taken the first of their tasks from the broker when it dies.
    # The vendor (served by this process) notes the create call's arrival: the job's row
    # names its account a moment before the request leaves, and a kill in that moment
    # (seen on a loaded CI machine) is a kill before sending, not during the call.
    sleep, reached = fault_rules.sleep, threading.Event()

    def vendor_sleeps(seconds):
        if seconds == 2:
            reached.set()
        sleep(seconds)

    monkeypatch.setattr(fault_rules, "sleep", vendor_sleeps)
    cluster = restart(Q_WORKERS=1)
    sending = job("kinovi", "Slow to accept [[latency:2]]")
    wait_for(
        lambda: (
            state_of(sending)[0] == State.SUBMITTING and state_of(sending)[2] and reached.is_set()
        ),
        10,
        "the slow create call to reach the vendor",
        clusters=[cluster],
    )
    with transaction.atomic():
        enqueued = [job(protocol, f"Enqueued via {protocol}") for protocol in PROTOCOLS]
    wait_for(
        a_submit_was_taken_from_the_broker,
        5,
        "the cluster to take a task from the broker",
        clusters=[cluster],
    )
    cluster.kill()
    assert state_of(sending)[0] == State.SUBMITTING
    assert {state_of(g)[0] for g in enqueued} == {State.QUEUED}
    assert SandboxTask.objects.filter(prompt__contains="Enqueued").count() == 0

    # 3. While running: a polled vendor answers each query after 1 s, so a check is
    # under way (its row claimed) when the cluster dies.
    cluster = restart()
    running = job("evolink", "Slow to answer [[latency:1]]")
    wait_for(
        lambda: (
            state_of(running)[0] == State.RUNNING
            and state_of(running)[1]
            and nothing_else_sending(sending)
        ),
        20,
        "a check of the running job to be under way",
        clusters=[cluster],
    )
    cluster.kill()
    assert state_of(running)[0] == State.RUNNING

    # 4. While finalizing: the vendor's file server waits 1.5 s before each download.
    serve = sandbox_views._file_response

    def slow_file_response(request, path):
        time.sleep(1.5)
        return serve(request, path)

    monkeypatch.setattr(sandbox_views, "_file_response", slow_file_response)
    cluster = restart()
    finalizing = job("seedance2_ink", "Slow to download")
    wait_for(
        lambda: (
            state_of(finalizing)[0] == State.FINALIZING
            and state_of(finalizing)[1]
            and nothing_else_sending(sending)
        ),
        20,
        "the clip download to start",
        clusters=[cluster],
    )
    cluster.kill()
    assert state_of(finalizing)[0] == State.FINALIZING

    # 5. A last restart picks everything up. The job that died inside its create call
    # is never resent: it needs attention until an operator finds the task at the vendor
    # and attaches it, or until the vendor's own callback names the task (which the
    # product confirms with the vendor and attaches by itself).
    cluster = restart()

    def noticed():
        events = set(Generation.objects.get(pk=sending.pk).events.values_list("kind", flat=True))
        return "needs_attention" in events

    wait_for(noticed, 20, "the job that died while sending to need attention", [cluster])
    sending.refresh_from_db()
    if sending.state == State.NEEDS_ATTENTION:
        # The vendor writes its task once its 2 s of latency are over, which a quick
        # restart can beat: the operator looks it up once it is there.
        wait_for(
            lambda: SandboxTask.objects.filter(prompt__contains=sending.prompt).exists(),
            20,
            "the vendor to have the task the killed create call asked for",
            [cluster],
        )
        task = SandboxTask.objects.get(prompt__contains=sending.prompt)
        lifecycle.resolve_attach(sending, task.task_id, operator)
    wait_for(
        lambda: not Generation.objects.exclude(state__in=Generation.FINISHED).exists(),
        40,
        "every job to finish",
        clusters=clusters.started,
    )

    protocols = {
        g.vendor_account.protocol for g in Generation.objects.select_related("vendor_account")
    }
    assert protocols == set(PROTOCOLS)
    for generation in Generation.objects.select_related("hold"):
        story = list(generation.events.values_list("kind", flat=True))
        assert generation.state == State.SUCCEEDED, (generation.prompt, story)
        assert SandboxTask.objects.filter(prompt__contains=generation.prompt).count() == 1
        assert generation.hold.status == HoldStatus.CAPTURED
        captures = Transfer.objects.filter(hold=generation.hold, kind=TransferKind.CAPTURE)
        assert captures.count() == 1, story
        assert generation.clip.bytes > 0
    assert "needs_attention" in sending.events.values_list("kind", flat=True)
    # One job per vendor, and the three slow ones.
    assert SandboxTask.objects.count() == len(jobs) == Generation.objects.count()
    assert len(jobs) == len(PROTOCOLS) + 3
    assert ledger.problems() == []
    wait_for_background()


def test_the_first_sweeper_on_a_fresh_database_takes_the_lease(db, settings):
    settings.SANDBOX_ENABLED = False
    assert not WorkerLease.objects.exists()
    totals = tasks.sweep_generations(run_for=0, chain=False)
    assert totals.get("passes") == 1, totals
