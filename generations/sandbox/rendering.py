"""Real, small MP4 clips for sandbox tasks, made with PyAV and Pillow.

A clip has the requested duration and aspect ratio, a scrolling colour pattern with a
moving box and a clock, the prompt written across it, and an AAC tone when audio was
asked for. A task's images show as a vendor's would: its first frame IS the first-frame
image and its last frame the last-frame image (each cropped to fill the frame), the
frames between fade from one to the other, and reference images, tiled, fade in and
out across the middle of the clip. Its pixel size is the vendor's documented size times SANDBOX_RENDER_SCALE, at
SANDBOX_RENDER_FPS, so a 15 s clip renders in a fraction of a second.
"""

import math
import os
import struct
import textwrap
from fractions import Fraction
from pathlib import Path

import av
from django.conf import settings
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

# Documented output sizes. 480p and 720p are evolink's table (003); 1080p is the
# upstream Seedance table; "4k" is kinovi's upscale, three times the 720p size.
PIXELS = {
    "480p": {
        "16:9": (864, 496),
        "4:3": (752, 560),
        "1:1": (640, 640),
        "3:4": (560, 752),
        "9:16": (496, 864),
        "21:9": (992, 432),
    },
    "720p": {
        "16:9": (1280, 720),
        "4:3": (1112, 834),
        "1:1": (960, 960),
        "3:4": (834, 1112),
        "9:16": (720, 1280),
        "21:9": (1470, 630),
    },
    "1080p": {
        "16:9": (1920, 1080),
        "4:3": (1664, 1248),
        "1:1": (1440, 1440),
        "3:4": (1248, 1664),
        "9:16": (1080, 1920),
        "21:9": (2176, 928),
    },
}
PIXELS["4k"] = {ratio: (w * 3, h * 3) for ratio, (w, h) in PIXELS["720p"].items()}

SAMPLE_RATE = 22050
AUDIO_FRAME = 1024
# A tone that repeats exactly every AUDIO_FRAME samples (~431 Hz), so one frame's
# samples serve for the whole clip.
TONE_CYCLES_PER_FRAME = 20


def nominal_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """The vendor's pixel size; "adaptive" means 16:9 for text-to-video."""
    table = PIXELS.get(resolution, PIXELS["720p"])
    return table.get(aspect_ratio, table["16:9"])


def scaled_size(resolution: str, aspect_ratio: str, scale: float) -> tuple[int, int]:
    """The rendered size: even numbers (yuv420p needs them), at least 16 px."""
    width, height = nominal_size(resolution, aspect_ratio)
    return tuple(max(16, round(side * scale / 2) * 2) for side in (width, height))


def rendered_size(resolution: str, aspect_ratio: str) -> tuple[int, int]:
    """The size a clip is rendered at under the current SANDBOX_RENDER_SCALE."""
    scale = float(settings.SANDBOX_RENDER_SCALE)
    return scaled_size(resolution, aspect_ratio, scale)


