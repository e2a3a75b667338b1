"""An Idempotency-Key gives its first answer back for IDEMPOTENCY_KEY_HOURS; older, it
names a new submit, and an hourly task forgets the expired keys (the table would
otherwise keep every key a team ever sent)."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule

from generations.api import tasks
from generations.api.models import IdempotentSubmit
from generations.models import Generation
from tests.generations.conftest import PROMPT

pytestmark = pytest.mark.django_db


def body(project, **overrides):
    return {"prompt": PROMPT, "project": str(project.uuid), **overrides}


def age(key: str, hours: float) -> None:
    IdempotentSubmit.objects.filter(key=key).update(created=timezone.now() - timedelta(hours=hours))


def test_a_key_replays_within_its_hours_and_names_a_new_submit_after(
    member_api, funded, project, kinovi, queued, settings
):
    settings.IDEMPOTENCY_KEY_HOURS = 24
    key = {"Idempotency-Key": "take-7"}
    first = member_api.post("/generations", body(project), headers=key)
    age("take-7", 23.9)
    again = member_api.post("/generations", body(project), headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert Generation.objects.count() == 1
    # Past its hours, the same key and body name a new submit, whose answer retries get.
    age("take-7", 24.1)
    later = member_api.post("/generations", body(project), headers=key)
    assert later.status_code == 201 and later.json() != first.json()
    assert Generation.objects.count() == 2
    assert member_api.post("/generations", body(project), headers=key).json() == later.json()
    other = member_api.post("/generations", body(project, duration=6), headers=key)
    assert other.status_code == 409


def test_a_key_past_its_hours_with_another_body_is_not_a_conflict(
    member_api, funded, project, kinovi, queued, settings
):
    settings.IDEMPOTENCY_KEY_HOURS = 1
    key = {"Idempotency-Key": "reused-next-day"}
    assert member_api.post("/generations", body(project), headers=key).status_code == 201
    age("reused-next-day", 2)
    response = member_api.post("/generations", body(project, duration=6), headers=key)
    assert response.status_code == 201
    assert IdempotentSubmit.objects.get(key="reused-next-day").created > timezone.now() - timedelta(
        minutes=1
    )


def test_the_hourly_task_forgets_only_the_expired_keys(
    member_api, funded, project, kinovi, queued, settings
):
    settings.IDEMPOTENCY_KEY_HOURS = 24
    for name in ("old-1", "old-2", "fresh"):
        member_api.post("/generations", body(project), headers={"Idempotency-Key": name})
    age("old-1", 25)
    age("old-2", 100)
    assert tasks.forget_expired_idempotency_keys() == 2
    assert list(IdempotentSubmit.objects.values_list("key", flat=True)) == ["fresh"]
    assert Generation.objects.count() == 3  # the jobs stay; only the keys go


def test_the_forgetting_runs_every_hour_once_migrated():
    call_command("migrate", verbosity=0)
    schedule = Schedule.objects.get(name=tasks.KEYS_SCHEDULE)
    assert schedule.func == "generations.api.tasks.forget_expired_idempotency_keys"
    assert schedule.schedule_type == Schedule.HOURLY and schedule.repeats == -1
