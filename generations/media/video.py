"""What a stored clip is (probed with PyAV), what it looks like (a poster JPEG), and the
local scratch space where clips are downloaded and storyboards joined."""

import io
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
from django.conf import settings
from PIL import Image

log = logging.getLogger(__name__)

POSTER_WIDTH = 640
# Everything this app puts in the scratch directory starts so: nothing else is touched.
SCRATCH_PREFIX = "seedance-"


def scratch_dir() -> str:
    return str(settings.CLIP_TEMP_DIR or tempfile.gettempdir())


def remove_abandoned_scratch(older_than_seconds: float) -> int:
    """Delete scratch files and folders untouched for that long; returns how many.

    A worker killed mid-download or mid-export never reaches its own clean-up. The
    caller picks an age no live task reaches, so nothing in use is removed.
    """
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in Path(scratch_dir()).glob(SCRATCH_PREFIX + "*"):
        try:
            if path.lstat().st_mtime >= cutoff:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue  # another worker got there first
        removed += 1
    if removed:
        log.info("Removed %d abandoned scratch file(s) from %s", removed, scratch_dir())
    return removed


class NotAVideo(Exception):
    pass


@dataclass
class Probe:
    duration: float
    width: int
    height: int
    fps: float
    codec: str
    has_audio: bool


def probe(path) -> Probe:
    try:
        with av.open(str(path)) as container:
            video = next((s for s in container.streams if s.type == "video"), None)
            if video is None:
                raise NotAVideo("The file has no video stream.")
            if container.duration is not None:
                duration = container.duration / av.time_base
            elif video.duration is not None and video.time_base:
                duration = float(video.duration * video.time_base)
            else:
                duration = 0.0
            rate = video.average_rate or video.guessed_rate
            return Probe(
                duration=round(duration, 3),
                width=video.codec_context.width,
                height=video.codec_context.height,
                fps=round(float(rate), 3) if rate else 0.0,
                codec=video.codec_context.name,
                has_audio=any(s.type == "audio" for s in container.streams),
            )
    except av.FFmpegError as exc:
        raise NotAVideo(
            f"The file could not be read as a video ({exc.__class__.__name__})."
        ) from None


def poster_jpeg(path, at_seconds: float = 1.0) -> bytes:
    """A JPEG of the frame near `at_seconds` (or the first frame of a shorter clip)."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            chosen = None
            for frame in container.decode(stream):
                chosen = frame
                if frame.time is not None and frame.time >= at_seconds:
                    break
            if chosen is None:
                raise NotAVideo("The video has no frames.")
            image = chosen.to_image()
    except av.FFmpegError as exc:
        raise NotAVideo(f"No poster could be made ({exc.__class__.__name__}).") from None
    if image.width > POSTER_WIDTH:
        # A 2600×2 clip is a clip too: never scale a side down to nothing.
        height = max(1, round(image.height * POSTER_WIDTH / image.width))
        image = image.resize((POSTER_WIDTH, height), Image.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=82, optimize=True)
    return buffer.getvalue()


@cache
def placeholder_poster() -> bytes:
    """A plain dark frame for a clip whose own frame could not be turned into a poster."""
    buffer = io.BytesIO()
    Image.new("RGB", (POSTER_WIDTH, POSTER_WIDTH * 9 // 16), (32, 34, 40)).save(
        buffer, "JPEG", quality=82
    )
    return buffer.getvalue()
