"""Factories for the studio's objects, and tiny real MP4s to stand in for clips.

Clip files go to the storage under MEDIA_ROOT: point it at a temporary directory with
the `settings` fixture (`settings.MEDIA_ROOT = tmp_path`) before making clips.
"""

import functools
import hashlib
import io
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import av
import factory
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image, ImageDraw

from generations import clip_counts
from generations.models import Clip, Generation, Project, Scene, State, VendorAccount
from generations.vendors import DEFAULT_CREDIT_VALUE, VideoRequest, default_price_rules
from tests.factories import TeamFactory

SAMPLE_SIZE = (64, 36)
SAMPLE_SECONDS = 1.0


def render_mp4(path, *, seconds=1.0, size=SAMPLE_SIZE, fps=24, audio=False, colour=(40, 90, 200)):
    """Write a short H.264 MP4 (with an AAC tone when `audio`) and return its path."""
    path = Path(path)
    width, height = size
    frames = max(1, round(seconds * fps))
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = None
        if audio:
            sound = out.add_stream("aac", rate=22050)
            sound.layout = "mono"
        for index in range(frames):
            picture = Image.new("RGB", size, colour)
            ImageDraw.Draw(picture).rectangle(
                [index % width, 0, index % width + 4, height], fill=(255, 255, 255)
            )
            for packet in video.encode(av.VideoFrame.from_image(picture)):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None:
            total, written = round(frames / fps * 22050), 0
            while written < total:
                count = min(1024, total - written)
                frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                frame.sample_rate, frame.pts = 22050, written
                frame.time_base = Fraction(1, 22050)
                for packet in sound.encode(frame):
                    out.mux(packet)
                written += count
            for packet in sound.encode():
                out.mux(packet)
    return path


@functools.cache
def sample_mp4() -> bytes:
    """One tiny real clip per test session, shared by every ClipFactory clip."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return render_mp4(Path(folder) / "sample.mp4", seconds=SAMPLE_SECONDS).read_bytes()


@functools.cache
def sample_poster() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", SAMPLE_SIZE, (40, 90, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def stored(name: str, content: bytes) -> str:
    """`content` saved under `name` in the media storage once; its stored name."""
    if not default_storage.exists(name):
        return default_storage.save(name, ContentFile(content))
    return name


class VendorAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorAccount

    protocol = "kinovi"
    label = factory.Sequence(lambda n: f"Vendor account {n}")
    base_url = "http://sandbox.invalid"
    credit_value = factory.LazyAttribute(lambda o: DEFAULT_CREDIT_VALUE[o.protocol])
    price_rules = factory.LazyAttribute(lambda o: default_price_rules(o.protocol))

    @classmethod
    def _create(cls, model_class, *args, api_key="sk-sandbox-test", **kwargs):
        account = model_class(*args, **kwargs)
        account.set_api_key(api_key)
        account.save()
        return account


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class SceneFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scene

    project = factory.SubFactory(ProjectFactory)
    number = factory.LazyAttribute(lambda o: o.project.next_scene_number())
    title = factory.Sequence(lambda n: f"Scene title {n}")


class GenerationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Generation
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    team = factory.SelfAttribute("project.team")
    family = "seedance-2.0"
    prompt = factory.Sequence(lambda n: f"A paper boat drifts down a rainy street, take {n}")
    request = factory.LazyAttribute(
        lambda o: VideoRequest(
            family=o.family,
            prompt=o.prompt,
            duration=5,
            aspect_ratio="16:9",
            resolution="720p",
            metadata={"projectId": str(o.project.uuid)},
        ).to_dict()
    )
    quote_micros = 200_000
    quote_credits = Decimal("40")
    state = State.QUEUED
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))

    class Params:
        running = factory.Trait(
            state=State.RUNNING,
            vendor_account=factory.SubFactory(VendorAccountFactory),
            vendor_task_id=factory.Sequence(lambda n: f"task-{n}"),
            progress=40,
            submitted_at=factory.LazyFunction(timezone.now),
        )
        succeeded = factory.Trait(
            state=State.SUCCEEDED,
            vendor_account=factory.SubFactory(VendorAccountFactory),
            vendor_task_id=factory.Sequence(lambda n: f"task-{n}"),
            progress=100,
            charge_micros=200_000,
            charge_credits=Decimal("40"),
            finished_at=factory.LazyFunction(timezone.now),
            clip=factory.RelatedFactory("tests.generations.factories.ClipFactory", "generation"),
        )
        failed = factory.Trait(
            state=State.FAILED,
            error_message="The vendor refused the prompt.",
            finished_at=factory.LazyFunction(timezone.now),
        )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        generation = super()._create(model_class, *args, **kwargs)
        if generation.state == State.SUCCEEDED:
            # As the lifecycle leaves it: a finished clip is counted in its project and scene.
            clip_counts.count_clip(generation)
        return generation


class ClipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clip

    generation = factory.SubFactory(GenerationFactory, state=State.SUCCEEDED)
    file = factory.LazyFunction(lambda: stored("clips/test-sample.mp4", sample_mp4()))
    poster = factory.LazyFunction(lambda: stored("posters/test-sample.jpg", sample_poster()))
    duration = SAMPLE_SECONDS
    width, height = SAMPLE_SIZE
    fps = 24.0
    codec = "h264"
    has_audio = False
    bytes = factory.LazyFunction(lambda: len(sample_mp4()))
    sha256 = factory.LazyFunction(lambda: hashlib.sha256(sample_mp4()).hexdigest())


def finished_clip(project, prompt, minutes_ago=0, **fields) -> Generation:
    """A finished clip of `project` saying `prompt`, made `minutes_ago` minutes ago."""
    generation = GenerationFactory(project=project, succeeded=True, prompt=prompt, **fields)
    generation.created = timezone.now() - timedelta(minutes=minutes_ago)
    generation.save(update_fields=["created"])
    return generation
