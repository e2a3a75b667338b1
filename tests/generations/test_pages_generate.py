"""The Generate page: options from the vendors, the live quote, submitting, remixing."""

import re

import pytest

from billing import ledger
from generations.models import Generation, Scene
from tests.generations.conftest import PROMPT, form_data
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Lighthouse", created_by=owner)


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 50_000_000, by=operator, memo="test", key="k1")
    return team


def test_it_offers_only_what_the_enabled_vendors_offer_and_says_why(member_client, kinovi, project):
    page = member_client.get("/generate/").content.decode()
    assert '<option value="720p" selected>720p</option>' in page
    assert '<option value="1080p" disabled>1080p (not offered)</option>' in page
    assert "Not offered for Seedance 2.0 at any enabled vendor: 1080p." in page
    assert "Kinovi main has no setting for generated audio." not in page  # not pinned
    assert "No vendor that serves Seedance 2.0 here can generate audio." in page
    assert 'id="id_audio" value="on" disabled' in page


def test_pinning_a_vendor_narrows_the_choices_to_that_vendor(member_client, kinovi, project):
    org = VendorAccountFactory(protocol="seedanceapi_org", label="Org")
    page = member_client.get(f"/generate/?account={org.uuid}").content.decode()
    assert '<option value="4" disabled>4 seconds (not offered)</option>' in page
    assert '<option value="10">10 seconds</option>' in page
    assert '<option value="1080p">1080p</option>' in page
    assert "Org has no setting for generated audio." in page
    assert 'data-limit="2000"' in page


def test_a_model_no_enabled_vendor_offers_is_explained(member_client, kinovi, project):
    page = member_client.get("/generate/?family=seedance-2.0-mini").content.decode()
    assert "No enabled vendor account offers Seedance 2.0 Mini." in page
    assert "Seedance 2.0 Mini (no vendor enabled)" in page


