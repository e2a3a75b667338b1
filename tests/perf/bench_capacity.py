"""Capacity: jobs a minute per worker process and per cluster, and what limits it.

    REDIS_URL=redis://127.0.0.1:6379/7 DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
      TEST_DATABASE_NAME=test_bench uv run pytest tests/perf/bench_capacity.py -s \\
      -p no:randomly --override-ini addopts=

The production stack as in tests/deploy (PostgreSQL, Redis, a bucket on moto's S3
server, the sandbox in a process of its own), one cluster of BENCH_WORKERS processes
(each count in turn), and a burst of BENCH_JOBS jobs across the five vendors, each
finishing at its vendor within a second or two, so that what is measured is the app:
submit, follow, download, store in the bucket, capture. The cluster's CPU is read from
/proc: near its share of the cores, the limit is CPU; well under, it is waiting
(vendor calls, downloads, the sweep's cadence).
"""

import os
import time

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from billing import ledger
from generations import lifecycle, routing
from generations.models import Generation, Project, State
from tests.deploy import stack
from tests.factories import MembershipFactory, TeamFactory
from tests.generations.clusters import wait_for
from tests.generations.conftest import PROTOCOLS, make_account, text_request
from tests.perf.processes import SandboxProcess, cpu_seconds

JOBS = int(os.environ.get("BENCH_JOBS", "200"))
WORKERS = [int(n) for n in os.environ.get("BENCH_WORKERS", "2,4").split(",")]
RUN_SECONDS = (0.5, 1.5)
RESULTS = []

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def production_stack(tmp_path, settings):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        pytest.skip("the capacity benchmark runs on PostgreSQL and Redis")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    s3, endpoint = stack.s3_server(tmp_path)
    base = stack.host_environment(
        tmp_path, s3_endpoint=endpoint, redis_url=settings.REDIS_URL, sandbox_url=""
    )
    sandbox = SandboxProcess(tmp_path, base, RUN_SECONDS)
    settings.SANDBOX_BASE_URL = sandbox.url
    routing.shared_client.cache_clear()
    try:
        yield {**base, "SANDBOX_BASE_URL": sandbox.url, "PUBLIC_BASE_URL": sandbox.url}
    finally:
        sandbox.stop()
        s3.kill()


@pytest.mark.parametrize("workers", WORKERS)
def test_capacity_of_one_cluster(production_stack, operator, tmp_path, workers):
    team = TeamFactory(name=f"Capacity {workers}")
    member = MembershipFactory(team=team, owner=True).user
    ledger.grant(team, 10**12, by=operator, memo="Bench budget", key=f"bench-{workers}")
    project = Project.objects.create(team=team, name="Capacity", created_by=member)
    accounts = [
        make_account(p, production_stack["SANDBOX_BASE_URL"], max_concurrent=JOBS)
        for p in PROTOCOLS
    ]
    env = {**production_stack, "Q_WORKERS": str(workers), "Q_TIMEOUT": "60", "Q_RETRY": "90"}
    cluster = stack.cluster(tmp_path, f"cluster-{workers}", env)
    try:
        time.sleep(3)  # the cluster starts and its sweeper takes the lease
        load = os.getloadavg()[0]
        cpu_before = cpu_seconds(lambda pid, comm, pgid: pgid == cluster.pgid)
        began = time.monotonic()
        for n in range(JOBS):
            account = accounts[n % len(accounts)]
            lifecycle.submit(
                team=team,
                member=member,
                project=project,
                request=text_request(f"Capacity clip {n}"),
                pinned=account,
            )
        wait_for(
            lambda: not Generation.objects.exclude(state__in=Generation.FINISHED).exists(),
            600,
            "every job to end",
            clusters=[cluster],
            interval=0.5,
        )
        wall = time.monotonic() - began
        cpu = cpu_seconds(lambda pid, comm, pgid: pgid == cluster.pgid) - cpu_before
    finally:
        cluster.kill()
    assert Generation.objects.filter(state=State.SUCCEEDED).count() == JOBS
    per_minute = JOBS / wall * 60
    RESULTS.append(
        f"| {workers} | {JOBS} | {wall:.1f} s | {per_minute:.0f} | {per_minute / workers:.0f} "
        f"| {cpu:.1f} s ({cpu / JOBS * 1000:.0f} ms/job) | {cpu / wall:.2f} of {os.cpu_count()} | {load:.1f} |"
    )


def teardown_module():
    print(
        "\n| workers | jobs | wall | jobs/min (cluster) | jobs/min (per worker) | cluster CPU | cores busy | load before |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|--:|")
    for row in RESULTS:
        print(row)
    print(f"(each vendor task takes {RUN_SECONDS[0]}-{RUN_SECONDS[1]} s on the sandbox clock)")
