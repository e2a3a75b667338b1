"""What the rest of the app and the vendor adapters speak: model families, the normalized
request, a task's snapshot, and the one error type with its kind."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum


class Family(StrEnum):
    """The model families a member picks from; vendors sell them under their own names."""

    SEEDANCE_2 = "seedance-2.0"
    SEEDANCE_2_FAST = "seedance-2.0-fast"
    SEEDANCE_2_MINI = "seedance-2.0-mini"
    SEEDANCE_15_PRO = "seedance-1.5-pro"

    @property
    def label(self) -> str:
        return _FAMILY_LABELS[self]


_FAMILY_LABELS = {
    Family.SEEDANCE_2: "Seedance 2.0",
    Family.SEEDANCE_2_FAST: "Seedance 2.0 Fast",
    Family.SEEDANCE_2_MINI: "Seedance 2.0 Mini",
    Family.SEEDANCE_15_PRO: "Seedance 1.5 Pro",
}


def family_label(family: str) -> str:
    """A model family's name as people read it; an unknown one as it is stored."""
    try:
        return Family(family).label
    except ValueError:
        return family


class Mode(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    FIRST_LAST = "first_last"
    REFERENCE = "reference"

    @property
    def label(self) -> str:
        return f"{self.value}-to-video"


@dataclass(frozen=True)
class VideoRequest:
    family: str
    prompt: str
    duration: int = 5
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    audio: bool = False
    mode: str = "text"
    image_urls: tuple[str, ...] = ()
    video_urls: tuple[str, ...] = ()
    audio_urls: tuple[str, ...] = ()
    seed: int | None = None
    upscale_4k: bool = False
    metadata: dict = field(default_factory=dict)  # e.g. {"projectId": ..., "sceneId": ...}

    def __post_init__(self):
        # Callers (and JSON) hand over lists; tuples keep the request immutable.
        for name in ("image_urls", "video_urls", "audio_urls"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        object.__setattr__(self, "metadata", dict(self.metadata or {}))

    def to_dict(self) -> dict:
        return {
            "family": str(self.family),
            "prompt": self.prompt,
            "duration": self.duration,
            "aspect_ratio": self.aspect_ratio,
            "resolution": self.resolution,
            "audio": self.audio,
            "mode": str(self.mode),
            "image_urls": list(self.image_urls),
            "video_urls": list(self.video_urls),
            "audio_urls": list(self.audio_urls),
            "seed": self.seed,
            "upscale_4k": self.upscale_4k,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: dict) -> VideoRequest:
        # Unknown keys are ignored so requests stored by an older or newer release load.
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in d.items() if key in known})


class TaskState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def finished(self) -> bool:
        return self not in (TaskState.QUEUED, TaskState.RUNNING)


@dataclass
class TaskSnapshot:
    task_id: str
    state: TaskState
    progress: int | None = None
    output_urls: list[str] = field(default_factory=list)
    charge_credits: Decimal | None = None
    error_code: str | None = None
    error_message: str | None = None
    raw: dict = field(default_factory=dict)
    # What the vendor said that was not believed, in words (see VendorAdapter.bounded).
    ignored: list[str] = field(default_factory=list)


@dataclass
class Created:
    task_id: str
    charge_credits: Decimal | None
    raw: dict
    ignored: list[str] = field(default_factory=list)


@dataclass
class CallbackHint:
    """Who a callback is about. Vendors don't sign callbacks: re-read the task to believe it."""

    task_id: str
    state: TaskState | None


class ErrorKind(StrEnum):
    BAD_REQUEST = "bad_request"  # fix the input
    AUTH = "auth"  # fix the key
    NO_CREDIT = "no_credit"  # top up at the vendor
    RATE_LIMITED = "rate_limited"  # retry later
    FAULT = "fault"  # vendor or network trouble: retry, or fail over
    UNKNOWN_OUTCOME = "unknown_outcome"  # a create may have gone through: never resend
    NOT_FOUND = "not_found"


class VendorError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        vendor_code: str | None = None,
        status_code: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.vendor_code = vendor_code
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def retryable_elsewhere(self) -> bool:
        """True when a create surely was not accepted, so another vendor may take it."""
        return self.kind in (ErrorKind.RATE_LIMITED, ErrorKind.FAULT)

    def __reduce__(self):
        # Keyword-only arguments defeat Exception's default pickling (task queues pickle).
        return (type(self), (self.kind, self.message), self.__dict__)

    def __repr__(self) -> str:
        return f"VendorError({self.kind!s}, {self.message!r})"


@dataclass(frozen=True)
class Offer:
    """What one vendor accepts for one family, as its document states it."""

    model: str
    durations: tuple[int, ...]
    aspect_ratios: tuple[str, ...]
    resolutions: tuple[str, ...]
    modes: tuple[Mode, ...] = (Mode.TEXT,)


SECONDS_4_TO_15 = tuple(range(4, 16))
