"""Every team page asks the database the same number of questions for a team with a few
clips as for one with many: nothing is loaded row by row. (How long they take at
100,000 clips is tests/perf/bench_pages.py's to show.)"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import ledger
from generations.models import Favourite, GenerationEvent, State
from tests.factories import MembershipFactory
from tests.generations.conftest import form_data
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def world(team, owner, member, operator):
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    ledger.grant(team, 100_000_000, by=operator, memo="Budget", key="budget")
    projects = [ProjectFactory(team=team, name=f"Project {n}") for n in range(2)]
    scenes = [SceneFactory(project=p, number=n + 1) for p in projects for n in range(2)]
    return {"account": account, "projects": projects, "scenes": scenes, "member": member}


def add_history(world, count):
    """`count` more finished clips, each with its story; some favourites, some stuck jobs."""
    made = []
    for n in range(count):
        scene = world["scenes"][n % len(world["scenes"])]
        g = GenerationFactory(
            project=scene.project,
            scene=scene,
            succeeded=True,
            vendor_account=world["account"],
            created_by=world["member"],
            prompt=f"A paper boat in the rain, take {n}",
        )
        for kind in ("submitted", "running"):
            GenerationEvent.objects.create(generation=g, kind=kind, message=kind)
        if n % 3 == 0:
            Favourite.objects.create(user=world["member"], generation=g)
        made.append(g)
    stuck = GenerationFactory(
        project=world["projects"][0],
        state=State.NEEDS_ATTENTION,
        vendor_account=world["account"],
        created_by=world["member"],
    )
    GenerationEvent.objects.create(generation=stuck, kind="needs_attention", message="Stuck")
    return made


def team_pages(world):
    project, scene, account = world["projects"][0], world["scenes"][0], world["account"]
    member = world["member"]
    return [
        "/generate/",
        "/jobs/",
        "/jobs/?mine=1",
        "/gallery/",
        f"/gallery/?project={project.uuid}",
        f"/gallery/?scene={scene.uuid}",
        "/gallery/?family=seedance-2.0",
        f"/gallery/?account={account.uuid}",
        f"/gallery/?member={member.username}",
        "/gallery/?since=2020-01-01&until=2099-12-31",
        "/gallery/?favourites=on",
        "/gallery/?q=paper+boat",
        "/gallery/?q=take+1",
        "/gallery/?q=submarine",
        "/projects/",
        f"/projects/{project.uuid}/",
        f"/projects/{project.uuid}/storyboard/",
        "/billing/",
        "/team/",
    ]


def row_pages(newest):
    return {
        "job": f"/jobs/{newest.uuid}/",
        "clip": f"/clips/{newest.uuid}/",
        "timeline": f"/jobs/{newest.uuid}/timeline/",
    }


def count_all(client, world, newest) -> dict[str, int]:
    pages = {url: url for url in team_pages(world)} | row_pages(newest)
    return {name: queries(client, url) for name, url in pages.items()}


def queries(client, url) -> int:
    client.get(url)  # the first visit may create what later ones read (the CSRF cookie)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def test_every_team_page_asks_as_much_at_40_clips_as_at_2(member_client, world):
    few = count_all(member_client, world, add_history(world, 2)[-1])
    many = count_all(member_client, world, add_history(world, 38)[-1])
    assert many == few


def test_operators_pages_ask_as_much_for_40_jobs_as_for_2(operator_client, world):
    add_history(world, 2)
    pages = ["/vendors/", "/attention/"]
    few = {url: queries(operator_client, url) for url in pages}
    add_history(world, 38)
    MembershipFactory(team=world["projects"][0].team)
    assert {url: queries(operator_client, url) for url in pages} == few


def test_the_team_switcher_lists_every_team_at_the_same_cost(member_client, member, team):
    from tests.factories import TeamFactory

    MembershipFactory(team=TeamFactory(name="Second"), user=member)
    two = queries(member_client, "/team/")
    for n in range(3):
        MembershipFactory(team=TeamFactory(name=f"More {n}"), user=member)
    assert queries(member_client, "/team/") == two
    html = member_client.get("/team/").content.decode()
    for name in ("Second", "More 0", "More 2", team.name):
        assert f">{name}</option>" in html


def test_submitting_writes_no_session_and_the_jobs_page_still_says_so(
    member_client, world, monkeypatch
):
    """The "queued" message travels in a signed cookie: a submission writes its rows, not
    the member's session (with session-stored messages, every submit and the page after it
    each rewrote the session row)."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    with CaptureQueriesContext(connection) as captured:
        response = member_client.post(reverse("generate"), form_data(world["projects"][0]))
    assert response.status_code == 302
    writes = [q["sql"] for q in captured if "django_session" in q["sql"]]
    assert not any(sql.lstrip().upper().startswith(("UPDATE", "INSERT")) for sql in writes)
    page = member_client.get(reverse("jobs"))
    assert "queued with Seedance 2.0" in page.content.decode()


def test_submitting_reads_the_vendor_accounts_once_and_writes_the_job_row_once(
    member_client, world, monkeypatch
):
    """The form's enabled accounts are the ones the submission routes among, and the hold
    is placed before the job's row, which is then inserted with it (no UPDATE after)."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    data = form_data(world["projects"][0])
    member_client.post(reverse("generate"), data)  # the first hold creates the usage rows
    with CaptureQueriesContext(connection) as captured:
        response = member_client.post(reverse("generate"), data)
    assert response.status_code == 302
    sql = [q["sql"] for q in captured]
    assert sum('FROM "generations_vendoraccount"' in s for s in sql) == 1
    assert not [s for s in sql if s.startswith('UPDATE "generations_generation"')]
    writes = [s for s in sql if s.startswith("INSERT INTO") and 'generations_generation"' in s]
    assert len(writes) == 1
    assert len(captured) == SUBMIT_QUERIES


# What a submission asks (inside a test's transaction, so its own transaction is a
# savepoint too): the session, user and membership; the form's accounts, and its
# projects with the chosen one's scenes (the project's assets only when a slot has a
# value: one query fewer for a text-to-video job); the member's lock and rate; the hold;
# the job's row and its event; the rate check's savepoint and its release. (The team's
# routing policy only when two or more vendors could take the job: one here.) 26 before
# the accounts were read once and the job's row written once; 24 before the jobs shared
# the rate check's transaction with no savepoint of their own; 21 before the hold was
# one statement (its row, the usage rows, the two balances and its transfer, on SQLite)
# with no savepoint of its own; 13 before the projects and scenes were one query and the
# policy was read only to order two routes. SQLite: the hold's six and its savepoint and
# release, and no lock statement (it has none; its writes take the file).
SUBMIT_QUERIES = 11 if connection.vendor == "postgresql" else 17


def test_the_generate_page_asks_for_what_its_form_and_quote_show(member_client, world):
    """The form's accounts and projects, the available balance (not the month's spend,
    which the quote does not show) and the member's cap, after the session, user and
    membership. (The team's routing policy only orders two routes or more: one here.)"""
    member_client.get("/generate/")
    with CaptureQueriesContext(connection) as captured:
        assert member_client.get("/generate/").status_code == 200
    sql = [q["sql"] for q in captured]
    assert not [s for s in sql if "billing_dailyspend" in s]
    assert sum('FROM "generations_vendoraccount"' in s for s in sql) == 1
    # 9 while the quote read the month's spend and the user was read alone; 7 while it
    # read the routing policy with one route to order.
    assert len(sql) == 6
