"""Two retries of one submit racing each other, on PostgreSQL's real row locks: one set
of jobs, and both answers name it."""

import threading

import pytest
from django.db import connection

from generations.models import Generation
from tests.api.conftest import ApiClient, token_for
from tests.generations.conftest import PROMPT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_racing_retries_make_one_submission(funded, owner, project, kinovi, monkeypatch):
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    secret = token_for(funded, owner)
    body = {"prompt": PROMPT, "project": str(project.uuid), "variants": 2}
    start = threading.Barrier(2)
    answers = []

    def send():
        try:
            start.wait()
            response = ApiClient(secret).post("/generations", body, {"Idempotency-Key": "race"})
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [status for status, _ in answers] == [201, 201]
    assert answers[0][1] == answers[1][1]
    assert Generation.objects.count() == 2
