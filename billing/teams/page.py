"""The Team page's rows: each asks the database for exactly the values it shows, and works
out its words (role, "you", addresses) once here instead of per row in the template.

The members and, for a manager, the open invitations are read by one written UNION ALL
(tagged by its first column): built by the ORM, compiling the two queries cost the page
more than running them."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from uuid import UUID

from django.db import connection
from django.utils import timezone
from django.utils.html import format_html_join

from billing.models import Role
from billing.teams.forms import InvitationForm
from seedance_site import fragments
from seedance_site.web import uuid_path
from seedance_site.written import stored_time, stored_uuid

# The members by username ("m"), then the pending invitations newest first ("i"), as
# Membership's and Invitation.objects.pending()'s ORM queries read them.
MEMBERS = """
SELECT 'm', m.uuid, m.role, u.username, m.user_id, NULL, NULL
FROM billing_membership m INNER JOIN auth_user u ON u.id = m.user_id
WHERE m.team_id = %(team)s"""
INVITATIONS = """
UNION ALL
SELECT 'i', i.uuid, i.role, i.note, NULL, i.expires, i.created
FROM billing_invitation i
WHERE i.team_id = %(team)s AND i.accepted_at IS NULL AND i.revoked_at IS NULL
  AND i.expires > %(now)s"""
ORDER = "\nORDER BY 1, 7 DESC, 4"

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


def team_rows(request) -> tuple[list["MemberRow"], list["InvitationRow"]]:
    """The team's members by username, and for a manager its open invitations newest
    first; the `<select>`s and forms only for a manager."""
    manage = request.membership.can_manage
    sql = MEMBERS + (INVITATIONS if manage else "") + ORDER
    params = {"team": request.membership.team_id}
    if manage:
        params["now"] = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    members = [row[1:5] for row in rows if row[0] == "m"]
    invitations = [row[1:4] + row[5:6] for row in rows if row[0] == "i"]
    return _member_rows(request, members), _invitation_rows(invitations)


def _member_rows(request, rows) -> list[MemberRow]:
    manage = request.membership.can_manage
    options = _role_options() if manage else {}
    members = []
    for stored, role, username, user_id in rows:
        uuid = stored_uuid(stored)
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


def _invitation_rows(rows) -> list[InvitationRow]:
    invitations = []
    for stored, role, note, expires in rows:
        uuid = stored_uuid(stored)
        invitations.append(
            InvitationRow(
                uuid=uuid,
                role_label=ROLE_LABELS.get(role, role),
                note=note,
                expires=stored_time(expires),
                revoke_url=uuid_path("revoke_invitation", uuid),
            )
        )
    return invitations


def invite_form(inviter) -> tuple:
    """The invitation form, made only if its fields' markup is not kept already (a template
    calls what it is given), and the digest of what those fields show: the roles offered."""
    return (
        partial(InvitationForm, inviter=inviter),
        fragments.digest(InvitationForm.role_choices(inviter)),
    )
