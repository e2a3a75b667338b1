"""Adversarial review of acd4a4e..HEAD, the parts the other reviews left: job events
appended by a written INSERT (generations.journal.append), every task queued through one
broker per process (generations.tasks.queue_task), the rate check's written lock and
count, and the one-call hold under callers that keep their transaction after a refusal.

HELD tests pin attacks the code withstood. Run on SQLite and on PostgreSQL.
"""

import datetime as dt
import logging
import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import OrmQ

from billing import ledger
from billing.models import Hold
from generations import tasks
from generations.models import GenerationEvent, VendorAccount
from generations.studio import ratelimit
from tests.billing import test_hold_in_one_statement as pinned
from tests.billing.test_ledger_usage import USD
from tests.generations.factories import GenerationFactory, ProjectFactory, VendorAccountFactory
from tests.threads import race

pytestmark = pytest.mark.usefixtures("media")

funded, project = pinned.funded, pinned.project

DATA = {
    "worker": "w-1 «δ»",
    "nested": {"list": [1, 2.5, None, True, "🎬"], "empty": {}},
    "big": 2**53 + 1,
    "quote": 'it\'s "x" \\ $$',
    "none": None,
}


def stored(pk) -> tuple:
    """The event's row as the database keeps it (data as text, time as read back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created, kind, message, CAST(data AS TEXT) FROM generations_generationevent "
            "WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()


# --- generations.journal.append ------------------------------------------------------------


def test_held_an_appended_event_is_stored_as_the_orm_stores_it(team, member):
    """HELD: the written INSERT keeps the same time (to the microsecond) and the same JSON
    as GenerationEvent.objects.create, for awkward data and for none at all."""
    g = GenerationFactory(project=ProjectFactory(team=team), created_by=member)
    for data in (DATA, {}):
        appended = g.log("progress", "Ça tourne 🎬", **data)
        by_orm = GenerationEvent.objects.create(
            generation=g,
            kind="progress",
            message="Ça tourne 🎬",
            data=data,
            created=appended.created,
        )
        assert stored(appended.pk) == stored(by_orm.pk)
        again = GenerationEvent.objects.get(pk=appended.pk)
        assert (again.created, again.data) == (appended.created, data)
        assert appended.pk < by_orm.pk and not appended._state.adding


def test_held_one_log_line_per_new_event_however_it_is_saved(team, member, caplog):
    """HELD: append writes the line post_save wrote; an event saved by the ORM (the admin)
    still gets its line from post_save, and saving an event again writes none."""
    g = GenerationFactory(project=ProjectFactory(team=team), created_by=member)
    with caplog.at_level(logging.INFO, logger="generations.steps"):
        event = g.log("progress", "by append", worker="w-9")
        GenerationEvent.objects.create(generation=g, kind="progress", message="by the orm")
        event.message = "edited"
        event.save()
    lines = [r for r in caplog.records if r.name == "generations.steps"]
    assert [r.getMessage() for r in lines] == ["by append", "by the orm"]
    assert lines[0].generation == str(g.uuid) and lines[0].worker == "w-9"


def test_held_an_event_in_a_rolled_back_transaction_leaves_no_row(team, member):
    """HELD: append writes in the caller's transaction, as create() did: rolled back with
    it (or with its savepoint), and the connection stays usable for the next event."""
    g = GenerationFactory(project=ProjectFactory(team=team), created_by=member)
    with pytest.raises(RuntimeError), transaction.atomic():
        g.log("progress", "rolled back")
        raise RuntimeError
    with transaction.atomic():
        g.log("progress", "kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            g.log("progress", "inner, rolled back")
            raise RuntimeError
    messages = list(GenerationEvent.objects.filter(generation=g).values_list("message", flat=True))
    assert messages == ["kept"]


def test_held_an_error_event_stamps_its_account_with_its_stored_time(team, member):
    g = GenerationFactory(
        project=ProjectFactory(team=team), created_by=member, vendor_account=VendorAccountFactory()
    )
    event = g.log("failed", "The vendor said no.")
    account = VendorAccount.objects.get(pk=g.vendor_account_id)
    assert account.last_error_at == GenerationEvent.objects.get(pk=event.pk).created
    assert account.last_error == "The vendor said no."


# --- generations.tasks.queue_task ----------------------------------------------------------


@pytest.fixture
def one_broker():
    tasks._broker.cache_clear()
    yield
    tasks._broker.cache_clear()


@pytest.mark.django_db(transaction=True)
def test_held_the_cached_broker_queues_on_each_threads_own_connection(one_broker):
    """HELD: the broker built in one thread (inside a transaction) holds no connection of
    its own: a task queued in a rolled-back transaction is gone with it, one queued from
    another thread commits on that thread's connection."""
    with pytest.raises(RuntimeError), transaction.atomic():
        tasks.queue_task("math.floor", 1, task_name="rolled-back")
        raise RuntimeError
    assert not OrmQ.objects.exists()
    done = []

    def queue():
        try:
            tasks.queue_task("math.floor", 2, task_name="from-a-thread")
            done.append(True)
        finally:
            connection.close()

    thread = threading.Thread(target=queue)
    thread.start()
    thread.join(timeout=30)
    assert done == [True]
    assert OrmQ.objects.count() == 1
    assert tasks._broker.cache_info().currsize == 1


