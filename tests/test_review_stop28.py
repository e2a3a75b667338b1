"""Review of the pipelined rate check and the job's send queued in its own transaction.

Attacks on the submit path of 4a117e0: a batch or an outer transaction that rolls back
after the jobs' tasks were written, a worker polling the database's queue while a submit
is still open, a send lost after the commit (Redis), and the pipelined lock and count
meeting a lock timeout, a dropped connection, an open pipeline, a savepoint, a member's
lock held by another transaction while clips leave the minute.
"""

import os
import re
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import OrmQ

from generations import lifecycle, tasks
from generations.api.models import Batch, BatchState
from generations.lifecycle import sweeping
from generations.lifecycle.steps import lease
from generations.models import Generation, State
from generations.studio import ratelimit
from seedance_site import written
from tests.api.conftest import ApiClient, token_for
from tests.generations import conftest as generations_conftest
from tests.generations.conftest import PROMPT, text_request
from tests.generations.factories import GenerationFactory
from tests.threads import race

# The jobs' fixtures, from tests/generations/ (this file sits above it).
funded = generations_conftest.funded
kinovi = generations_conftest.kinovi
project = generations_conftest.project

pytestmark = pytest.mark.usefixtures("media")

database_queue = pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")), reason="the queue is Redis, not the database"
)

SHOTS = (
    "prompt,project,scene,model,duration,ratio,resolution,variants\n"
    f'"{PROMPT}",Trailer,Opening,seedance-2.0,5,16:9,720p,2\n'
    "A gull over the harbour at dawn,Trailer,Opening,,,,,\n"
)


class Rollback(Exception):
    pass


def queued_jobs() -> list[int]:
    """The jobs whose sends wait in the database's queue."""
    return sorted(row.task["args"][0] for row in OrmQ.objects.all())


def submit(team, member, project):
    return lifecycle.submit(team=team, member=member, project=project, request=text_request())


# --- The database's queue: the task goes and comes with the job -------------------------


@database_queue
@pytest.mark.django_db(transaction=True)
def test_a_batch_refused_at_its_last_row_leaves_no_task_in_the_queue(
    team, member, project, kinovi, operator
):
    """Confirming writes each row's jobs and their tasks, then runs out of money: the
    batch's one transaction takes every task with it (none sent for a job not there)."""
    from billing import ledger

    api = ApiClient(token_for(team, member))
    preview = api.post("/batches", {"csv": SHOTS}).json()
    each = preview["rows"][1]["hold"]["micros"]
    ledger.grant(team, each * 2, by=operator, memo="Two of three", key="two")
    assert preview["invalid_rows"] == 0, preview
    response = api.post(f"/batches/{preview['id']}/confirm")
    assert response.status_code == 409
    assert "Row 2" in response.json()["message"]  # the money ran out at the last row
    assert not Generation.objects.exists()
    assert queued_jobs() == []
    assert Batch.objects.get().state == BatchState.PREVIEW


@database_queue
@pytest.mark.django_db(transaction=True)
def test_a_confirmed_batch_queues_one_task_for_each_of_its_jobs(funded, member, project, kinovi):
    api = ApiClient(token_for(funded, member))
    preview = api.post("/batches", {"csv": SHOTS}).json()
    response = api.post(f"/batches/{preview['id']}/confirm")
    assert response.status_code == 200, response.json()
    assert queued_jobs() == sorted(Generation.objects.values_list("pk", flat=True))
    assert len(queued_jobs()) == 3


@database_queue
@pytest.mark.django_db(transaction=True)
def test_a_submit_undone_by_its_callers_savepoint_takes_its_task_and_the_rest_commits(
    funded, member, project, kinovi
):
    """A caller that catches what happened after submit, inside its own transaction."""
    with transaction.atomic():
        kept = submit(funded, member, project)
        try:
            with transaction.atomic():  # a savepoint
                submit(funded, member, project)
                raise Rollback
        except Rollback:
            pass
    assert (
        queued_jobs()
        == [g.pk for g in kept]
        == list(Generation.objects.values_list("pk", flat=True))
    )


@database_queue
@pytest.mark.django_db(transaction=True)
def test_an_api_submit_replayed_by_its_key_queues_its_one_job_once(funded, member, project, kinovi):
    api = ApiClient(token_for(funded, member))
    key = {"Idempotency-Key": "shot-1"}
    body = {"prompt": PROMPT, "project": str(project.uuid), "variants": 2}
    first = api.post("/generations", body, headers=key)
    again = api.post("/generations", body, headers=key)
    assert first.status_code == again.status_code == 201
    assert queued_jobs() == sorted(Generation.objects.values_list("pk", flat=True))
    assert len(queued_jobs()) == 2


