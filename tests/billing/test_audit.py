"""The audit log: one entry per change, with who and what, never a secret; who may read it."""

import re
import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test import Client
from django.urls import reverse

from billing import audit, ledger
from billing.models import AuditAction, AuditEntry, Invitation, Membership, Role
from billing.teams import views
from generations.models import GenerationsAuditAction, Project
from tests.factories import MembershipFactory, UserFactory
from tests.generations.factories import VendorAccountFactory

USD = 1_000_000
HX = {"HTTP_HX_REQUEST": "true"}


def body(response) -> str:
    return response.content.decode()


def only_entry():
    assert AuditEntry.objects.count() == 1
    return AuditEntry.objects.get()


@pytest.fixture
def admin(team, owner):
    return MembershipFactory(team=team, admin=True, user__username="ada").user


@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


# --- The service ---


def test_record_keeps_who_what_and_the_changes(team, owner):
    entry = audit.record(
        owner,
        AuditAction.THRESHOLD_SET,
        team=team,
        target="Northwind Pictures",
        changes={"low_balance_threshold": ["$5.00", "$10.00"]},
    )

    entry.refresh_from_db()
    assert (entry.actor, entry.actor_name, entry.team, entry.target) == (
        owner,
        "olivia",
        team,
        "Northwind Pictures",
    )
    assert entry.change_lines() == [("low balance threshold", "$5.00", "$10.00")]


def test_diff_keeps_only_what_changed():
    before = {"label": "A", "priority": 1, "enabled": True}
    after = {"label": "B", "priority": 1, "enabled": True, "base_url": "https://x"}

    assert audit.diff(before, after) == {"label": ["A", "B"], "base_url": [None, "https://x"]}


def test_a_secret_is_kept_only_as_its_last_4(operator):
    assert audit.secret_change(None, "9876") == [None, "last 4: 9876"]
    assert audit.secret_change("1234", "9876") == ["last 4: 1234", "last 4: 9876"]
    assert audit.secret_change("9876", "9876") == ["last 4: 9876", "changed"]
    with pytest.raises(ValueError, match="last 4"):
        audit.record(
            operator, GenerationsAuditAction.VENDOR_CHANGED, changes={"api_key": [None, "sk-live"]}
        )
    with pytest.raises(ValueError):
        audit.record(operator, AuditAction.INVITATION_CREATED, changes={"token": ["", "abc"]})
    assert not AuditEntry.objects.exists()


def test_entries_are_immutable(team, owner):
    entry = audit.record(owner, AuditAction.THRESHOLD_SET, team=team)
    entry.target = "rewritten"

    with pytest.raises(ValueError, match="immutable"):
        entry.save()


def test_an_anonymous_actor_is_recorded_as_nobody(team):
    from django.contrib.auth.models import AnonymousUser

    entry = audit.record(AnonymousUser(), AuditAction.THRESHOLD_SET, team=team)

    assert entry.actor is None and entry.actor_name == ""


# --- Credits (operators) ---


def grant_data(team, **overrides):
    data = {"team": team.uuid, "amount": "50", "memo": "Pilot", "key": uuid.uuid4().hex}
    return {f"grant-{k}": v for k, v in (data | overrides).items()}


def adjust_data(team, **overrides):
    data = {"team": team.uuid, "amount": "-5", "reason": "Double grant", "key": uuid.uuid4().hex}
    return {f"adjust-{k}": v for k, v in (data | overrides).items()}


def test_a_grant_writes_one_entry_even_when_sent_twice(operator_client, operator, team):
    data = grant_data(team)

    operator_client.post(reverse("grant_credits"), data)
    operator_client.post(reverse("grant_credits"), data)

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team, entry.target) == (
        AuditAction.CREDITS_GRANTED,
        operator,
        team,
        "Northwind Pictures",
    )
    assert entry.changes == {"amount": [None, "$50.00"], "memo": [None, "Pilot"]}


