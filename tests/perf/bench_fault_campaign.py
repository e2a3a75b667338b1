"""Fault campaign benchmark, on demand; prints a table. Not part of the normal test run.

The harness of tests/generations/test_fault_campaign.py with 1,000 jobs: faults drawn
at random from its table, driven through the real lifecycle against the sandbox on
this process's live server, then every invariant checked. From the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test TEST_DATABASE_NAME=test_bench \\
        uv run pytest tests/perf/bench_fault_campaign.py -s -p no:randomly --override-ini addopts=

or without DATABASE_URL for SQLite. BENCH_JOBS changes the number of jobs (1,000),
CAMPAIGN_SEED the seed. Jobs get a longer deadline than in the test (BENCH_DEADLINE,
180 s) so that the queue behind the vendors' concurrency caps drains before it; the
table says which invariants broke, and the run fails if any did.
"""

import os

import pytest
from django.db import connection

from generations.models import Generation
from tests.generations.campaign import run_campaign
from tests.generations.conftest import funded, project, sandbox  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)

JOBS = int(os.environ.get("BENCH_JOBS", "1000"))
SEED = int(os.environ.get("CAMPAIGN_SEED", "20240611"))
DEADLINE = float(os.environ.get("BENCH_DEADLINE", "180"))


def database_name() -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    return f"SQLite {connection.Database.sqlite_version}"


def test_a_thousand_jobs_through_the_fault_campaign(sandbox, funded, member, project, operator):  # noqa: F811
    result = run_campaign(
        JOBS, SEED, base_url=sandbox, team=funded, member=member, project=project,
        operator=operator, deadline_seconds=DEADLINE, budget_seconds=DEADLINE + 240,
        max_concurrent=(20, 60), worker_threads=6,
    )  # fmt: skip
    generations = Generation.objects.filter(team=funded).count()
    print(f"\nFault campaign benchmark on {database_name()}: seed {SEED}")
    print(
        f"  {JOBS} jobs ({generations} generations) driven for {result.seconds:.0f} s: "
        f"{generations / result.seconds:.1f} generations/s"
    )
    for note in result.notes:
        print(f"  {note}")
    print(result.table)
    print()
    for name, found in result.breaks.items():
        print(f"  {len(found):>4}  {name}")
    if result.broken():
        print(result.report())
        pytest.fail(result.report(), pytrace=False)
