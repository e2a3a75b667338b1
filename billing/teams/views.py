from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from billing import audit
from billing.models import AuditAction, AuditEntry, Invitation, Role, Team
from billing.teams import page
from billing.teams.access import (
    get_membership_for_admin,
    role_required,
    switch_team,
    team_required,
)
from billing.teams.forms import InvitationForm, RoleForm, SignupForm
from seedance_site import keyset
from seedance_site.web import operator_required, safe_next

AUDIT_PAGE_SIZE = 50


@login_required
def home(request):
    if not request.membership:
        return redirect("no_team")
    return redirect("team")


@login_required
def no_team(request):
    if request.membership:
        return redirect("home")
    return render(request, "billing/no_team.html")


@login_required
@require_POST
def switch(request):
    membership = switch_team(request, request.POST.get("team", ""))
    messages.info(request, f"You are now working in {membership.team.name}.")
    return redirect(safe_next(request, request.POST.get("next", ""), "home"))


# no-store: it shows a new API token once, and Back must not show it again.
@never_cache
@team_required
def team(request):
    members, invitations = page.team_rows(request)
    invite_form, invite_fields = page.invite_form(request.membership)
    ctx = {
        "members": members,
        "invitations": invitations,
        "invite_form": invite_form,
        "invite_fields": invite_fields,
        "new_link": request.session.pop("new_invitation_link", None),
    }
    return render(request, "billing/team.html", ctx)


@role_required(Role.ADMIN)
@require_POST
def invite(request):
    form = InvitationForm(request.POST, inviter=request.membership)
    if not form.is_valid():
        messages.error(request, "Choose a role for the invitation.")
        return redirect("team")
    with transaction.atomic():
        invitation, token = Invitation.create(
            request.team, form.cleaned_data["role"], request.user, form.cleaned_data["note"]
        )
        audit.record(
            request.user,
            AuditAction.INVITATION_CREATED,
            team=request.team,
            target=_invitation_target(invitation),
            changes={"role": [None, invitation.get_role_display()]},
        )
    link = request.build_absolute_uri(reverse("accept_invitation", args=[token]))
    # Shown once: only its hash is stored.
    request.session["new_invitation_link"] = link
    return redirect("team")


@role_required(Role.ADMIN)
@require_POST
def revoke_invitation(request, uuid):
    invitation = get_object_or_404(request.team.invitations.pending(), uuid=uuid)
    invitation.revoked_at = timezone.now()
    with transaction.atomic():
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            request.user,
            AuditAction.INVITATION_REVOKED,
            team=request.team,
            target=_invitation_target(invitation),
            changes={"status": ["pending", "withdrawn"]},
        )
    messages.info(request, "The invitation link no longer works.")
    return redirect("team")


@require_POST
@team_required
def set_role(request, uuid):
    membership = get_membership_for_admin(request, uuid)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That is not a role.")
        return redirect("team")
    role = form.cleaned_data["role"]
    touches_owner = Role.OWNER in (role, membership.role)
    if touches_owner and not request.membership.has_role(Role.OWNER):
        raise PermissionDenied("Only an owner can make or unmake owners.")
    before = membership.get_role_display()
    try:
        with transaction.atomic():
            membership.change_role(role)
            if membership.get_role_display() != before:
                audit.record(
                    request.user,
                    AuditAction.ROLE_CHANGED,
                    team=request.team,
                    target=membership.user.username,
                    changes={"role": [before, membership.get_role_display()]},
                )
    except ValidationError as e:
        messages.error(request, e.messages[0])
    else:
        messages.success(
            request, f"{membership.user.username} is now {membership.get_role_display().lower()}."
        )
    return redirect("team")


@require_POST
@team_required
def remove_member(request, uuid):
    membership = get_membership_for_admin(request, uuid)
    if membership.role == Role.OWNER and not request.membership.has_role(Role.OWNER):
        raise PermissionDenied("Only an owner can remove an owner.")
    try:
        with transaction.atomic():
            membership.leave()
            _record_departure(request, membership, AuditAction.MEMBER_REMOVED)
    except ValidationError as e:
        messages.error(request, e.messages[0])
    else:
        messages.success(request, f"{membership.user.username} was removed from the team.")
    return redirect("team")


