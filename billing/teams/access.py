"""Who may see and change what.

Every view reaches team-owned objects through these helpers, never by filtering
by hand: an object of another team is a 404 (never a 403 that confirms it
exists), and a role that is too low to write gets PermissionDenied.
"""

import uuid

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect

from billing.models import Membership, Role
from billing.teams.backends import teams_of
from seedance_site.web import login_then

SESSION_KEY = "current_team"


def current_membership(request) -> Membership | None:
    if not request.user.is_authenticated:
        return None
    # Every team of the user: the page head lists them to switch between. The session's
    # user was read with them (backends.MembershipsBackend); else one query here.
    memberships = getattr(request.user, "team_memberships", None)
    if memberships is None:
        memberships = teams_of(request.user.pk)
        for membership in memberships:
            membership.user = request.user
    request.memberships = memberships
    chosen = request.session.get(SESSION_KEY)
    for membership in memberships:
        if chosen and str(membership.team.uuid) == chosen:
            return membership
    return memberships[0] if memberships else None


def switch_team(request, team_uuid) -> Membership:
    try:
        team_uuid = uuid.UUID(str(team_uuid))
    except ValueError:
        raise Http404("No such team.") from None
    membership = get_object_or_404(
        Membership.objects.select_related("team"), user=request.user, team__uuid=team_uuid
    )
    request.session[SESSION_KEY] = str(membership.team.uuid)
    return membership


def _demand_team(request):
    # A user with no team is shown how to get one.
    return None if request.membership else redirect("no_team")


# Log in, and belong to a team.
team_required = login_then(_demand_team)


def role_required(role: str):
    """Log in, belong to a team, and hold `role` in it (or a higher one)."""

    def check(request):
        return _demand_team(request) or demand_role(request, role)

    return login_then(check)


def demand_role(request, role: str) -> None:
    if not request.membership or not request.membership.has_role(role):
        raise PermissionDenied(f"This needs the {Role(role).label.lower()} role in this team.")


def scoped(request, queryset, **lookup):
    """One object of the current team, or 404."""
    return get_object_or_404(queryset, team=request.team, **lookup)


def get_membership(request, uuid):
    return scoped(request, Membership.objects.select_related("user", "team"), uuid=uuid)


def get_membership_for_admin(request, uuid):
    membership = get_membership(request, uuid)
    demand_role(request, Role.ADMIN)
    return membership
