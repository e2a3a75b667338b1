"""Lifecycle benchmark, on demand; prints a table. Not part of the normal test run.

Run it on PostgreSQL (the numbers that matter), from the project root, with nothing
else heavy running on the machine (the CPU rows show how much else ran):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test TEST_DATABASE_NAME=test_bench \\
        uv run pytest tests/perf/bench_lifecycle.py -s -p no:randomly --override-ini addopts=

It also runs on SQLite, where the table says whether the targets were met but
nothing fails on them. BENCH_GENERATIONS changes the number of jobs (1,000).

With ONE real `manage.py qcluster` at the production settings (polls from 2 s
backing off to 8 s, one sweep a second, four workers), members submit 1,000
generations across the five vendors as fast as the web process takes them, against
the sandbox on this process's live server (jobs of 20-60 s, tiny renders). It measures:
  * vendor done -> clip stored, p50/p95/max, for the vendors that call back and for
    those that are only polled. "Vendor done" is the first instant the vendor's API
    says success: the task's end on the sandbox clock, or its render if that was
    later. "Stored" is the generation's finished_at. Targets: 2 s (p95) with
    callbacks, 10 s without; asserted on PostgreSQL;
  * vendor HTTP calls per generation (creates, queries, downloads) and callbacks;
  * the time of each sweep pass (lifecycle.sweep(), from the sweeper's results);
  * CPU by process and the total wall time;
  * the peak RSS growth of generations.media.fetch.fetch_to_file while it downloads a
    500 MB MP4 (made on the fly) in a process of its own.
"""

import http.server
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.core.servers.basehttp import WSGIRequestHandler
from django.db import connection
from django.utils import timezone
from django_q.models import Task

from billing import ledger
from billing.models import Transfer, TransferKind
from generations import lifecycle, routing
from generations.models import Generation, Project, State, WorkerLease
from generations.sandbox import engine
from generations.sandbox.engine import wait_for_background
from generations.sandbox.models import SandboxTask
from generations.tasks import SWEEPER
from tests.factories import MembershipFactory, TeamFactory
from tests.generations.clusters import (  # noqa: F401 - fixtures
    ROOT,
    clusters_fixture,
    vendor_calls_fixture,
    wait_for,
)
from tests.generations.conftest import PROTOCOLS, make_account, text_request

pytestmark = pytest.mark.django_db(transaction=True)

GENERATIONS = int(os.environ.get("BENCH_GENERATIONS", "1000"))
CALLBACK_VENDORS = {"kinovi", "seedance2_ink"}  # the others refuse a 127.0.0.1 callback URL
# Each vendor job runs this long on the sandbox clock, drawn at random, so jobs end
# at every phase of their polling schedule.
RUN_SECONDS = (20.0, 60.0)
# The settings' own defaults, written out: the benchmark measures the design as shipped.
PRODUCTION = {
    "GENERATION_POLL_FIRST_SECONDS": 2.0,
    "GENERATION_POLL_MAX_SECONDS": 8.0,
    "GENERATION_LEASE_SECONDS": 90,
    "SWEEP_INTERVAL_SECONDS": 1.0,
    "SWEEP_RUN_SECONDS": 2,
    "SWEEP_LEASE_SECONDS": 15,
    "SWEEP_PASS_SECONDS": 10,
    "VENDOR_READ_TIMEOUT_SECONDS": 20,
    "Q_WORKERS": 4,
    "Q_TIMEOUT": 120,
    "Q_RETRY": 180,
}
BIG_FILE = 500 * 2**20
RESULTS: list[tuple[str, str]] = []
DATABASE = {"name": ""}


@pytest.fixture(scope="module", autouse=True)
def print_table():
    yield
    title = (
        f"Lifecycle benchmark on {DATABASE['name'] or connection.vendor}, {os.cpu_count()} cores"
    )
    width = max(len(r[0]) for r in RESULTS) if RESULTS else 40
    print(f"\n\n{title}\n")
    print(f"| {'measurement':<{width}} | {'result':>34} |")
    print(f"|{'-' * (width + 2)}|{'-' * 35}:|")
    for name, result in RESULTS:
        print(f"| {name:<{width}} | {result:>34} |")
    print()


def describe_database():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            DATABASE["name"] = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    else:
        DATABASE["name"] = f"SQLite {connection.Database.sqlite_version}"


def spread(values) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered):.2f} / {p95:.2f} / {ordered[-1]:.2f} s"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@pytest.fixture
def bench_sandbox(live_server, settings, tmp_path, monkeypatch):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SANDBOX_ROOT = tmp_path / "sandbox"
    settings.SANDBOX_QUEUE_SECONDS = 1.0
    # 64×36 pixels at 2 fps: the vendor's rendering is not what is measured.
    settings.SANDBOX_RENDER_SCALE = 0.05
    settings.SANDBOX_RENDER_FPS = 2
    rng = random.Random(7)
    monkeypatch.setattr(engine, "run_seconds", lambda: rng.uniform(*RUN_SECONDS))
    # The test server writes a response's headers and body in two small sends, and
    # Nagle's algorithm holds the second until the client's delayed ACK: 40 ms on
    # every vendor call that no real vendor adds. Send at once, as servers do.
    setup = WSGIRequestHandler.setup

    def setup_without_nagle(handler):
        handler.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        setup(handler)

    monkeypatch.setattr(WSGIRequestHandler, "setup", setup_without_nagle)
    routing.shared_client.cache_clear()
    yield live_server.url
    routing.shared_client().close()
    routing.shared_client.cache_clear()


