"""A project's asset library: several files at once, search, delete unless in use."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from generations.assets import services
from generations.assets.models import Asset, AssetInUse, GenerationInput, Role
from generations.models import State
from tests.assets.media import image_bytes, upload, wav_bytes
from tests.generations.factories import GenerationFactory

pytestmark = pytest.mark.django_db


def library(project):
    return reverse("asset_library", args=[project.uuid])


def test_several_files_are_checked_and_kept_at_once(project, member_client, vendors):
    files = [
        upload("one.png", image_bytes()),
        upload("two.wav", wav_bytes()),
        upload("three.png", b"PK\x03\x04 a zip, really"),
    ]
    response = member_client.post(library(project), {"files": files})
    page = response.content.decode()
    assert response.status_code == 400  # one was refused
    assert sorted(Asset.objects.values_list("name", flat=True)) == ["one.png", "two.wav"]
    assert "three.png: refused" in page.replace("</strong>", "").replace("<strong>", "")
    assert "a ZIP archive" in page


def test_an_upload_over_htmx_answers_with_its_result_only(project, member_client, vendors):
    response = member_client.post(
        library(project),
        {"files": [upload("one.png", image_bytes())]},
        headers={"HX-Request": "true"},
    )
    page = response.content.decode()
    assert 'id="upload-results"' in page and "<html" not in page
    assert 'id="asset-list"' in page  # the list as it now stands
    assert "Added “one.png”" in page
    assert "seedance2_ink" not in page and "aigptimage takes no image inputs" in page


def test_the_library_searches_by_name(project, member, member_client, vendors):
    services.add_upload(project, member, upload("harbour dawn.png", image_bytes()))
    services.add_upload(project, member, upload("forest.png", image_bytes(colour=(9, 9, 9))))
    response = member_client.get(library(project) + "?q=harb", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert 'id="asset-list"' in page and "<html" not in page
    assert "harbour dawn.png" in page and "forest.png" not in page


def test_a_viewer_cannot_upload(project, viewer_client, vendors):
    response = viewer_client.post(library(project), {"files": [upload("a.png", image_bytes())]})
    assert response.status_code == 403
    assert not Asset.objects.exists()


def test_an_asset_in_use_by_a_queued_job_cannot_be_deleted(picture, member_client):
    job = GenerationFactory(project=picture.project, state=State.QUEUED)
    GenerationInput.objects.create(generation=job, asset=picture, role=Role.FIRST_FRAME)
    with pytest.raises(AssetInUse):
        picture.delete_unless_in_use()
    response = member_client.post(reverse("asset_delete", args=[picture.uuid]), follow=True)
    assert "has not finished yet" in response.content.decode()
    assert Asset.objects.filter(pk=picture.pk).exists()


def test_an_asset_of_finished_jobs_is_deleted_with_its_files(picture, member_client):
    job = GenerationFactory(project=picture.project, state=State.FAILED)
    row = GenerationInput.objects.create(generation=job, asset=picture, role=Role.FIRST_FRAME)
    files = [picture.file.name, picture.thumbnail.name]
    response = member_client.post(reverse("asset_delete", args=[picture.uuid]))
    assert response.status_code == 302
    assert not Asset.objects.exists()
    assert not any(default_storage.exists(name) for name in files)
    row.refresh_from_db()
    assert row.asset is None  # the job still says it had a first frame


def test_an_upload_request_past_the_cap_is_refused_unread(
    project, member_client, vendors, settings, monkeypatch
):
    settings.ASSET_MAX_UPLOAD_BYTES = 2000

    def never(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr("django.http.multipartparser.MultiPartParser.parse", never)
    files = {"files": [upload("big.png", image_bytes((700, 700)))]}
    response = member_client.post(library(project), files)
    assert response.status_code == 413 and b"over 2,000 bytes in all" in response.content
    again = upload("big.png", image_bytes((700, 700)))
    generate = member_client.post(reverse("generate"), {"first_frame_file": again})
    assert generate.status_code == 413
    assert not Asset.objects.exists()


def test_the_same_bytes_twice_are_one_asset(project, member, vendors):
    first = services.add_upload(project, member, upload("a.png", image_bytes()))
    second = services.add_upload(project, member, upload("copy of a.png", image_bytes()))
    assert first == second and Asset.objects.count() == 1
