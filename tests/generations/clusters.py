"""Real django-q2 clusters for tests: `manage.py qcluster` in its own process group.

A cluster runs with the test run's settings, pointed through the environment at the
test database, at the live server that hosts the sandbox, and at shortened timings.
`kill()` is SIGKILL to the whole process group, as the OOM killer or a lost machine
would do it; the `clusters` fixture kills whatever is still running when a test ends,
whether it passed or not.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote

import pytest
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import connection

from generations import lifecycle
from tests.generations.conftest import PROTOCOLS, make_account, text_request

ROOT = Path(__file__).resolve().parents[2]

# Fast enough for a test, slow enough that a lease outlives the steps it covers.
FAST = {
    "GENERATION_POLL_FIRST_SECONDS": 0.2,
    "GENERATION_POLL_MAX_SECONDS": 0.5,
    "GENERATION_LEASE_SECONDS": 4,
    "CLIP_DOWNLOAD_SECONDS": 8,
    "SWEEP_INTERVAL_SECONDS": 0.2,
    "SWEEP_RUN_SECONDS": 5,
    "SWEEP_LEASE_SECONDS": 2,
    "VENDOR_READ_TIMEOUT_SECONDS": 10,
    "Q_WORKERS": 2,
    "Q_TIMEOUT": 30,
    "Q_RETRY": 40,
}


def database_url() -> str:
    """The test database, as a DATABASE_URL another process can open."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError("worker processes need a test database in a file")
        return f"sqlite:///{Path(name).resolve()}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"


def environment(**timings) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "TEST_DATABASE_NAME"}
    env.update(
        DJANGO_SETTINGS_MODULE="seedance_site.settings",
        DATABASE_URL=database_url(),
        PUBLIC_BASE_URL=settings.PUBLIC_BASE_URL,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        SANDBOX_ROOT=str(settings.SANDBOX_ROOT),
        SANDBOX_ENABLED="true",
        SANDBOX_BASE_URL=settings.SANDBOX_BASE_URL,
        SANDBOX_RENDER_SCALE=str(settings.SANDBOX_RENDER_SCALE),
        SANDBOX_RENDER_FPS=str(settings.SANDBOX_RENDER_FPS),
        SANDBOX_QUEUE_SECONDS=str(settings.SANDBOX_QUEUE_SECONDS),
        SANDBOX_RUN_SECONDS=str(settings.SANDBOX_RUN_SECONDS),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
    )
    env.update({name: str(value) for name, value in {**FAST, **timings}.items()})
    return env


class Cluster:
    def __init__(self, log_path: Path, env: dict, command=("manage.py", "qcluster")):
        self.log_path = log_path
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in kill()
        self.process = subprocess.Popen(  # noqa: S603 - our own entry points
            [sys.executable, *command],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches every child
        )
        self.pgid = self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group and wait until none of it runs."""
        with contextlib.suppress(ProcessLookupError):  # it died already
            os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while survivors(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.log.close()

    def tail(self, lines=40) -> str:
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def survivors(pgid: int) -> list[int]:
    """Processes of group `pgid` that still run (zombies waiting to be reaped do not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


@pytest.fixture(name="clusters")
def clusters_fixture(live_server, tmp_path):
    """start(**timings) -> a running Cluster; every one is killed when the test ends.

    `command` runs another entry point than `manage.py qcluster` (the benchmark's metered
    one), and `env` adds to the environment.
    """
    started: list[Cluster] = []

    def start(command=("manage.py", "qcluster"), env=None, **timings) -> Cluster:
        log_path = tmp_path / f"qcluster-{len(started) + 1}.log"
        cluster = Cluster(log_path, {**environment(**timings), **(env or {})}, command)
        started.append(cluster)
        return cluster

    start.started = started
    try:
        yield start
    finally:
        for cluster in started:
            cluster.kill()
        leftovers = [pid for cluster in started for pid in survivors(cluster.pgid)]
        assert not leftovers, f"worker processes survived the test: {leftovers}"


def wait_for(condition, timeout: float, what: str, clusters=(), interval=0.02):
    """Poll `condition` until it returns something true; fail with `what` and the logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    logs = "\n\n".join(f"--- {c.log_path.name}\n{c.tail()}" for c in clusters)
    pytest.fail(f"Timed out after {timeout:.0f} s waiting for {what}.\n{logs}")


@dataclass
class Call:
    """One HTTP request the live server answered: a vendor call, a download or a callback."""

    method: str
    path: str
    query: str
    started: float
    ended: float = 0.0
    cpu: float = 0.0  # CPU seconds of the thread that answered it

    @property
    def kind(self) -> str:
        if self.path.startswith("/sandbox/files/"):
            return "download"
        if self.path.startswith("/hooks/"):
            return "callback"
        if not self.path.startswith("/sandbox/"):
            return "other"
        return "create" if self.method == "POST" and "cancel" not in self.path else "query"

    @property
    def task_ref(self) -> str:
        """The task id a query names, in its query string or as its last path segment."""
        for values in parse_qs(self.query).values():
            return values[0]
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def names(self, text: str) -> bool:
        return text in self.path or text in self.query

    def overlaps(self, other: "Call") -> bool:
        return self.started < other.ended and other.started < self.ended


class Calls(list):
    """Calls the live server finished. It finishes one after the client has its answer,
    so a test reads them once `settled()`: when no request is still in progress."""

    def __init__(self):
        super().__init__()
        self.in_progress = 0
        self.changed = threading.Condition()

    def settled(self, seconds: float = 10.0) -> "Calls":
        with self.changed:
            assert self.changed.wait_for(lambda: self.in_progress == 0, seconds), (
                f"{self.in_progress} request(s) still in progress after {seconds} s"
            )
        return self


@pytest.fixture(name="vendor_calls")
def vendor_calls_fixture(live_server):
    """Every request the live server finished, with its wall-clock start and end."""
    calls = Calls()
    local = threading.local()

    def started(sender, environ, **kwargs):
        local.call = Call(
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            time.time(),
        )
        local.cpu = time.thread_time()
        with calls.changed:
            calls.in_progress += 1

    def finished(sender, **kwargs):
        call = getattr(local, "call", None)
        if call is not None:
            call.ended = time.time()
            call.cpu = time.thread_time() - local.cpu
            local.call = None
            with calls.changed:
                calls.append(call)
                calls.in_progress -= 1
                calls.changed.notify_all()

    request_started.connect(started, dispatch_uid="vendor-calls-started")
    request_finished.connect(finished, dispatch_uid="vendor-calls-finished")
    try:
        yield calls
    finally:
        request_started.disconnect(dispatch_uid="vendor-calls-started")
        request_finished.disconnect(dispatch_uid="vendor-calls-finished")


@pytest.fixture(name="accounts")
def accounts_fixture(sandbox, settings):
    """One sandbox account per vendor, quick to finish, with room for every job."""
    settings.SANDBOX_QUEUE_SECONDS = 0.2
    settings.SANDBOX_RUN_SECONDS = 1.5
    return {p: make_account(p, sandbox, max_concurrent=100) for p in PROTOCOLS}


def submit(team, member, project, account, prompt):
    """One clip of `prompt` pinned to `account`; the submit task goes to the broker."""
    [generation] = lifecycle.submit(
        team=team, member=member, project=project, request=text_request(prompt), pinned=account
    )
    return generation
