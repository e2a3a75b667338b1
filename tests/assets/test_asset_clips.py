"""A clip of the gallery becomes assets, and continues from its last frame."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from generations.assets.models import Asset, GenerationInput, Role
from generations.models import State
from tests.assets.media import mp4_bytes
from tests.generations.factories import ClipFactory, GenerationFactory, SceneFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clip(project, member, tmp_path, vendors):
    """A finished 2 s clip of 640×640 at 24 fps: each frame fits every vendor's rules."""
    content = mp4_bytes(tmp_path, seconds=2.0, size=(640, 640))
    name = default_storage.save("clips/big.mp4", ContentFile(content))
    scene = SceneFactory(project=project)
    generation = GenerationFactory(
        project=project, scene=scene, created_by=member, state=State.SUCCEEDED
    )
    ClipFactory(generation=generation, file=name, duration=2.0, width=640, height=640)
    return generation


def test_its_last_frame_becomes_an_image_asset(clip, member_client):
    url = reverse("clip_to_asset", args=[clip.uuid])
    response = member_client.post(url, {"what": "last_frame"})
    assert response.status_code == 302
    asset = Asset.objects.get()
    assert (asset.kind, asset.format, asset.width, asset.height) == ("image", "png", 640, 640)
    assert asset.source_generation == clip and asset.project == clip.project
    assert asset.source_seconds == 2.0


def test_the_frame_at_the_playhead_becomes_an_image_asset(clip, member_client):
    url = reverse("clip_to_asset", args=[clip.uuid])
    member_client.post(url, {"what": "frame", "at": "0.5"})
    asset = Asset.objects.get()
    assert asset.source_seconds == 0.5 and "0.50 s" in asset.name


def test_the_clip_becomes_a_reference_video(clip, member_client):
    member_client.post(reverse("clip_to_asset", args=[clip.uuid]), {"what": "video"})
    asset = Asset.objects.get()
    assert (asset.kind, asset.format, asset.width) == ("video", "mp4", 640)


def test_a_small_clips_last_frame_is_enlarged_to_what_the_vendors_take(
    project, member, member_client, tmp_path, vendors
):
    """A sandbox clip (320×180) or a small vertical one can still start the next shot."""
    content = mp4_bytes(tmp_path, seconds=1.0, size=(320, 180))
    name = default_storage.save("clips/small.mp4", ContentFile(content))
    small = GenerationFactory(project=project, created_by=member, state=State.SUCCEEDED)
    ClipFactory(generation=small, file=name, duration=1.0, width=320, height=180)
    response = member_client.post(reverse("continue_clip", args=[small.uuid]))
    assert response.status_code == 302 and "/generate/" in response["Location"]
    asset = Asset.objects.get()
    assert (asset.width, asset.height) == (533, 300)


def test_a_clip_too_small_for_any_vendor_says_why(member, member_client, project, vendors):
    tiny = GenerationFactory(project=project, created_by=member, succeeded=True)  # 64×36
    response = member_client.post(
        reverse("clip_to_asset", args=[tiny.uuid]), {"what": "video"}, follow=True
    )
    assert "could not become an asset" in response.content.decode()
    assert "sides of 300–6000 px" in response.content.decode()
    assert not Asset.objects.exists()


def test_a_viewer_and_another_team_cannot(clip, viewer_client, outsider_client):
    url = reverse("clip_to_asset", args=[clip.uuid])
    assert viewer_client.post(url, {"what": "last_frame"}).status_code == 403
    assert outsider_client.post(url, {"what": "last_frame"}).status_code == 404
    assert not Asset.objects.exists()


def test_continue_opens_generate_with_the_last_frame_in_the_next_scene(clip, member_client):
    response = member_client.post(reverse("continue_clip", args=[clip.uuid]))
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    frame = Asset.objects.get()
    assert query["mode"] == ["image"] and query["first_frame"] == [str(frame.uuid)]
    assert query["project"] == [str(clip.project.uuid)]
    assert query["family"] == [clip.family] and query["aspect_ratio"] == ["16:9"]
    assert query["new_scene"] == ["Scene 2"]  # no scene after this one yet
    page = member_client.get(response["Location"]).content.decode()
    assert 'value="image" checked' in page
    assert f'value="{frame.uuid}" selected' in page
    assert 'value="Scene 2"' in page


def test_continue_picks_the_following_scene_when_there_is_one(clip, member_client):
    following = SceneFactory(project=clip.project)
    response = member_client.post(reverse("continue_clip", args=[clip.uuid]))
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["scene"] == [str(following.uuid)]


def test_the_clip_page_shows_its_inputs_and_the_gallery_filters_by_them(
    clip, picture, member_client
):
    GenerationInput.objects.create(generation=clip, asset=picture, role=Role.FIRST_FRAME)
    clip.request = clip.request | {"mode": "image"}
    clip.save()
    other = GenerationFactory(project=clip.project, succeeded=True)
    page = member_client.get(reverse("clip", args=[clip.uuid])).content.decode()
    assert "still.png" in page and "First frame" in page
    assert reverse("asset_thumbnail", args=[picture.uuid]) in page

    def shown(query):
        return member_client.get(reverse("gallery") + query).content.decode()

    assert str(clip.uuid) in shown(f"?asset={picture.uuid}")
    assert str(other.uuid) not in shown(f"?asset={picture.uuid}")
    assert str(clip.uuid) in shown("?mode=image")
    assert str(other.uuid) not in shown("?mode=image")
    assert str(other.uuid) in shown("?mode=text")  # older jobs have no mode: text
    assert str(clip.uuid) not in shown("?mode=text")


def test_gallery_cards_show_the_inputs_of_clips_made_from_them(clip, picture, member_client):
    GenerationInput.objects.create(generation=clip, asset=picture, role=Role.FIRST_FRAME)
    clip.request = clip.request | {"mode": "image"}
    clip.save()
    page = member_client.get(reverse("gallery")).content.decode()
    assert 'alt="First frame: still.png"' in page
    assert reverse("asset_thumbnail", args=[picture.uuid]) in page


def test_continuing_a_clip_of_no_scene_starts_a_new_scene(clip, member_client):
    clip.scene = None
    clip.save()
    response = member_client.post(reverse("continue_clip", args=[clip.uuid]))
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["new_scene"] == ["Scene 2"] and "scene" not in query


def test_a_clip_whose_file_is_gone_from_storage_says_so_instead_of_failing(
    member, member_client, project, vendors
):
    generation = GenerationFactory(project=project, created_by=member, state=State.SUCCEEDED)
    ClipFactory(generation=generation, file="clips/gone.mp4", duration=2.0, width=640, height=640)
    for url, data in (
        (reverse("clip_to_asset", args=[generation.uuid]), {"what": "last_frame"}),
        (reverse("continue_clip", args=[generation.uuid]), {}),
    ):
        response = member_client.post(url, data, follow=True)
        assert response.status_code == 200
        assert "The media storage failed while reading the clip" in response.content.decode()
    assert not Asset.objects.exists()