@database_queue
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_polling_the_queue_never_finds_a_task_before_its_job(
    funded, member, project, kinovi
):
    """The task's row is written before the commit, in the job's transaction: a worker
    that polls while the submission is still open finds nothing, then the task and its
    job together (READ COMMITTED: a statement sees what had committed when it began)."""
    submitted, stop = threading.Event(), threading.Event()
    found = []

    def submitting():
        with ratelimit.starting(member, 1):
            submit(funded, member, project)
            submitted.set()
            time.sleep(0.6)  # a slow rest of the request, the transaction still open

    def polling():
        submitted.wait(10)
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            for row in OrmQ.objects.filter(lock__lt=timezone.now()):
                pk = row.task["args"][0]
                found.append((pk, Generation.objects.filter(pk=pk, state=State.QUEUED).exists()))
            if found:
                return
            time.sleep(0.02)

    assert race(2, lambda i: (submitting, polling)[i]()) == [None, None]
    stop.set()
    assert found and all(seen for _, seen in found), found


# --- The queue elsewhere (Redis): a send lost after the commit --------------------------


@pytest.mark.django_db(transaction=True)
def test_a_send_lost_after_the_commit_is_handed_out_by_the_sweep_after_a_lease(
    funded, member, project, kinovi, monkeypatch
):
    """Redis is told after the commit; when telling it fails, the job and its hold are
    committed with no task, the failure is logged, not raised (the commit is done: an
    exception would only turn the member's submission into an error page). Nothing is
    lost for good: once a lease has passed the sweep hands the never-tried job out."""
    monkeypatch.setattr(tasks, "_broker", lambda: RedisDown())
    with ratelimit.starting(member, 1):
        submit(funded, member, project)
    [job] = Generation.objects.all()
    assert job.state == State.QUEUED and job.hold is not None
    now = timezone.now()
    assert sweeping._due_sends_and_saves(now, [], True)[0] == []  # its own task may come
    later = now + lease() + timedelta(seconds=1)
    assert sweeping._due_sends_and_saves(later, [], True)[0] == [job.pk]


class RedisDown:
    list_key = "seedance"

    def enqueue(self, package):
        raise ConnectionError("Redis is down")


@pytest.mark.django_db(transaction=True)
def test_redis_down_at_the_commit_still_shows_the_member_their_queued_clip(
    member_client, funded, project, kinovi, monkeypatch, caplog
):
    """The job is committed with its hold: the member is told it is queued (the sweep
    sends it), not shown an error page that invites a second job and a second hold."""
    monkeypatch.setattr(tasks, "_broker", lambda: RedisDown())
    response = member_client.post("/generate/", generations_conftest.form_data(project))
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert Generation.objects.get().state == State.QUEUED
    assert "Redis is down" in caplog.text


# --- The pipelined lock and count ------------------------------------------------------