def test_an_adjustment_writes_one_entry(operator_client, operator, team):
    ledger.grant(team, 20 * USD, operator, "Start", "start")
    AuditEntry.objects.all().delete()

    operator_client.post(reverse("adjust_credits"), adjust_data(team))

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team) == (
        AuditAction.BALANCE_ADJUSTED,
        operator,
        team,
    )
    assert entry.changes == {"amount": [None, "-$5.00"], "reason": [None, "Double grant"]}


def test_a_refused_adjustment_writes_nothing(operator_client, team):
    response = operator_client.post(reverse("adjust_credits"), adjust_data(team, amount="-500"))

    assert response.status_code == 200
    assert not AuditEntry.objects.exists()


# --- Caps and the threshold (owners and admins) ---


def test_the_threshold_writes_one_entry_when_it_changes(owner_client, owner, team):
    owner_client.post(reverse("set_threshold"), {"threshold": "12.50"})
    owner_client.post(reverse("set_threshold"), {"threshold": "12.50"})

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team) == (AuditAction.THRESHOLD_SET, owner, team)
    assert entry.changes == {"low_balance_threshold": ["$5.00", "$12.50"]}


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_a_member_cap_writes_one_entry(admin_client, admin, team, member, headers):
    membership = Membership.objects.get(user=member, team=team)

    admin_client.post(
        reverse("member_caps"), {"member": membership.uuid, "monthly_cap": "10"}, **headers
    )

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team, entry.target) == (
        AuditAction.MEMBER_CAP_SET,
        admin,
        team,
        "mateo",
    )
    assert entry.changes == {"monthly_cap": ["no cap", "$10.00"]}


def test_a_project_cap_set_in_the_admin_writes_one_entry(operator_client, operator, team):
    project = Project.objects.create(team=team, name="Trailer")

    operator_client.post(
        f"/admin/generations/project/{project.pk}/change/",
        {
            "name": "Trailer",
            "team": team.pk,
            "description": "",
            "spend_cap": "25000000",
            "created_0": "2026-01-05",
            "created_1": "10:00:00",
            "created_by": operator.pk,
            "scenes-TOTAL_FORMS": "0",
            "scenes-INITIAL_FORMS": "0",
        },
    )

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team, entry.target) == (
        GenerationsAuditAction.PROJECT_CAP_SET,
        operator,
        team,
        "Trailer",
    )
    assert entry.changes == {"spend_cap": ["no cap", "$25.00"]}


# --- Roles, members and invitations ---


def test_a_role_change_writes_one_entry(owner_client, owner, team, member):
    membership = Membership.objects.get(user=member, team=team)

    owner_client.post(reverse("set_role", args=[membership.uuid]), {"role": Role.ADMIN})

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team, entry.target) == (
        AuditAction.ROLE_CHANGED,
        owner,
        team,
        "mateo",
    )
    assert entry.changes == {"role": ["Member", "Admin"]}


def test_a_refused_role_change_writes_nothing(client, team, owner):
    client.force_login(owner)
    membership = Membership.objects.get(user=owner, team=team)
    MembershipFactory(team=team, admin=True)

    # The last owner cannot step down (change_role refuses it).
    client.post(reverse("set_role", args=[membership.uuid]), {"role": Role.MEMBER})

    assert Membership.objects.get(pk=membership.pk).role == Role.OWNER
    assert not AuditEntry.objects.exists()


def test_removing_a_member_writes_one_entry(owner_client, owner, team, member):
    membership = Membership.objects.get(user=member, team=team)

    owner_client.post(reverse("remove_member", args=[membership.uuid]))

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team, entry.target) == (
        AuditAction.MEMBER_REMOVED,
        owner,
        team,
        "mateo",
    )
    assert entry.changes == {"role": ["Member", None]}


def test_leaving_writes_one_entry(member_client, member, team):
    member_client.post(reverse("leave_team"))

    entry = only_entry()
    assert (entry.action, entry.actor, entry.team) == (AuditAction.MEMBER_LEFT, member, team)


