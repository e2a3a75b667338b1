"""Ledger benchmark, on demand; prints a table. Not part of the normal test run.

Run it on PostgreSQL (the numbers that matter), from the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        uv run pytest tests/perf/bench_ledger.py -s -p no:randomly --override-ini addopts=

(`--override-ini addopts=` drops the `--ignore=tests/perf` that keeps it out of
`uv run pytest`.) It also runs on SQLite, where writers queue one at a time.
Set TEST_DATABASE_NAME to keep clear of someone else's test database.

It measures:
  * the statements one hold sends (BEGIN and COMMIT included) and the CPU time
    this process spends per hold on one thread (Python, the driver and the GIL's
    share: 8 threads on 2 cores need it well under 2 ms to place 500 holds a second);
  * holds per second, 1 thread and 8 threads on one team (they queue on the
    team's row lock, by design) and 8 threads on 8 teams (they do not);
  * the Billing page with 100,000 transfers in the team's statement: the full
    page, an htmx filter, a keyset page deep in the history, the CSV export and
    `reconcile_ledger`, each with its time and query count.
"""

import datetime as dt
import importlib
import random
import statistics
import threading
import time
import uuid

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import Sum
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import ledger
from billing.ledger import spend as daily_spend
from billing.models import (
    Account,
    AccountKind,
    Hold,
    HoldStatus,
    Membership,
    MemberUsage,
    ProjectUsage,
    Transfer,
    TransferKind,
)
from seedance_site.keyset import encode as encode_cursor
from tests.factories import MembershipFactory, TeamFactory, UserFactory

USD = 1_000_000
TRANSFERS = 100_000
RESULTS: list[tuple[str, str, str]] = []
DATABASE = {"name": ""}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module", autouse=True)
def print_table():
    yield
    title = f"Ledger benchmark on {DATABASE['name'] or connection.vendor}"
    width = max(len(r[0]) for r in RESULTS) if RESULTS else 40
    print(f"\n\n{title}\n")
    print(f"| {'measurement':<{width}} | {'result':>16} | {'queries':>7} |")
    print(f"|{'-' * (width + 2)}|{'-' * 18}:|{'-' * 8}:|")
    for name, result, queries in RESULTS:
        print(f"| {name:<{width}} | {result:>16} | {queries:>7} |")
    print()


class Project:
    def __init__(self, name, cap=None):
        self.uuid, self.name, self.spend_cap = uuid.uuid4(), name, cap


def hold_rate(teams_and_members, holds_per_thread):
    """(holds per second, CPU ms per hold) with one thread per (team, member), all started
    together; the CPU time is the whole process's, so it means most on one thread."""
    start = threading.Barrier(len(teams_and_members) + 1)
    failures = []

    def work(team, member, n):
        project = Project(f"Project {n}", cap=10**6 * USD)
        try:
            start.wait()
            for i in range(holds_per_thread):
                ledger.hold(team, member, project, 10_000, "Bench", f"t{n}-{i}")
        except Exception as e:  # noqa: BLE001 (reported below)
            failures.append(e)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(team, member, n))
        for n, (team, member) in enumerate(teams_and_members)
    ]
    for t in threads:
        t.start()
    start.wait()
    began, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    assert not failures, failures[:3]
    holds = len(threads) * holds_per_thread
    return holds / elapsed, cpu * 1000 / holds


def statements_per_hold(team, member):
    """The statements of one more hold by a member who has held before, in a project."""
    project = Project("Counted", cap=10**6 * USD)
    ledger.hold(team, member, project, 10_000, "Bench", "count-first")
    with CaptureQueriesContext(connection) as captured:
        ledger.hold(team, member, project, 10_000, "Bench", "count-second")
    return len(captured.captured_queries)


def describe_database():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            DATABASE["name"] = f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    else:
        DATABASE["name"] = f"SQLite {connection.Database.sqlite_version}"