def cpu_seconds(match) -> float:
    """User + system CPU of the running processes for which match(pid, comm, pgid) holds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if match(int(entry.name), comm, int(fields[2])):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK"), sum(fields) / os.sysconf("SC_CLK_TCK")


def vendor_done(task: SandboxTask) -> float:
    rendered = task.output_path.stat().st_mtime
    return max(task.ends_at.timestamp(), rendered)


def test_a_thousand_generations_in_flight_with_one_cluster(
    bench_sandbox, clusters, vendor_calls, operator
):
    describe_database()
    team = TeamFactory(name="Bench Pictures")
    member = MembershipFactory(team=team, owner=True).user
    ledger.grant(team, 10**6 * 10**6, by=operator, memo="Bench budget", key="bench")

    project = Project.objects.create(team=team, name="Bench", created_by=member)
    accounts = [make_account(p, bench_sandbox, max_concurrent=GENERATIONS) for p in PROTOCOLS]

    own = resource.getrusage(resource.RUSAGE_SELF)
    database = cpu_seconds(lambda pid, comm, pgid: comm == "postgres")
    busy = machine_busy()
    cluster = clusters(**PRODUCTION)
    wait_for(
        lambda: WorkerLease.objects.filter(name=SWEEPER, until__gt=timezone.now()).exists(),
        30,
        "the cluster's sweeper",
        clusters=[cluster],
    )
    # The burst: members submit 1,000 jobs as fast as the web process takes them
    # (holds placed, tasks enqueued) while the cluster works.
    began = time.monotonic()
    started_at = timezone.now()
    for n in range(GENERATIONS):
        account = accounts[n % len(accounts)]
        lifecycle.submit(
            team=team,
            member=member,
            project=project,
            request=text_request(f"Bench clip {n} via {account.protocol}"),
            pinned=account,
        )
    submitted = time.monotonic() - began
    RESULTS.append((f"submit {GENERATIONS:,} in the web process", f"{submitted:.1f} s"))

    def finished():
        return not Generation.objects.exclude(state__in=Generation.FINISHED).exists()

    wait_for(finished, 600, "every generation to finish", clusters=[cluster], interval=1.0)
    wall = time.monotonic() - began
    cpu = {
        "web process (submits, sandbox, callbacks)": resource.getrusage(
            resource.RUSAGE_SELF
        ).ru_utime
        + resource.getrusage(resource.RUSAGE_SELF).ru_stime
        - own.ru_utime
        - own.ru_stime,
        "cluster processes": cpu_seconds(lambda pid, comm, pgid: pgid == cluster.pgid),
        "PostgreSQL backends": cpu_seconds(lambda pid, comm, pgid: comm == "postgres") - database,
    }
    busy = [now - then for now, then in zip(machine_busy(), busy, strict=True)]
    cluster.kill()

    states = Counter(Generation.objects.values_list("state", flat=True))
    assert states == {State.SUCCEEDED: GENERATIONS}, states
    tasks = {t.task_id: t for t in SandboxTask.objects.all()}
    assert len(tasks) == GENERATIONS

    latency = {"callback": [], "polling": []}
    noticed = {"callback": [], "polling": []}
    saving = {"callback": [], "polling": []}
    last_done = 0.0
    for generation in Generation.objects.select_related("vendor_account"):
        task = tasks[generation.vendor_task_id]
        done = vendor_done(task)
        last_done = max(last_done, done)
        kind = "callback" if generation.vendor_account.protocol in CALLBACK_VENDORS else "polling"
        latency[kind].append(generation.finished_at.timestamp() - done)
        noticed[kind].append(generation.vendor_done_at.timestamp() - done)
        saving[kind].append((generation.finished_at - generation.vendor_done_at).total_seconds())

    calls = Counter()
    per_task = Counter()
    for call in vendor_calls.settled():
        calls[call.kind] += 1
        if call.kind == "query":
            per_task[call.task_ref] += 1
    queries = {"callback": [], "polling": []}
    for task in tasks.values():
        kind = "callback" if task.protocol in CALLBACK_VENDORS else "polling"
        queries[kind].append(per_task[task.task_id])

    passes = []
    for result in Task.objects.filter(func="generations.tasks.sweep_generations").values_list(
        "result", flat=True
    ):
        if isinstance(result, dict):
            passes.extend(result.get("pass_seconds", []))

    for kind, target in (("callback", 2.0), ("polling", 10.0)):
        met = "met" if percentile(latency[kind], 0.95) <= target else "MISSED"
        RESULTS.append(
            (f"vendor done -> stored, {kind} p50/p95/max", f"{spread(latency[kind])} ({met})")
        )
    RESULTS.append(("  of which noticed, callback", spread(noticed["callback"])))
    RESULTS.append(("  of which noticed, polling", spread(noticed["polling"])))
    RESULTS.append(
        (
            "  of which saving (download, probe, capture)",
            spread(saving["callback"] + saving["polling"]),
        )
    )
    n = GENERATIONS
    RESULTS.append(("vendor creates per generation", f"{calls['create'] / n:.2f}"))
    for kind in ("callback", "polling"):
        RESULTS.append(
            (
                f"vendor queries per generation, {kind} mean/max",
                f"{statistics.mean(queries[kind]):.1f} / {max(queries[kind])}",
            )
        )
    RESULTS.append(("downloads per generation", f"{calls['download'] / n:.2f}"))
    RESULTS.append(
        (
            "callbacks received per callback generation",
            f"{calls['callback'] / len(latency['callback']):.2f}",
        )
    )
    RESULTS.append(
        (
            f"sweep pass p50/p95/max ({len(passes):,} passes)",
            spread(passes) if passes else "-",
        )
    )
    for name, seconds in cpu.items():
        if connection.vendor == "postgresql" or "Postgre" not in name:
            RESULTS.append((f"CPU, {name}", f"{seconds:.0f} s ({seconds / wall:.0%} of a core)"))
    RESULTS.append(
        ("CPU, whole machine busy", f"{busy[0] / busy[1]:.0%} of {os.cpu_count()} cores")
    )
    last_stored = max(g.finished_at.timestamp() for g in Generation.objects.all())
    RESULTS.append(("wall: first submit -> last stored", f"{wall:.1f} s"))
    RESULTS.append(
        ("  of which after the last vendor finished", f"{last_stored - last_done:.1f} s")
    )
    captures = Transfer.objects.filter(kind=TransferKind.CAPTURE, created__gte=started_at)
    assert captures.count() == GENERATIONS
    assert ledger.problems() == []
    wait_for_background(60)

    # The targets hold for the production database; SQLite queues every writer on one
    # lock, so there the table says how far it is from them.
    if connection.vendor == "postgresql":
        assert percentile(latency["callback"], 0.95) <= 2.0, "callback target missed"
        assert percentile(latency["polling"], 0.95) <= 10.0, "polling target missed"


class BigMP4(http.server.BaseHTTPRequestHandler):
    """A 500 MB MP4, made on the fly: a real `ftyp` box, then zeros."""

    FTYP = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    CHUNK = b"\x00" * 2**20

    def do_GET(self):
        size = 2**20 if self.path.endswith("?warm") else BIG_FILE
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size
        self.wfile.write(self.FTYP)
        left -= len(self.FTYP)
        while left:
            piece = self.CHUNK[: min(left, len(self.CHUNK))]
            self.wfile.write(piece)
            left -= len(piece)

    def log_message(self, *args):
        pass


# Runs in a process of its own, so that its peak RSS is the download's alone.
MEASURE = """
import json, os, resource, sys, tempfile, time
import django
django.setup()
from generations.media import fetch

