"""Who may see and change what.

Every view reaches team-owned objects through these helpers, never by filtering
by hand: an object of another team is a 404 (never a 403 that confirms it
exists), and a role that is too low to write gets PermissionDenied.
"""

import uuid
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect

from billing.models import Membership, Role

SESSION_KEY = "current_team"


def current_membership(request) -> Membership | None:
    if not request.user.is_authenticated:
        return None
    memberships = Membership.objects.select_related("team", "user").filter(user=request.user)
    chosen = request.session.get(SESSION_KEY)
    if chosen:
        membership = memberships.filter(team__uuid=chosen).first()
        if membership:
            return membership
    return memberships.order_by("team__name").first()


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


def team_required(view):
    """Log in, and belong to a team; a user with no team is shown how to get one."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.membership:
            return redirect("no_team")
        return view(request, *args, **kwargs)

    return wrapper


def role_required(role: str):
    def decorator(view):
        @team_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            demand_role(request, role)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def operator_required(view):
    """Django staff only; anyone else gets 403 (operators need not belong to a team)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("This page is for operators.")
        return view(request, *args, **kwargs)

    return wrapper


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
