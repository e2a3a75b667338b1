"""The Team page's rows: each asks the database for exactly the values it shows, and works
out its words (role, "you", addresses) once here instead of per row in the template."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from uuid import UUID

from django.utils.html import format_html_join

from billing.models import Invitation, Membership, Role
from billing.teams.forms import InvitationForm
from seedance_site import fragments
from seedance_site.web import uuid_path

ROLE_LABELS = dict(Role.choices)


@dataclass(frozen=True)
class MemberRow:
    uuid: UUID
    username: str
    role_label: str
    is_me: bool
    # For a manager looking at someone else: the role select's options, and the addresses.
    role_options: str = ""
    role_url: str = ""
    remove_url: str = ""


@dataclass(frozen=True)
class InvitationRow:
    uuid: UUID
    role_label: str
    note: str
    expires: datetime
    revoke_url: str


def member_rows(request) -> list[MemberRow]:
    """The team's members by username; the `<select>`s and forms only for a manager."""
    manage = request.membership.can_manage
    rows = (
        Membership.objects.filter(team_id=request.membership.team_id)
        .order_by("user__username")
        .values_list("uuid", "role", "user_id", "user__username")
    )
    options = _role_options() if manage else {}
    members = []
    for uuid, role, user_id, username in rows:
        is_me = user_id == request.user.pk
        editable = manage and not is_me
        members.append(
            MemberRow(
                uuid=uuid,
                username=username,
                role_label=ROLE_LABELS.get(role, role),
                is_me=is_me,
                role_options=options.get(role, options.get(None, "")) if editable else "",
                role_url=uuid_path("set_role", uuid) if editable else "",
                remove_url=uuid_path("remove_member", uuid) if editable else "",
            )
        )
    return members


@cache
def _role_options() -> dict:
    """A role select's `<option>`s with each role selected in turn (None: none selected)."""
    return {
        chosen: format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (value, " selected" if value == chosen else "", label)
                for value, label in Role.choices
            ),
        )
        for chosen in [None, *ROLE_LABELS]
    }


def invitation_rows(team) -> list[InvitationRow]:
    """The team's open invitations, newest first."""
    rows = (
        Invitation.objects.filter(team_id=team.pk)
        .pending()
        .values_list("uuid", "role", "note", "expires")
    )
    return [
        InvitationRow(
            uuid=uuid,
            role_label=ROLE_LABELS.get(role, role),
            note=note,
            expires=expires,
            revoke_url=uuid_path("revoke_invitation", uuid),
        )
        for uuid, role, note, expires in rows
    ]


def invite_form(inviter) -> tuple:
    """The invitation form, made only if its fields' markup is not kept already (a template
    calls what it is given), and the digest of what those fields show: the roles offered."""
    return (
        partial(InvitationForm, inviter=inviter),
        fragments.digest(InvitationForm.role_choices(inviter)),
    )
