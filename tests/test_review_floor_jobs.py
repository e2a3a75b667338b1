"""Adversarial review of the issue #13 speed work: the kept page head (templates/base.html,
partials/nav.html) and the jobs pages' hand-written cards (generations.studio.job_cards,
views/jobs.py, generations.operators.attention_views). Sessions and the user with their
teams: tests/test_review_sessions.py.

A real finding (it failed before keyset.decode refused ids past 64 bits):

- test_a_jobs_cursor_whose_id_is_past_64_bits_is_the_first_page_not_a_500
  (SQLite: OverflowError from the written listing query -> HTTP 500. The ORM's keyset.after,
  which every other list uses, handles the same cursor; PostgreSQL happens to accept it.)

PASSING (attacks that held; they pin the behaviour down):

- everything else in this file; each docstring says what was tried.

Run on both databases:
  uv run pytest -q -p no:randomly tests/test_review_floor_jobs.py
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/test TEST_DATABASE_NAME=test_review1 \
      uv run pytest -q -p no:randomly tests/test_review_floor_jobs.py
and with Redis sessions in front (REDIS_URL=redis://127.0.0.1:6379/7).
"""

import base64
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.models import Role
from generations.models import Generation, State
from tests.factories import MembershipFactory
from tests.generations.factories import (
    ClipFactory,
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def nav(response) -> str:
    html = response.content.decode()
    return html[html.index('<nav class="nav"') : html.index("</nav>")]


def signed_in(response) -> bool:
    return response.status_code == 200


# --- Finding 1: a hostile paging cursor is a 500 on SQLite -------------------------------


@pytest.mark.parametrize("mine", ["", "1"])
@pytest.mark.parametrize("pk", ["9223372036854775808", "99999999999999999999", "1" + "0" * 40])
def test_a_jobs_cursor_whose_id_is_past_64_bits_is_the_first_page_not_a_500(
    member_client, team, member, mine, pk
):
    """FAILS on SQLite (passes on PostgreSQL). keyset.decode accepts any run of ASCII
    digits as the id; job_cards.listing binds it straight into its written statement, and
    Python's sqlite3 raises OverflowError for an int past 2**63-1: a 500 (and an error
    report) for anyone who edits ?before=. The ORM path the gallery, audit and statement
    use (keyset.after) handles the same cursor, since Django clamps out-of-range integer
    lookups. Fix: keyset.decode refuses an id above 2**63-1 (None: the first page), or
    listing() clamps it."""
    project = ProjectFactory(team=team)
    GenerationFactory(project=project, failed=True, created_by=member, prompt="Old one")
    before = cursor(f"2999-01-01T00:00:00+00:00|{pk}")
    response = member_client.get(reverse("jobs"), {"before": before, "mine": mine})
    assert response.status_code == 200
    # The same cursor through the ORM path (the gallery) is fine: the jobs page alone fails.
    assert member_client.get(reverse("gallery"), {"cursor": before}).status_code == 200


# --- Held: hostile cursors and parameters on the jobs pages --------------------------------


@pytest.mark.parametrize(
    "before",
    [
        "garbage",
        "%27%20OR%201%3D1--",
        cursor("2026-01-01T00:00:00|1"),  # naive: refused
        cursor("0001-01-01T00:00:00-14:00|1"),  # overflows at UTC: refused
        cursor("9999-12-31T23:59:59.999999+00:00|9223372036854775807"),
        cursor("2026-01-01T00:00:00+00:00|1 OR 1=1"),
        cursor("2026-01-01T00:00:00+00:00|²"),
        cursor("2026-01-01T00:00:00+00:00' OR '1'='1|1"),
    ],
)
def test_hostile_cursors_never_show_another_teams_jobs_nor_fail(
    member_client, team, member, other_team, before
):
    """PASSES. Garbage, injected SQL and far dates in ?before= are a page of this team's
    jobs (or the first page), never a 500 and never a rival's job."""
    GenerationFactory(project=ProjectFactory(team=team), failed=True, created_by=member)
    GenerationFactory(project=ProjectFactory(team=other_team), failed=True, prompt="RIVAL-JOB")
    for mine in ("", "1", "1' OR '1'='1"):
        response = member_client.get(reverse("jobs"), {"before": before, "mine": mine})
        assert response.status_code == 200
        assert "RIVAL-JOB" not in response.content.decode()


def test_another_teams_cursor_only_positions_in_my_own_jobs(
    member_client, outsider_client, team, member, other_team, outsider
):
    """PASSES. A cursor made on a rival team's page carries a time and an id only: used on
    my page it pages through my team's jobs."""
    mine = ProjectFactory(team=team)
    theirs = ProjectFactory(team=other_team)
    for n in range(20):
        GenerationFactory(project=theirs, failed=True, created_by=outsider, prompt=f"RIVAL {n}")
        GenerationFactory(project=mine, failed=True, created_by=member, prompt=f"OURS {n}")
    their_page = outsider_client.get(reverse("jobs")).content.decode()
    older = re.search(r'href="/jobs/\?before=([^"]+)"', their_page).group(1)
    page = member_client.get(reverse("jobs"), {"before": older}).content.decode()
    assert "RIVAL" not in page and "OURS" in page


def test_another_teams_job_page_and_card_are_not_found(member_client, other_team, outsider):
    """PASSES. job_cards.one filters by the request's team: a rival's job by its uuid is a
    404 on the job page, its card, timeline and cancel."""
    theirs = GenerationFactory(
        project=ProjectFactory(team=other_team), failed=True, created_by=outsider
    )
    running = GenerationFactory(
        project=ProjectFactory(team=other_team), running=True, created_by=outsider
    )
    for g in (theirs, running):
        assert member_client.get(reverse("job", args=[g.uuid])).status_code == 404
        assert member_client.get(reverse("job_timeline", args=[g.uuid])).status_code == 404
        assert (
            member_client.get(reverse("job_card", args=[g.uuid]), HTTP_HX_REQUEST="true")
        ).status_code == 404
    response = member_client.post(reverse("cancel_job", args=[running.uuid]))
    assert response.status_code == 404
    running.refresh_from_db()
    assert running.state == State.RUNNING


# --- Held: kept finished cards follow the job, and who is looking --------------------------


def card_of(html: str, g) -> str:
    start = html.index(f'id="job-{g.uuid}"')
    return html[start : html.index("</article>", start)]


def test_a_kept_finished_card_follows_every_change_it_shows(member_client, team, member, operator):
    """PASSES. Render the jobs page and the job page (both keep a finished card), then change
    what the card shows behind its back: the project's name, the scene's title, the
    author's name, the vendor account's label, the hold's status, the charge, the clip.
    Each change shows at once on both pages (the digest is the row read with the card)."""
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    project = ProjectFactory(team=team, name="Quay")
    scene = SceneFactory(project=project, title="Opening")
    ledger.grant(team, 10_000_000, by=operator, memo="t", key="floor-grant")
    hold = ledger.hold(team, member, project, 1_000_000, "t", "floor-hold")
    g = GenerationFactory(
        project=project,
        scene=scene,
        created_by=member,
        state=State.FAILED,
        vendor_account=account,
        hold=hold,
        finished_at=timezone.now(),
    )

    def both():
        listed = card_of(member_client.get(reverse("jobs")).content.decode(), g)
        page = card_of(member_client.get(reverse("job", args=[g.uuid])).content.decode(), g)
        return listed, page

    for text in ("Quay", "Opening", "mateo", "Kinovi main", "held"):
        assert all(text in card for card in both())
    project.name = "Harbour"
    project.save()
    scene.title = "Closing"
    scene.save()
    member.username = "mateo2"
    member.save()
    account.label = "Kinovi renamed"
    account.save()
    assert all(
        "Harbour" in c and "Closing" in c and "mateo2" in c and "Kinovi renamed" in c
        for c in both()
    )
    ledger.release(hold, "test")
    assert all("Nothing charged" in c for c in both())
    Generation.objects.filter(pk=g.pk).update(
        charge_micros=123_000, charge_credits=Decimal("7.5"), state=State.SUCCEEDED
    )
    ClipFactory(generation=g)
    for card in both():
        assert "Charged $0.12" in card
        assert "Open clip" in card and "Done" in card


def test_a_kept_finished_card_says_how_long_ago_as_of_now(member_client, team, member):
    """PASSES. The 'ago' words are part of the digest: an hour later the card says so."""
    g = GenerationFactory(project=ProjectFactory(team=team), failed=True, created_by=member)
    assert "0\xa0minutes ago" in card_of(member_client.get(reverse("jobs")).content.decode(), g)
    Generation.objects.filter(pk=g.pk).update(created=timezone.now() - timedelta(hours=1))
    assert "1\xa0hour ago" in card_of(member_client.get(reverse("jobs")).content.decode(), g)


def test_a_kept_finished_card_is_never_another_viewers(
    member_client, viewer_client, owner_client, operator, team, member
):
    """PASSES. The same finished card, kept first for its author (mine, may run again), is
    not shown as theirs or with Run again to a viewer; an operator who is also in the team
    gets their own; no kept card carries a CSRF token or a cancel form."""
    g = GenerationFactory(project=ProjectFactory(team=team), failed=True, created_by=member)
    MembershipFactory(team=team, user=operator, role=Role.VIEWER)
    operator_client = Client()
    operator_client.force_login(operator)
    authored = card_of(member_client.get(reverse("jobs")).content.decode(), g)
    assert 'data-mine="true"' in authored and "Run again" in authored
    for client in (viewer_client, operator_client):
        seen = card_of(client.get(reverse("jobs")).content.decode(), g)
        assert 'data-mine="false"' in seen and "Run again" not in seen
    owners = card_of(owner_client.get(reverse("jobs")).content.decode(), g)
    assert 'data-mine="false"' in owners and "Run again" in owners
    for client in (member_client, owner_client):
        for url in (reverse("jobs"), reverse("job", args=[g.uuid])):
            card = card_of(client.get(url).content.decode(), g)
            assert "csrfmiddlewaretoken" not in card and "cancel" not in card.lower()


def test_the_jobs_page_shows_the_same_cards_on_both_databases(member_client, team, member, owner):
    """PASSES. Values that SQLite and PostgreSQL hand back differently (a decimal charge, a
    uuid read by a subquery, a JSON request with non-ASCII text, a time with microseconds)
    come out the same on the card."""
    project = ProjectFactory(team=team, name="Ünïcode <project>")
    g = GenerationFactory(
        project=project,
        created_by=member,
        state=State.FAILED,
        prompt="Fox 🦊 in «snow»",
        charge_micros=1_234_567,
        charge_credits=Decimal("9999999999.9999"),
        finished_at=timezone.now(),
    )
    card = card_of(member_client.get(reverse("jobs")).content.decode(), g)
    assert "9999999999.9999" in card
    assert "Ünïcode &lt;project&gt;" in card and "Fox 🦊 in «snow»" in card
    assert f'href="/projects/{project.uuid}/"' in card or str(project.uuid) in card


# --- Held: the kept page head follows the role and the count -------------------------------


def test_a_viewer_never_gets_a_members_kept_nav_nor_a_member_an_operators(
    member_client, viewer_client, operator, team, member
):
    """PASSES. The nav kept for a member (Generate) and for an operator (Vendors, Needs
    attention, its count) is never served to a viewer or a member, on every page name."""
    MembershipFactory(team=team, user=operator, role=Role.MEMBER)
    GenerationFactory(
        project=ProjectFactory(team=team), created_by=member, state=State.NEEDS_ATTENTION
    )
    operator_client = Client()
    operator_client.force_login(operator)
    for name in ("jobs", "gallery", "projects", "team", "billing"):
        assert "Needs attention" in nav(operator_client.get(reverse(name)))
        assert ">Generate</a>" in nav(member_client.get(reverse(name)))
        page = nav(member_client.get(reverse(name)))
        assert "Needs attention" not in page and "waiting" not in page
        assert ">Generate</a>" not in nav(viewer_client.get(reverse(name)))


def test_the_kept_head_holds_nothing_of_one_person(member_client, owner_client, team):
    """PASSES. Each page's CSRF token (hx-headers) and the switcher's token are outside the
    kept fragments: two people get two tokens, and the user name is their own."""
    a = member_client.get(reverse("jobs")).content.decode()
    b = owner_client.get(reverse("jobs")).content.decode()
    token = re.compile(r'"X-CSRFToken": "([^"]+)"')
    assert token.search(a).group(1) != token.search(b).group(1)
    assert "<summary>mateo</summary>" in a and "<summary>olivia</summary>" in b


def test_the_needs_attention_count_is_never_stale(operator_client, team, member):
    """PASSES. The operators' count is part of the nav's key, on the list (its own count)
    and on other pages alike: settle a job and both say so at once."""
    project = ProjectFactory(team=team)
    a, b = (
        GenerationFactory(project=project, created_by=member, state=State.NEEDS_ATTENTION)
        for _ in range(2)
    )
    for name in ("needs_attention", "vendors"):
        assert 'title="2 jobs waiting"' in nav(operator_client.get(reverse(name)))
    Generation.objects.filter(pk=a.pk).update(state=State.FAILED)
    for name in ("needs_attention", "vendors"):
        assert 'title="1 job waiting"' in nav(operator_client.get(reverse(name)))
    Generation.objects.filter(pk=b.pk).update(state=State.FAILED)
    for name in ("needs_attention", "vendors"):
        assert "waiting</span>" not in nav(operator_client.get(reverse(name)))


def test_the_needs_attention_list_counts_past_its_limit_and_orders_by_waiting(
    operator_client, team, member, monkeypatch
):
    """PASSES. The window count is taken before the LIMIT; the longest waiting first (the
    time of its needs_attention event, else when it was made)."""
    from generations.operators import attention_views

    monkeypatch.setattr(attention_views, "LIST_LIMIT", 2)
    project = ProjectFactory(team=team)
    now = timezone.now()
    jobs = [
        GenerationFactory(
            project=project,
            created_by=member,
            state=State.NEEDS_ATTENTION,
            prompt=f"Stuck {n}",
            created=now - timedelta(hours=n),
        )
        for n in range(3)
    ]
    jobs[2].log("needs_attention", "set aside")  # now: it has waited the least
    html = operator_client.get(reverse("needs_attention")).content.decode()
    assert "3 jobs waiting" in html and "the oldest 2 shown" in html
    assert html.index("Stuck 1") < html.index("Stuck 0")
    assert "Stuck 2" not in html
