"""The Jobs page and each job's self-updating card."""

import json

import pytest

from billing import ledger
from generations import lifecycle
from generations.models import State
from generations.vendors import VideoRequest
from tests.factories import MembershipFactory
from tests.generations.factories import GenerationFactory, ProjectFactory, VendorAccountFactory

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Harbour")


@pytest.fixture
def running(project, member):
    return GenerationFactory(
        project=project, running=True, created_by=member, prompt="Gulls over the pier"
    )


@pytest.fixture
def done(project, member):
    return GenerationFactory(
        project=project, succeeded=True, created_by=member, prompt="Boats at anchor"
    )


def test_jobs_lists_the_teams_jobs_and_nothing_of_other_teams(
    member_client, running, done, other_team
):
    GenerationFactory(project=ProjectFactory(team=other_team), prompt="Secret rival footage")
    html = member_client.get("/jobs/").content.decode()
    assert "Gulls over the pier" in html
    assert "Boats at anchor" in html
    assert "Secret rival footage" not in html


def test_the_jobs_page_polls_once_for_its_cards_in_flight_and_not_for_finished_ones(
    member_client, running, done
):
    html = member_client.get("/jobs/").content.decode()
    running_card = html.split(f'id="job-{running.uuid}"')[1].split("</article>")[0]
    done_card = html.split(f'id="job-{done.uuid}"')[1].split("</article>")[0]
    # One poll for the page, not one per card: the card says what the page last saw.
    assert html.count('hx-trigger="every 2s"') == 1
    assert 'hx-get="/jobs/in-flight/" hx-trigger="every 2s" hx-include="[name=seen]"' in html
    assert f'name="seen" value="{running.uuid}:running:40"' in running_card
    assert '<progress class="job-progress" max="100" value="40"' in running_card
    assert 'name="seen"' not in done_card
    # A card on its own page still polls itself.
    own = member_client.get(f"/jobs/{running.uuid}/").content.decode()
    assert f'hx-get="/jobs/{running.uuid}/card/" hx-trigger="every 2s" hx-swap="outerHTML"' in own


def poll(client, *seen):
    return client.get("/jobs/in-flight/", {"seen": list(seen)}, HTTP_HX_REQUEST="true")


def test_the_poll_answers_only_the_cards_that_changed(member_client, project, member, running):
    other = GenerationFactory(project=project, running=True, created_by=member, prompt="Crabs")
    unchanged = poll(member_client, f"{running.uuid}:running:40", f"{other.uuid}:running:40")
    html = unchanged.content.decode()
    assert "<article" not in html
    assert 'hx-trigger="every 2s"' in html  # both still in flight: keep asking
    assert "HX-Trigger" not in unchanged

    running.progress = 80
    running.save()
    html = poll(member_client, f"{running.uuid}:running:40", f"{other.uuid}:running:40")
    html = html.content.decode()
    assert html.count("<article") == 1
    assert f'id="job-{running.uuid}"' in html
    assert 'hx-swap-oob="outerHTML"' in html
    assert f'name="seen" value="{running.uuid}:running:80"' in html


def test_the_poll_stops_when_nothing_it_shows_is_in_flight_and_refreshes_the_balance(
    member_client, running
):
    running.state = State.SUCCEEDED
    running.save()
    response = poll(member_client, f"{running.uuid}:running:40")
    html = response.content.decode()
    assert 'data-state="succeeded"' in html
    assert 'hx-trigger="every' not in html  # neither the page's poll nor the card's
    assert 'id="in-flight-poll"' in html
    assert json.loads(response["HX-Trigger"]) == {"balanceChanged": {}}


def test_the_poll_says_nothing_of_other_teams_jobs_or_of_nonsense(
    outsider_client, member_client, running
):
    html = poll(outsider_client, f"{running.uuid}:queued:").content.decode()
    assert "<article" not in html
    assert "Gulls over the pier" not in html
    assert 'hx-trigger="every' not in html
    for nonsense in ("", "not-a-uuid:running:4", f"{running.uuid}:running:many", ":::"):
        response = poll(member_client, nonsense)
        assert response.status_code == 200
        assert "<article" not in response.content.decode()


def test_the_card_fragment_keeps_polling_until_the_job_finishes(member_client, running):
    url = f"/jobs/{running.uuid}/card/"
    html = member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith("<article")
    assert 'hx-trigger="every 2s"' in html

    running.state = State.SUCCEEDED
    running.save()
    html = member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-state="succeeded"' in html
    assert 'hx-trigger="every' not in html


def test_the_last_answer_to_a_cards_polling_refreshes_the_balance_badge(member_client, running):
    url = f"/jobs/{running.uuid}/card/"
    response = member_client.get(url, HTTP_HX_REQUEST="true")
    assert "HX-Trigger" not in response

    running.state = State.SUCCEEDED
    running.save()
    response = member_client.get(url, HTTP_HX_REQUEST="true")
    assert json.loads(response["HX-Trigger"]) == {"balanceChanged": {}}


def test_the_card_address_without_htmx_leads_to_the_jobs_own_page(member_client, running):
    response = member_client.get(f"/jobs/{running.uuid}/card/")
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{running.uuid}/"
    page = member_client.get(response["Location"]).content.decode()
    assert "<html" in page
    assert "Gulls over the pier" in page


def test_a_card_shows_state_vendor_cost_and_the_event_timeline(member_client, running):
    running.log("accepted", "Kinovi accepted the job as task task-7.")
    html = member_client.get(f"/jobs/{running.uuid}/").content.decode()
    assert "Generating" in html
    assert running.vendor_account.label in html
    assert "Expected $0.20" in html
    assert "Kinovi accepted the job as task task-7." in html
    assert f'href="/generate/?from={running.uuid}"' in html  # run again


