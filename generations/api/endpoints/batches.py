"""Batch runs through the API: upload a CSV for a checked preview, confirm, follow, cancel,
and fetch the results as CSV."""

from uuid import UUID

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Router, Status

from billing.models import Role
from billing.teams.access import demand_role
from generations.api import batches, present
from generations.api.errors import ApiError
from generations.api.models import Batch, BatchState
from generations.api.schemas import BatchCancelOut, BatchIn, BatchOut, Error

router = Router(tags=["Batches"])
ERRORS = {401: Error, 403: Error, 404: Error, 422: Error}


def get_batch(request, uuid) -> Batch:
    return get_object_or_404(Batch, team=request.team, uuid=uuid)


def batch_out(request, batch: Batch) -> dict:
    totals = batches.totals(batch)
    preview = batch.state == BatchState.PREVIEW
    reasons = batches.budget_reasons(batch, request.user) if preview and batch.valid else []
    rows = [
        {**row, "hold": present.money(row["hold"]), "expected": present.money(row["expected"])}
        for row in batch.rows
    ]
    return {
        "id": batch.uuid,
        "name": batch.name,
        "state": batch.state,
        "created": batch.created,
        "rows": rows,
        "invalid_rows": totals["invalid_rows"],
        "clips": totals["clips"],
        "hold_total": present.money(totals["hold"]),
        "expected_total": present.money(totals["expected"]),
        "budget_reasons": reasons,
        "can_confirm": preview and batch.valid and not reasons,
        "progress": batches.progress(batch),
        "results_url": request.build_absolute_uri(
            reverse("api-1:batch_results", args=[batch.uuid])
        ),
    }


@router.post("/batches", response={201: BatchOut, **ERRORS}, summary="Check a CSV of shots")
def create_batch(request, payload: BatchIn):
    """Every row checked as the Generate page checks one, priced, and one total quote with
    what the budget and caps allow. Nothing is submitted until you confirm."""
    demand_role(request, Role.MEMBER)
    try:
        batch = batches.check(request.team, request.user, payload.name, payload.csv)
    except batches.BatchRefused as exc:
        raise ApiError(422, "invalid", str(exc), "csv") from None
    return Status(201, batch_out(request, batch))


@router.get("/batches/{uuid}", response={200: BatchOut, **ERRORS}, summary="A batch")
def get_batch_detail(request, uuid: UUID):
    return batch_out(request, get_batch(request, uuid))


@router.post(
    "/batches/{uuid}/confirm", response={200: BatchOut, 409: Error, **ERRORS}, summary="Submit"
)
def confirm_batch(request, uuid: UUID):
    """Submit every row, or none (the answer says which row stopped it)."""
    batch = get_batch(request, uuid)
    demand_role(request, Role.MEMBER)
    try:
        batch = batches.confirm(batch.pk, request.user)
    except batches.BatchRefused as exc:
        raise ApiError(409, "batch_refused", str(exc)) from None
    return batch_out(request, batch)


@router.post(
    "/batches/{uuid}/cancel", response={200: BatchCancelOut, **ERRORS}, summary="Cancel waiting"
)
def cancel_batch(request, uuid: UUID):
    """Cancel the batch's jobs that have not yet been sent to a vendor."""
    batch = get_batch(request, uuid)
    demand_role(request, Role.MEMBER)
    return {"cancelled": batches.cancel_waiting(batch, request.membership)}


@router.get(
    "/batches/{uuid}/results.csv",
    response={200: None, **ERRORS},
    url_name="batch_results",
    summary="Results as CSV",
    openapi_extra={"responses": {200: {"description": "CSV", "content": {"text/csv": {}}}}},
)
def batch_results(request, uuid: UUID):
    batch = get_batch(request, uuid)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-{str(batch.uuid)[:8]}.csv"'
    batches.write_results(batch, response, request.build_absolute_uri)
    return response
