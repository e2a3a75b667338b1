"""Pages at scale, on demand; prints a table. Not part of the normal test run.

Run it on PostgreSQL (the numbers that matter), from the project root; with the ledger
benchmark in the same command it also prints the ledger's figures:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test TEST_DATABASE_NAME=test_bench \\
    BENCH_CLIPS=100,10000,100000 uv run pytest tests/perf/bench_pages.py \\
        tests/perf/bench_ledger.py -s -p no:randomly --override-ini addopts=

A team gets N finished clips (BENCH_CLIPS, default "100,10000"; 100000 takes a few
minutes to seed) spread over 20 projects × 5 scenes and made by five members: each with
its three events, its hold and capture in the ledger (and the day's spend row), one in
50 a favourite of the owner; rows are written with bulk_create and the counters set as
the lifecycle keeps them. Each page is requested 15 times as the team's owner (the
operator for the operators' pages) through Django's test client; the table gives the
median server time, its ratio to the login page's median timed around it (15 login
requests just before and 15 just after, the lower median; retried when they differ by
more than 30%: this kind of machine drifts), the queries of one request, and the CPU time of this process at the
largest N (the rest is the database).
Then 30 submissions of the Generate form give the submit path's p50 and p95.
BENCH_PROFILE=<part of a page's name> prints where that page's time goes; BENCH_SQL=1
prints the statements of one submission.
"""

import os
import statistics
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.ledger import spend
from billing.ledger.accounts import system_account, team_accounts
from billing.models import AccountKind, Transfer, TransferKind
from generations import clip_counts
from generations.models import (
    Clip,
    Favourite,
    Generation,
    GenerationEvent,
    Project,
    Scene,
    State,
)
from generations.vendors import VideoRequest
from seedance_site import keyset
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.generations.conftest import form_data
from tests.generations.factories import (
    SAMPLE_SIZE,
    VendorAccountFactory,
    sample_mp4,
    sample_poster,
    stored,
)
from tests.perf.speed import LOOP, python_loop_ms

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = [int(n) for n in os.environ.get("BENCH_CLIPS", "100,10000").split(",")]
REPEATS = 15
PROFILE = os.environ.get("BENCH_PROFILE", "")
RESULTS: dict[str, dict[int, tuple[float, int, float, float]]] = {}
SUBMITS: dict[int, tuple[float, float, int, float]] = {}


@pytest.fixture(scope="module", autouse=True)
def print_table():
    loop = python_loop_ms()
    yield
    print(f"\n\nPages benchmark on {connection.vendor}, median of {REPEATS} requests")
    print(f"(the machine's speed before: a {LOOP:,}-step Python loop in {loop:.0f} ms)\n")
    header = " | ".join(f"N = {n:,}" for n in SIZES)
    print(f"| page | {header} | queries | web CPU, N = {SIZES[-1]:,} |")
    print("|---|" + "--:|" * len(SIZES) + "--:|--:|")
    for page, by_size in RESULTS.items():
        cells = []
        for n in SIZES:
            ms, _, _, base = by_size.get(n, (0, 0, 0, 1))
            cells.append(f"{ms:.1f} ms ({ms / (base or 1):.1f}×)")
        queries = "/".join(map(str, sorted({q for _, q, _, _ in by_size.values()})))
        cpu = by_size.get(SIZES[-1], (0, 0, 0, 0))[2]
        print(f"| {page} | {' | '.join(cells)} | {queries} | {cpu:.1f} ms |")
    print("\nSubmitting a clip (POST /generate/: quote, hold, rows, enqueue)\n")
    print("| clips | p50 | p95 | p95 / login | queries |")
    print("|--:|--:|--:|--:|--:|")
    for n, (p50, p95, queries, login) in SUBMITS.items():
        print(f"| {n:,} | {p50:.1f} ms | {p95:.1f} ms | {p95 / login:.1f}× | {queries} |")
    print()


def seed(team, owner, clips: int, account) -> tuple[Project, Generation]:
    """N finished clips by five members, each with the three events a job's story has,
    one in 50 a favourite of the owner; counters recounted as the lifecycle keeps them."""
    available, holds = team_accounts(team.pk, lock=False)
    vendor = system_account(AccountKind.VENDOR_SPEND, str(account.uuid), account.label)
    accounts = (available, holds, vendor)
    file = stored("clips/bench-sample.mp4", sample_mp4())
    poster = stored("posters/bench-sample.jpg", sample_poster())
    members = [owner] + [MembershipFactory(team=team).user for _ in range(4)]
    projects = [Project.objects.create(team=team, name=f"Project {p}") for p in range(20)]
    scenes = [
        Scene.objects.create(project=project, number=s + 1, title=f"Scene {s + 1}")
        for project in projects
        for s in range(5)
    ]
    # An hour back, so that the submit measurement starts under the members' rate.
    now = timezone.now() - timedelta(hours=1)
    batch = 5_000
    for start in range(0, clips, batch):
        rows = [
            finished(team, scenes[i % len(scenes)], members[i % len(members)], account, i, now)
            for i in range(start, min(start + batch, clips))
        ]
        made = Generation.objects.bulk_create(rows)
        Clip.objects.bulk_create(
            Clip(
                generation=g,
                file=file,
                poster=poster,
                duration=5.0,
                width=SAMPLE_SIZE[0],
                height=SAMPLE_SIZE[1],
                fps=24.0,
                codec="h264",
                has_audio=False,
                bytes=1000,
                sha256="0" * 64,
            )
            for g in made
        )
        GenerationEvent.objects.bulk_create(
            GenerationEvent(generation=g, created=g.created, kind=kind, message=message)
            for g in made
            for kind, message in STORY
        )
        Favourite.objects.bulk_create(
            Favourite(user=owner, generation=g) for g in made if g.pk % 50 == 0
        )
        Transfer.objects.bulk_create(money_moved(team, made, accounts), batch_size=5_000)
    clip_counts.recount(Project, Scene, Generation, projects)
    spend.rebuild(team)  # as each capture would have counted it
    if connection.vendor == "postgresql":
        # As autovacuum would have after a load like this; measuring while it still
        # works through the new rows would time the load, not the pages.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return projects[0], Generation.objects.filter(team=team).order_by("-created").first()


