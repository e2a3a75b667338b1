"""With REDIS_URL, django-q2's broker and the cache are Redis: .ci/run runs the
worker-crash, two-cluster, sweep and login-throttle tests again that way, and these
tests prove the run really used Redis rather than falling back to the database."""

import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django_q.brokers import get_broker
from django_q.brokers.redis_broker import Redis

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")


def test_the_task_broker_is_redis_and_answers():
    assert settings.Q_CLUSTER["redis"] == os.environ["REDIS_URL"]
    assert "orm" not in settings.Q_CLUSTER
    broker = get_broker()
    assert isinstance(broker, Redis)
    assert broker.ping()


def test_the_cache_the_login_throttle_counts_in_is_redis():
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    cache.set("throttle-probe", 1, 5)
    assert cache.incr("throttle-probe") == 2
    cache.delete("throttle-probe")


def test_sessions_are_read_from_redis_and_kept_in_the_database(client, django_user_model):
    from importlib import import_module

    from django.contrib.sessions.backends.cached_db import SessionStore as CachedDb
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from seedance_site.sessions import WrittenLookup

    store = import_module(settings.SESSION_ENGINE).SessionStore
    assert issubclass(store, CachedDb) and issubclass(store, WrittenLookup)
    user = django_user_model.objects.create_user("rina", password="not used")
    client.force_login(user)
    assert Session.objects.count() == 1  # written through: a Redis flush signs nobody out
    with CaptureQueriesContext(connection) as captured:
        client.get("/account/password/")
    assert not [q for q in captured if "django_session" in q["sql"]]
    cache.clear()
    assert client.get("/account/password/").status_code == 200  # read back from the table


@pytest.mark.django_db(transaction=True)
def test_a_submission_is_queued_in_redis_only_once_committed(team, member, operator):
    """Redis is outside the job's transaction: the send is queued after the commit (a
    worker taking it earlier would find no job), and not at all when it rolls back."""
    from django.db import transaction

    from billing import ledger
    from generations import lifecycle, tasks
    from tests.generations.conftest import text_request
    from tests.generations.factories import ProjectFactory, VendorAccountFactory

    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    ledger.grant(team, 50_000_000, by=operator, memo="Budget", key="budget")
    project = ProjectFactory(team=team)
    broker = tasks._broker()
    assert isinstance(broker, Redis)
    broker.purge_queue()
    with transaction.atomic():
        lifecycle.submit(team=team, member=member, project=project, request=text_request())
        assert broker.queue_size() == 0
    assert broker.queue_size() == 1
    try:
        with transaction.atomic():
            lifecycle.submit(team=team, member=member, project=project, request=text_request())
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert broker.queue_size() == 1
    broker.purge_queue()
