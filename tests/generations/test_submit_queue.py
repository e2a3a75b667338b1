"""A submitted job's send is queued with the job: in the job's own transaction when the
queue is the database's (it commits with the job, or neither does), after the commit
when the queue is Redis (no worker looks for a job not yet there)."""

import os
from datetime import timedelta

import pytest
from django.db import transaction
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from generations import lifecycle, tasks
from generations.models import Generation
from seedance_site.task_queue import WrittenORM
from tests.generations.conftest import text_request

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # With REDIS_URL the queue is Redis: tests/production/test_redis.py has its case.
    pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="the queue is Redis"),
]


class Rollback(Exception):
    pass


def submitted_tasks() -> list[int]:
    """The jobs whose sends wait in the database's queue."""
    return [row.task["args"][0] for row in OrmQ.objects.all()]


def submit(team, member, project):
    [job] = lifecycle.submit(team=team, member=member, project=project, request=text_request())
    return job


def test_the_databases_queue_takes_the_send_in_the_jobs_transaction(
    funded, member, project, kinovi
):
    assert isinstance(tasks._broker(), WrittenORM)
    with transaction.atomic():
        job = submit(funded, member, project)
        assert submitted_tasks() == [job.pk]  # written before the commit, in the same one
    assert submitted_tasks() == [job.pk]


def test_a_job_rolled_back_takes_its_queued_send_with_it(funded, member, project, kinovi):
    with pytest.raises(Rollback), transaction.atomic():
        submit(funded, member, project)
        raise Rollback
    assert not Generation.objects.exists()
    assert submitted_tasks() == []


def test_a_queue_elsewhere_is_told_only_once_the_job_is_committed(
    funded, member, project, kinovi, monkeypatch
):
    told = []

    class Elsewhere:  # a Redis broker, as far as the submission can tell
        list_key = Conf.CLUSTER_NAME

        def enqueue(self, package):
            told.append(SignedPackage.loads(package)["args"][0])
            return "1"

    monkeypatch.setattr(tasks, "_broker", lambda: Elsewhere())
    with transaction.atomic():
        job = submit(funded, member, project)
        assert told == []
    assert told == [job.pk]
    with pytest.raises(Rollback), transaction.atomic():
        submit(funded, member, project)
        raise Rollback
    assert told == [job.pk]


def test_the_written_broker_stores_the_row_djangos_own_would_and_hands_it_out():
    """Same key, payload and lock as django-q2's ORM broker writes; its dequeue reads it."""
    ours, theirs = WrittenORM(list_key=Conf.CLUSTER_NAME), ORM(list_key=Conf.CLUSTER_NAME)
    mine = ours.enqueue(SignedPackage.dumps({"id": "a", "args": (1,)}))
    reference = theirs.enqueue(SignedPackage.dumps({"id": "a", "args": (1,)}))
    written, made = OrmQ.objects.get(pk=mine), OrmQ.objects.get(pk=reference)
    assert (written.key, written.task) == (made.key, made.task)
    assert abs((written.lock - made.lock).total_seconds()) < 5
    OrmQ.objects.update(lock=written.lock - timedelta(seconds=1))  # both due
    first = theirs.dequeue()
    second = theirs.dequeue()
    assert sorted(pk for pk, _ in first + second) == sorted([mine, reference])
    assert SignedPackage.loads(first[0][1])["args"] == (1,)