@team_required
@require_POST
def leave_team(request):
    team_name = request.team.name
    try:
        with transaction.atomic():
            request.membership.leave()
            _record_departure(request, request.membership, AuditAction.MEMBER_LEFT)
    except ValidationError as e:
        messages.error(request, e.messages[0])
        return redirect("team")
    request.session.pop("current_team", None)
    messages.info(request, f"You left {team_name}.")
    return redirect("home")


def accept_invitation(request, token):
    invitation = Invitation.for_token(token)
    if invitation is None:
        ctx = {"problem": "This invitation link is not valid. Check that you copied all of it."}
        return render(request, "billing/invitation.html", ctx, status=404)
    problem = invitation.problem_for(request.user)
    is_new_user = not request.user.is_authenticated
    signup_form = SignupForm(request.POST or None) if is_new_user else None
    form_ok = signup_form is None or signup_form.is_valid()
    if request.method == "POST" and not problem and form_ok:
        try:
            with transaction.atomic():
                user = signup_form.save() if is_new_user else request.user
                membership = invitation.accept(user)
                audit.record(
                    user,
                    AuditAction.INVITATION_ACCEPTED,
                    team=invitation.team,
                    target=user.username,
                    changes={"role": [None, membership.get_role_display()]},
                )
        except ValidationError as e:
            problem = e.messages[0]
        else:
            if is_new_user:
                login(request, user, backend="billing.teams.backends.MembershipsBackend")
            switch_team(request, invitation.team.uuid)
            messages.success(request, f"Welcome to {invitation.team.name}.")
            return redirect("home")
    ctx = {"invitation": invitation, "problem": problem, "signup_form": signup_form}
    return render(request, "billing/invitation.html", ctx, status=410 if problem else 200)


def _invitation_target(invitation) -> str:
    role = invitation.get_role_display().lower()
    return f"Invitation as {role}" + (f" for {invitation.note}" if invitation.note else "")


def _record_departure(request, membership, action) -> None:
    audit.record(
        request.user,
        action,
        team=membership.team,
        target=membership.user.username,
        changes={"role": [membership.get_role_display(), None]},
    )


# --- The audit log -------------------------------------------------------------


def _audit_page(request, entries, page_url, filter_query="", **template_context) -> dict:
    # A mangled cursor starts again from the newest.
    page = keyset.page(entries, AUDIT_PAGE_SIZE, keyset.decode(request.GET.get("cursor", "")))
    return {
        **template_context,
        "page_url": page_url,
        "filter_query": filter_query,
        "entries": page.rows,
        "next_url": page.next_url(page_url, filter_query),
        "paged": page.paged,
    }


def _render_audit(request, ctx):
    partial = "#audit-rows" if request.htmx and request.GET.get("cursor") else ""
    return render(request, "billing/audit.html" + partial, ctx)


@role_required(Role.ADMIN)
@require_GET
def team_audit(request):
    """The team's own entries, for its owners and admins."""
    entries = AuditEntry.objects.filter(team=request.team)
    ctx = _audit_page(request, entries, reverse("team_audit"))
    return _render_audit(request, ctx)


@operator_required
@require_GET
def audit_log(request):
    """Every entry, for operators; `?team=<uuid>` or `?team=none` (vendor accounts) narrows it."""
    entries = AuditEntry.objects.select_related("team")
    chosen = request.GET.get("team", "")
    teams = list(Team.objects.order_by("name"))
    if chosen == "none":
        entries = entries.filter(team__isnull=True)
    elif chosen:
        team = next((t for t in teams if str(t.uuid) == chosen), None)
        entries = entries.filter(team=team) if team else entries
        chosen = chosen if team else ""
    ctx = _audit_page(
        request,
        entries,
        reverse("audit"),
        f"team={chosen}" if chosen else "",
        all_teams=True,
        teams=teams,
        chosen_team=chosen,
    )
    return _render_audit(request, ctx)
