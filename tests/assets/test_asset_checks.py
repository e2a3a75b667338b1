"""Every upload is judged by its content against the vendors' documented limits."""

import pytest
from django.core.files.storage import default_storage

from generations.assets import checks, services
from generations.assets.models import Asset
from tests.assets.media import bomb_png, image_bytes, mp4_bytes, upload, wav_bytes
from tests.generations.factories import VendorAccountFactory

pytestmark = pytest.mark.django_db


def refused(project, member, name, content, content_type="image/png") -> str:
    with pytest.raises(checks.Rejected) as caught:
        services.add_upload(project, member, upload(name, content, content_type))
    assert not Asset.objects.exists()
    return str(caught.value)


def test_it_refuses_an_html_file_named_png(project, member, vendors):
    page = b"<!DOCTYPE html><html><script>alert(1)</script></html>"
    message = refused(project, member, "innocent.png", page)
    assert "HTML" in message and "whatever its name" in message


def test_it_refuses_a_decompression_bomb_before_decoding_it(project, member, vendors, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the bomb was decoded")

    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", never)
    bomb = bomb_png(7000)
    assert len(bomb) < 1_000_000
    message = refused(project, member, "bomb.png", bomb)
    assert "7000×7000" in message and "decompression bomb" in message
    # Past Pillow's own limit the header is refused all the same.
    assert "decompression bomb" in refused(project, member, "bigger.png", bomb_png(12000))


def test_it_refuses_a_one_by_ten_thousand_image_naming_the_rule_and_vendors(
    project, member, vendors
):
    message = refused(project, member, "strip.png", image_bytes((1, 10000)))
    assert "sides of 300–6000 px (this one is 1×10000)" in message
    assert "ratios of 0.4–2.5" in message
    for vendor in ("evolink", "seedance2_ink", "seedanceapi_org"):
        assert vendor in message
    # Kinovi and aigptimage sell text-to-video only.
    assert "aigptimage, kinovi takes no image inputs" in message


def test_it_refuses_a_forty_megabyte_image(project, member, vendors):
    padded = image_bytes(fmt="JPEG") + b"\0" * (40 * 2**20)  # a JPEG, then bytes past its end
    message = refused(project, member, "huge.jpg", padded, "image/jpeg")
    assert "up to 30 MB (this one is 40.0 MB)" in message


def test_it_refuses_a_twenty_second_video(project, member, vendors, tmp_path):
    video = mp4_bytes(tmp_path, seconds=20, size=(64, 64))
    message = refused(project, member, "long.mp4", video, "video/mp4")
    assert "2–15 s (this one: 20.0)" in message


def test_it_refuses_what_no_enabled_vendor_takes(project, member, db):
    VendorAccountFactory(protocol="fal")  # first and last frames only
    message = refused(project, member, "voice.wav", wav_bytes(), "audio/wav")
    assert "fal takes no audio inputs" in message


def test_what_seedance2_ink_takes_in_media_urls_is_kept_when_it_alone_is_enabled(
    project, member, db, tmp_path
):
    # Its mediaUrls is "images, videos or audio" (docs/vendors/seedance2_ink.md), and its
    # adapter routes reference videos and audio to it: the library must not refuse them.
    VendorAccountFactory(protocol="seedance2_ink")
    video = services.add_upload(project, member, upload("ref.mp4", mp4_bytes(tmp_path)))
    voice = services.add_upload(project, member, upload("voice.wav", wav_bytes()))
    assert (video.unusable_by, voice.unusable_by) == ({}, {})


def test_it_refuses_a_damaged_image_with_a_good_signature(project, member, vendors):
    message = refused(project, member, "cut.png", image_bytes()[:200])
    assert "damaged" in message


def test_it_refuses_files_past_the_upload_cap(project, member, vendors, settings):
    settings.ASSET_MAX_UPLOAD_BYTES = 1000
    message = refused(project, member, "still.png", image_bytes())
    assert "at most" in message


def test_it_keeps_a_good_image_with_its_thumbnail_by_content_not_label(project, member, vendors):
    asset = services.add_upload(
        project, member, upload("holiday.mp4", image_bytes((800, 600), "JPEG"), "video/mp4")
    )
    assert (asset.kind, asset.format, asset.content_type) == ("image", "jpeg", "image/jpeg")
    assert (asset.width, asset.height, asset.team) == (800, 600, project.team)
    assert asset.name == "holiday.mp4"
    assert "holiday" not in asset.file.name  # stored under its own id, never the name
    assert default_storage.exists(asset.file.name)
    assert default_storage.exists(asset.thumbnail.name)
    assert asset.unusable_by == {
        "aigptimage": "takes no image inputs",
        "kinovi": "takes no image inputs",
    }


def test_it_keeps_audio_and_says_which_vendors_cannot_use_it(project, member, vendors):
    asset = services.add_upload(project, member, upload("voice.wav", wav_bytes(), "audio/wav"))
    assert (asset.kind, asset.format, asset.duration) == ("audio", "wav", 3.0)
    assert asset.unusable_by["kinovi"] == "takes no audio inputs"
    assert "seedance2_ink" not in asset.unusable_by
    assert "evolink" not in asset.unusable_by
    assert asset.thumbnail.name  # a waveform


def test_it_keeps_a_reference_video_with_a_poster(project, member, vendors, tmp_path):
    asset = services.add_upload(project, member, upload("ref.mov", mp4_bytes(tmp_path)))
    assert (asset.kind, asset.format, asset.width, asset.height) == ("video", "mp4", 640, 640)
    assert asset.duration == pytest.approx(3.0, abs=0.1)
    assert asset.thumbnail.name


def test_a_video_whose_frames_declare_more_pixels_than_allowed_is_not_decoded(
    project, member, vendors, tmp_path, settings
):
    # A few kilobytes of H.264 can declare frames of hundreds of megapixels: the frame
    # size is judged from the header, as an image's is, before a frame is decoded.
    settings.ASSET_MAX_IMAGE_PIXELS = 100 * 100
    content = mp4_bytes(tmp_path, size=(640, 640))
    with pytest.raises(checks.Rejected, match="declares 640×640"):
        services.add_upload(project, member, upload("bomb.mp4", content))
    assert not Asset.objects.exists()