def _hold_members_lock(member, seconds):
    """Another transaction holds the member's row for `seconds`; returns (thread, ready)."""
    ready = threading.Event()

    def run():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM auth_user WHERE id = %s FOR NO KEY UPDATE", [member.pk]
                )
                ready.set()
                time.sleep(seconds)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert ready.wait(10)
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lock_timeout_in_the_pipeline_is_djangos_error_and_the_outer_transaction_goes_on(
    member, team
):
    """As in the API's Idempotency-Key transaction: the rate check is a savepoint; the
    lock's error surfaces as Django's OperationalError, not psycopg's, the savepoint is
    rolled back, and the outer transaction can still write and commit."""
    from generations.api.models import IdempotentSubmit

    holder = _hold_members_lock(member, 1.5)
    try:
        with CaptureQueriesContext(connection) as captured, transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '150ms'")
            with (
                pytest.raises(OperationalError, match="lock timeout") as raised,
                ratelimit.starting(member, 1),
            ):
                pass
            assert not isinstance(raised.value, psycopg.Error)
            assert isinstance(raised.value.__cause__, psycopg.errors.LockNotAvailable)
            IdempotentSubmit.objects.create(
                team=team, key="k", body_hash="h", status=1, response={}
            )
    finally:
        holder.join()
    assert IdempotentSubmit.objects.filter(key="k").exists()
    assert any("FOR NO KEY UPDATE" in q["sql"] for q in captured.captured_queries)
    assert connection.connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert connection.connection._pipeline is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_timeout_as_the_transactions_first_words_leaves_nothing_open(member):
    """The pipeline carries the BEGIN: cancelled there, the transaction is rolled back
    whole and the connection is usable at once."""
    holder = _hold_members_lock(member, 1.5)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '150ms'")
        with (
            pytest.raises(OperationalError, match="statement timeout"),
            ratelimit.starting(member, 1),
        ):
            pass
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
        holder.join()
    with ratelimit.starting(member, 1):
        pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_in_the_pipeline_is_djangos_error_and_the_next_one_works(member):
    from django.db import Error

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [pid] = cursor.fetchone()
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: params[k] for k in ("dbname", "user", "host", "port", "password") if k in params},
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.1)
    with pytest.raises(Error) as raised, ratelimit.starting(member, 1):
        pass
    assert not isinstance(raised.value, psycopg.Error)
    connection.close_if_unusable_or_obsolete()
    with ratelimit.starting(member, 1):
        pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_rate_check_inside_a_pipeline_already_open_still_counts(member, project):
    GenerationFactory(project=project, created_by=member)
    with transaction.atomic(), written.pipelined():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        with ratelimit.starting(member, 1):
            assert ratelimit._count_in_window(member, True) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_submission_that_waited_for_its_members_lock_counts_from_when_it_got_it(
    member, project, monkeypatch
):
    """With real time and a real wait: twenty clips that leave the minute while this
    submission waits for another's lock do not refuse it; the count that went out with
    the lock (from before the wait) saw them, and the read behind the lock let it pass."""
    reread = []
    real = ratelimit._started_since
    monkeypatch.setattr(ratelimit, "_started_since", lambda *a: reread.append(1) or real(*a))
    holder = _hold_members_lock(member, 1.5)
    try:
        for _ in range(20):
            GenerationFactory(
                project=project,
                created_by=member,
                created=timezone.now() - timedelta(seconds=59.2),
            )
        with ratelimit.starting(member, 1):
            pass
    finally:
        holder.join()
    assert reread, "the first count did not see the twenty: the wait was not exercised"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_wait_a_refusal_gives_counts_from_after_the_members_lock(member, project):
    """Twenty clips 30 s old; the submission waits about 1.5 s for another's lock: it is
    refused, and told to wait what is left once it had the lock (28 or 29 s), not 30."""
    holder = _hold_members_lock(member, 1.5)
    try:
        made = timezone.now()
        for _ in range(20):
            GenerationFactory(
                project=project, created_by=member, created=made - timedelta(seconds=30)
            )
        with pytest.raises(ratelimit.TooFast) as refused, ratelimit.starting(member, 1):
            pass
    finally:
        holder.join()
    [seconds] = map(int, re.findall(r"wait (\d+) seconds", str(refused.value)))
    waited = (timezone.now() - made).total_seconds()
    assert 30 - waited - 1 <= seconds < 30, (seconds, waited)


@pytest.mark.django_db
def test_a_rate_check_outside_any_transaction_is_not_left_open(member, project):
    """Without `lock` the count alone is pipelined (in autocommit on PostgreSQL): the
    connection is back to no transaction and no pipeline after it."""
    GenerationFactory(project=project, created_by=member)
    ratelimit.check(member, 1)
    with pytest.raises(ratelimit.TooFast):
        ratelimit.check(member, 21)
    if connection.vendor == "postgresql":
        assert connection.connection._pipeline is None


@pytest.mark.django_db(transaction=True)
def test_an_integrity_error_after_submit_leaves_neither_job_nor_task(
    funded, member, project, kinovi
):
    """The page's transaction fails after the jobs were written (a unique key taken):
    whatever the queue, no job and no send remain."""
    from generations.api.models import IdempotentSubmit

    IdempotentSubmit.objects.create(team=funded, key="taken", body_hash="h", status=1, response={})
    with pytest.raises(IntegrityError), ratelimit.starting(member, 1):
        submit(funded, member, project)
        IdempotentSubmit.objects.create(
            team=funded, key="taken", body_hash="h", status=1, response={}
        )
    assert not Generation.objects.exists()
    assert not OrmQ.objects.exists()
