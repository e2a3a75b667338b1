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
