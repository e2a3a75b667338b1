"""The Generate page takes inputs: a mode, and per slot an asset or a file that becomes
one; the job records them and the send step signs their addresses afresh."""

import pytest
from django.core import signing
from django.urls import reverse

from generations import lifecycle
from generations.assets import services
from generations.assets.forms import NOT_IN_LIBRARY
from generations.assets.models import Asset, GenerationInput, Role
from generations.assets.signed import SALT, read_token
from generations.models import Generation
from generations.vendors.evolink import EvolinkAdapter
from generations.vendors.types import Created, VideoRequest
from tests.assets.media import image_bytes, upload, wav_bytes
from tests.generations.conftest import form_data
from tests.generations.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_the_send_step_signs_the_inputs_addresses_until_past_the_deadline(
    funded, member, project, picture, vendors, queued, monkeypatch, settings
):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    sent = []

    def create(adapter, request, callback_url=None):
        sent.append(request)
        return Created(task_id="task-unified-1", charge_credits=None, raw={})

    monkeypatch.setattr(EvolinkAdapter, "create", create)
    request = VideoRequest(family="seedance-2.0", prompt="The kite lifts off", mode="image")
    [generation] = lifecycle.submit(
        team=funded,
        member=member,
        project=project,
        request=request,
        pinned=vendors["evolink"],
        inputs=[(Role.FIRST_FRAME, picture)],
    )
    assert generation.request["mode"] == "image"
    assert generation.request["image_urls"] == []  # nothing signed is stored
    lifecycle.run_submit(generation.pk)
    [as_sent] = sent
    assert as_sent.mode == "image" and len(as_sent.image_urls) == 1
    url = as_sent.image_urls[0]
    assert url.startswith("https://studio.example.com/inputs/")
    token = url.rsplit("/", 1)[1]
    assert read_token(token) == (picture.uuid.hex, "png")
    _, until = signing.loads(token.rsplit(".", 1)[0], salt=SALT)
    generation.refresh_from_db()
    assert until >= generation.expires_at.timestamp()
    assert generation.state == "running"


