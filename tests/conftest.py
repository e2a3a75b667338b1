"""Shared fixtures: three personas (an owner, a member of the same team, an
outsider from another team) and clients logged in as each."""

import pytest
from django.conf import settings
from django.db import transaction

from generations.sandbox import media as sandbox_media
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.media_host import MediaHost


def pytest_collection_modifyitems(config, items):
    if settings.DATABASE_IS_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL row locks and real concurrency")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    # PBKDF2 would otherwise be most of the time each persona takes to create.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def media(settings, tmp_path):
    """Clips, posters and exports go to a folder of the test's own (files use it with
    `pytestmark = pytest.mark.usefixtures("media")`)."""
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture(autouse=True)
def media_host(monkeypatch):
    """Where the sandbox downloads task media from in tests: never the network."""
    host = MediaHost()
    monkeypatch.setattr(sandbox_media, "transport", host.transport)
    return host


DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.fixture(autouse=True)
def empty_cache(request, django_db_blocker):
    """Each test that touches the database starts with an empty cache.

    Without REDIS_URL the cache is a database table that no model owns, so neither a
    test's rollback nor a transactional test's flush empties it: the login throttle's
    counts from one test would otherwise meet the next.
    """
    uses_db = request.node.get_closest_marker("django_db") or (
        DATABASE_FIXTURES & set(request.fixturenames)
    )
    if uses_db:
        from django.core.cache import cache

        request.getfixturevalue("django_db_setup")
        with django_db_blocker.unblock():
            cache.clear()


@pytest.fixture(autouse=True)
def fresh_fragments():
    """Each test starts with no kept markup (seedance_site/fragments.py): the cache lives
    in this process, from one test to the next."""
    from django.core.cache import caches

    caches["template_fragments"].clear()
    yield
    caches["template_fragments"].clear()


@pytest.fixture
def queued(monkeypatch):
    """Submissions go to a list instead of the django-q2 broker, as a worker sees them: the
    database's queue takes a task in the job's transaction, so only a commit shows it."""
    sent = []
    monkeypatch.setattr(
        "generations.tasks.enqueue_submit",
        lambda pk: transaction.on_commit(lambda: sent.append(pk)),
    )
    return sent


@pytest.fixture
def team(db):
    return TeamFactory(name="Northwind Pictures")


@pytest.fixture
def owner(team):
    return MembershipFactory(team=team, owner=True, user__username="olivia").user


@pytest.fixture
def member(team, owner):
    return MembershipFactory(team=team, user__username="mateo").user


@pytest.fixture
def viewer(team, owner):
    return MembershipFactory(team=team, viewer=True, user__username="vera").user


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Rival Films")


@pytest.fixture
def outsider(other_team):
    return MembershipFactory(team=other_team, owner=True, user__username="oscar").user


@pytest.fixture
def operator(db):
    return UserFactory(username="ops", operator=True)


def _client_for(client_class, user):
    c = client_class()
    c.force_login(user)
    return c


@pytest.fixture
def owner_client(owner):
    from django.test import Client

    return _client_for(Client, owner)


@pytest.fixture
def member_client(member):
    from django.test import Client

    return _client_for(Client, member)


@pytest.fixture
def viewer_client(viewer):
    from django.test import Client

    return _client_for(Client, viewer)


@pytest.fixture
def outsider_client(outsider):
    from django.test import Client

    return _client_for(Client, outsider)


@pytest.fixture
def operator_client(operator):
    from django.test import Client

    return _client_for(Client, operator)


_skipped_postgres_tests = []


def pytest_runtest_logreport(report):
    # On PostgreSQL a postgres-only test must run: a skip there hides a broken guarantee.
    if settings.DATABASE_IS_POSTGRES and report.skipped and "postgres" in report.keywords:
        _skipped_postgres_tests.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    if _skipped_postgres_tests:
        print("\nPostgreSQL-only tests were skipped on PostgreSQL:")
        for nodeid in _skipped_postgres_tests:
            print(f"  {nodeid}")
        session.exitstatus = 1


@pytest.fixture
def not_stopping():
    """The worker is not told to stop (a test that tells it is put back)."""
    from generations.lifecycle import steps

    steps.stopping.clear()
    yield
    steps.stopping.clear()


@pytest.fixture
def pool_of_its_size():
    """The sweep's thread pool is made once per process, of SWEEP_THREADS threads: a test
    that changes SWEEP_THREADS gets a pool of that size, and leaves none behind."""
    from generations.lifecycle import sweeping

    sweeping._pool.cache_clear()
    yield
    sweeping._pool().shutdown()
    sweeping._pool.cache_clear()
