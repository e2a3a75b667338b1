from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.access import (
    get_membership_for_admin,
    role_required,
    switch_team,
    team_required,
)
from billing.forms import InvitationForm, RoleForm, SignupForm
from billing.models import Invitation, Role


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
    return redirect(request.POST.get("next") or "home")


@team_required
def team(request):
    memberships = request.team.memberships.select_related("user").order_by("user__username")
    invitations = request.team.invitations.pending().select_related("invited_by")
    ctx = {
        "memberships": memberships,
        "invitations": invitations,
        "invite_form": InvitationForm(inviter=request.membership),
        "roles": Role.choices,
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
    _, token = Invitation.create(
        request.team, form.cleaned_data["role"], request.user, form.cleaned_data["note"]
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
    invitation.save(update_fields=["revoked_at"])
    messages.info(request, "The invitation link no longer works.")
    return redirect("team")


@require_POST
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
    try:
        membership.change_role(role)
    except ValidationError as e:
        messages.error(request, e.messages[0])
    else:
        messages.success(
            request, f"{membership.user.username} is now {membership.get_role_display().lower()}."
        )
    return redirect("team")


@require_POST
def remove_member(request, uuid):
    membership = get_membership_for_admin(request, uuid)
    if membership.role == Role.OWNER and not request.membership.has_role(Role.OWNER):
        raise PermissionDenied("Only an owner can remove an owner.")
    try:
        membership.leave()
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
        request.membership.leave()
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
                invitation.accept(user)
        except ValidationError as e:
            problem = e.messages[0]
        else:
            if is_new_user:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            switch_team(request, invitation.team.uuid)
            messages.success(request, f"Welcome to {invitation.team.name}.")
            return redirect("home")
    ctx = {"invitation": invitation, "problem": problem, "signup_form": signup_form}
    return render(request, "billing/invitation.html", ctx, status=410 if problem else 200)
