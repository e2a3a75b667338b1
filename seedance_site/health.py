"""/healthz and /readyz for load balancers and orchestrators (and /metrics, see metrics.py).

Answered by the first middleware, before the host check, HTTPS redirect, session and
team lookup: a probe comes by address, over plain HTTP, with no cookie, and must get its
answer in milliseconds. Neither says anything a visitor could use: only "ok" or which
dependency is down.

- /healthz: the process is up and serving. Nothing else is touched.
- /readyz: the database answers and every migration is applied, the task broker answers,
  and the media storage is reachable. 503 with the failing parts otherwise.
"""

import json
import logging
import os
import time
from functools import cache

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponse
from django_q.brokers import get_broker

from seedance_site.metrics import metrics_response

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


_migrated = False


def _check_migrations() -> None:
    # Once every migration is applied it stays so for this process's code: the plan
    # (tens of milliseconds) is worked out only until then.
    global _migrated
    if _migrated:
        return
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise RuntimeError("migrations not applied")
    _migrated = True


@cache
def _broker():
    return get_broker()


def _check_broker() -> None:
    if settings.REDIS_URL:
        if not _broker().ping():
            raise RuntimeError("no answer")
    else:
        _broker().queue_size()  # the ORM broker is a table


def _check_storage() -> None:
    storage = default_storage
    if hasattr(storage, "reachable"):  # a bucket
        storage.reachable()
        return
    root = settings.MEDIA_ROOT
    while not os.path.exists(root):  # created with the first file
        root = os.path.dirname(root)
    if not os.access(root, os.W_OK):
        raise RuntimeError("not writable")


CHECKS = {
    "database": _check_database,
    "migrations": _check_migrations,
    "broker": _check_broker,
    "storage": _check_storage,
}


def readiness() -> dict[str, str]:
    """Each dependency's state: "ok", or a short reason (the full error goes to the log)."""
    states = {}
    for name, check in CHECKS.items():
        try:
            check()
            states[name] = "ok"
        except Exception as exc:
            log.warning("Readiness check %s failed: %s", name, exc)
            states[name] = "down"
            if name == "database":
                connection.close()  # a broken connection is not kept for the next request
    return states


def _answer(status: int, body: dict) -> HttpResponse:
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


class HealthCheckMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path not in HEALTH_PATHS or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        if request.path == "/healthz":
            return _answer(200, {"status": "ok"})
        if request.path == "/metrics":
            return metrics_response(request)
        started = time.monotonic()
        states = readiness()
        ready = all(state == "ok" for state in states.values())
        body = {"status": "ok" if ready else "unavailable", **states}
        body["ms"] = round((time.monotonic() - started) * 1000, 1)
        return _answer(200 if ready else 503, body)