def test_an_invitation_is_audited_when_created_revoked_and_never_by_its_token(
    owner_client, owner, team
):
    owner_client.post(reverse("invite"), {"role": Role.VIEWER, "note": "Sam"})
    invitation = Invitation.objects.get()
    owner_client.post(reverse("revoke_invitation", args=[invitation.uuid]))

    created, revoked = AuditEntry.objects.order_by("pk")
    assert (created.action, created.actor, created.team, created.target) == (
        AuditAction.INVITATION_CREATED,
        owner,
        team,
        "Invitation as viewer for Sam",
    )
    assert created.changes == {"role": [None, "Viewer"]}
    assert (revoked.action, revoked.actor) == (AuditAction.INVITATION_REVOKED, owner)
    link = owner_client.session.get("new_invitation_link") or ""
    token = link.rstrip("/").rsplit("/", 1)[-1]
    for entry in (created, revoked):
        assert invitation.token_hash not in str(entry.changes) + entry.target
        assert not token or token not in str(entry.changes) + entry.target


def test_accepting_an_invitation_is_audited_with_the_new_member_as_actor(client, team, owner):
    _, token = Invitation.create(team, Role.MEMBER, owner)
    response = client.post(
        reverse("accept_invitation", args=[token]),
        {
            "username": "newbie",
            "password1": "a long secret phrase",
            "password2": "a long secret phrase",
        },
    )

    assert response.status_code == 302
    entry = only_entry()
    assert (entry.action, entry.actor.username, entry.team, entry.target) == (
        AuditAction.INVITATION_ACCEPTED,
        "newbie",
        team,
        "newbie",
    )
    assert token not in str(entry.changes)


# --- Who reads the log ---


@pytest.fixture
def entries(team, other_team, owner, outsider, operator):
    audit.record(owner, AuditAction.THRESHOLD_SET, team=team, target="Ours")
    audit.record(outsider, AuditAction.THRESHOLD_SET, team=other_team, target="Theirs")
    VendorAccountFactory(label="Kinovi main")
    audit.record(operator, GenerationsAuditAction.VENDOR_ADDED, target="Kinovi main (kinovi)")


@pytest.mark.parametrize("persona", ["owner_client", "admin_client"])
def test_owners_and_admins_see_only_their_teams_entries(request, persona, entries):
    response = request.getfixturevalue(persona).get(reverse("team_audit"))

    assert response.status_code == 200
    html = body(response)
    assert "Ours" in html
    assert "Theirs" not in html and "Kinovi main" not in html


def test_another_teams_owner_sees_only_their_own_entries(outsider_client, entries):
    html = body(outsider_client.get(reverse("team_audit")))

    assert "Theirs" in html and "Ours" not in html


@pytest.mark.parametrize("persona", ["member_client", "viewer_client"])
def test_members_and_viewers_cannot_read_the_log(request, persona, entries):
    client = request.getfixturevalue(persona)

    assert client.get(reverse("team_audit")).status_code == 403
    assert client.get(reverse("audit")).status_code == 403
    assert reverse("team_audit") not in body(client.get(reverse("team")))


def test_the_team_page_links_to_the_log_for_owners(owner_client, entries):
    assert reverse("team_audit") in body(owner_client.get(reverse("team")))


@pytest.mark.parametrize("persona", ["owner_client", "admin_client", "outsider_client"])
def test_only_operators_read_every_teams_entries(request, persona, entries):
    assert request.getfixturevalue(persona).get(reverse("audit")).status_code == 403