def video_codec() -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def render_clip(
    path: Path,
    *,
    width: int,
    height: int,
    duration: float,
    fps: int,
    text: str,
    audio: bool,
    first_frame: str | None = None,
    last_frame: str | None = None,
    references: list[str] | tuple[str, ...] = (),
) -> Path:
    """Write the clip to a temporary name, then move it into place in one step, so a
    reader never sees half a file and two processes rendering the same task agree."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.part.mp4")
    frames = max(1, round(duration * fps))
    try:
        with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            video = out.add_stream(video_codec(), rate=fps)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            if video.codec_context.name == "libx264":
                video.options = {"preset": "ultrafast"}
            sound = None
            if audio:
                sound = out.add_stream("aac", rate=SAMPLE_RATE)
                sound.layout = "mono"
            rainbow, caption = _layers(width, height, text)
            stills = Stills.load((width, height), first_frame, last_frame, references)
            for index in range(frames):
                picture = stills.over(_frame(rainbow, caption, index, fps), index, frames)
                for packet in video.encode(av.VideoFrame.from_image(picture)):
                    out.mux(packet)
            for packet in video.encode():
                out.mux(packet)
            if sound is not None:
                _write_tone(out, sound, round(frames / fps * SAMPLE_RATE))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def render_job(job: dict) -> Path:
    """render_clip(**job), by a name another process can import (it needs no Django)."""
    return render_clip(**job)


def _layers(width: int, height: int, text: str) -> tuple[Image.Image, Image.Image]:
    """A horizontal rainbow that scrolls, and the prompt on a transparent layer that
    stays put; both drawn once per clip."""
    strip = Image.new("RGB", (width, 1))
    for x in range(width):
        hue = x / width * 2 * math.pi
        strip.putpixel(
            (x, 0),
            tuple(int(110 + 90 * math.sin(hue + shift)) for shift in (0, 2.1, 4.2)),
        )
    rainbow = strip.resize((width, height))
    caption = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(caption)
    size = max(8, height // 12)
    font = _font(size)
    columns = max(8, int(width / (size * 0.55)))
    lines = textwrap.wrap(text or "(no prompt)", columns)[: max(1, height // (size + 4) - 3)]
    top = size + 10
    for line in lines:
        draw.text(
            (6, top),
            line,
            fill=(255, 255, 255, 255),
            font=font,
            stroke_width=1,
            stroke_fill=(0, 0, 0, 255),
        )
        top += size + 4
    return rainbow, caption


def _frame(rainbow: Image.Image, caption: Image.Image, index: int, fps: int) -> Image.Image:
    width, height = rainbow.size
    picture = ImageChops.offset(rainbow, (index * max(1, width // 60)) % width, 0)
    picture.paste(caption, (0, 0), caption)
    draw = ImageDraw.Draw(picture)
    box = max(6, height // 6)
    x = int((width - box) * (0.5 + 0.5 * math.sin(index / fps * 2)))
    y = height - box - 4
    draw.rectangle([x, y, x + box, y + box], fill=(250, 250, 250), outline=(0, 0, 0))
    draw.text(
        (6, 4),
        f"{index / fps:5.1f}s",
        fill=(255, 255, 0),
        font=_font(max(8, height // 12)),
        stroke_width=1,
        stroke_fill=(0, 0, 0),
    )
    return picture


class Stills:
    """A task's images fitted to the clip's frame, and where each shows."""

    def __init__(self, first=None, last=None, mosaic=None):
        self.first, self.last, self.mosaic = first, last, mosaic

    @classmethod
    def load(cls, size, first_frame, last_frame, references) -> "Stills":
        cell = _cell(size, len(references)) if references else size
        tiles = [tile for tile in (_fitted(path, cell) for path in references) if tile]
        return cls(
            first=_fitted(first_frame, size),
            last=_fitted(last_frame, size),
            mosaic=_tiled(size, tiles) if tiles else None,
        )

    def over(self, picture: Image.Image, index: int, frames: int) -> Image.Image:
        """Frame `index` of `frames`: the drawn pattern `picture` with the images on it."""
        if index == 0 and self.first is not None:
            return self.first
        if index == frames - 1 and self.last is not None:
            return self.last
        along = index / (frames - 1) if frames > 1 else 0.0
        if self.first is not None and self.last is not None:
            picture = Image.blend(Image.blend(self.first, self.last, along), picture, 0.3)
        elif self.first is not None:
            picture = Image.blend(self.first, picture, 0.3 + 0.5 * along)
        elif self.last is not None:
            picture = Image.blend(picture, self.last, 0.7 * along)
        if self.mosaic is not None:
            picture = Image.blend(picture, self.mosaic, 0.8 * math.sin(math.pi * along))
        return picture


def _fitted(path: str | None, size: tuple[int, int]) -> Image.Image | None:
    """The image at `path` cropped to fill `size`; None without one, or when its file
    is gone (a clip without it beats a task that never finishes)."""
    if not path:
        return None
    try:
        with Image.open(path) as image:
            return ImageOps.fit(image.convert("RGB"), size)
    except OSError:
        return None


def _cell(size: tuple[int, int], count: int) -> tuple[int, int]:
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    return max(1, size[0] // columns), max(1, size[1] // rows)


def _tiled(size: tuple[int, int], images: list[Image.Image]) -> Image.Image:
    mosaic = Image.new("RGB", size)
    cell_width, cell_height = images[0].size
    columns = max(1, size[0] // cell_width)
    for number, image in enumerate(images):
        row, column = divmod(number, columns)
        mosaic.paste(image, (column * cell_width, row * cell_height))
    return mosaic


def _write_tone(out, stream, total_samples: int) -> None:
    period = [
        0.2 * math.sin(2 * math.pi * TONE_CYCLES_PER_FRAME * i / AUDIO_FRAME)
        for i in range(AUDIO_FRAME)
    ]
    written = 0
    while written < total_samples:
        count = min(AUDIO_FRAME, total_samples - written)
        frame = av.AudioFrame(format="fltp", layout="mono", samples=count)
        data = struct.pack(f"{count}f", *period[:count])
        plane = frame.planes[0]
        plane.update(data + bytes(plane.buffer_size - len(data)))
        frame.sample_rate = SAMPLE_RATE
        frame.pts = written
        frame.time_base = Fraction(1, SAMPLE_RATE)
        for packet in stream.encode(frame):
            out.mux(packet)
        written += count
    for packet in stream.encode():
        out.mux(packet)


_fonts: dict[int, ImageFont.ImageFont] = {}


def _font(size: int):
    if size not in _fonts:
        try:
            _fonts[size] = ImageFont.load_default(size=size)
        except (TypeError, OSError):  # Pillow without FreeType
            _fonts[size] = ImageFont.load_default()
    return _fonts[size]
