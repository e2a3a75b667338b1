"""Adversarial review of stop 28b: the Generate form's enabled accounts and the team's
projects (with the chosen one's scenes) read together (written.instances_together,
pipelined on PostgreSQL), and the send queued after the commit made robust with Redis.

Held: the instances are the ORM's (and the old raw read's) to the type and repr of every
value, with no deferred field and the same _state; disabled accounts and other teams'
projects stay out; a read that fails (either one) is Django's error, closes both cursors
and leaves the connection and pipeline clean, in autocommit and in a savepoint; an open
pipeline and transaction around the reads; two queries whatever `project` is posted.
Found: a send Redis refused after the commit was logged by Django as a failure of
`send_when_queued.<locals>.<lambda>`, naming no job; it now names the generation.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import tasks
from generations.models import Project, Scene, State, VendorAccount
from generations.studio import forms
from generations.studio.forms import GenerateForm, accounts_projects_and_scenes
from seedance_site import written
from tests.factories import TeamFactory
from tests.generations import conftest as generations_conftest
from tests.generations.factories import VendorAccountFactory

funded = generations_conftest.funded
kinovi = generations_conftest.kinovi
project = generations_conftest.project

OLD_ENABLED_ACCOUNTS = (
    'SELECT * FROM "generations_vendoraccount" WHERE enabled = %s ORDER BY priority, label'
)


def exactly(instance):
    """Every stored value with its type and its repr (Decimal('0.5') == Decimal('0.50')
    and equal moments in two time zones compare equal; here they do not)."""
    return [
        (f.attname, type(getattr(instance, f.attname)).__name__, repr(getattr(instance, f.attname)))
        for f in instance._meta.concrete_fields
    ]


@pytest.fixture
def accounts(db):
    now = timezone.now()
    cooling = VendorAccountFactory(
        protocol="kinovi",
        label="Cooling",
        priority=3,
        credit_value=Decimal("0.00123400"),
        model_ids={"seedance-2.0": "ep-1", "nested": {"a": [1, 2.5, None, True]}},
        last_error="boom ünïcode “quotes”",
    )
    VendorAccount.objects.filter(pk=cooling.pk).update(
        cooldown_until=now + timedelta(minutes=5), last_error_at=now, consecutive_errors=2
    )
    VendorAccountFactory(protocol="evolink", label="b lower", priority=1)
    VendorAccountFactory(protocol="aigptimage", label="A upper", priority=1)
    VendorAccountFactory(protocol="kinovi", label="Off", priority=0, enabled=False)
    return VendorAccount.objects.filter(enabled=True).order_by("priority", "label")


@pytest.mark.django_db
def test_the_accounts_are_the_orms_and_the_old_raw_reads_exactly(team, accounts):
    read, _, _ = accounts_projects_and_scenes(team, None)
    by_orm = list(accounts)
    by_raw = list(VendorAccount.objects.raw(OLD_ENABLED_ACCOUNTS, [True]))
    assert [a.label for a in read] == [a.label for a in by_orm] == [a.label for a in by_raw]
    assert "Off" not in [a.label for a in read]
    for mine, orm, raw in zip(read, by_orm, by_raw, strict=True):
        assert exactly(mine) == exactly(orm) == exactly(raw)
        assert mine._state.db == orm._state.db and mine._state.adding is False
        assert mine.get_deferred_fields() == set()
        assert mine.masked_key == orm.masked_key and mine.adapter_class is orm.adapter_class
        assert mine == orm and hash(mine) == hash(orm)


@pytest.mark.django_db
def test_projects_and_scenes_are_the_orms_exactly(team):
    chosen = Project.objects.create(
        team=team, name="Chosen", description="ünï “x”", spend_cap=12_345_678
    )
    Project.objects.create(team=team, name="another")
    Project.objects.create(team=TeamFactory(), name="Theirs")
    for number in (3, 1, 2):
        Scene.objects.create(project=chosen, number=number, title=f"S{number}", notes="n")
    _, projects, scenes = accounts_projects_and_scenes(team, str(chosen.uuid))
    orm_projects = list(Project.objects.filter(team=team).order_by("name", "id"))
    assert [exactly(p) for p in projects] == [exactly(p) for p in orm_projects]
    assert [exactly(s) for s in scenes] == [exactly(s) for s in chosen.scenes.order_by("number")]
    assert all(not p._state.adding and p.get_deferred_fields() == set() for p in projects)


@pytest.mark.django_db
def test_a_saved_account_from_the_form_updates_its_row_and_keeps_its_key(team, accounts):
    """An instance built from written columns saves as the ORM's would (an UPDATE of the
    same row, the encrypted key untouched)."""
    [first, *_] = accounts_projects_and_scenes(team, None)[0]
    before = VendorAccount.objects.get(pk=first.pk)
    first.save()
    after = VendorAccount.objects.get(pk=first.pk)
    assert VendorAccount.objects.count() == 4
    assert exactly(after) == exactly(before)


# --- The pipeline when a read fails, or is already open --------------------------------


def _break(monkeypatch, which):
    accounts_sql, projects_sql = forms._form_reads_sql(connection.vendor)
    broken = "SELECT no_such_column FROM generations_vendoraccount WHERE %s"
    reads = (broken, projects_sql) if which == "accounts" else (accounts_sql, broken)
    if which == "projects":
        # Same placeholders as the projects read: two parameters.
        reads = (accounts_sql, "SELECT no_such_column FROM generations_project WHERE %s AND %s")
    monkeypatch.setattr(forms, "_form_reads_sql", lambda vendor: reads)


def _closed(wrapper) -> bool:
    if hasattr(wrapper.cursor, "closed"):  # psycopg
        return wrapper.cursor.closed
    try:  # sqlite3: a closed cursor refuses to fetch
        wrapper.cursor.fetchone()
    except Exception:  # noqa: BLE001
        return True
    return False


def _opened_cursors(monkeypatch):
    opened = []
    real = connection.cursor

    def recording():
        cursor = real()
        opened.append(cursor)
        return cursor

    monkeypatch.setattr(connection, "cursor", recording)
    return opened


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("which", ["accounts", "projects"])
def test_a_failing_read_is_djangos_error_closes_its_cursors_and_leaves_the_connection_usable(
    team, accounts, monkeypatch, which
):
    Project.objects.create(team=team, name="P")
    opened = _opened_cursors(monkeypatch)
    with monkeypatch.context() as patch:
        _break(patch, which)
        with pytest.raises(DatabaseError) as raised:
            accounts_projects_and_scenes(team, None)
    assert type(raised.value).__module__ == "django.db.utils"
    assert len(opened) == 2 and all(_closed(c) for c in opened)
    if connection.vendor == "postgresql":
        assert connection.connection._pipeline is None
    # Afterwards, the next reads are this request's own: nothing of the failed one's.
    read, projects, scenes = accounts_projects_and_scenes(team, None)
    assert [a.label for a in read] == [a.label for a in accounts]
    assert [p.name for p in projects] == ["P"] and scenes == []
    assert VendorAccount.objects.filter(enabled=False).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_failing_read_inside_an_atomic_block_rolls_back_only_to_its_savepoint(
    team, accounts, monkeypatch
):
    with transaction.atomic():
        Project.objects.create(team=team, name="Kept")
        with monkeypatch.context() as patch:
            _break(patch, "projects")
            with pytest.raises(DatabaseError), transaction.atomic():
                accounts_projects_and_scenes(team, None)
        _, projects, _ = accounts_projects_and_scenes(team, None)
        assert [p.name for p in projects] == ["Kept"]
    assert Project.objects.filter(name="Kept").exists()


@pytest.mark.django_db(transaction=True)
def test_a_python_error_while_sending_leaves_no_result_behind(team, accounts, monkeypatch):
    """A parameter that cannot be sent (raised by the driver before anything goes) after
    the first read was queued: the first read's answer must not be left for a later one."""
    Project.objects.create(team=team, name="P")
    accounts_sql, projects_sql = forms._form_reads_sql(connection.vendor)
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the driver raises
        written.instances_together(
            (accounts_sql, [True], (VendorAccount,)),
            (projects_sql, [object(), team.pk], (Project, Scene)),
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT 42")
        assert cursor.fetchall() == [(42,)]
    _, projects, _ = accounts_projects_and_scenes(team, None)
    assert [p.name for p in projects] == ["P"]


@pytest.mark.django_db(transaction=True)
def test_inside_a_pipeline_already_open_and_a_transaction_the_reads_are_right(team, accounts):
    chosen = Project.objects.create(team=team, name="Chosen")
    Scene.objects.create(project=chosen, number=1, title="One")
    with transaction.atomic(), written.pipelined():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        new = Project.objects.create(team=team, name="Made in this transaction")
        read, projects, scenes = accounts_projects_and_scenes(team, str(chosen.uuid))
    assert [a.label for a in read] == [a.label for a in accounts]
    assert [p.name for p in projects] == ["Chosen", new.name]
    assert [s.title for s in scenes] == ["One"]


@pytest.mark.django_db
def test_the_form_reads_two_queries_whatever_is_asked(team, accounts):
    Project.objects.create(team=team, name="A")
    for asked in (None, "x" * 100_000, "\x00", str(Project.objects.get().uuid)):
        with CaptureQueriesContext(connection) as captured:
            form = GenerateForm({"project": asked or ""}, team=team, user=None)
        assert len(captured) == 2, asked[:10] if asked else asked
        assert [a.label for a in form.accounts] == [a.label for a in accounts]


# --- Redis failing after the commit ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_redis_down_after_the_commit_logs_the_failure_with_its_job(
    funded, member, project, kinovi, monkeypatch, caplog
):
    """Robust: the failure is logged as an error naming the job (Django's own log of a
    robust callback names only `send_when_queued.<locals>.<lambda>`), with its
    traceback; the job stays queued for the sweep, and a second queued job in the same
    commit is still tried."""
    from tests.test_review_stop28 import RedisDown, submit

    tried = []

    class Down(RedisDown):
        def enqueue(self, package):
            tried.append(package)
            super().enqueue(package)

    monkeypatch.setattr(tasks, "_broker", lambda: Down())
    monkeypatch.setattr(tasks, "_queue_is_the_database", lambda: False)
    with transaction.atomic():
        submit(funded, member, project)
        submit(funded, member, project)
    assert len(tried) == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and all(r.exc_info for r in errors)
    from generations.models import Generation

    jobs = list(Generation.objects.order_by("pk"))
    assert {job.state for job in jobs} == {State.QUEUED}
    # Which job was left to the sweep is in the log line, not only its traceback: an
    # operator looking for a job that waited a lease must find it by its id.
    for record, job in zip(errors, jobs, strict=True):
        assert f"Generation {job.pk}:" in record.getMessage()
        assert "Redis is down" in str(record.exc_info[1])
