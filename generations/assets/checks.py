"""An uploaded file checked by its content: what it is (its signature, never its name or
the browser's label), that it decodes, and which enabled vendors could use it.

`inspect(path)` returns the Facts of a file on local disk or raises Rejected with the
rule it broke, in words a member understands.
"""

import warnings
from dataclasses import dataclass, field

import av
from django.conf import settings
from PIL import Image

from generations.assets.limits import size_text, vendor_media


class Rejected(Exception):
    """The file is refused; the message names the rule (and the vendors, where it is theirs)."""


CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
}
EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "mp4": "mp4", "mov": "mov"}
KIND_OF = {
    "jpeg": "image",
    "png": "image",
    "webp": "image",
    "mp4": "video",
    "mov": "video",
    "mp3": "audio",
    "wav": "audio",
}
PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
# MP3 frames start with 11 set bits; the second byte's next bits say MPEG-1/2/2.5 layer III.
MP3_SYNC = {b"\xff\xfb", b"\xff\xfa", b"\xff\xf3", b"\xff\xf2", b"\xff\xe3", b"\xff\xe2"}


@dataclass
class Facts:
    format: str
    bytes: int
    width: int = 0
    height: int = 0
    duration: float | None = None
    fps: float = 0.0
    unusable_by: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return KIND_OF[self.format]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.format, self.format)


def sniff(head: bytes) -> str:
    """The format named by a file's first bytes, or Rejected."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        # QuickTime names its brand "qt  "; every other ISO brand is MP4 to us.
        return "mov" if head[8:12] == b"qt  " else "mp4"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):
        return "mov"  # old QuickTime files have no ftyp box
    if head.startswith(b"ID3") or head[:2] in MP3_SYNC:
        return "mp3"
    raise Rejected(
        "This file is not a JPEG, PNG or WebP image, an MP4 or MOV video, or MP3 or WAV "
        f"audio: its content says it is {_described(head)}, whatever its name."
    )


def _described(head: bytes) -> str:
    text = head[:64].lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html", b"<")):
        return "HTML or XML text"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive"
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"GIF8"):
        return "a GIF image (not taken by the vendors)"
    return "something else"


def inspect(path, size: int, enabled_protocols) -> Facts:
    """Facts of the file at `path` (`size` bytes), usable by at least one protocol."""
    if size > settings.ASSET_MAX_UPLOAD_BYTES:
        raise Rejected(f"Files may be at most {size_text(settings.ASSET_MAX_UPLOAD_BYTES)}.")
    with open(path, "rb") as handle:
        fmt = sniff(handle.read(32))
    facts = Facts(format=fmt, bytes=size)
    if facts.kind == "image":
        _read_image(path, facts)
    else:
        _read_media(path, facts)
    facts.unusable_by = _judged(facts, enabled_protocols)
    return facts


def _read_image(path, facts: Facts) -> None:
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make it a refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                if image.format != PILLOW_FORMATS[facts.format]:
                    raise Rejected(f"This file starts like {facts.format.upper()} but is not one.")
                facts.width, facts.height = image.size
                _refuse_bombs(facts)
                image.verify()
            with Image.open(path) as image:
                image.load()
        except Rejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise Rejected(
                "This image declares far more pixels than any vendor takes "
                f"({settings.ASSET_MAX_IMAGE_PIXELS:,} at most); it is not decoded "
                "(a decompression bomb, or far too large)."
            ) from None
        except Exception as exc:
            raise Rejected(
                f"This {facts.format.upper()} image is damaged and cannot be decoded "
                f"({exc.__class__.__name__})."
            ) from None


def _refuse_bombs(facts: Facts) -> None:
    # Checked from the header before a single pixel is decoded: a few kilobytes of PNG
    # can declare gigabytes of pixels.
    pixels = facts.width * facts.height
    if pixels > settings.ASSET_MAX_IMAGE_PIXELS:
        each = "" if facts.kind == "image" else " a frame"
        raise Rejected(
            f"This {facts.kind} declares {facts.width}×{facts.height} pixels{each}, more than "
            f"any vendor takes ({settings.ASSET_MAX_IMAGE_PIXELS:,} at most); it is not decoded "
            "(a decompression bomb, or far too large)."
        )


def _read_media(path, facts: Facts) -> None:
    wanted = facts.kind
    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == wanted]
            if not streams:
                raise Rejected(f"This {facts.format.upper()} file has no {wanted} stream.")
            stream = streams[0]
            if container.duration is not None:
                facts.duration = round(container.duration / av.time_base, 3)
            elif stream.duration is not None and stream.time_base:
                facts.duration = round(float(stream.duration * stream.time_base), 3)
            if wanted == "video":
                facts.width = stream.codec_context.width
                facts.height = stream.codec_context.height
                rate = stream.average_rate or stream.guessed_rate
                facts.fps = round(float(rate), 3) if rate else 0.0
                # A few kilobytes of H.264 can declare frames of a gigabyte each: the
                # header is judged before a frame is decoded, as an image's is.
                _refuse_bombs(facts)
            # Decoding one frame proves the stream is more than a plausible header.
            next(container.decode(stream), None) or _no_frames(facts)
    except Rejected:
        raise
    except (av.FFmpegError, StopIteration, ValueError) as exc:
        raise Rejected(
            f"This {facts.format.upper()} file cannot be decoded ({exc.__class__.__name__})."
        ) from None
    if facts.duration is None:
        raise Rejected(f"This {facts.format.upper()} file does not say how long it is.")


def _no_frames(facts):
    raise Rejected(f"This {facts.format.upper()} file has no {facts.kind} to decode.")


def _judged(facts: Facts, enabled_protocols) -> dict[str, str]:
    """Why each enabled vendor could not use the asset; Rejected when none could."""
    reasons = {}
    for protocol in sorted(set(enabled_protocols)):
        limits = vendor_media(protocol).limits(facts.kind)
        if limits is None:
            reasons[protocol] = f"takes no {facts.kind} inputs"
            continue
        problems = limits.problems(facts)
        if problems:
            reasons[protocol] = "; ".join(problems)
    usable = set(enabled_protocols) - set(reasons)
    if not enabled_protocols:
        raise Rejected("No vendor is enabled, so no vendor could use this file.")
    if not usable:
        raise Rejected(f"No enabled vendor could use this {facts.kind}: " + why_not(reasons))
    return reasons


def why_not(reasons: dict[str, str]) -> str:
    """ "evolink, kinovi: takes …" — vendors with the same reason named together."""
    grouped: dict[str, list[str]] = {}
    for protocol, reason in sorted(reasons.items()):
        grouped.setdefault(reason, []).append(protocol)
    return "; ".join(f"{', '.join(names)} {reason}" for reason, names in grouped.items()) + "."
