"""Image-to-video, first + last frame and reference-to-video at each vendor: what each
offers per family, and the exact body it sends, against its document."""

from generations.vendors import REGISTRY, VideoRequest
from generations.vendors.media_limits import NO_MEDIA
from generations.vendors.types import Family, Mode

KEY = "sk-live-SECRET-0123456789abcdef"
FIRST = "https://assets.example.com/first.png"
LAST = "https://assets.example.com/last.png"
IMAGES = tuple(f"https://assets.example.com/ref-{n}.png" for n in range(3))
VIDEO = "https://assets.example.com/motion.mp4"
AUDIO = "https://assets.example.com/beat.mp3"

CREATED = {
    "evolink": {"id": "task-unified-1-abc", "status": "pending", "usage": {}},
    "seedance2_ink": {"success": True, "requestId": "req_1", "status": "queued"},
    "seedanceapi_org": {"code": 200, "data": {"task_id": "t1", "status": "IN_PROGRESS"}},
}


def request(family="seedance-2.0", **changes):
    return VideoRequest(**({"family": family, "prompt": "A lighthouse at dusk"} | changes))


def sent(vendor, protocol, video_request):
    vendor.answer(json=CREATED[protocol])
    REGISTRY[protocol](KEY, client=vendor.client).create(video_request)
    return vendor.sent()


def test_mode_labels_read_well_for_members():
    assert [mode.label for mode in Mode] == [
        "text-to-video",
        "image-to-video",
        "first + last frame",
        "reference-to-video",
    ]


def test_each_vendor_offers_the_modes_its_document_sells():
    offered = {
        protocol: {str(family): " ".join(offer.modes) for family, offer in adapter.offers.items()}
        for protocol, adapter in REGISTRY.items()
    }
    assert offered == {
        # kinovi: `mode: reference` names no field for its material; the page is text-only.
        "kinovi": {"seedance-2.0": "text", "seedance-2.0-fast": "text"},
        "aigptimage": {"seedance-2.0": "text"},
        "evolink": {
            "seedance-2.0": "text image first_last reference",
            "seedance-2.0-fast": "text image first_last reference",
        },
        # Its Image to Video page: first frame, first and last frame, and references.
        "seedance2_ink": {
            "seedance-2.0": "text image first_last reference",
            "seedance-2.0-fast": "text image first_last reference",
            "seedance-1.5-pro": "text image first_last",
        },
        # `images` for image-to-video (no word of a last frame); reference video and
        # audio "Mini-compatible" only.
        "seedanceapi_org": {
            "seedance-2.0": "text image",
            "seedance-2.0-fast": "text image",
            "seedance-2.0-mini": "text image reference",
        },
        # Content items with roles: first frame, last frame, references (2.0 and Fast).
        "byteplus_ark": {
            "seedance-2.0": "text image first_last reference",
            "seedance-2.0-fast": "text image first_last reference",
            "seedance-1.5-pro": "text image first_last",
        },
        # image_url and end_image_url; its reference-to-video names no input fields.
        "fal": {
            "seedance-2.0": "text image first_last",
            "seedance-2.0-fast": "text image first_last",
            "seedance-2.0-mini": "text image first_last",
        },
        # image, last_frame_image, reference_images/videos/audios.
        "replicate": {"seedance-2.0": "text image first_last reference"},
    }


# --- evolink: one model per mode; image_urls 1 = first frame, 2 = first and last ---------


EVOLINK_BODIES = [
    (
        request(mode="image", image_urls=(FIRST,)),
        {"model": "seedance-2.0-image-to-video", "image_urls": [FIRST]},
    ),
    (
        request("seedance-2.0-fast", mode="first_last", image_urls=(FIRST, LAST)),
        {"model": "seedance-2.0-fast-image-to-video", "image_urls": [FIRST, LAST]},
    ),
    (
        request(mode="reference", image_urls=IMAGES, video_urls=(VIDEO,), audio_urls=(AUDIO,)),
        {
            "model": "seedance-2.0-reference-to-video",
            "image_urls": list(IMAGES),
            "video_urls": [VIDEO],
            "audio_urls": [AUDIO],
        },
    ),
]


