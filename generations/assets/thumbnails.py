"""A small picture of each asset for the pages: the image itself scaled down, a poster
frame of a video, the waveform of an audio clip. Frames of clips become images here too."""

import io
from array import array

import av
from PIL import Image, ImageDraw

from generations.media.video import NotAVideo, poster_jpeg

THUMB_SIZE = (320, 320)
WAVE_SIZE = (320, 96)
WAVE_COLUMNS = 160
# The waveform reads at most this much audio: enough to show its shape, cheap to decode.
WAVE_SECONDS = 30.0


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=82)
    return buffer.getvalue()


def image_thumbnail(path) -> bytes:
    with Image.open(path) as image:
        image.thumbnail(THUMB_SIZE)
        return _jpeg(image)


def video_thumbnail(path) -> bytes:
    return poster_jpeg(path, at_seconds=0.0)


def audio_thumbnail(path) -> bytes:
    """The clip's loudness over time as bars; a flat line for silence."""
    peaks = _peaks(path)
    width, height = WAVE_SIZE
    image = Image.new("RGB", WAVE_SIZE, (32, 34, 40))
    draw = ImageDraw.Draw(image)
    loudest = max(peaks) or 1.0
    step = width / max(len(peaks), 1)
    for index, peak in enumerate(peaks):
        half = max(1, round(peak / loudest * (height / 2 - 4)))
        x = round(index * step)
        draw.rectangle(
            [x, height // 2 - half, x + max(1, round(step) - 1), height // 2 + half],
            fill=(120, 170, 255),
        )
    return _jpeg(image)


def _peaks(path) -> list[float]:
    samples = []
    # Mono 16-bit whatever the source, read as plain integers (no numpy here).
    resampler = av.AudioResampler(format="s16", layout="mono", rate=8000)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time > WAVE_SECONDS:
                break
            for mono in resampler.resample(frame):
                values = array("h", bytes(mono.planes[0])[: mono.samples * 2])
                samples.append(float(max(map(abs, values), default=0)))
    if not samples:
        return [0.0] * WAVE_COLUMNS
    per = max(1, len(samples) // WAVE_COLUMNS)
    return [max(samples[i : i + per]) for i in range(0, len(samples), per)][:WAVE_COLUMNS]


THUMBNAILERS = {"image": image_thumbnail, "video": video_thumbnail, "audio": audio_thumbnail}


def thumbnail(kind: str, path) -> bytes | None:
    """The thumbnail JPEG of a checked asset; None when it cannot be drawn (the page
    shows the kind's icon instead)."""
    try:
        return THUMBNAILERS[kind](path)
    except (NotAVideo, av.FFmpegError, OSError, ValueError):
        return None


def frame_png(path, at_seconds: float | None, min_side: int = 0) -> bytes:
    """One frame of a video as a PNG: the frame at `at_seconds`, or the last one (None),
    enlarged in proportion when its short side is under `min_side`.

    Raises NotAVideo when the video has no frames."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            chosen = None
            for frame in container.decode(stream):
                if at_seconds is not None and chosen is not None and (frame.time or 0) > at_seconds:
                    break
                chosen = frame
            if chosen is None:
                raise NotAVideo("The video has no frames.")
            image = chosen.to_image()
    except av.FFmpegError as exc:
        raise NotAVideo(f"No frame could be read ({exc.__class__.__name__}).") from None
    short = min(image.size)
    if short and short < min_side:
        scale = min_side / short
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS
        )
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()