def funded_team(name):
    team = TeamFactory(name=name)
    member = MembershipFactory(team=team, user=UserFactory(), monthly_cap=10**6 * USD).user
    ledger.grant(team, 10**5 * USD, None, "Bench credits", "bench")
    return team, member


def test_holds_per_second():
    describe_database()
    one = funded_team("Solo")
    queries = str(statements_per_hold(*one))
    rate, cpu = hold_rate([one], 400)
    RESULTS.append(("holds/s, 1 thread", f"{rate:,.0f}", queries))
    RESULTS.append(("CPU per hold in this process, 1 thread", f"{cpu:.2f} ms", ""))

    team, _ = funded_team("Crowd")
    crowd = [(team, MembershipFactory(team=team, user=UserFactory()).user) for _ in range(8)]
    rate, _ = hold_rate(crowd, 100)
    RESULTS.append(("holds/s, 8 threads on one team", f"{rate:,.0f}", queries))

    many = [funded_team(f"Team {n}") for n in range(8)]
    rate, _ = hold_rate(many, 100)
    RESULTS.append(("holds/s, 8 threads on 8 teams", f"{rate:,.0f}", queries))
    assert ledger.problems() == []


def seed_history(team, members, vendors, transfers):
    """`transfers` transfers over 90 days: grants, then jobs held and captured or released.

    Written with bulk_create, then the cached balances and the members' and
    projects' running totals are set from the rows, so reconcile_ledger must agree.
    """
    rnd = random.Random(7)
    available, holds = (
        Account.objects.get(team=team, kind=AccountKind.AVAILABLE),
        Account.objects.get(team=team, kind=AccountKind.HOLDS),
    )
    grants = Account.objects.get(kind=AccountKind.GRANTS)
    spend = {
        v: Account.objects.get_or_create(
            kind=AccountKind.VENDOR_SPEND, vendor=v, defaults={"vendor_label": v.title()}
        )[0]
        for v in vendors
    }
    projects = [(uuid.uuid4(), f"Project {n}") for n in range(12)]
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=90)
    jobs = transfers // 2 - 10
    stamps = sorted(start + dt.timedelta(seconds=rnd.uniform(0, 90 * 86400)) for _ in range(jobs))

    new_holds = []
    for n, created in enumerate(stamps):
        member = rnd.choice(members)
        project_uuid, project_name = rnd.choice(projects)
        amount = rnd.choice([300_000, 600_000, 1_200_000, 2_400_000])
        captured = rnd.random() < 0.85
        new_holds.append(
            Hold(
                team=team, member=member, project_uuid=project_uuid, project_name=project_name,
                amount=amount, memo=f"Clip {n}", reference=f"generation:{n}",
                idempotency_key=f"seed-{n}", created=created,
                status=HoldStatus.CAPTURED if captured else HoldStatus.RELEASED,
                captured_amount=amount if captured else None,
                resolved=created + dt.timedelta(minutes=2),
            )
        )  # fmt: skip
    Hold.objects.bulk_create(new_holds, batch_size=5000)

    rows = [
        Transfer(
            debit=grants, credit=available, amount=100_000 * USD, kind=TransferKind.GRANT,
            team=team, memo=f"Grant {n}", idempotency_key=f"seed-grant-{n}",
            created=start + dt.timedelta(days=9 * n),
        )
        for n in range(transfers - 2 * jobs)
    ]  # fmt: skip
    for h in Hold.objects.filter(team=team, idempotency_key__startswith="seed-").order_by("pk"):
        common = {
            "team": team, "member_id": h.member_id, "project_uuid": h.project_uuid,
            "project_name": h.project_name, "reference": h.reference, "hold": h,
        }  # fmt: skip
        rows.append(
            Transfer(debit=available, credit=holds, amount=h.amount, kind=TransferKind.HOLD,
                     memo=h.memo, created=h.created, **common)
        )  # fmt: skip
        if h.status == HoldStatus.CAPTURED:
            vendor = rnd.choice(vendors)
            rows.append(
                Transfer(debit=holds, credit=spend[vendor], amount=h.amount,
                         kind=TransferKind.CAPTURE, vendor=vendor, vendor_label=vendor.title(),
                         memo=h.memo, created=h.resolved, **common)
            )  # fmt: skip
        else:
            rows.append(
                Transfer(debit=holds, credit=available, amount=h.amount, kind=TransferKind.RETURN,
                         memo="Vendor failed", created=h.resolved, **common)
            )  # fmt: skip
    Transfer.objects.bulk_create(rows, batch_size=5000)

    for account in Account.objects.all():
        credits = Transfer.objects.filter(credit=account).aggregate(s=Sum("amount"))["s"] or 0
        debits = Transfer.objects.filter(debit=account).aggregate(s=Sum("amount"))["s"] or 0
        Account.objects.filter(pk=account.pk).update(balance=credits - debits)
    MemberUsage.objects.all().delete()
    ProjectUsage.objects.all().delete()
    # Counted as the migration that introduced the running totals counted the history.
    importlib.import_module("billing.migrations.0008_usage_running_totals").count_usage(apps, None)
    daily_spend.rebuild(team)  # and its spend by day, as migration 0009 did


