"""Pages at scale, on demand; prints a table. Not part of the normal test run.

Run it on PostgreSQL (the numbers that matter), from the project root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \\
        uv run pytest tests/perf/bench_pages.py -s -p no:randomly --override-ini addopts=

A team gets N finished clips (BENCH_CLIPS, default "100,10000"; add 100000 for the full
table, which takes minutes to seed) spread over 20 projects × 5 scenes, rows written with
bulk_create and every clip pointing at one small stored file. Each page is requested 15
times as the team's owner (the operator for the operators' pages) through Django's test
client; the table gives the median server time, its ratio to the login page on the same
run, and the queries of one request.
"""

import os
import statistics
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations.models import Clip, Generation, Project, Scene, State
from generations.vendors import VideoRequest
from tests.factories import MembershipFactory, TeamFactory, UserFactory
from tests.generations.factories import (
    SAMPLE_SIZE,
    VendorAccountFactory,
    sample_mp4,
    sample_poster,
    stored,
)

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = [int(n) for n in os.environ.get("BENCH_CLIPS", "100,10000").split(",")]
REPEATS = 15
PROFILE = os.environ.get("BENCH_PROFILE", "")
RESULTS: dict[str, dict[int, tuple[float, int]]] = {}


@pytest.fixture(scope="module", autouse=True)
def print_table():
    yield
    print(f"\n\nPages benchmark on {connection.vendor}, median of {REPEATS} requests\n")
    header = " | ".join(f"N = {n:,}" for n in SIZES)
    print(f"| page | {header} | queries |")
    print("|---|" + "--:|" * len(SIZES) + "--:|")
    for page, by_size in RESULTS.items():
        cells = []
        for n in SIZES:
            ms, _ = by_size.get(n, (0, 0))
            base = RESULTS["login (baseline)"].get(n, (1, 0))[0] or 1
            cells.append(f"{ms:.1f} ms ({ms / base:.0f}×)")
        queries = sorted({q for _, q in by_size.values()})
        print(f"| {page} | {' | '.join(cells)} | {'/'.join(map(str, queries))} |")
    print()


def seed(team, owner, clips: int) -> tuple[Project, Generation]:
    file = stored("clips/bench-sample.mp4", sample_mp4())
    poster = stored("posters/bench-sample.jpg", sample_poster())
    projects = [Project.objects.create(team=team, name=f"Project {p}") for p in range(20)]
    scenes = [
        Scene.objects.create(project=project, number=s + 1, title=f"Scene {s + 1}")
        for project in projects
        for s in range(5)
    ]
    now = timezone.now()
    batch = 5_000
    for start in range(0, clips, batch):
        rows = []
        for i in range(start, min(start + batch, clips)):
            scene = scenes[i % len(scenes)]
            prompt = f"A paper boat drifts down a rainy street, take {i}"
            rows.append(
                Generation(
                    team=team,
                    project=scene.project,
                    scene=scene,
                    created_by=owner,
                    request=VideoRequest(family="seedance-2.0", prompt=prompt).to_dict(),
                    family="seedance-2.0",
                    prompt=prompt,
                    quote_micros=200_000,
                    charge_micros=200_000,
                    state=State.SUCCEEDED,
                    created=now - timedelta(seconds=i),
                    finished_at=now - timedelta(seconds=i),
                    expires_at=now,
                    uuid=uuid.uuid4(),
                )
            )
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
    return projects[0], Generation.objects.filter(team=team).order_by("-created").first()


def measure(client, url) -> tuple[float, int]:
    client.get(url)  # warm
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return statistics.median(times), len(queries)


@pytest.mark.parametrize("clips", SIZES)
def test_every_team_page_at_scale(clips, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    team = TeamFactory(name=f"Bench {clips}")
    owner = MembershipFactory(team=team, owner=True).user
    operator = UserFactory(is_staff=True)
    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    project, newest = seed(team, owner, clips)

    anonymous, member, staff = Client(), Client(), Client()
    member.force_login(owner)
    staff.force_login(operator)
    pages = [
        ("login (baseline)", anonymous, reverse("login")),
        ("generate", member, reverse("generate")),
        ("jobs", member, reverse("jobs")),
        ("job", member, reverse("job", args=[newest.uuid])),
        ("gallery", member, reverse("gallery")),
        ("gallery, prompt search", member, reverse("gallery") + "?q=take+4"),
        ("clip", member, reverse("clip", args=[newest.uuid])),
        ("projects", member, reverse("projects")),
        ("one project", member, reverse("project", args=[project.uuid])),
        ("storyboard", member, reverse("storyboard", args=[project.uuid])),
        ("billing", member, reverse("billing")),
        ("team", member, reverse("team")),
        ("vendors (operator)", staff, reverse("vendors")),
        ("needs attention (operator)", staff, reverse("needs_attention")),
    ]
    for name, client, url in pages:
        RESULTS.setdefault(name, {})[clips] = measure(client, url)
        if PROFILE and PROFILE in name:
            profile(name, client, url)


def profile(name, client, url):
    """BENCH_PROFILE=<part of a page's name>: where that page's time goes, by function."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(REPEATS):
        client.get(url)
    profiler.disable()
    print(f"\n\nProfile of {name}, {REPEATS} requests")
    pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(45)