def test_the_jobs_list_fetches_a_cards_timeline_only_when_it_is_opened(member_client, running):
    running.log("accepted", "Kinovi accepted the job as task task-7.")
    html = member_client.get("/jobs/").content.decode()
    assert "Kinovi accepted the job as task task-7." not in html
    assert f'hx-get="/jobs/{running.uuid}/timeline/"' in html
    assert 'hx-trigger="toggle once from:closest details"' in html
    timeline = member_client.get(f"/jobs/{running.uuid}/timeline/").content.decode()
    assert "Kinovi accepted the job as task task-7." in timeline
    assert "<html" not in timeline


def test_outsiders_get_not_found_for_every_job_address(outsider_client, running):
    for url in (
        f"/jobs/{running.uuid}/",
        f"/jobs/{running.uuid}/card/",
        f"/jobs/{running.uuid}/timeline/",
    ):
        assert outsider_client.get(url).status_code == 404
        assert outsider_client.get(url, HTTP_HX_REQUEST="true").status_code == 404
    assert outsider_client.post(f"/jobs/{running.uuid}/cancel/").status_code == 404
    running.refresh_from_db()
    assert running.state == State.RUNNING


def test_viewers_see_jobs_but_cannot_cancel_them(viewer_client, running):
    html = viewer_client.get("/jobs/").content.decode()
    assert "Gulls over the pier" in html
    assert "Run again" not in html
    assert f"/jobs/{running.uuid}/cancel/" not in html
    assert viewer_client.post(f"/jobs/{running.uuid}/cancel/").status_code == 403


def test_only_the_member_who_started_a_job_or_an_admin_may_cancel_it(team, project, client):
    starter = MembershipFactory(team=team).user
    colleague = MembershipFactory(team=team).user
    admin = MembershipFactory(team=team, admin=True).user
    job = GenerationFactory(project=project, created_by=starter)
    client.force_login(colleague)
    assert client.post(f"/jobs/{job.uuid}/cancel/").status_code == 403
    html = client.get("/jobs/").content.decode()
    assert f"/jobs/{job.uuid}/cancel/" not in html
    client.force_login(admin)
    assert f"/jobs/{job.uuid}/cancel/" in client.get("/jobs/").content.decode()


@pytest.fixture
def submitted(team, member, project, operator, monkeypatch):
    """A real queued job with its hold, as the Generate page makes it."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    VendorAccountFactory(protocol="kinovi")
    ledger.grant(team, 10_000_000, by=operator, memo="test", key="k1")
    request = VideoRequest(family="seedance-2.0", prompt="Fog rolls in", duration=5)
    [generation] = lifecycle.submit(team=team, member=member, project=project, request=request)
    return generation


def test_cancelling_a_queued_job_returns_the_hold_and_announces_the_balance_change(
    member_client, team, submitted
):
    assert ledger.balances(team).on_hold == 1_000_000
    response = member_client.post(f"/jobs/{submitted.uuid}/cancel/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'data-state="cancelled"' in html
    assert 'hx-trigger="every' not in html
    assert "balanceChanged" in response["HX-Trigger"]
    assert "the hold was returned" in response["HX-Trigger"]
    assert ledger.balances(team).on_hold == 0
    assert ledger.balances(team).available == 10_000_000


def test_cancelling_without_javascript_redirects_back_with_a_message(member_client, submitted):
    response = member_client.post(f"/jobs/{submitted.uuid}/cancel/", {"next": "/jobs/?mine=1"})
    assert response.status_code == 302
    assert response["Location"] == "/jobs/?mine=1"
    html = member_client.get("/jobs/?mine=1").content.decode()
    assert "Cancelled before it reached a vendor" in html


def test_cancelling_a_finished_job_says_why_not(member_client, done):
    response = member_client.post(f"/jobs/{done.uuid}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "A job that is done can't be cancelled now." in response["HX-Trigger"]
    done.refresh_from_db()
    assert done.state == State.SUCCEEDED


def test_mine_shows_only_my_jobs(member_client, project, running, owner):
    GenerationFactory(project=project, created_by=owner, prompt="The owner's own shot")
    html = member_client.get("/jobs/?mine=1").content.decode()
    assert "Gulls over the pier" in html
    assert "The owner&#x27;s own shot" not in html


def test_older_finished_jobs_page_by_keyset_without_repeats(member_client, project):
    from generations.studio.views.jobs import RECENT_JOBS

    jobs = [
        GenerationFactory(project=project, failed=True, prompt=f"Failed take {n:02d}")
        for n in range(RECENT_JOBS * 2 + 5)
    ]
    pages, url = [], "/jobs/"
    while url:
        html = member_client.get(url).content.decode()
        pages.append(html)
        url = html.split('href="/jobs/?before=')[1].split('"')[0] if "?before=" in html else ""
        url = f"/jobs/?before={url}" if url else ""
    assert [p.count('class="job"') for p in pages] == [RECENT_JOBS, RECENT_JOBS, 5]
    shown = [g.prompt for g in jobs for p in pages if g.prompt in p]
    assert sorted(shown) == sorted(g.prompt for g in jobs)  # each once, none missing


def test_in_flight_shows_the_newest_and_counts_them_all(member_client, project, monkeypatch):
    from generations.studio.views import jobs

    monkeypatch.setattr(jobs, "ACTIVE_SHOWN", 3)
    for n in range(5):
        GenerationFactory(project=project, running=True, prompt=f"Running number {n}")
    html = member_client.get("/jobs/").content.decode()
    assert html.count('<article class="job"') == 3
    assert "Running number 4" in html and "Running number 1" not in html
    assert '<span class="tag">5</span>' in html
    assert "The 3 newest are shown; 5 jobs are in flight in all." in html