def timed(client, url, data=None, runs=5, **headers):
    """(median milliseconds, queries of one run)."""
    times = []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            response = client.get(url, data or {}, **headers)
            if response.streaming:
                b"".join(response.streaming_content)
            times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.status_code
        queries = len(captured.captured_queries)
    return statistics.median(times), queries


def test_billing_page_at_a_hundred_thousand_transfers():
    team, member = funded_team("Northwind Pictures")
    owner = MembershipFactory(team=team, owner=True, user__username="olivia").user
    members = [member, owner] + [MembershipFactory(team=team).user for _ in range(6)]
    Membership.objects.filter(user=owner).update(monthly_cap=10**5 * USD)

    began = time.perf_counter()
    seed_history(team, members, ["ark", "fal", "kinovi", "evolink"], TRANSFERS - 1)
    seeded = time.perf_counter() - began
    count = Transfer.objects.filter(team=team).count()
    RESULTS.append((f"seed {count:,} transfers (bulk_create)", f"{seeded:,.1f} s", ""))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    client = Client()
    client.force_login(owner)
    url = reverse("billing")
    ms, queries = timed(client, url)
    RESULTS.append(("Billing page, full (owner, capped)", f"{ms:,.0f} ms", str(queries)))

    membership = Membership.objects.get(user=member, team=team)
    ms, queries = timed(client, url, {"member": membership.uuid}, HTTP_HX_REQUEST="true")
    RESULTS.append(("statement partial, filtered by member", f"{ms:,.0f} ms", str(queries)))

    ms, queries = timed(
        client, url, {"vendor": "fal", "since": "2020-01-01"}, HTTP_HX_REQUEST="true"
    )
    RESULTS.append(("statement partial, vendor + date", f"{ms:,.0f} ms", str(queries)))

    middle = ledger.statement(team)[count // 2]
    ms, queries = timed(client, url, {"cursor": encode_cursor(middle)}, HTTP_HX_REQUEST="true")
    RESULTS.append((f"keyset page at row {count // 2:,}", f"{ms:,.0f} ms", str(queries)))

    ms, queries = timed(client, reverse("statement_csv"), runs=1)
    RESULTS.append((f"CSV export, all {count:,} rows", f"{ms:,.0f} ms", str(queries)))

    ms, queries = timed(client, reverse("balance_badge"), HTTP_HX_REQUEST="true")
    RESULTS.append(("balance badge", f"{ms:,.1f} ms", str(queries)))

    began = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        found = ledger.problems()
    RESULTS.append(
        ("reconcile_ledger checks", f"{(time.perf_counter() - began) * 1000:,.0f} ms",
         str(len(captured.captured_queries)))
    )  # fmt: skip
    assert found == []
