"""Two confirms of one batch racing on PostgreSQL's row locks: one set of jobs and holds."""

import threading

import pytest
from django.db import connection

from billing.models import Hold
from generations.models import Generation
from tests.api.conftest import ApiClient, token_for
from tests.api.test_batches import GOOD

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_racing_confirms_submit_the_batch_once(funded, owner, project, kinovi, monkeypatch):
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    secret = token_for(funded, owner)
    preview = ApiClient(secret).post("/batches", {"csv": GOOD}).json()
    start = threading.Barrier(2)
    statuses = []

    def confirm():
        try:
            start.wait()
            statuses.append(ApiClient(secret).post(f"/batches/{preview['id']}/confirm").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses) == [200, 409]
    assert Generation.objects.count() == 3
    assert Hold.objects.count() == 3