def test_viewers_may_not_generate(viewer_client, kinovi, project):
    assert viewer_client.get("/generate/").status_code == 403
    assert viewer_client.post("/generate/", form_data(project)).status_code == 403
    assert viewer_client.post("/generate/quote/", form_data(project)).status_code == 403
    assert not Generation.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/generate/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_live_quote_shows_dollars_credits_vendor_hold_and_balance(
    member_client, kinovi, project, funded
):
    response = member_client.post(
        "/generate/quote/", form_data(project, variants="2"), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="quote"' in html
    # Kinovi: 40 credits a second at 720p, 200 credits to the dollar.
    assert "$2.00" in html  # two clips of $1.00
    assert "200 vendor credits" in html
    assert "Kinovi main" in html
    assert "$50.00" in html  # available
    assert "$48.00" in html  # after holding two clips
    assert "disabled" not in html.split('class="btn primary wide"')[1].split(">")[0]


def test_the_quote_redraws_the_options_only_when_the_model_or_vendor_changed(
    member_client, kinovi, project
):
    same = form_data(project, options_key=f"seedance-2.0||{project.uuid}", submit_key="refused-1")
    html = member_client.post("/generate/quote/", same, HTTP_HX_REQUEST="true").content.decode()
    assert "hx-swap-oob" not in html
    changed = form_data(project, family="seedance-2.0-fast", options_key=same["options_key"])
    html = member_client.post("/generate/quote/", changed, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="options" class="options" hx-swap-oob="true"' in html
    assert 'id="prompt-limits"' in html
    assert "This field is required" not in html


def _submit_row(html):
    """The submit row a quote's answer redraws, or None when it leaves the button be."""
    match = re.search(r'<div id="submit-row".*?</div>', html, re.S)
    return match and match.group(0)


def test_the_quote_leaves_the_submit_button_be_while_what_it_shows_is_unchanged(
    member_client, kinovi, project, funded
):
    """A click on Generate blurs the prompt, whose change event asks for a quote as the
    press begins: a redrawn button under the press would lose the click."""
    html = member_client.get(f"/generate/?project={project.uuid}").content.decode()
    row = _submit_row(html)
    assert 'name="submit_key" value="ok-1"' in row
    assert "hx-swap-oob" not in row and "disabled" not in row
    answer = member_client.post(
        "/generate/quote/", form_data(project, submit_key="ok-1"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'id="quote"' in answer
    assert _submit_row(answer) is None
    assert "Generate clip" not in answer


@pytest.mark.parametrize(
    "change, shows",
    [
        ({"variants": "2"}, ("ok-2", "Generate 2 clips")),
        ({"prompt": "x" * 4100}, ("refused-1", "disabled")),
    ],
)
def test_the_quote_redraws_the_submit_button_when_what_it_shows_changed(
    member_client, kinovi, project, funded, change, shows
):
    data = form_data(project, submit_key="ok-1", **change)
    answer = member_client.post("/generate/quote/", data, HTTP_HX_REQUEST="true").content.decode()
    row = _submit_row(answer)
    assert 'hx-swap-oob="true"' in row
    key, text = shows
    assert f'name="submit_key" value="{key}"' in row
    assert text in row


def test_the_submit_button_is_disabled_with_the_reason_when_money_is_short(
    member_client, kinovi, project
):
    html = member_client.get("/generate/").content.decode()
    assert 'disabled aria-describedby="quote-reasons"' in html
    assert "This needs $1.00; the team has $0.00 available." in html


def test_the_submit_button_is_disabled_when_no_vendor_can_take_the_request(
    member_client, kinovi, project, funded
):
    data = form_data(project, prompt="x" * 4100)
    html = member_client.post("/generate/quote/", data, HTTP_HX_REQUEST="true").content.decode()
    assert "No vendor can take this request as it is." in html
    assert "Kinovi accepts prompts of at most 4000 characters" in html
    assert 'disabled aria-describedby="quote-reasons"' in html


def test_a_submission_creates_the_variants_and_goes_to_jobs(
    member_client, member, kinovi, project, funded, queued, django_capture_on_commit_callbacks
):
    data = form_data(project, variants="2", new_scene="Opening shot", audio="")
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/generate/", data)
    assert response.status_code == 302
    assert response["Location"] == "/jobs/"
    created = list(Generation.objects.order_by("pk"))
    assert len(created) == 2
    scene = Scene.objects.get(title="Opening shot")
    assert {g.scene for g in created} == {scene}
    assert created[0].batch == created[1].batch
    assert created[0].created_by == member
    assert created[0].request["metadata"] == {
        "projectId": str(project.uuid),
        "sceneId": str(scene.uuid),
    }
    assert queued == [g.pk for g in created]
    assert ledger.balances(funded).on_hold == 2_000_000


def test_an_htmx_submission_redirects_and_announces_the_balance_change(
    member_client, kinovi, project, funded, queued
):
    response = member_client.post("/generate/", form_data(project), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/jobs/"
    assert "balanceChanged" in response["HX-Trigger"]
    assert Generation.objects.count() == 1


def test_form_errors_are_shown_next_to_their_fields_and_the_prompt_is_kept(
    member_client, kinovi, project, funded
):
    data = form_data(project, duration="99", project="")
    response = member_client.post("/generate/", data)
    html = response.content.decode()
    assert response.status_code == 200
    duration_field = html.split('for="id_duration"')[1].split("</div>")[0]
    assert "“99” is not one of the duration choices offered here." in duration_field
    project_field = html.split('for="id_project"')[1].split("</div>")[0]
    assert "Choose a project for the clip." in project_field
    assert f">{PROMPT}</textarea>" in html
    assert not Generation.objects.exists()


def test_an_htmx_submission_with_errors_gets_the_form_back_not_the_page(
    member_client, kinovi, project
):
    response = member_client.post(
        "/generate/", form_data(project, prompt=""), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<form id="generate-form"')
    assert "This field is required." in html


def test_a_submission_without_money_shows_the_ledgers_refusal_and_creates_nothing(
    member_client, kinovi, project, queued, django_capture_on_commit_callbacks
):
    data = form_data(project, new_scene="Never made")
    with django_capture_on_commit_callbacks(execute=True):  # what a commit would queue
        html = member_client.post("/generate/", data).content.decode()
    assert "This needs $1.00; the team has $0.00 available." in html
    assert 'class="form-errors"' in html
    assert not Generation.objects.exists()
    assert not Scene.objects.filter(title="Never made").exists()
    assert queued == []


def test_a_request_no_vendor_takes_shows_why_and_creates_nothing(
    member_client, kinovi, project, funded, queued
):
    html = member_client.post("/generate/", form_data(project, prompt="y" * 4100)).content.decode()
    assert "No vendor can take this request: Kinovi accepts prompts of at most 4000" in html
    assert not Generation.objects.exists()


def test_remix_starts_from_an_earlier_generation(
    member_client, team, kinovi, project, funded, queued
):
    scene = SceneFactory(project=project, title="Stairs")
    source = GenerationFactory(
        project=project, scene=scene, succeeded=True, prompt="Original prompt of the stairs"
    )
    source.request.update(duration=8, aspect_ratio="9:16")
    source.save()
    html = member_client.get(f"/generate/?from={source.uuid}").content.decode()
    assert ">Original prompt of the stairs</textarea>" in html
    assert '<option value="8" selected>8 seconds</option>' in html
    assert '<option value="9:16" selected>9:16</option>' in html
    assert f'<option value="{scene.uuid}" selected>' in html
    assert f'name="remix_of" value="{source.uuid}"' in html
    assert "Remixing an earlier clip" in html

    data = form_data(project, scene=str(scene.uuid), remix_of=str(source.uuid))
    member_client.post("/generate/", data)
    remix = Generation.objects.exclude(pk=source.pk).get()
    assert remix.remix_of == source


def test_remixing_another_teams_generation_is_not_found(member_client, other_team, kinovi):
    foreign = GenerationFactory(project=ProjectFactory(team=other_team), succeeded=True)
    assert member_client.get(f"/generate/?from={foreign.uuid}").status_code == 404
    assert member_client.get("/generate/?from=not-a-uuid").status_code == 404


def test_another_teams_project_cannot_be_chosen(
    member_client, other_team, kinovi, project, funded, queued
):
    foreign = ProjectFactory(team=other_team)
    response = member_client.post("/generate/", form_data(foreign))
    assert response.status_code == 200
    assert "is not one of the project choices offered here." in response.content.decode()
    assert not Generation.objects.exists()


def test_a_team_without_projects_names_one_while_generating(
    member_client, team, kinovi, funded, queued
):
    html = member_client.get("/generate/").content.decode()
    assert 'name="new_project"' in html
    data = {
        "prompt": PROMPT,
        "family": "seedance-2.0",
        "duration": "5",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "new_project": "First film",
        "variants": "1",
    }
    assert member_client.post("/generate/", data).status_code == 302
    assert Generation.objects.get().project.name == "First film"


def test_without_javascript_a_refresh_redraws_the_choices_without_submitting(
    member_client, kinovi, project, funded
):
    org = VendorAccountFactory(protocol="seedanceapi_org", label="Org")
    data = form_data(project, account=str(org.uuid), duration="7", intent="refresh")
    html = member_client.post("/generate/", data).content.decode()
    assert '<option value="5" selected>5 seconds</option>' in html
    assert "is not one of the duration choices" not in html
    assert not Generation.objects.exists()
