"""Adversarial review of stop 28c: the API's Idempotency-Key expiry (IDEMPOTENCY_KEY_HOURS,
the expired row deleted in the retry's transaction, the hourly forgetting).

Held: two retries racing just after their key expired make one job on PostgreSQL's row
locks (the second's DELETE waits for the first's, skips the row it deleted, and its
INSERT then meets the first's new row and replays it); another team's key of the same
string is neither deleted nor replayed.
Found: IDEMPOTENCY_KEY_HOURS=0 (or negative) from the environment made every key expired
as soon as it was committed, so every retry was a new submit, charged again; a retry
that met the key's row on INSERT and then found it gone (the hourly task forgot it in
between, the key having just expired by the worker's clock) was a 500.
"""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.utils import timezone

from generations.api.models import IdempotentSubmit
from generations.models import Generation
from tests.api.conftest import ApiClient, token_for
from tests.factories import TeamFactory
from tests.generations import conftest as generations_conftest
from tests.generations.conftest import PROMPT
from tests.test_settings import load_settings

funded = generations_conftest.funded
kinovi = generations_conftest.kinovi
project = generations_conftest.project


def body(project, **overrides):
    return {"prompt": PROMPT, "project": str(project.uuid), **overrides}


@pytest.mark.parametrize("hours", ["0", "-5"])
def test_idempotency_key_hours_below_one_is_refused_at_start(monkeypatch, hours):
    # 0 read "expired at once": a retry a second later was a second job and a second hold.
    with pytest.raises(ImproperlyConfigured, match="IDEMPOTENCY_KEY_HOURS must be 1 or more"):
        load_settings(monkeypatch, IDEMPOTENCY_KEY_HOURS=hours)
    assert load_settings(monkeypatch, IDEMPOTENCY_KEY_HOURS="1").IDEMPOTENCY_KEY_HOURS == 1


@pytest.mark.django_db
def test_a_retry_whose_row_the_hourly_task_forgets_meanwhile_is_not_a_500(
    team, member, funded, project, kinovi, queued, settings
):
    """The retry's own DELETE found the key not yet expired (by its clock); its INSERT met
    the row; the hourly task (by its clock, the key just expired) deleted it and
    committed before the retry read it. Simulated in the retry's connection: the read
    finds the row gone, as READ COMMITTED shows another transaction's committed delete."""
    settings.IDEMPOTENCY_KEY_HOURS = 24
    api = ApiClient(token_for(team, member))
    key = {"Idempotency-Key": "edge-of-expiry"}
    first = api.post("/generations", body(project), headers=key)
    assert first.status_code == 201
    table = IdempotentSubmit._meta.db_table
    seen = {"insert": False, "forgot": False}

    forget = "DELETE FROM api_idempotentsubmit WHERE key = %s"

    def hourly_task_between(execute, sql, params, many, context):
        verb = sql.lstrip().upper()[:6]
        if table in sql and verb == "INSERT":
            seen["insert"] = True
        elif table in sql and verb == "SELECT" and seen["insert"] and not seen["forgot"]:
            seen["forgot"] = True
            execute(forget, ["edge-of-expiry"], False, context)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(hourly_task_between):
        again = api.post("/generations", body(project), headers=key)
    assert seen["forgot"]
    # The key is gone, as past its hours: it names a new submit, whose answer it now keeps.
    assert again.status_code == 201
    assert Generation.objects.count() == 2
    assert api.post("/generations", body(project), headers=key).json() == again.json()


@pytest.mark.django_db
def test_another_teams_key_of_the_same_string_is_untouched(
    team, member, funded, project, kinovi, queued, settings
):
    settings.IDEMPOTENCY_KEY_HOURS = 24
    other = TeamFactory(name="Elsewhere")
    theirs = IdempotentSubmit.objects.create(
        team=other, key="shared", body_hash="x" * 64, status=201, response=["theirs"]
    )
    IdempotentSubmit.objects.filter(pk=theirs.pk).update(
        created=timezone.now() - timedelta(hours=100)
    )
    api = ApiClient(token_for(team, member))
    first = api.post("/generations", body(project), headers={"Idempotency-Key": "shared"})
    assert first.status_code == 201 and first.json() != ["theirs"]
    IdempotentSubmit.objects.filter(team=team).update(created=timezone.now() - timedelta(hours=30))
    again = api.post("/generations", body(project), headers={"Idempotency-Key": "shared"})
    assert again.status_code == 201 and again.json() != first.json()
    # Only our expired row was replaced; theirs (expired too) waits for the hourly task.
    assert IdempotentSubmit.objects.filter(pk=theirs.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_retries_racing_just_after_expiry_make_one_job(
    funded, owner, project, kinovi, monkeypatch, settings
):
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    settings.IDEMPOTENCY_KEY_HOURS = 24
    secret = token_for(funded, owner)
    key = {"Idempotency-Key": "race-after-expiry"}
    assert ApiClient(secret).post("/generations", body(project), key).status_code == 201
    IdempotentSubmit.objects.update(created=timezone.now() - timedelta(hours=25))
    start = threading.Barrier(4)
    answers = []

    def send():
        try:
            start.wait()
            response = ApiClient(secret).post("/generations", body(project), key)
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [status for status, _ in answers] == [201] * 4
    assert all(answer == answers[0][1] for _, answer in answers)
    assert Generation.objects.count() == 2  # the first, then one new submit for the four
    assert IdempotentSubmit.objects.count() == 1
