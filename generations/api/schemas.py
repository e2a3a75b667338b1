"""What the API reads and writes. Amounts are integers in micro-dollars ($1 = 1,000,000),
each with the same amount written as the pages write it."""

from datetime import datetime
from uuid import UUID

from ninja import Field, Schema
from pydantic import field_validator


class Error(Schema):
    code: str
    message: str
    field: str | None
    errors: list[dict]


class In(Schema):
    """A request body. PostgreSQL cannot store a NUL character in text (or in JSON), so
    one in any field is the client's error, not a 500 at the first save."""

    @field_validator("*", mode="after")
    @classmethod
    def no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class GenerationIn(In):
    prompt: str = Field(..., max_length=20_000)
    model: str = Field("seedance-2.0", description="A model family id, as GET /models lists.")
    duration: int = Field(5, ge=1, le=60, description="Seconds.")
    aspect_ratio: str = Field("16:9", max_length=20)
    resolution: str = Field("720p", max_length=20)
    audio: bool = False
    project: UUID | None = Field(None, description="A project's id; or name a new_project.")
    new_project: str = Field("", max_length=120)
    scene: UUID | None = None
    new_scene: str = Field("", max_length=120, description="Starts a new scene in the project.")
    vendor: UUID | None = Field(None, description="Pin one vendor account (GET /models).")
    variants: int = Field(1, ge=1, le=4)
    # Media inputs (first frame, references) join here once the asset library has them.


class Money(Schema):
    micros: int
    text: str


class QuoteOut(Schema):
    ok: bool
    reasons: list[str]
    vendor: str | None
    each: Money
    expected_total: Money
    hold_total: Money
    available: Money
    available_after: Money
    alternatives: list[str]
    problems: list[str]


class VendorOptions(Schema):
    id: UUID | None
    name: str
    durations: list[int]
    aspect_ratios: list[str]
    resolutions: list[str]
    audio: bool
    prompt_limit: int | None
    reasons: dict[str, str]


class ModelOut(Schema):
    id: str
    name: str
    available: bool
    any_vendor: VendorOptions
    vendors: list[VendorOptions]


class ClipOut(Schema):
    duration: float
    width: int
    height: int
    fps: float
    codec: str
    has_audio: bool
    bytes: int
    sha256: str
    project_id: UUID
    scene_id: UUID | None
    download_url: str
    poster_url: str


class EventOut(Schema):
    at: datetime
    kind: str
    message: str


class GenerationOut(Schema):
    id: UUID
    state: str
    state_label: str
    model: str
    prompt: str
    project: UUID
    scene: UUID | None
    submission: UUID = Field(..., description="Shared by the variants submitted together.")
    created: datetime
    finished_at: datetime | None
    progress: int | None
    quote: Money
    charge: Money | None
    error: str
    clip: ClipOut | None


class GenerationDetail(GenerationOut):
    timeline: list[EventOut]


class GenerationPage(Schema):
    results: list[GenerationOut]
    next_cursor: str | None


class SceneOut(Schema):
    id: UUID
    number: int
    title: str
    notes: str


class ProjectOut(Schema):
    id: UUID
    name: str
    description: str
    created: datetime


class ProjectDetail(ProjectOut):
    scenes: list[SceneOut]


class ProjectIn(In):
    name: str = Field(..., min_length=1, max_length=120)
    description: str = Field("", max_length=2000)


class SceneIn(In):
    title: str = Field(..., min_length=1, max_length=120)
    notes: str = Field("", max_length=2000)


class BalanceOut(Schema):
    available: Money
    on_hold: Money
    spent_this_month: Money
    low_balance_warning: Money


class StatementLineOut(Schema):
    id: UUID
    created: datetime
    entry: str
    member: str
    project: str
    project_id: UUID | None
    vendor: str
    memo: str
    available_change: int
    on_hold_change: int
    spent: int


class StatementPage(Schema):
    results: list[StatementLineOut]
    next_cursor: str | None


class CancelOut(Schema):
    id: UUID
    state: str
    message: str


class BatchIn(In):
    name: str = Field("Batch", max_length=200)
    csv: str = Field(
        ...,
        max_length=1_000_000,
        description="CSV text: prompt, project, scene, model, duration, ratio, resolution, variants.",
    )


class RowError(Schema):
    field: str | None
    message: str


class BatchRowOut(Schema):
    number: int
    fields: dict[str, str]
    errors: list[RowError]
    hold: Money
    expected: Money


class BatchProgress(Schema):
    total: int
    finished: int
    succeeded: int
    waiting: int
    states: dict[str, int]


class BatchOut(Schema):
    id: UUID
    name: str
    state: str
    created: datetime
    rows: list[BatchRowOut]
    invalid_rows: int
    clips: int
    hold_total: Money
    expected_total: Money
    budget_reasons: list[str]
    can_confirm: bool
    progress: BatchProgress
    results_url: str


class BatchCancelOut(Schema):
    cancelled: int
