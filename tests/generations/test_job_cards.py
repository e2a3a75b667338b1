"""The jobs page's cards from one hand-written query (generations/studio/job_cards.py):
the same markup as a Generation given present() makes, and the same jobs, page by page."""

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.http import Http404
from django.template.loader import get_template
from django.test import RequestFactory
from django.utils import timezone

from billing import ledger
from billing.models import Membership
from generations import access
from generations.models import Generation, State
from generations.studio import job_cards
from generations.studio.presenters import present
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Quay")


def page_request(team, user):
    membership = Membership.objects.get(team=team, user=user)
    return SimpleNamespace(team=team, user=user, membership=membership)


def card_markup(g, request, **more) -> str:
    context = {"g": g, "user": request.user, "membership": request.membership} | more
    context["request"] = RequestFactory().get("/jobs/")
    return get_template("generations/jobs.html#job-card").render(context)


def every_kind_of_job(team, project, member, owner, operator):
    """A job in each state a card draws differently, with and without what it may show."""
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    pinned = VendorAccountFactory(protocol="kinovi", label="Kinovi spare")
    scene = SceneFactory(project=project, title="Opening")
    ledger.grant(team, 10_000_000, by=operator, memo="test", key="cards")
    held = ledger.hold(team, member, project, 1_000_000, "test", "card-hold")
    return [
        GenerationFactory(project=project, created_by=member, prompt="Queued <b>bold</b>"),
        GenerationFactory(project=project, running=True, created_by=owner, scene=scene),
        GenerationFactory(
            project=project,
            running=True,
            created_by=member,
            vendor_account=account,
            pinned_account=pinned,
            hold=held,
        ),
        GenerationFactory(project=project, succeeded=True, created_by=None, scene=scene),
        GenerationFactory(project=project, failed=True, created_by=member, pinned_account=pinned),
        GenerationFactory(
            project=project,
            created_by=member,
            state=State.NEEDS_ATTENTION,
            error_kind="unknown_outcome",
            vendor_account=account,
            charge_credits=Decimal("12.5000"),
            charge_micros=150_000,
        ),
        GenerationFactory(
            project=project,
            created_by=member,
            state=State.NEEDS_ATTENTION,
            error_kind="quarantined",
            vendor_done_at=timezone.now() - timedelta(minutes=3),
        ),
    ]


def test_each_card_is_the_markup_a_generation_makes(team, project, member, owner, operator):
    made = every_kind_of_job(team, project, member, owner, operator)
    for viewer in (member, owner):
        request = page_request(team, viewer)
        active, finished = job_cards.listing(request, False, None, 30, 15)
        cards = {card.uuid: card for card in active + finished}
        assert len(cards) == len(made)
        for g in made:
            read = access.with_accounts([Generation.objects.get(pk=g.pk)])[0]
            expected = card_markup(present(read, request.membership), request, listed=True)
            assert card_markup(cards[g.uuid], request, listed=True) == expected
            # A job's own page: its card, its timeline open.
            g.log("running", f"Step of {g.prompt}")
            g.log("submitted", "Another <step>")
            read = access.with_accounts([Generation.objects.get(pk=g.pk)])[0]
            expected = card_markup(present(read, request.membership), request, open_timeline=True)
            found = job_cards.one(request, str(g.uuid))
            assert card_markup(found, request, open_timeline=True) == expected
            assert "Another &lt;step&gt;" in expected


def test_a_job_of_another_team_or_none_is_not_found(team, project, member, other_team):
    theirs = GenerationFactory(project=ProjectFactory(team=other_team))
    for uuid in (str(theirs.uuid), "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(Http404):
            job_cards.one(page_request(team, member), uuid)


def test_a_jobs_page_reads_its_card_once_and_each_event_apart(team, project, member):
    """Read joined, every event's row repeated the card's prompt and request."""
    g = GenerationFactory(project=project, created_by=member, prompt="Long " * 400)
    for n in range(5):
        g.log("check_failed", f"Poll {n} failed")
    value = Generation._meta.get_field("uuid").get_db_prep_value(g.uuid, connection)
    with connection.cursor() as cursor:
        cursor.execute(job_cards.ONE_WITH_EVENTS, [team.pk, value] * 2)
        rows = cursor.fetchall()
    assert len(rows) == 1 + g.events.count()
    nothing = (None,) * job_cards.CARD_WIDTH
    assert all(row[1 : job_cards.CARD_WIDTH + 1] == nothing for row in rows[1:])
    found = job_cards.one(page_request(team, member), str(g.uuid))
    assert [e.message for e in found.events.all()][-5:] == [f"Poll {n} failed" for n in range(5)]


def test_finished_cards_differ_in_digest_by_what_they_show_and_who_looks(
    team, project, member, owner
):
    GenerationFactory(project=project, succeeded=True, created_by=member, prompt="Same")
    [card] = job_cards.listing(page_request(team, member), False, None, 30, 15)[1]
    [again] = job_cards.listing(page_request(team, member), False, None, 30, 15)[1]
    [theirs] = job_cards.listing(page_request(team, owner), False, None, 30, 15)[1]
    assert card.digest_for(member) == again.digest_for(member)
    assert card.digest_for(member) != theirs.digest_for(owner)
    Generation.objects.update(prompt="Changed")
    [changed] = job_cards.listing(page_request(team, member), False, None, 30, 15)[1]
    assert changed.digest_for(member) != card.digest_for(member)


def test_my_older_jobs_page_through_only_mine_even_at_one_instant(
    member_client, team, project, member, owner, other_team
):
    from generations.studio.views.jobs import RECENT_JOBS

    mine = [
        GenerationFactory(project=project, failed=True, created_by=member, prompt=f"Mine {n:02d}")
        for n in range(RECENT_JOBS + 4)
    ]
    GenerationFactory(project=project, failed=True, created_by=owner, prompt="Not mine")
    GenerationFactory(project=ProjectFactory(team=other_team), failed=True, prompt="Rival")
    # All made at one instant: only the id tells the pages apart.
    Generation.objects.update(created=timezone.now() - timedelta(hours=1))
    first = member_client.get("/jobs/?mine=1").content.decode()
    cursor = first.split('href="/jobs/?mine=1&amp;before=')[1].split('"')[0]
    second = member_client.get(f"/jobs/?mine=1&before={cursor}").content.decode()
    assert [p.count('<article class="job"') for p in (first, second)] == [RECENT_JOBS, 4]
    assert "Older jobs</h2>" in second and "In flight" not in second
    for g in mine:
        assert (f'id="job-{g.uuid}"' in first) != (f'id="job-{g.uuid}"' in second)
    assert all("Not mine" not in p and "Rival" not in p for p in (first, second))
