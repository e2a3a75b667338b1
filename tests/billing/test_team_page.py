"""The Team page: each row's words worked out once (billing/teams/page.py), the forms'
fields kept as markup under what they offer, and the same few queries for any team."""

import pickle
import re

import pytest
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Invitation, Membership, Role
from generations.api.models import ApiToken
from tests.factories import MembershipFactory

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def admin(team, owner):
    return MembershipFactory(team=team, admin=True, user__username="ada").user


def page(client) -> str:
    response = client.get(reverse("team"))
    assert response.status_code == 200
    return response.content.decode()


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def role_options(html, who) -> str:
    uuid = Membership.objects.get(user__username=who).uuid
    select = re.search(
        rf'<select id="role-{uuid}" name="role" data-autosubmit>(.*?)</select>', html, re.S
    )
    return select.group(1).strip()


def test_a_manager_sees_each_members_role_selected_and_may_remove_others(
    owner_client, owner, member, viewer
):
    html = page(owner_client)
    assert "3 members sharing one credit budget." in html
    assert 'olivia <span class="tag">you</span>' in html
    assert role_options(html, "mateo") == (
        '<option value="owner">Owner</option><option value="admin">Admin</option>'
        '<option value="member" selected>Member</option><option value="viewer">Viewer</option>'
    )
    assert '<option value="viewer" selected>Viewer</option>' in role_options(html, "vera")
    for person in (member, viewer):
        m = Membership.objects.get(user=person)
        assert f'action="/team/members/{m.uuid}/role/"' in html
        assert (
            f'<label for="role-{m.uuid}" class="visually-hidden">Role of {person.username}' in html
        )
        assert f'action="/team/members/{m.uuid}/remove/"' in html
        assert f'data-confirm="Remove {person.username} from Northwind Pictures?"' in html
    mine = Membership.objects.get(user=owner)
    assert f"/team/members/{mine.uuid}/" not in html
    assert "<td>\n          Owner\n        </td>" in html


def test_a_viewer_sees_roles_as_words_and_no_forms(viewer_client, member):
    html = page(viewer_client)
    assert "3 members sharing" in html
    assert "<select" not in html.split("<h2>Members</h2>")[1]
    assert "/team/members/" not in html
    assert "Invite someone" not in html and "API tokens" not in html
    for role in ("Owner", "Member", "Viewer"):
        assert f"<td>\n          {role}\n        </td>" in html
    assert 'action="/team/leave/"' in html


def test_only_an_owner_is_offered_ownership_in_the_invitation_form(owner_client, admin):
    owners = page(owner_client)
    admins = page(login(admin))
    invite = re.compile(r'<select name="role" id="id_role">(.*?)</select>', re.S)
    assert '<option value="owner">Owner</option>' in invite.search(owners).group(1)
    assert "owner" not in invite.search(admins).group(1)
    assert '<option value="member" selected>Member</option>' in invite.search(admins).group(1)
    # And again, from the kept markup: each still sees their own.
    assert '<option value="owner">Owner</option>' in invite.search(page(owner_client)).group(1)
    assert "owner" not in invite.search(page(login(admin))).group(1)


def test_open_invitations_say_their_role_note_and_how_to_withdraw(owner_client, team, owner):
    invitation, _ = Invitation.create(team, Role.VIEWER, owner, "Sam <the editor>")
    plain, _ = Invitation.create(team, Role.ADMIN, owner)
    html = page(owner_client)
    assert "<li>Viewer for Sam &lt;the editor&gt; · expires in 6\xa0days, 23\xa0hours" in html
    assert "<li>Admin · expires in 6\xa0days, 23\xa0hours" in html
    assert html.index("<li>Admin") < html.index("<li>Viewer")  # newest first
    for inv in (invitation, plain):
        assert f'action="/team/invitations/{inv.uuid}/revoke/"' in html


def test_tokens_say_their_scope_maker_and_last_use(owner_client, team, owner, admin):
    used, _ = ApiToken.issue(team, admin, "Render <farm>", "generate")
    ApiToken.objects.filter(pk=used.pk).update(last_used_at=used.created)
    fresh, _ = ApiToken.issue(team, owner, "CI", "read")
    html = page(owner_client)
    rows = html.split('<section class="card" id="api-tokens">')[1]
    assert f"<td>Render &lt;farm&gt; <code>{used.prefix}…</code></td>" in rows
    assert "<td>Generate</td>\n        <td>ada</td>\n        <td>0\xa0minutes ago</td>" in rows
    assert "<td>Read only</td>\n        <td>olivia</td>\n        <td>never</td>" in rows
    assert rows.index("CI") < rows.index("Render")  # newest first
    for token in (used, fresh):
        assert f'action="/team/api-tokens/{token.uuid}/revoke/"' in rows
    assert '<input type="text" name="name" maxlength="80" required' in rows


def test_kept_form_markup_holds_no_csrf_token(owner_client, admin):
    html = page(owner_client)
    page(login(admin))
    tokens = set(CSRF.findall(html))
    assert tokens
    kept = caches["template_fragments"]._cache
    keys = [k for k in kept if "team-invite-fields" in k or "team-token-fields" in k]
    assert len(keys) == 3  # the owner's and the admin's invitation fields, the token fields
    for key in keys:
        markup = pickle.loads(kept[key])  # noqa: S301 (our own cache, in a test)
        assert markup and "csrfmiddlewaretoken" not in markup
        assert not any(token in markup for token in tokens)


def queries(client) -> int:
    client.get(reverse("team"))
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("team")).status_code == 200
    return len(captured)


def test_the_page_asks_as_much_for_a_big_team_as_for_a_small_one(owner_client, team, owner):
    few = queries(owner_client)
    for n in range(6):
        MembershipFactory(team=team, admin=n % 2 == 0)
        Invitation.create(team, Role.MEMBER, owner, f"Person {n}")
        ApiToken.issue(team, owner, f"Script {n}", "read")
    assert queries(owner_client) == few