def test_evolink_sends_each_mode_as_its_document_says(vendor):
    for video_request, expected in EVOLINK_BODIES:
        assert (
            sent(vendor, "evolink", video_request)
            == {
                "prompt": "A lighthouse at dusk",
                "duration": 5,
                "quality": "720p",
                "aspect_ratio": "16:9",
                "generate_audio": False,
            }
            | expected
        )


# --- seedance2.ink: one mediaUrls list, images first (first frame, then last) ------------


INK_BODIES = [
    (request(mode="image", image_urls=(FIRST,)), [FIRST]),
    (request("seedance-1.5-pro", mode="first_last", image_urls=(FIRST, LAST)), [FIRST, LAST]),
    (
        request(
            "seedance-2.0-fast",
            mode="reference",
            image_urls=IMAGES[:2],
            video_urls=(VIDEO,),
            audio_urls=(AUDIO,),
        ),
        [*IMAGES[:2], VIDEO, AUDIO],
    ),
]


def test_seedance2_ink_sends_each_mode_as_media_urls(vendor):
    for video_request, media_urls in INK_BODIES:
        assert sent(vendor, "seedance2_ink", video_request) == {
            "model": video_request.family,
            "prompt": "A lighthouse at dusk",
            "aspectRatio": "16:9",
            "duration": 5,
            "resolution": "720p",
            "mediaUrls": media_urls,
        }


# --- seedanceapi.org: `images`; Mini's reference_video_urls / reference_audio_urls -------


def test_seedanceapi_org_sends_each_mode_in_its_own_fields(vendor):
    body = sent(vendor, "seedanceapi_org", request(mode="image", image_urls=(FIRST,)))
    assert body == {
        "prompt": "A lighthouse at dusk",
        "model": "seedance-2.0",
        "duration": 5,
        "resolution": "720p",
        "images": [FIRST],
    }
    # Its `images` takes up to 4, but what a second image does is not written down.
    adapter = REGISTRY["seedanceapi_org"](KEY)
    assert adapter.check(request(mode="image", image_urls=(FIRST, LAST))) == [
        "SeedanceAPI.org accepts 1 image for image-to-video, not 2"
    ]
    # Mini's references: `images`, `reference_video_urls`, `reference_audio_urls`.
    body = sent(
        vendor,
        "seedanceapi_org",
        request(
            Family.SEEDANCE_2_MINI,
            mode="reference",
            duration=8,
            image_urls=IMAGES[:1],
            video_urls=(VIDEO,),
            audio_urls=(AUDIO,),
        ),
    )
    assert body == {
        "prompt": "A lighthouse at dusk",
        "model": "seedance-2-mini",
        "duration": 8,
        "resolution": "720p",
        "aspect_ratio": "16:9",
        "images": [IMAGES[0]],
        "reference_video_urls": [VIDEO],
        "reference_audio_urls": [AUDIO],
    }


def test_frame_modes_take_exactly_their_images_and_nothing_else():
    adapter = REGISTRY["evolink"](KEY)
    problems = adapter.check(request(mode="first_last", image_urls=(FIRST,), audio_urls=(AUDIO,)))
    assert problems == [
        "Evolink accepts 2 images for first + last frame, not 1",
        "Evolink accepts no audio clips for first + last frame, not 1",
    ]


def test_each_vendor_states_the_input_media_its_modes_take():
    """The asset library checks uploads against each adapter's own `media`: a vendor that
    sells only text-to-video takes no files, and one that sells a frame mode takes images."""
    for protocol, adapter in REGISTRY.items():
        modes = {mode for offer in adapter.offers.values() for mode in offer.modes}
        if modes == {Mode.TEXT}:
            assert adapter.media == NO_MEDIA, protocol
        else:
            assert adapter.media.image is not None and adapter.media.doc, protocol
        if Mode.REFERENCE not in modes:
            assert adapter.media.video is None and adapter.media.audio is None, protocol
