"""Team-scoped lookups of projects, scenes, generations and assets for the views.

One helper per object kind returns the object of the current team or raises 404 (an
object of another team is never confirmed to exist); a `_for_write` twin also demands
the member role, so a viewer who tries to change something gets PermissionDenied.
Scoping comes first, so a viewer of another team sees 404, not 403.
"""

from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404
from django.shortcuts import get_object_or_404

from billing.models import Role
from billing.teams.access import demand_role, scoped
from generations.assets.models import Asset
from generations.models import Clip, Generation, Project, Scene, VendorAccount


def parse_uuid(value) -> UUID | None:
    """A public id from a query string or form; None when it is not one."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except (TypeError, ValueError):
        return None


def _public_id(value) -> UUID:
    uuid = parse_uuid(value)
    if uuid is None:
        raise Http404("No such object.")
    return uuid


def public_id_param(value):
    """A public id from an address as a written query's parameter; 404 when it is none
    (every uuid column is stored alike: as a uuid on PostgreSQL, 32 hex digits on SQLite)."""
    return Generation._meta.get_field("uuid").get_db_prep_value(_public_id(value), connection)


def get_project(request, uuid) -> Project:
    return scoped(request, Project.objects.all(), uuid=_public_id(uuid))


def get_project_for_write(request, uuid) -> Project:
    project = get_project(request, uuid)
    demand_role(request, Role.MEMBER)
    return project


def get_scene(request, uuid) -> Scene:
    # Scenes belong to a team through their project.
    return get_object_or_404(
        Scene.objects.select_related("project"),
        project__team=request.team,
        uuid=_public_id(uuid),
    )


def get_scene_for_write(request, uuid) -> Scene:
    scene = get_scene(request, uuid)
    demand_role(request, Role.MEMBER)
    return scene


def generations(request):
    """The current team's generations with what every page shows about them; their
    vendor accounts come from with_accounts().

    Five joins, not seven: PostgreSQL plans a join of eight tables in 3 to 15 ms, which
    was more than a page of jobs took to read (the planner weighs every join order)."""
    return Generation.objects.filter(team=request.team).select_related(
        "project", "scene", "created_by", "hold", "clip"
    )


def with_accounts(rows):
    """Give `rows` their vendor_account and pinned_account from one query over the few
    vendor accounts there are. Returns `rows`."""
    wanted = {pk for g in rows for pk in (g.vendor_account_id, g.pinned_account_id) if pk}
    accounts = VendorAccount.objects.in_bulk(wanted) if wanted else {}
    for g in rows:
        if g.vendor_account_id:
            g.vendor_account = accounts[g.vendor_account_id]
        if g.pinned_account_id:
            g.pinned_account = accounts[g.pinned_account_id]
    return rows


def get_generation(request, uuid, queryset=None) -> Generation:
    """One of the team's generations; `queryset` (from generations()) may annotate it."""
    queryset = generations(request) if queryset is None else queryset
    return with_accounts([get_object_or_404(queryset, uuid=_public_id(uuid))])[0]


def get_generation_for_write(request, uuid) -> Generation:
    generation = get_generation(request, uuid)
    demand_role(request, Role.MEMBER)
    return generation


def may_cancel(membership, generation) -> bool:
    """The member who started a job may cancel it; so may the team's admins."""
    if membership is None or not membership.has_role(Role.MEMBER):
        return False
    return generation.created_by_id == membership.user_id or membership.has_role(Role.ADMIN)


def get_generation_for_cancel(request, uuid) -> Generation:
    generation = get_generation_for_write(request, uuid)
    if not may_cancel(request.membership, generation):
        raise PermissionDenied("Only the member who started this job, or an admin, can cancel it.")
    return generation


def get_clip(request, generation_uuid) -> Clip:
    """The stored clip of one of the team's generations (its public id is the generation's)."""
    return get_object_or_404(
        Clip.objects.select_related("generation"),
        generation__team=request.team,
        generation__uuid=_public_id(generation_uuid),
    )


def get_asset(request, uuid) -> Asset:
    return scoped(request, Asset.objects.select_related("project"), uuid=_public_id(uuid))


def get_asset_for_write(request, uuid) -> Asset:
    asset = get_asset(request, uuid)
    demand_role(request, Role.MEMBER)
    return asset
