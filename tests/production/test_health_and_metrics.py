"""/healthz, /readyz and /metrics: for machines, answered before sessions and host checks."""

import json
import socket
import threading
import time

import httpx
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing import ledger
from generations.media import fetch
from generations.vendors import VendorError
from generations.vendors.kinovi import KinoviAdapter
from seedance_site import health
from tests.generations.factories import GenerationFactory, ProjectFactory

TOKEN = "metrics-token-0123456789"


@pytest.fixture(autouse=True)
def strict_site(settings, tmp_path):
    """As in production: HTTPS enforced and one host name allowed; probes come by address."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["studio.example.com"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.METRICS_TOKEN = TOKEN
    health._migrated = False


def probe(client, path, **headers):
    return client.get(path, HTTP_HOST="10.0.3.7:8000", **headers)


@pytest.mark.django_db
def test_healthz_answers_without_the_database_a_session_or_a_known_host(
    client, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = probe(client, "/healthz")
    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok"}
    assert "Set-Cookie" not in response and not response.cookies
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_checks_database_migrations_broker_and_storage_in_milliseconds(client):
    response = probe(client, "/readyz")
    body = json.loads(response.content)
    assert response.status_code == 200, body
    assert {k: body[k] for k in ("database", "migrations", "broker", "storage")} == {
        "database": "ok",
        "migrations": "ok",
        "broker": "ok",
        "storage": "ok",
    }
    again = json.loads(probe(client, "/readyz").content)  # the migration plan is not redone
    assert again["ms"] < 50


@pytest.mark.django_db
def test_readyz_is_503_while_a_migration_is_not_applied(client, monkeypatch):
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [("m", False)])
    response = probe(client, "/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["migrations"] == "down"


@pytest.mark.django_db
def test_readyz_is_503_when_the_broker_does_not_answer(client, monkeypatch, settings):
    class DeadBroker:
        def ping(self):
            raise ConnectionError("refused")

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(health, "_broker", lambda: DeadBroker())
    response = probe(client, "/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["broker"] == "down"


@pytest.mark.django_db
def test_readyz_is_503_when_the_bucket_is_gone(client, bucket):
    assert probe(client, "/readyz").status_code == 200
    bucket.client.delete_bucket(Bucket=bucket.name)
    response = probe(client, "/readyz")
    assert response.status_code == 503
    assert json.loads(response.content)["storage"] == "down"


@pytest.mark.django_db
def test_metrics_need_the_token(client, settings):
    assert probe(client, "/metrics").status_code == 401
    assert probe(client, "/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    settings.METRICS_TOKEN = ""
    assert probe(client, "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def scrape(client) -> str:
    response = probe(client, "/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


def value(text, sample) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} not in the scrape")


@pytest.mark.django_db
def test_metrics_count_jobs_by_state_holds_and_stored_clips(client, team, member, operator):
    project = ProjectFactory(team=team)
    GenerationFactory(project=project, succeeded=True)
    GenerationFactory.create_batch(2, project=project, state="queued")
    ledger.grant(team, 5_000_000, by=operator, memo="Budget", key="g")
    ledger.hold(team, member, None, 700_000, "A job", "h-1")
    text = scrape(client)
    assert value(text, 'seedance_jobs{state="succeeded"}') == 1
    assert value(text, 'seedance_jobs{state="queued"}') == 2
    assert value(text, 'seedance_jobs{state="failed"}') == 0
    assert value(text, "seedance_holds_pending") == 1
    assert value(text, "seedance_holds_pending_micros") == 700_000
    assert value(text, "seedance_clips_stored_total") == 1
    assert value(text, "seedance_queue_depth") == 0
    assert value(text, "seedance_oldest_due_check_seconds") == 0
    assert "seedance_sweep_lag_seconds" in text


@pytest.mark.django_db
def test_metrics_time_vendor_calls_and_count_errors_by_vendor_and_kind(client):
    def answer(request):
        return httpx.Response(429, json={"code": 429, "msg": "slow down"})

    adapter = KinoviAdapter("sk-test", client=httpx.Client(transport=httpx.MockTransport(answer)))
    before = scrape(client)
    with pytest.raises(VendorError):
        adapter.send("GET", "/api/v1/task/x")
    after = scrape(client)
    errors = 'seedance_vendor_errors_total{kind="rate_limited",vendor="kinovi"}'
    assert value(after, errors) == (value(before, errors) if errors in before else 0) + 1
    count = 'seedance_vendor_call_seconds_count{outcome="error",vendor="kinovi"}'
    assert value(after, count) >= 1


@pytest.mark.django_db
def test_metrics_count_downloads_and_their_bytes(client, monkeypatch):
    def failing(url, out, **kwargs):
        raise fetch.FetchRefused("no")

    before = scrape(client)
    wrapped = fetch.counted_download(failing)
    with pytest.raises(fetch.FetchRefused):
        wrapped("https://example.com/a.mp4", None)
    ok = fetch.counted_download(lambda *a, **k: fetch.Fetched(1234, "0" * 64, "video/mp4"))
    ok("https://example.com/b.mp4", None)
    after = scrape(client)
    for sample, grew in (
        ('seedance_clip_downloads_total{outcome="failed"}', 1),
        ('seedance_clip_downloads_total{outcome="ok"}', 1),
        ("seedance_clip_download_bytes_total", 1234),
    ):
        assert value(after, sample) - (value(before, sample) if sample in before else 0) == grew


@pytest.mark.django_db
def test_readyz_answers_within_seconds_when_the_bucket_never_replies(client, bucket, settings):
    """A bucket behind a black hole must not hold a web worker for botocore's minutes of
    timeouts and retries: anyone may call /readyz, and probes come every few seconds."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the kernel; nothing ever answers
        options = {**settings.STORAGES["default"]["OPTIONS"]}
        options["endpoint_url"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {**settings.STORAGES["default"], "OPTIONS": options},
        }
        answers = []

        def ask():
            try:
                answers.append(probe(client, "/readyz"))
            finally:
                connection.close()  # this thread's own

        probing = threading.Thread(target=ask, daemon=True)
        started = time.monotonic()
        probing.start()
        probing.join(15)
        assert answers, f"no answer after {time.monotonic() - started:.0f} s"
    assert answers[0].status_code == 503
    assert json.loads(answers[0].content)["storage"] == "down"
