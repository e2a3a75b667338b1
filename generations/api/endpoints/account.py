"""Projects and scenes; the team's balance and statement."""

from uuid import UUID

from ninja import Query, Router, Schema, Status

from billing import ledger
from billing.models import Role
from billing.teams.access import demand_role
from generations import access
from generations.api import present
from generations.api.errors import ApiError
from generations.api.schemas import (
    BalanceOut,
    Error,
    ProjectDetail,
    ProjectIn,
    ProjectOut,
    SceneIn,
    SceneOut,
    StatementPage,
)
from generations.models import Project
from generations.studio import services
from seedance_site import keyset

router = Router()
ERRORS = {401: Error, 403: Error, 404: Error, 422: Error}


def _project(p) -> dict:
    return {"id": p.uuid, "name": p.name, "description": p.description, "created": p.created}


def _scene(s) -> dict:
    return {"id": s.uuid, "number": s.number, "title": s.title, "notes": s.notes}


@router.get("/projects", response={200: list[ProjectOut], **ERRORS}, tags=["Projects"])
def list_projects(request):
    return [_project(p) for p in Project.objects.filter(team=request.team).order_by("name")]


@router.post("/projects", response={201: ProjectOut, **ERRORS}, tags=["Projects"])
def create_project(request, payload: ProjectIn):
    demand_role(request, Role.MEMBER)
    if not payload.name.strip():
        raise ApiError(422, "invalid", "Name the project.", "name")
    project = services.create_project(
        request.team, request.user, name=payload.name.strip(), description=payload.description
    )
    return Status(201, _project(project))


@router.get("/projects/{uuid}", response={200: ProjectDetail, **ERRORS}, tags=["Projects"])
def get_project(request, uuid: UUID):
    project = access.get_project(request, uuid)
    return {**_project(project), "scenes": [_scene(s) for s in project.scenes.order_by("number")]}


@router.post("/projects/{uuid}/scenes", response={201: SceneOut, **ERRORS}, tags=["Projects"])
def create_scene(request, uuid: UUID, payload: SceneIn):
    project = access.get_project_for_write(request, uuid)
    if not payload.title.strip():
        raise ApiError(422, "invalid", "Give the scene a title.", "title")
    return Status(201, _scene(services.add_scene(project, payload.title.strip(), payload.notes)))


@router.get("/balance", response={200: BalanceOut, **ERRORS}, tags=["Billing"])
def balance(request):
    b = ledger.balances(request.team)
    return {
        "available": present.money(b.available),
        "on_hold": present.money(b.on_hold),
        "spent_this_month": present.money(b.spent_this_month),
        "low_balance_warning": present.money(request.team.low_balance_threshold),
    }


class StatementFilters(Schema):
    cursor: str | None = None
    limit: int = 50


@router.get("/statement", response={200: StatementPage, **ERRORS}, tags=["Billing"])
def statement(request, filters: Query[StatementFilters]):
    """The team's ledger entries, newest first, as the Billing page's statement."""
    position = keyset.decode(filters.cursor or "")
    if filters.cursor and position is None:
        raise ApiError(422, "invalid", "The cursor is not one this API gave.", "cursor")
    page = keyset.page(ledger.statement(request.team), min(max(filters.limit, 1), 200), position)
    lines = ledger.statement_lines(request.team, page.rows)
    return {"results": [present.statement_line(x) for x in lines], "next_cursor": page.next_cursor}