def finished(team, scene, member, account, i, now) -> Generation:
    """The i-th clip of the history, i seconds before `now`."""
    prompt = f"A paper boat drifts down a rainy street, take {i}"
    return Generation(
        team=team,
        project=scene.project,
        scene=scene,
        created_by=member,
        request=VideoRequest(family="seedance-2.0", prompt=prompt).to_dict(),
        family="seedance-2.0",
        prompt=prompt,
        vendor_account=account,
        vendor_task_id=f"bench-{uuid.uuid4().hex}",
        quote_micros=200_000,
        charge_micros=200_000,
        state=State.SUCCEEDED,
        created=now - timedelta(seconds=i),
        finished_at=now - timedelta(seconds=i),
        expires_at=now,
        uuid=uuid.uuid4(),
    )


def money_moved(team, made, accounts):
    """Each clip's hold and capture, as the ledger would have written them."""
    available, holds, vendor = accounts
    for g in made:
        common = {
            "team": team,
            "member_id": g.created_by_id,
            "project_uuid": g.project.uuid,
            "project_name": g.project.name,
            "amount": g.charge_micros,
            "created": g.created,
        }
        yield Transfer(debit=available, credit=holds, kind=TransferKind.HOLD, **common)
        yield Transfer(
            debit=holds,
            credit=vendor,
            kind=TransferKind.CAPTURE,
            vendor=vendor.vendor,
            vendor_label=vendor.vendor_label,
            **common,
        )


STORY = [
    ("submitted", "Sent to Kinovi main."),
    ("running", "Kinovi main is generating."),
    ("succeeded", "Clip saved. Charged $0.20."),
]


def timed(client, url, data=None) -> tuple[float, float]:
    """One request's server time and this process's CPU time, in ms."""
    started, started_cpu = time.perf_counter(), time.process_time()
    response = client.get(url) if data is None else client.post(url, data)
    elapsed = (time.perf_counter() - started) * 1000
    expected = 200 if data is None else 302
    assert response.status_code == expected, (url, response.content.decode()[:2000])
    return elapsed, (time.process_time() - started_cpu) * 1000


def burst(client, url, data=None, repeats=REPEATS) -> tuple[list[float], list[float]]:
    """A warm-up, then `repeats` requests in a row: their server and CPU times."""
    timed(client, url, data)
    runs = [timed(client, url, data) for _ in range(repeats)]
    return [elapsed for elapsed, _ in runs], [used for _, used in runs]


STEADY = 1.3  # the login bursts before and after a page differ by less: the machine held still
ATTEMPTS = 3


def around(login, work):
    """`work()` between two bursts of login requests, again while the machine's speed moved
    (their medians differ by more than STEADY; this kind of machine drifts): what `work`
    returned and the lower of the two medians, the stricter baseline. The attempts are
    printed when all of them moved."""
    for attempt in range(1, ATTEMPTS + 1):
        before = statistics.median(burst(*login)[0])
        result = work()
        after = statistics.median(burst(*login)[0])
        if max(before, after) / min(before, after) <= STEADY:
            break
        print(f"  the machine moved ({before:.1f} then {after:.1f} ms), attempt {attempt}")
    return result, min(before, after)


def measure(client, url, login) -> tuple[float, int, float, float]:
    """Median server time, queries, median CPU time of this (the web) process, and the
    login page's median timed around it (see `around`)."""
    (times, cpu), baseline = around(login, lambda: burst(client, url))
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(times), len(queries), statistics.median(cpu), baseline


def measure_submit(client, project, login) -> tuple[float, float, int, float]:
    """POST the Generate form (quote, hold, rows, enqueue): p50, p95 and queries of one,
    and the login page's median timed around the submissions."""
    data = form_data(project)
    address = reverse("generate")
    times, baseline = around(login, lambda: burst(client, address, data, repeats=REPEATS * 2)[0])
    with CaptureQueriesContext(connection) as queries:
        client.post(address, data)
    if os.environ.get("BENCH_SQL"):  # what one submission asks, statement by statement
        for query in queries.captured_queries:
            print("  submit SQL:", " ".join(query["sql"].split())[:200])
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    return statistics.median(times), p95, len(queries), baseline