url = sys.argv[1]

def peak_kb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

with tempfile.TemporaryFile() as out:  # warm up on 1 MB: imports, buffers, first connection
    fetch.fetch_to_file(url + "?warm", out, max_bytes=600 * 2**20, deadline_seconds=300)
before = peak_kb()
began = time.monotonic()
with tempfile.TemporaryFile() as out:
    fetched = fetch.fetch_to_file(url, out, max_bytes=600 * 2**20, deadline_seconds=300)
seconds = time.monotonic() - began
print(json.dumps({"bytes": fetched.bytes, "before_kb": before, "after_kb": peak_kb(),
                  "seconds": seconds}))
"""


def test_downloading_a_500_mb_clip_keeps_memory_flat(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BigMP4)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    # The address check refuses 127.0.0.1; the sandbox's own prefix on our own server
    # (PUBLIC_BASE_URL + /sandbox/, with SANDBOX_ENABLED) is the one allowance.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "seedance_site.settings",
        "PUBLIC_BASE_URL": base,
        "SANDBOX_ENABLED": "true",
        "TMPDIR": str(tmp_path),
    }
    try:
        result = subprocess.run(  # noqa: S603 - our own script, our own server
            [sys.executable, "-c", MEASURE, f"{base}/sandbox/big.mp4"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.shutdown()
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["bytes"] == BIG_FILE
    growth_mb = (measured["after_kb"] - measured["before_kb"]) / 1024
    RESULTS.append(
        (
            "500 MB download: peak RSS growth",
            f"{growth_mb:.1f} MB (of {measured['after_kb'] / 1024:.0f} MB)",
        )
    )
    RESULTS.append(
        (
            "500 MB download: time",
            f"{measured['seconds']:.1f} s ({BIG_FILE / 2**20 / measured['seconds']:.0f} MB/s)",
        )
    )
    assert growth_mb < 16, measured
