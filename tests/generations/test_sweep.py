"""The sweep: what runs every second besides django-q2's minute schedule."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from billing import ledger
from generations import lifecycle, routing
from generations.lifecycle import sweeping
from generations.lifecycle.follow import CALLED_BACK
from generations.models import Generation, State
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxTask
from generations.vendors import TaskSnapshot, TaskState
from generations.vendors.base import VendorAdapter
from tests.generations.conftest import make_account, text_request
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """The sweep is the only worker here: nothing is taken from the django-q2 broker."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **kw: None)
    monkeypatch.setattr("generations.tasks.async_task", lambda *a, **kw: None)


def new_vendor_client():
    """Start using a new shared client, e.g. after changing its timeout."""
    routing.shared_client().close()
    routing.shared_client.cache_clear()


# A job sent to its vendor; a pass that sends it may also check it to the end, as it
# takes the checks that come due while it runs.
SENT = (State.RUNNING, State.FINALIZING, State.SUCCEEDED)


def submit(team, member, project, prompt="A heron in the reeds", **kw):
    return lifecycle.submit(
        team=team, member=member, project=project, request=text_request(prompt), **kw
    )


def running_and_done(team, member, project, prompt="A heron in the reeds"):
    """A job at the vendor whose task has finished, due for a check."""
    [generation] = submit(team, member, project, prompt)
    lifecycle.run_submit(generation.pk)
    task = SandboxTask.objects.get(prompt=prompt)
    deadline = time.monotonic() + 10
    while task.snapshot().state != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)
    Generation.objects.filter(pk=generation.pk).update(next_check_at=timezone.now())
    return generation


def test_a_slow_create_does_not_hold_up_the_checks_behind_it(
    sandbox, settings, funded, member, project
):
    settings.VENDOR_READ_TIMEOUT_SECONDS = 5
    new_vendor_client()
    make_account("kinovi", sandbox)
    done = running_and_done(funded, member, project)
    [slow] = submit(funded, member, project, "A slow vendor [[latency:2]]")

    began = timezone.now()
    counts = lifecycle.sweep()
    ended = timezone.now()

    done.refresh_from_db()
    slow.refresh_from_db()
    assert counts["submitted"] == counts["checked"] == 1
    assert slow.state in SENT  # and maybe checked to the end by the same pass
    assert (ended - began).total_seconds() >= 2
    assert (done.vendor_done_at - began).total_seconds() < 1
    wait_for_background()


def test_the_longest_waiting_jobs_are_sent_first(
    sandbox, settings, operator, funded, member, project
):
    # A hundred creates in one sweep: on a busy machine one can take longer than the
    # suite's one-second read timeout, and an unknown outcome is rightly not counted sent.
    settings.VENDOR_READ_TIMEOUT_SECONDS = 10
    new_vendor_client()
    make_account("evolink", sandbox, max_concurrent=500)
    ledger.grant(funded, 10**9, by=operator, memo="A busy day", key="busy-day")
    [oldest] = submit(funded, member, project, "Waiting longest")
    submit(funded, member, project, "A crowd", variants=100)

    counts = lifecycle.sweep()

    oldest.refresh_from_db()
    assert counts["submitted"] == 100
    assert oldest.state in SENT  # and maybe checked to the end by the same pass
    assert Generation.objects.filter(state=State.QUEUED, prompt="A crowd").count() == 1
    wait_for_background(30)