# --- generations.studio.ratelimit ----------------------------------------------------------


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "America/Adak"])
def test_held_the_window_is_the_last_60_seconds_to_the_microsecond(
    member, team, settings, monkeypatch, zone
):
    """HELD: whatever TIME_ZONE says, a clip started exactly a minute ago has left the
    window, one a microsecond younger has not; the limit itself is allowed."""
    settings.TIME_ZONE = zone
    settings.GENERATE_RATE_PER_MINUTE = 2
    now = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(ratelimit.timezone, "now", lambda: now)
    project = ProjectFactory(team=team)
    GenerationFactory(project=project, created_by=member, created=now - ratelimit.WINDOW)
    with ratelimit.starting(member, 2):  # the limit exactly: allowed
        pass
    GenerationFactory(
        project=project,
        created_by=member,
        created=now - ratelimit.WINDOW + dt.timedelta(microseconds=1),
    )
    with ratelimit.starting(member, 1):
        pass
    with pytest.raises(ratelimit.TooFast), ratelimit.starting(member, 2):
        pass
    assert django_settings.USE_TZ


@pytest.mark.django_db(transaction=True)
def test_held_racing_submissions_at_the_limit_start_one_clip_on_either_database(
    team, member, settings
):
    """HELD: SQLite has no lock statement, but its transactions begin IMMEDIATE (the write
    lock first), so the count there also begins after the other submission committed."""
    settings.GENERATE_RATE_PER_MINUTE = 1
    project = ProjectFactory(team=team)
    count = 4

    def submit(i):
        try:
            with ratelimit.starting(member, 1):
                GenerationFactory(project=project, created_by=member)
            return "started"
        except ratelimit.TooFast:
            return "refused"

    results = race(count, submit)
    assert sorted(results) == ["refused"] * (count - 1) + ["started"]


# --- billing.ledger.holds: callers that keep their transaction ---------------------------


@pytest.mark.postgres
def test_held_a_refusal_then_a_retry_under_the_same_key_in_one_transaction(funded, member, project):
    """HELD: hold(savepoint=True) refused inside the caller's transaction writes nothing
    (neither the function nor the long way), so the same key then places the hold."""
    before = ledger.available_balance(funded)
    with transaction.atomic():
        with pytest.raises(ledger.Refused):
            ledger.hold(funded, member, project, 500 * USD, "Clip", "api:retry")
        placed = ledger.hold(funded, member, project, USD, "Clip", "api:retry")
    assert list(Hold.objects.filter(idempotency_key="api:retry")) == [placed]
    assert ledger.available_balance(funded) == before - USD


@pytest.mark.postgres
def test_held_key_reused_inside_a_callers_transaction_keeps_what_it_wrote(funded, member, project):
    """HELD: a key taken in the caller's own transaction answers the first hold, or
    KeyReused with nothing written and the caller's transaction still usable."""
    before = ledger.available_balance(funded)
    with transaction.atomic():
        first = ledger.hold(funded, member, project, USD, "Clip", "api:same")
        assert ledger.hold(funded, member, project, USD, "Clip", "api:same").pk == first.pk
        with pytest.raises(ledger.KeyReused):
            ledger.hold(funded, member, project, 2 * USD, "Clip", "api:same")
        second = ledger.hold(funded, member, project, USD, "Clip", "api:other")
    assert set(Hold.objects.values_list("pk", flat=True)) >= {first.pk, second.pk}
    assert ledger.available_balance(funded) == before - 2 * USD


def test_a_blank_stored_routing_policy_reads_as_cheapest_as_it_did(team):
    """policy_for as written keeps the ORM version's fallback: no row, or a blank one."""
    from generations.models import RoutingPolicy, TeamRouting

    assert TeamRouting.policy_for(team) == RoutingPolicy.CHEAPEST
    TeamRouting.objects.create(team=team, policy="")
    assert TeamRouting.policy_for(team) == RoutingPolicy.CHEAPEST
