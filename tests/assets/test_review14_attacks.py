"""Adversarial review of #14: deleted inputs, races between delete and submit."""

import threading
import time

import pytest
from django.db import connection
from django.urls import reverse

from generations import lifecycle
from generations.assets import inputs as asset_inputs
from generations.assets import services
from generations.assets.models import Asset, AssetInUse, GenerationInput, Role
from generations.models import Generation, State
from generations.vendors.evolink import EvolinkAdapter
from generations.vendors.types import Created, VideoRequest
from tests.assets.media import image_bytes, upload
from tests.generations.conftest import form_data

pytestmark = pytest.mark.django_db


def _reference_job(team, member, project, vendors, assets):
    request = VideoRequest(family="seedance-2.0", prompt="The kite lifts off", mode="reference")
    [generation] = lifecycle.submit(
        team=team,
        member=member,
        project=project,
        request=request,
        pinned=vendors["evolink"],
        inputs=[(Role.REFERENCE_IMAGE, asset) for asset in assets],
    )
    return generation


def test_a_job_whose_input_is_gone_when_sent_fails_and_returns_its_hold_unsent(
    funded, member, project, vendors, queued, monkeypatch
):
    # The asset went after the job was queued (the delete raced the submission, or an
    # operator removed it): the job must not be sent with fewer references than chosen.
    sent = []

    def create(adapter, request, callback_url=None):
        sent.append(request)
        return Created(task_id="task-1", charge_credits=None, raw={})

    monkeypatch.setattr(EvolinkAdapter, "create", create)
    one = services.add_upload(project, member, upload("one.png", image_bytes()))
    two = services.add_upload(project, member, upload("two.png", image_bytes(colour=(10, 200, 10))))
    generation = _reference_job(funded, member, project, vendors, [one, two])
    Asset.objects.filter(pk=two.pk).delete()
    lifecycle.run_submit(generation.pk)
    assert sent == []
    generation.refresh_from_db()
    assert generation.state == State.FAILED
    assert "reference image was deleted" in generation.error_message
    generation.hold.refresh_from_db()
    assert generation.hold.status == "released"


def test_a_submission_whose_asset_was_deleted_meanwhile_is_refused_in_words(
    funded, member, project, vendors, queued
):
    # The form chose the asset; it was deleted before the submission's rows were written.
    picture = services.add_upload(project, member, upload("still.png", image_bytes()))
    Asset.objects.filter(pk=picture.pk).delete()
    with pytest.raises(lifecycle.SubmitRefused, match="still.png"):
        _reference_job(funded, member, project, vendors, [picture])
    assert not Generation.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delete_that_races_a_submission_of_its_asset_waits_and_is_refused(
    funded, member, project, vendors, queued, monkeypatch
):
    picture = services.add_upload(project, member, upload("still.png", image_bytes()))
    recording = threading.Event()
    real_record = asset_inputs.record
    outcome = {}

    def slow_record(generation, chosen):
        recording.set()
        time.sleep(1.0)  # the delete arrives now, between the form's choice and commit
        real_record(generation, chosen)

    monkeypatch.setattr(asset_inputs, "record", slow_record)

    def submit():
        try:
            outcome["jobs"] = _reference_job(funded, member, project, vendors, [picture])
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()

    submitter = threading.Thread(target=submit)
    submitter.start()
    assert recording.wait(30)
    with pytest.raises(AssetInUse):
        Asset.objects.get(pk=picture.pk).delete_unless_in_use()
    submitter.join(30)
    assert "error" not in outcome
    assert GenerationInput.objects.get().asset_id == picture.pk


def test_a_vendor_refusing_the_studios_http_address_names_the_rule_not_the_signed_address(
    funded, member_client, project, picture, vendors, queued, settings
):
    # The refusal is shown on the page (and kept on a job that fails later): the signed
    # address in it was a working key to the file until the job's deadline.
    settings.PUBLIC_BASE_URL = "http://studio.example.com"
    data = form_data(
        project,
        mode="image",
        first_frame=str(picture.uuid),
        account=str(vendors["seedance2_ink"].uuid),
    )
    page = member_client.post(reverse("generate"), data).content.decode()
    assert "Seedance2.ink needs public HTTPS media URLs" in page
    assert "http://studio.example.com" in page
    assert "/inputs/" not in page
    assert not Generation.objects.exists()


def test_a_mode_that_is_not_offered_is_refused_in_words(
    funded, member_client, project, vendors, queued
):
    response = member_client.post(reverse("generate"), form_data(project, mode="video_to_video"))
    assert response.status_code == 200
    assert "Select a valid choice. video_to_video is not one of the available choices." in (
        response.content.decode()
    )
    assert not Generation.objects.exists()