def test_a_callback_during_a_check_gets_a_fresh_check_at_once(
    sandbox, settings, client, funded, member, project
):
    settings.SANDBOX_RUN_SECONDS = 30  # still running when the first check asks
    settings.GENERATION_POLL_FIRST_SECONDS = settings.GENERATION_POLL_MAX_SECONDS = 30
    settings.VENDOR_READ_TIMEOUT_SECONDS = 5
    new_vendor_client()
    make_account("evolink", sandbox)
    [job] = submit(funded, member, project, "A slow answer [[latency:1]]")
    lifecycle.run_submit(job.pk)
    job.refresh_from_db()

    def check_and_close(pk):
        try:
            lifecycle.check(pk)
        finally:
            connection.close()

    checking = threading.Thread(target=check_and_close, args=(job.pk,))
    checking.start()
    deadline = time.monotonic() + 5
    while not Generation.objects.filter(pk=job.pk, claimed_at__isnull=False).exists():
        assert time.monotonic() < deadline, "the check never claimed the job"
        time.sleep(0.01)
    # The vendor calls back while the check is still waiting for its answer.
    path = lifecycle.callback_url(job)[len(sandbox) :]
    assert client.post(path, data=b"{}", content_type="application/json").status_code == 200
    checking.join(10)

    job.refresh_from_db()
    assert job.state == State.RUNNING
    assert job.poll_count == 1
    assert job.pk in lifecycle.due_checks()


def test_one_job_that_breaks_does_not_stop_the_sweep(sandbox, monkeypatch, funded, member, project):
    make_account("kinovi", sandbox)
    [broken] = submit(funded, member, project, "A clip that breaks the worker")
    lifecycle.run_submit(broken.pk)
    Generation.objects.filter(pk=broken.pk).update(
        state=State.FINALIZING, claimed_at=None, next_check_at=timezone.now()
    )
    done = running_and_done(funded, member, project)
    store_clip = lifecycle.store_clip

    def store_or_break(generation):
        if generation.pk == broken.pk:
            raise RuntimeError("a bug in one job")
        return store_clip(generation)

    monkeypatch.setattr(lifecycle.saving, "store_clip", store_or_break)

    counts = lifecycle.sweep()

    done.refresh_from_db()
    broken.refresh_from_db()
    assert counts["finalized"] == counts["checked"] == 1
    assert done.state == State.SUCCEEDED
    assert broken.state == State.FINALIZING
    wait_for_background()


def test_a_job_the_vendor_calls_back_about_is_polled_only_as_a_safety_net(
    sandbox, settings, funded, member, project
):
    settings.SANDBOX_RUN_SECONDS = 30
    settings.GENERATION_POLL_FIRST_SECONDS = 2
    settings.GENERATION_POLL_MAX_SECONDS = 8
    heard = make_account("kinovi", sandbox)  # takes our callback URL
    polled = make_account("aigptimage", sandbox)  # has no callbacks
    [called_back] = submit(funded, member, project, "Calls back", pinned=heard)
    [asked] = submit(funded, member, project, "Is asked", pinned=polled)
    for job in (called_back, asked):
        lifecycle.run_submit(job.pk)
        job.refresh_from_db()
        assert job.state == State.RUNNING
        # Pretend the first poll is due, then see when the next one is.
        Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
        lifecycle.check(job.pk)
        job.refresh_from_db()

    def seconds_to_next_check(job):
        return (job.next_check_at - timezone.now()).total_seconds()

    assert 24 < seconds_to_next_check(called_back) <= 32
    assert 1 < seconds_to_next_check(asked) <= 3
    wait_for_background()


def test_jobs_sent_together_are_not_polled_in_lockstep(sandbox, settings, funded, member, project):
    settings.SANDBOX_RUN_SECONDS = 30
    settings.GENERATION_POLL_FIRST_SECONDS = settings.GENERATION_POLL_MAX_SECONDS = 8
    make_account("evolink", sandbox)
    jobs = submit(funded, member, project, "Ten takes", variants=10)
    for job in jobs:
        lifecycle.run_submit(job.pk)
    Generation.objects.update(next_check_at=timezone.now())

    assert lifecycle.sweep()["checked"] == 10

    next_checks = sorted(Generation.objects.values_list("next_check_at", flat=True))
    assert (next_checks[-1] - next_checks[0]).total_seconds() > 0.5
    wait_for_background()


def test_a_poll_of_a_running_job_costs_three_queries(
    sandbox, settings, funded, member, project, django_assert_num_queries
):
    # A thousand jobs in flight mean a hundred polls a second from one process.
    settings.SANDBOX_RUN_SECONDS = 30
    make_account("evolink", sandbox)
    [job] = submit(funded, member, project, "Still rendering")
    lifecycle.run_submit(job.pk)
    time.sleep(0.3)  # past the vendor's queue: it reports progress now

    with django_assert_num_queries(3):  # claim, read, reschedule with the progress
        lifecycle.check(job.pk)

    job.refresh_from_db()
    assert job.state == State.RUNNING
    assert job.progress and job.poll_count == 1 and job.claimed_at is None
    wait_for_background()


