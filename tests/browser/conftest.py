"""Browser tests: Debian's Chromium driven by Playwright against the live server.

The live server serves the app and its vendor sandbox. A test that needs background
work also asks for `qcluster`: a real `manage.py qcluster` on the test database
(tests/generations/clusters.py), so the pages show what the demo would show.
Screenshots go to tests/screenshots/.
"""

import time
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import sync_playwright

from tests.generations.clusters import Cluster, environment

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "screenshots"
CLUSTER_START_SECONDS = 30


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    cluster = getattr(item, "funcargs", {}).get("qcluster")
    if report.when == "call" and report.failed and cluster is not None:
        report.sections.append(("qcluster log", cluster.tail(80)))
    return report


@pytest.fixture
def studio(live_server, settings, tmp_path, monkeypatch):
    """The live server's address; it serves the app and the vendor sandbox."""
    # Playwright's sync API runs an event loop in this thread, which Django's
    # async-safety check takes for async code calling the ORM.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.PUBLIC_BASE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_ROOT = settings.MEDIA_ROOT / "sandbox"
    # Long enough to watch a job run, short enough for a quick test.
    settings.SANDBOX_QUEUE_SECONDS = 0.3
    settings.SANDBOX_RUN_SECONDS = 4.0
    return live_server.url


@pytest.fixture
def qcluster(studio, tmp_path):
    """A worker cluster doing the background work, killed when the test ends."""
    cluster = Cluster(tmp_path / "qcluster.log", environment())
    try:
        deadline = time.monotonic() + CLUSTER_START_SECONDS
        while b"running." not in cluster.log_path.read_bytes():
            assert cluster.alive, f"qcluster exited:\n{cluster.tail()}"
            assert time.monotonic() < deadline, f"qcluster did not start:\n{cluster.tail()}"
            time.sleep(0.1)
        yield cluster
    finally:
        # Before the test database is flushed or dropped under it.
        cluster.kill()


@pytest.fixture
def chromium(studio):
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield browser
        finally:
            browser.close()
            # While Playwright's event loop runs, asgiref gives this thread a second set
            # of database connections: the test used them, so close them before the
            # test database is flushed or dropped (PostgreSQL refuses while they live).
            connections.close_all()
