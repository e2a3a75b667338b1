"""Submitting, listing, following and cancelling generations; their clips."""

from uuid import UUID

from django.http import Http404
from django.utils.text import slugify
from ninja import Header, Query, Router, Schema, Status

from billing.models import Role
from billing.teams.access import demand_role
from generations import access, lifecycle
from generations.api import present, submitting
from generations.api.errors import ApiError
from generations.api.schemas import (
    CancelOut,
    ClipOut,
    Error,
    GenerationDetail,
    GenerationIn,
    GenerationOut,
    GenerationPage,
    QuoteOut,
)
from generations.media.files import ranged_file_response
from generations.models import State
from seedance_site import keyset

router = Router(tags=["Generations"])

ERRORS = {401: Error, 403: Error, 404: Error, 422: Error}
PAGE_MAX = 100


@router.post("/quote", response={200: QuoteOut, **ERRORS}, summary="Price a request")
def quote(request, payload: GenerationIn):
    """What the request would cost, what would be held, and whether the budget and caps
    allow it now. Nothing is created."""
    demand_role(request, Role.MEMBER)
    return present.quote(submitting.quote(request, payload))


@router.post(
    "/generations",
    response={201: list[GenerationOut], 402: Error, 409: Error, 429: Error, **ERRORS},
    summary="Submit generations",
)
def submit(
    request,
    payload: GenerationIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
):
    """Validated as the Generate page validates; holds the quote for each variant.

    With an Idempotency-Key, a retry with the same body returns the first answer, and the
    same key with another body is a 409, for 24 hours (IDEMPOTENCY_KEY_HOURS): after
    that the key names a new submit."""
    demand_role(request, Role.MEMBER)

    def answer():
        created = submitting.submit(request, payload)
        return 201, [present.generation(request, g) for g in created]

    if idempotency_key:
        return Status(*submitting.idempotent(request, idempotency_key, payload, answer))
    return Status(*answer())


class JobFilters(Schema):
    state: State | None = None
    project: UUID | None = None
    scene: UUID | None = None
    model: str | None = None
    cursor: str | None = None
    limit: int = 25


@router.get("/generations", response={200: GenerationPage, **ERRORS}, summary="List jobs")
def list_generations(request, filters: Query[JobFilters]):
    """The team's jobs, newest first; pass next_cursor as cursor for the next page."""
    rows = access.generations(request)
    # A project or scene not of this team is a 404, as its own address is, not an empty
    # page that would read as "it exists, with no jobs".
    if filters.project:
        rows = rows.filter(project=access.get_project(request, filters.project))
    if filters.scene:
        rows = rows.filter(scene=access.get_scene(request, filters.scene))
    for name, lookup in {"state": "state", "model": "family"}.items():
        value = getattr(filters, name)
        if value:
            rows = rows.filter(**{lookup: value})
    position = keyset.decode(filters.cursor or "")
    if filters.cursor and position is None:
        raise ApiError(422, "invalid", "The cursor is not one this API gave.", "cursor")
    size = min(max(filters.limit, 1), PAGE_MAX)
    page = keyset.page(rows, size, position)
    access.with_accounts(page.rows)
    results = [present.generation(request, g) for g in page.rows]
    return {"results": results, "next_cursor": page.next_cursor}


@router.get("/generations/{uuid}", response={200: GenerationDetail, **ERRORS}, summary="One job")
def get_generation(request, uuid: UUID):
    """Its state, cost and timeline; when done, its clip's metadata and download address."""
    return present.generation_detail(request, access.get_generation(request, uuid))


@router.post(
    "/generations/{uuid}/cancel",
    response={200: CancelOut, 409: Error, **ERRORS},
    summary="Cancel a job",
)
def cancel(request, uuid: UUID):
    generation = access.get_generation_for_cancel(request, uuid)
    try:
        message = lifecycle.cancel(generation, by=request.user)
    except lifecycle.CannotCancel as exc:
        raise ApiError(409, "cannot_cancel", str(exc)) from None
    generation.refresh_from_db()
    return {"id": generation.uuid, "state": generation.state, "message": message}


@router.get("/generations/{uuid}/clip", response={200: ClipOut, **ERRORS}, summary="A clip")
def clip(request, uuid: UUID):
    generation = access.get_generation(request, uuid)
    metadata = present.clip(request, generation)
    if metadata is None:
        raise Http404("No clip yet.")
    return metadata


@router.get(
    "/generations/{uuid}/clip/download",
    response={200: None, **ERRORS},
    url_name="clip_download",
    summary="Download a clip (MP4)",
    openapi_extra={
        "responses": {
            200: {
                "description": "The MP4",
                "content": {"video/mp4": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def clip_download(request, uuid: UUID):
    c = access.get_clip(request, uuid)
    name = f"{slugify(c.generation.prompt[:40]) or 'clip'}-{str(uuid)[:8]}.mp4"
    return ranged_file_response(
        request, c.file, "video/mp4", filename=name, download=True, etag=c.sha256
    )


@router.get(
    "/generations/{uuid}/clip/poster",
    response={200: None, **ERRORS},
    url_name="clip_poster",
    summary="A clip's poster (JPEG)",
    openapi_extra={
        "responses": {200: {"description": "The poster", "content": {"image/jpeg": {}}}}
    },
)
def clip_poster(request, uuid: UUID):
    c = access.get_clip(request, uuid)
    return ranged_file_response(
        request, c.poster, "image/jpeg", filename=f"poster-{str(uuid)[:8]}.jpg"
    )