def test_a_finalizing_claim_outlasts_the_download_deadline(settings):
    """A second worker must not start saving a clip the first may still be downloading."""
    from datetime import timedelta

    from generations.lifecycle import finalize_lease, lease

    settings.GENERATION_LEASE_SECONDS = 90
    settings.CLIP_DOWNLOAD_SECONDS = 60
    assert lease() == timedelta(seconds=90)
    assert finalize_lease() == timedelta(seconds=150)


def test_a_new_jobs_send_is_left_to_its_own_task_and_not_queued_twice(
    sandbox, funded, member, project
):
    make_account("kinovi", sandbox)
    [fresh] = submit(funded, member, project, "A fresh job")
    [retried] = submit(funded, member, project, "A job tried before")
    Generation.objects.filter(pk=retried.pk).update(submit_attempts=1)
    handed = []

    def dispatch(function, pks):
        handed.extend((function.__name__, pk) for pk in pks)

    lifecycle.sweep(dispatch=dispatch)
    assert handed == [("run_submit", retried.pk)]

    # Its task was lost: after a lease the sweep sends it, as it does its own sends.
    Generation.objects.filter(pk=fresh.pk).update(created=timezone.now() - lifecycle.lease())
    lifecycle.sweep(dispatch=dispatch)
    assert handed[1:] == [("run_submit", fresh.pk)]


def test_a_sweep_that_runs_the_sends_itself_sends_a_new_job_at_once(
    sandbox, funded, member, project
):
    make_account("kinovi", sandbox)
    [generation] = submit(funded, member, project)
    lifecycle.sweep()
    generation.refresh_from_db()
    assert generation.state in SENT  # and maybe checked to the end by the same pass
    wait_for_background()


def test_a_job_its_vendor_called_back_about_is_checked_before_jobs_merely_due(
    sandbox, funded, member, project
):
    make_account("kinovi", sandbox)
    jobs = submit(funded, member, project, "Three at once", variants=3)
    for job in jobs:
        lifecycle.run_submit(job.pk)
    long_due, called_back, just_due = (job.pk for job in jobs)
    now = timezone.now()
    Generation.objects.filter(pk=long_due).update(next_check_at=now - timedelta(seconds=30))
    Generation.objects.filter(pk=called_back).update(next_check_at=now + timedelta(seconds=30))
    Generation.objects.filter(pk=just_due).update(next_check_at=now)
    lifecycle.request_check(called_back)
    assert lifecycle.due_checks() == [called_back, long_due, just_due]

    lifecycle.check(called_back)  # the mark is taken off by the check it asked for
    assert called_back not in lifecycle.due_checks()
    wait_for_background()


def sent(sandbox, funded, member, project, prompt):
    """One job sent to a Kinovi account of the sandbox, running there."""
    make_account("kinovi", sandbox)
    [job] = submit(funded, member, project, prompt)
    lifecycle.run_submit(job.pk)
    return job


def test_a_callback_while_a_check_asks_keeps_the_job_due_at_once_and_a_fresh_claim_is_left_alone(
    sandbox, monkeypatch, settings, funded, member, project
):
    job = sent(sandbox, funded, member, project, "Asked while it called back")
    # Polls far apart: "due later" must not depend on how fast this machine asserts it.
    settings.GENERATION_POLL_FIRST_SECONDS = settings.GENERATION_POLL_MAX_SECONDS = 30
    real_query = VendorAdapter.query

    def query(adapter, task_id):
        answer = real_query(adapter, task_id)
        lifecycle.request_check(job.pk)  # the vendor calls back while we ask
        return answer

    monkeypatch.setattr(VendorAdapter, "query", query)
    lifecycle.check(job.pk)
    job.refresh_from_db()
    assert job.next_check_at == CALLED_BACK and job.claimed_at is None and job.poll_count == 1
    assert lifecycle.due_checks(called_back=True) == [job.pk]

    monkeypatch.setattr(VendorAdapter, "query", real_query)
    lifecycle.check(job.pk)  # the check it asked for takes the mark off, and polls on
    job.refresh_from_db()
    assert job.next_check_at > timezone.now() and job.poll_count == 2

    claimed = timezone.now()
    Generation.objects.filter(pk=job.pk).update(claimed_at=claimed, next_check_at=claimed)
    lifecycle.check(job.pk)  # another worker holds it: nothing moves
    job.refresh_from_db()
    assert (job.claimed_at, job.poll_count) == (claimed, 2)
    wait_for_background()


