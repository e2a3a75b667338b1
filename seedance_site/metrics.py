"""/metrics for Prometheus, behind a bearer token from METRICS_TOKEN (off when empty).

What this process (or, with PROMETHEUS_MULTIPROC_DIR, this machine) counted
(seedance_site.instruments), and what the database and broker say when scraped: the
apps register collectors for those with `register`. Served by the health middleware,
so a scrape needs no session and no allowed host name.
"""

import hmac
import os

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client import REGISTRY as PROCESS_REGISTRY
from prometheus_client.multiprocess import MultiProcessCollector

# What every machine would report alike: read once per scrape from the shared services.
SHARED_REGISTRY = CollectorRegistry()


def register(collector) -> None:
    """Add a collector whose `collect()` reads shared state (the database, the broker)."""
    SHARED_REGISTRY.register(collector)


def exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        local = CollectorRegistry()
        MultiProcessCollector(local)
    else:
        local = PROCESS_REGISTRY
    return generate_latest(local) + generate_latest(SHARED_REGISTRY)


def metrics_response(request) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse("Not found.", status=404, content_type="text/plain")
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("A bearer token is needed.", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    response = HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