def test_a_file_dropped_in_the_first_frame_slot_becomes_an_asset_and_an_input(
    funded, member_client, project, vendors, queued
):
    data = form_data(project, mode="image")
    data["first_frame_file"] = upload("start.png", image_bytes())
    response = member_client.post(reverse("generate"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    asset = Asset.objects.get()
    assert (asset.project, asset.name, asset.kind) == (project, "start.png", "image")
    generation = Generation.objects.get()
    assert generation.request["mode"] == "image"
    row = GenerationInput.objects.get()
    assert (row.generation, row.asset, row.role) == (generation, asset, Role.FIRST_FRAME)


def test_a_refused_upload_keeps_the_form_and_names_the_rule(
    funded, member_client, project, vendors, queued
):
    data = form_data(project, mode="image", prompt="Keep this prompt exactly")
    data["first_frame_file"] = upload("page.png", b"<html><body>hi</body></html>")
    response = member_client.post(reverse("generate"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "page.png:" in page and "HTML" in page
    assert "Keep this prompt exactly" in page
    assert 'value="image" checked' in page
    assert not Generation.objects.exists()


def test_an_upload_over_htmx_returns_the_form_with_the_asset_chosen(
    member_client, project, vendors
):
    data = form_data(project, mode="first_last", prompt="Typed before the upload", intent="upload")
    data["last_frame_file"] = upload("end.png", image_bytes())
    response = member_client.post(reverse("generate"), data, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page and 'id="generate-form"' in page
    asset = Asset.objects.get()
    assert f'value="{asset.uuid}" selected' in page
    assert "Typed before the upload" in page


def test_audio_alone_is_refused_in_reference_mode(funded, member_client, project, vendors, queued):
    data = form_data(project, mode="reference")
    data["reference_audio_file"] = upload("voice.wav", wav_bytes())
    response = member_client.post(reverse("generate"), data)
    assert response.status_code == 200
    assert "Audio cannot be the only reference" in response.content.decode()
    assert not Generation.objects.exists()
    assert Asset.objects.get().kind == "audio"  # kept for the next try


def test_another_teams_asset_cannot_be_chosen(
    funded, member_client, project, vendors, queued, other_team, outsider
):
    theirs = services.add_upload(
        ProjectFactory(team=other_team), outsider, upload("theirs.png", image_bytes())
    )
    data = form_data(project, mode="image", first_frame=str(theirs.uuid))
    response = member_client.post(reverse("generate"), data)
    assert response.status_code == 200
    assert not Generation.objects.exists()
    assert "theirs.png" not in response.content.decode()


def test_remix_keeps_the_inputs(funded, member, member_client, project, picture, vendors, queued):
    request = VideoRequest(family="seedance-2.0", prompt="The kite lifts off", mode="image")
    [generation] = lifecycle.submit(
        team=funded,
        member=member,
        project=project,
        request=request,
        inputs=[(Role.FIRST_FRAME, picture)],
    )
    page = member_client.get(reverse("generate") + f"?from={generation.uuid}").content.decode()
    assert 'value="image" checked' in page
    assert f'value="{picture.uuid}" selected' in page


def test_the_live_quote_judges_the_mode_and_its_inputs(member_client, project, picture, vendors):
    data = form_data(project, mode="image", account=str(vendors["evolink"].uuid))
    without = member_client.post(reverse("generate_quote"), data).content.decode()
    assert "accepts 1 image for image-to-video, not 0" in without
    data["first_frame"] = str(picture.uuid)
    with_frame = member_client.post(reverse("generate_quote"), data).content.decode()
    assert "not 0" not in with_frame and "expected" in with_frame


def test_choosing_another_project_refreshes_the_slots_with_its_assets(
    member_client, project, picture, vendors, team
):
    empty = ProjectFactory(team=team, name="Other")
    data = form_data(empty, mode="image", options_key="stale")
    page = member_client.post(reverse("generate_quote"), data).content.decode()
    assert 'id="inputs"' in page and 'hx-swap-oob="true"' in page
    assert "still.png" not in page
    data = form_data(project, mode="image", options_key="stale")
    assert "still.png" in member_client.post(reverse("generate_quote"), data).content.decode()


def test_a_slot_of_another_mode_does_not_stop_a_submission(
    funded, member_client, project, vendors, queued
):
    data = form_data(project, mode="text", first_frame="not-an-asset-of-this-project")
    assert member_client.post(reverse("generate"), data).status_code == 302
    assert Generation.objects.get().request["mode"] == "text"
    assert not GenerationInput.objects.exists()


def test_a_text_submission_never_reads_the_projects_assets(
    funded, member_client, project, picture, vendors, queued
):
    """The slots' choices are read when a slot has a value (or the form is shown again):
    a text-to-video job validates without them, one query fewer per submission."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as text:
        response = member_client.post(reverse("generate"), form_data(project))
    assert response.status_code == 302
    assert not [q for q in text.captured_queries if "assets_asset" in q["sql"]]
    data = form_data(project, mode="image", first_frame=str(picture.uuid))
    with CaptureQueriesContext(connection) as image:
        response = member_client.post(reverse("generate"), data)
    assert response.status_code == 302
    assert [q for q in image.captured_queries if "assets_asset" in q["sql"]]
    assert Generation.objects.filter(request__mode="image").get().inputs.get().asset == picture
    # A refused choice shows the form again with the project's assets in the slot.
    data = form_data(project, mode="image", first_frame="0" * 32)
    page = member_client.post(reverse("generate"), data).content.decode()
    assert f'value="{picture.uuid}"' in page
    assert NOT_IN_LIBRARY["invalid_choice"] in page
    assert "Select a valid choice" not in page
