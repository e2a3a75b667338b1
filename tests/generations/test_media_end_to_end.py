"""First and last frames from the member's images to a stored clip, and a vanished
image to a failed job, through the app's lifecycle and the sandbox over real HTTP."""

import io

import av
import pytest
from PIL import ImageStat

from generations import lifecycle
from generations.models import State
from generations.sandbox.engine import wait_for_background
from generations.vendors import VideoRequest
from tests.generations.conftest import drive, make_account

pytestmark = pytest.mark.django_db(transaction=True)

RED, BLUE = (220, 30, 30), (30, 40, 220)


@pytest.fixture(autouse=True)
def no_queue(monkeypatch):
    """Workers are driven by hand here: nothing goes to the django-q2 broker."""
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("generations.tasks.enqueue_check", lambda pk: None)


def submit(funded, member, project, images, mode="first_last"):
    request = VideoRequest(
        family="seedance-2.0", prompt="Dawn to dusk", mode=mode, image_urls=images
    )
    [generation] = lifecycle.submit(team=funded, member=member, project=project, request=request)
    return generation


def mean(frame) -> tuple:
    return tuple(ImageStat.Stat(frame.to_image()).mean)


@pytest.mark.parametrize(
    "protocol", ["evolink", "seedance2_ink", "byteplus_ark", "fal", "replicate"]
)
def test_a_first_and_last_frame_clip_starts_and_ends_on_the_members_images(
    protocol, sandbox, media_host, funded, member, project
):
    make_account(protocol, sandbox)
    first = media_host.image("https://assets.example/first.png", RED)
    last = media_host.image("https://assets.example/last.png", BLUE)
    generation = drive(submit(funded, member, project, (first, last)))
    assert generation.state == State.SUCCEEDED, list(generation.events.values_list("message"))
    with generation.clip.file.open("rb") as stored:
        content = stored.read()
    with av.open(io.BytesIO(content)) as container:
        frames = list(container.decode(video=0))
    for got, want in ((mean(frames[0]), RED), (mean(frames[-1]), BLUE)):
        assert all(abs(a - b) <= 14 for a, b in zip(got, want, strict=True)), (got, want)
    wait_for_background()


def test_a_first_frame_that_is_gone_fails_the_job_with_the_vendors_reason(
    sandbox, media_host, funded, member, project
):
    make_account("evolink", sandbox)
    gone = media_host.fail("https://assets.example/expired.png?sig=abc", 404)
    generation = drive(submit(funded, member, project, (gone,), mode="image"))
    assert generation.state == State.FAILED
    messages = " ".join(generation.events.values_list("message", flat=True))
    assert "Could not download the first frame image (https://assets.example/expired.png)" in (
        messages
    )
    assert "sig=abc" not in messages
    wait_for_background()