def test_a_success_without_an_address_counts_as_an_answer_that_could_not_be_acted_on(
    sandbox, monkeypatch, settings, funded, member, project
):
    job = sent(sandbox, funded, member, project, "Finished, but where")
    settings.GENERATION_POLL_FIRST_SECONDS = settings.GENERATION_POLL_MAX_SECONDS = 30
    monkeypatch.setattr(
        VendorAdapter,
        "query",
        lambda adapter, task_id: TaskSnapshot(task_id=task_id, state=TaskState.SUCCEEDED),
    )
    lifecycle.check(job.pk)
    job.refresh_from_db()
    assert (job.state, job.step_failures, job.poll_count) == (State.RUNNING, 1, 1)
    assert job.claimed_at is None and job.next_check_at > timezone.now()
    wait_for_background()


def test_a_long_pass_takes_a_job_called_back_about_between_its_own_steps(monkeypatch, settings):
    settings.SWEEP_THREADS = 1
    job = GenerationFactory(running=True)
    ran = []

    def slow(pk):
        ran.append(("slow", pk))
        if pk == 1:
            lifecycle.request_check(job.pk)  # the vendor calls back meanwhile
            time.sleep(0.6)

    monkeypatch.setattr(sweeping, "check", checked_by(ran))
    sweeping._run_on_pool([(slow, 1), (slow, 2)])
    assert ran == [("slow", 1), ("check", job.pk), ("slow", 2)]


def checked_by(ran, seconds=0.0):
    """A stand-in for check(): it records the job and, as a check does, sets its next one."""

    def check(pk):
        ran.append(("check", pk))
        time.sleep(seconds)
        later = timezone.now() + timedelta(minutes=5)
        Generation.objects.filter(pk=pk).update(next_check_at=later, claimed_at=None)

    return check


def test_a_long_pass_takes_checks_that_came_due_once_its_own_list_is_done(monkeypatch, settings):
    """A pass made long by a busy machine does not leave a check that came due meanwhile
    for the next pass (nor one that came due again after its check in this pass)."""
    settings.SWEEP_THREADS = 2
    later = timezone.now() + timedelta(minutes=5)
    job = GenerationFactory(running=True)
    Generation.objects.filter(pk=job.pk).update(next_check_at=later, claimed_at=None)
    ran = []

    def slow(pk):
        ran.append(("slow", pk))
        Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())  # due now
        time.sleep(0.4)
        if pk == 2:
            time.sleep(0.6)  # the job comes due again while this runs: checked again
            Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now())
            time.sleep(0.4)

    monkeypatch.setattr(sweeping, "check", checked_by(ran, 0.1))
    sweeping._run_on_pool([(slow, 1), (slow, 2)])
    assert ran.count(("check", job.pk)) == 2, ran


def test_a_pass_that_ends_on_time_leaves_what_came_due_to_the_next(monkeypatch, settings):
    settings.SWEEP_THREADS = 1
    settings.SWEEP_PASS_SECONDS = 0.3
    job = GenerationFactory(running=True)
    ran = []

    def slow(pk):
        ran.append(("slow", pk))
        Generation.objects.filter(pk=job.pk).update(next_check_at=timezone.now(), claimed_at=None)
        time.sleep(0.4)

    monkeypatch.setattr(sweeping, "check", checked_by(ran))
    sweeping._run_on_pool([(slow, 1)])
    assert ran == [("slow", 1)]