def test_anonymous_visitors_are_sent_to_log_in(client, entries):
    for url in (reverse("audit"), reverse("team_audit")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_operators_read_everything_and_can_narrow_it(operator_client, entries, team):
    html = body(operator_client.get(reverse("audit")))
    assert "Ours" in html and "Theirs" in html and "Kinovi main" in html

    html = body(operator_client.get(reverse("audit"), {"team": "none"}))
    assert "Kinovi main" in html and "Ours" not in html and "Theirs" not in html

    html = body(operator_client.get(reverse("audit"), {"team": str(team.uuid)}))
    assert "Ours" in html and "Theirs" not in html and "Kinovi main" not in html


def test_the_log_pages_with_a_keyset_cursor(owner_client, owner, team, monkeypatch):
    monkeypatch.setattr(views, "AUDIT_PAGE_SIZE", 2)
    for n in range(5):
        audit.record(owner, AuditAction.THRESHOLD_SET, team=team, target=f"entry {n}")

    first = owner_client.get(reverse("team_audit"))
    assert first.context["next_url"].startswith("/team/audit/?cursor=")
    second = body(owner_client.get(first.context["next_url"], **HX))
    later = re.search(r'hx-get="[^"]*cursor=([^"]+)"', second).group(1)
    third = owner_client.get(reverse("team_audit"), {"cursor": later})

    assert [e.target for e in first.context["entries"]] == ["entry 4", "entry 3"]
    assert "entry 2" in second and "entry 1" in second and "entry 3" not in second
    assert "<html" not in second and second.lstrip().startswith("<tr")
    assert [e.target for e in third.context["entries"]] == ["entry 0"]
    assert third.context["next_url"] is None
    broken = owner_client.get(reverse("team_audit"), {"cursor": "nonsense"})
    assert broken.status_code == 200 and len(broken.context["entries"]) == 2


def test_the_log_is_read_only_in_the_admin(operator_client, entries):
    entry = AuditEntry.objects.first()

    assert operator_client.get("/admin/billing/auditentry/").status_code == 200
    assert operator_client.get("/admin/billing/auditentry/add/").status_code == 403
    response = operator_client.post(
        f"/admin/billing/auditentry/{entry.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_a_user_without_a_team_is_sent_to_get_one(db):
    client = Client()
    client.force_login(UserFactory(username="loner"))

    response = client.get(reverse("team_audit"))

    assert response.status_code == 302 and response["Location"] == reverse("no_team")


# The values and labels of every action before each app registered its own (migration
# 0005's choices): stored rows must read the same.
ACTIONS_BEFORE_THE_REGISTRY = {
    "vendor_added": "Vendor account added",
    "vendor_changed": "Vendor account changed",
    "vendor_key_changed": "Vendor key replaced",
    "vendor_prices_changed": "Vendor prices changed",
    "vendor_enabled": "Vendor account enabled",
    "vendor_disabled": "Vendor account disabled",
    "vendor_deleted": "Vendor account deleted",
    "credits_granted": "Credits granted",
    "balance_adjusted": "Balance adjusted",
    "member_cap_set": "Member cap set",
    "project_cap_set": "Project cap set",
    "threshold_set": "Low-balance warning set",
    "role_changed": "Role changed",
    "member_removed": "Member removed",
    "member_left": "Member left",
    "invitation_created": "Invitation created",
    "invitation_revoked": "Invitation withdrawn",
    "invitation_accepted": "Invitation accepted",
    "generation_failed_by_operator": "Job marked failed",
    "generation_attached": "Vendor task attached to a job",
    "generation_marked_finished": "Job marked finished",
}


# Added since, by the API app (tokens, webhooks).
ACTIONS_ADDED_SINCE = {
    "api_token_created": "API token created",
    "api_token_revoked": "API token revoked",
    "webhook_set": "Webhook endpoint set",
    "webhook_removed": "Webhook endpoint removed",
}


def test_every_app_registers_its_actions_with_the_values_and_labels_they_always_had():
    choices = dict(AuditEntry._meta.get_field("action").choices)
    assert choices == {**ACTIONS_BEFORE_THE_REGISTRY, **ACTIONS_ADDED_SINCE}


def test_an_action_registered_twice_with_another_label_is_refused():
    class Clash(models.TextChoices):
        ROLE_CHANGED = "role_changed", "Something else"

    with pytest.raises(ImproperlyConfigured):
        audit.register_actions(Clash)


def test_an_entry_stored_by_another_app_reads_with_its_label(operator_client, db):
    AuditEntry.objects.create(action="vendor_added", target="Kinovi main (kinovi)")
    AuditEntry.objects.create(action="generation_marked_finished", target="a job")
    html = operator_client.get(reverse("audit")).content.decode()
    assert "Vendor account added" in html and "Job marked finished" in html
