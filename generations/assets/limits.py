"""What each vendor's public document says it takes as input media, for checking uploads.

An asset is kept when at least one enabled vendor could use it; for every other vendor
the asset records why not, in words. The vendors resell ByteDance's Seedance 2.0, whose
own limits (BytePlus ModelArk, https://docs.byteplus.com/en/docs/ModelArk, video
generation API) bind whatever a reseller forwards: where a reseller's document takes a
kind of media but states no limits, those upstream limits are used (decision).
"""

from dataclasses import dataclass

MB = 2**20


def size_text(count: int) -> str:
    return f"{count / MB:g} MB" if count >= MB else f"{count:,} bytes"


@dataclass(frozen=True)
class MediaLimits:
    """The rules one vendor states for one kind of media; 0 means "not stated"."""

    formats: tuple[str, ...]
    max_bytes: int
    min_side: int = 0
    max_side: int = 0
    min_aspect: float = 0.0
    max_aspect: float = 0.0
    min_pixels: int = 0
    max_pixels: int = 0
    min_seconds: float = 0.0
    max_seconds: float = 0.0
    min_fps: float = 0.0
    max_fps: float = 0.0

    def problems(self, facts) -> list[str]:
        """Why an asset with these `facts` (an assets.checks.Facts) breaks these rules."""
        found = []
        if facts.format not in self.formats:
            found.append(f"takes {' or '.join(f.upper() for f in self.formats)} only")
        if self.max_bytes and facts.bytes > self.max_bytes:
            found.append(
                f"takes files up to {self.max_bytes // MB} MB (this one is "
                f"{facts.bytes / MB:.1f} MB)"
            )
        if facts.width and facts.height:
            found += self._shape_problems(facts.width, facts.height)
        if facts.duration is not None:
            found += _range(
                "lasting", facts.duration, self.min_seconds, self.max_seconds, "s", ".1f"
            )
        if facts.fps:
            found += _range("at", facts.fps, self.min_fps, self.max_fps, "fps", ".0f")
        return found

    def _shape_problems(self, width, height) -> list[str]:
        found = []
        short, long = sorted((width, height))
        if (self.min_side and short < self.min_side) or (self.max_side and long > self.max_side):
            found.append(
                f"takes sides of {self.min_side}–{self.max_side} px (this one is {width}×{height})"
            )
        aspect = width / height
        if (self.min_aspect and aspect < self.min_aspect) or (
            self.max_aspect and aspect > self.max_aspect
        ):
            found.append(
                f"takes width/height ratios of {self.min_aspect}–{self.max_aspect} "
                f"(this one is {aspect:.3g})"
            )
        found += _range("of", width * height, self.min_pixels, self.max_pixels, "pixels", ",")
        return found


def _range(word, value, low, high, unit, spec) -> list[str]:
    if (low and value < low) or (high and value > high):
        bound = "," if spec == "," else "g"
        return [
            f"takes media {word} {low:{bound}}–{high:{bound}} {unit} (this one: {value:{spec}})"
        ]
    return []


# Evolink's document (https://docs.evolink.ai, "Seedance 2.0" video generation) states
# these, which are also ByteDance's own for Seedance 2.0.
UPSTREAM_IMAGE = MediaLimits(
    formats=("jpeg", "png", "webp"),
    max_bytes=30 * MB,
    min_side=300,
    max_side=6000,
    min_aspect=0.4,
    max_aspect=2.5,
)
UPSTREAM_VIDEO = MediaLimits(
    formats=("mp4", "mov"),
    max_bytes=50 * MB,
    min_side=300,
    max_side=6000,
    min_aspect=0.4,
    max_aspect=2.5,
    min_pixels=409_600,
    max_pixels=927_408,
    min_seconds=2,
    max_seconds=15,
    min_fps=24,
    max_fps=60,
)
UPSTREAM_AUDIO = MediaLimits(
    formats=("mp3", "wav"), max_bytes=15 * MB, min_seconds=2, max_seconds=15
)


@dataclass(frozen=True)
class VendorMedia:
    doc: str
    image: MediaLimits | None = None
    video: MediaLimits | None = None
    audio: MediaLimits | None = None

    def limits(self, kind: str) -> MediaLimits | None:
        return getattr(self, kind)


VENDOR_MEDIA = {
    # "mode: reference — enables Omni Reference mode with multi-material support
    # (images, videos, audio)"; no limits stated.
    "kinovi": VendorMedia(
        "https://kinovi.ai (API docs, Seedance 2.0)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    ),
    # mediaUrls: "images, videos or audio", at most 5 items (its Image to Video page);
    # its adapter and sandbox take all three, so the library does too. No limits stated.
    "seedance2_ink": VendorMedia(
        "https://www.seedance2.ink (Documentation, Image to Video)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    ),
    # images (1–4), reference_video_urls and reference_audio_urls (Mini).
    "seedanceapi_org": VendorMedia(
        "https://seedanceapi.org (Seedance 2.0 API Documentation, /v2/generate)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    ),
    "evolink": VendorMedia(
        "https://docs.evolink.ai (Seedance 2.0: image_urls, video_urls, audio_urls)",
        UPSTREAM_IMAGE,
        UPSTREAM_VIDEO,
        UPSTREAM_AUDIO,
    ),
    # seedance-2.0-text-to-video only: no input media at all.
    "aigptimage": VendorMedia("https://aigptimage.com (Seedance 2.0 Text to Video API)"),
}

# Evolink: at most 9 images, 3 videos and 3 audio clips; videos and audio clips at most
# 15 s in all; "Audio cannot be provided alone".
MAX_REFERENCE_IMAGES = 9
MAX_REFERENCE_VIDEOS = 3
MAX_REFERENCE_AUDIO = 3
MAX_REFERENCE_SECONDS = 15.0


def vendor_media(protocol: str) -> VendorMedia:
    # A protocol added later without a row takes no input media until someone reads its doc.
    return VENDOR_MEDIA.get(protocol, VendorMedia(doc=""))