def page_addresses(project, newest, account, owner, staff, member, anonymous):
    scene = project.scenes.order_by("number").first()
    gallery = reverse("gallery")
    # A full page deep in the history: the one after the 40th oldest clip.
    deep = Generation.objects.filter(team=project.team).order_by("created", "pk")[39]
    return [
        ("login (baseline)", anonymous, reverse("login")),
        ("generate", member, reverse("generate")),
        ("jobs", member, reverse("jobs")),
        ("jobs, mine", member, reverse("jobs") + "?mine=1"),
        ("jobs, oldest page", member, reverse("jobs") + f"?before={keyset.encode(deep)}"),
        ("job", member, reverse("job", args=[newest.uuid])),
        ("gallery", member, gallery),
        ("gallery, oldest page", member, gallery + f"?cursor={keyset.encode(deep)}"),
        ("gallery, project", member, gallery + f"?project={project.uuid}"),
        ("gallery, scene", member, gallery + f"?scene={scene.uuid}"),
        ("gallery, model (none match)", member, gallery + "?family=seedance-2.0-fast"),
        ("gallery, vendor", member, gallery + f"?account={account.uuid}"),
        ("gallery, member", member, gallery + f"?member={owner.username}"),
        ("gallery, dates", member, gallery + "?since=2020-01-01&until=2020-12-31"),
        ("gallery, favourites", member, gallery + "?favourites=on"),
        ("gallery, search one clip", member, gallery + "?q=take+4"),
        ("gallery, search every clip", member, gallery + "?q=paper+boat"),
        ("gallery, search no clip", member, gallery + "?q=submarine"),
        ("clip", member, reverse("clip", args=[newest.uuid])),
        ("projects", member, reverse("projects")),
        ("one project", member, reverse("project", args=[project.uuid])),
        ("storyboard", member, reverse("storyboard", args=[project.uuid])),
        ("billing", member, reverse("billing")),
        ("team", member, reverse("team")),
        ("vendors (operator)", staff, reverse("vendors")),
        ("needs attention (operator)", staff, reverse("needs_attention")),
    ]


@pytest.mark.parametrize("clips", SIZES)
def test_every_team_page_at_scale(clips, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.GENERATE_RATE_PER_MINUTE = 10**6
    team = TeamFactory(name=f"Bench {clips}")
    owner = MembershipFactory(team=team, owner=True).user
    operator = UserFactory(is_staff=True)
    ledger.grant(team, 10**6 * 1_000_000, by=operator, memo="Bench budget", key="bench")
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    project, newest = seed(team, owner, clips, account)

    anonymous, member, staff = Client(), Client(), Client()
    member.force_login(owner)
    staff.force_login(operator)
    pages = page_addresses(project, newest, account, owner, staff, member, anonymous)
    login = (anonymous, reverse("login"))
    for name, client, url in pages:
        RESULTS.setdefault(name, {})[clips] = measure(client, url, login)
        if PROFILE and PROFILE in name:
            profile(name, client, url)
    SUBMITS[clips] = measure_submit(member, project, login)
    if PROFILE and PROFILE in "submit":
        profile("submit", member, reverse("generate"), form_data(project))


def profile(name, client, url, data=None):
    """BENCH_PROFILE=<part of a page's name>: where that page's time goes, by function.

    With `data`, the page's form is posted (BENCH_PROFILE=submit: a submission)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(REPEATS):
        client.get(url) if data is None else client.post(url, data)
    profiler.disable()
    print(f"\n\nProfile of {name}, {REPEATS} requests")
    stats = pstats.Stats(profiler)
    if os.environ.get("BENCH_DUMP"):  # a file for pstats or snakeviz
        stats.dump_stats(os.environ["BENCH_DUMP"])
    # BENCH_FILTER=<regex>: only the functions whose file and name match, e.g. "main/gen".
    only = [os.environ["BENCH_FILTER"]] if os.environ.get("BENCH_FILTER") else []
    stats.sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(*only, 45)
    # Own time by where the code lives: the template engine, the ORM, the driver, ours.
    by_area: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():
        area = next((a for a in AREAS if a in filename), "other")
        by_area[area] = by_area.get(area, 0) + own
    total = sum(by_area.values())
    for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1]):
        print(f"  {area:<28} {seconds / REPEATS * 1000:6.2f} ms/request ({seconds / total:.0%})")


ROOT = Path(__file__).resolve().parents[2]  # the project's own code, wherever it is checked out
AREAS = [
    "django/template",
    "template_partials",
    "django/db/models/sql",
    "django/db/models",
    "django/db/backends",
    "psycopg",
    "django/utils",
    "django/contrib/sessions",
    "django/contrib/auth",
    "django/middleware",
    "django/forms",
    "django/test",
    *(str(ROOT / app) for app in ("generations", "billing", "seedance_site")),
    "django/",
]
