"""Review of the kept Generate column, the Team page's written reads, the storyboard's
written read and the gallery's kept cards, filters and held search (issue #13): attacks
on another team's data, stale or per-person markup, hostile input and escaping."""

import re
import uuid

import pytest
from django.core.cache import caches
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing.models import Invitation, Membership, Role
from generations.api.models import ApiToken
from generations.models import Favourite, Generation, Project, Scene, VendorAccount
from generations.studio import search
from generations.studio.views import gallery as gallery_view
from tests.factories import MembershipFactory
from tests.generations.factories import (
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)
from tests.generations.factories import (
    finished_clip as clip,
)

pytestmark = pytest.mark.usefixtures("media")

HOSTILE = "<script>alert(\"x\")</script> & 'quoted'"
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;"


def get(client, name, *args, **query) -> str:
    response = client.get(reverse(name, args=args), query)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def prompts(html: str) -> list[str]:
    return re.findall(r'<a class="clip-prompt" href="[^"]+">([^<]*)</a>', html)


def kept(part: str) -> int:
    return len([k for k in caches["template_fragments"]._cache if f".{part}." in k])


# --- Gallery: the held search string -------------------------------------------------


@pytest.fixture
def common_fox(team, member, monkeypatch):
    """Three clips whose word is common: a search for it takes the held page (on
    PostgreSQL) whatever else the text holds."""
    monkeypatch.setattr(search, "PROBE", 2)
    project = ProjectFactory(team=team, name="Harbour")
    for n in range(3):
        clip(project, f"Fox {n}", minutes_ago=n, created_by=member)
    return project


HELD = "Newest first: more clips match than can be ranked."


@pytest.mark.parametrize(
    "q",
    [
        "fox'; DROP TABLE generations_generation; --",
        "fox\\'; SELECT pg_sleep(5); --",
        "fox %s %(team)s %% 100%",
        "fox $$ $1 E'\\x00' ;;",
        "fox ünïcødé 狐 🦊",
        "fox " + "; '" * 60,
        "fox " + "f" * 190,
    ],
)
def test_hostile_text_on_the_held_page_is_only_text(member_client, common_fox, q):
    html = get(member_client, "gallery", q=q)
    assert Generation.objects.count() == 3
    if search.words(q) == ["fox"]:
        assert prompts(html) == ["Fox 0", "Fox 1", "Fox 2"]
        assert HELD in html or connection.vendor != "postgresql"


def test_unicode_words_and_quotes_go_in_the_held_statement(member_client, team, monkeypatch):
    monkeypatch.setattr(search, "PROBE", 2)
    project = ProjectFactory(team=team)
    for n in range(3):
        clip(project, f"Fox ünï 狐 o'neil {n}", minutes_ago=n)
    html = get(member_client, "gallery", q="fox ünï 狐 o'neil\\ %' ;")
    assert prompts(html) == [f"Fox ünï 狐 o&#x27;neil {n}" for n in range(3)]
    assert HELD in html or connection.vendor != "postgresql"


def test_the_held_page_with_every_filter_filled(member_client, common_fox, member, team):
    """Every filter's parameter goes into the held statement string with the page's."""
    scene = SceneFactory(project=common_fox, title="Docks")
    account = VendorAccountFactory(label="Pinned")
    g = clip(common_fox, "Fox with all", scene=scene, vendor_account=account, created_by=member)
    Favourite.objects.create(user=member, generation=g)
    today = timezone.localdate().isoformat()
    html = get(
        member_client,
        "gallery",
        q="fox' %",
        project=str(common_fox.uuid),
        scene=str(scene.uuid),
        account=str(account.uuid),
        member=member.username,
        family="seedance-2.0",
        since=today,
        until=today,
        favourites="on",
        mode="text",
    )
    assert prompts(html) == ["Fox with all"]


# --- Gallery: filters naming another team's rows -------------------------------------


def test_filters_naming_another_teams_rows_show_nothing(member_client, team, other_team, outsider):
    mine = ProjectFactory(team=team, name="Mine")
    clip(mine, "Our clip")
    theirs = ProjectFactory(team=other_team, name="Theirs")
    their_scene = SceneFactory(project=theirs, title="Their scene")
    clip(theirs, "Their clip", scene=their_scene, created_by=outsider)
    for query in (
        {"project": str(theirs.uuid)},
        {"scene": str(their_scene.uuid)},
        {"member": outsider.username},
        {"project": str(theirs.uuid).upper()},
        {"project": "not-a-uuid"},
        {"project": str(uuid.uuid4())},
        {"asset": "zzz"},
        {"scene": "' OR 1=1 --"},
    ):
        html = get(member_client, "gallery", **query)
        assert "Their clip" not in html and "Our clip" not in html, query


def test_a_member_of_two_teams_filters_each_by_their_own_clips(team, other_team, member):
    """The member filter reads created_by_id: the other team's clips by the same person
    stay out."""
    from django.test import Client

    MembershipFactory(team=other_team, user=member)
    clip(ProjectFactory(team=team), "Made here", created_by=member)
    clip(ProjectFactory(team=other_team), "Made there", created_by=member)
    client = Client()
    client.force_login(member)
    client.post(reverse("switch_team"), {"team": str(team.uuid)})
    html = get(client, "gallery", member=member.username)
    assert prompts(html) == ["Made here"]


# --- Gallery: kept cards -------------------------------------------------------------


def test_identical_looking_clips_of_two_teams_keep_their_own_cards(
    member_client, outsider_client, team, other_team
):
    here = clip(ProjectFactory(team=team, name="Same"), "Same prompt")
    there = clip(ProjectFactory(team=other_team, name="Same"), "Same prompt")
    ours = get(member_client, "gallery")
    theirs = get(outsider_client, "gallery")
    assert str(here.uuid) in ours and str(there.uuid) not in ours
    assert str(there.uuid) in theirs and str(here.uuid) not in theirs


def test_a_favourite_is_the_viewers_own_in_a_kept_card(member_client, viewer_client, member, team):
    g = clip(ProjectFactory(team=team), "Starred by one")
    get(viewer_client, "gallery")  # kept, unstarred
    Favourite.objects.create(user=member, generation=g)
    assert 'aria-pressed="true"' in get(member_client, "gallery")
    assert 'aria-pressed="true"' not in get(viewer_client, "gallery")


def test_kept_cards_follow_renames_and_hold_no_token(member_client, team):
    project = ProjectFactory(team=team, name="Before")
    scene = SceneFactory(project=project, title="Act one")
    clip(project, "A clip", scene=scene)
    html = get(member_client, "gallery")
    assert "Before · Act one" in html
    Project.objects.filter(pk=project.pk).update(name=HOSTILE)
    Scene.objects.filter(pk=scene.pk).update(title="Act two")
    html = get(member_client, "gallery")
    assert "Before" not in html and "Act two" in html
    assert ESCAPED in html and HOSTILE not in html
    for markup in caches["template_fragments"]._cache.values():
        assert "csrfmiddlewaretoken" not in str(markup)


def test_only_the_last_card_asks_for_more_wherever_a_kept_card_shows(
    member_client, team, monkeypatch
):
    monkeypatch.setattr(gallery_view, "GALLERY_PAGE", 2)
    project = ProjectFactory(team=team)
    for n in range(5):
        clip(project, f"Card {n}", minutes_ago=n)
    first = get(member_client, "gallery")
    assert first.count('hx-trigger="revealed"') == 1
    last_li = first.split('<li class="clip-card"')[-1]
    assert 'hx-trigger="revealed"' in last_li and "Card 1" in last_li
    # "Card 1", kept as the last card of that page, asks for nothing where it is not last.
    monkeypatch.setattr(gallery_view, "GALLERY_PAGE", 3)
    cards = get(member_client, "gallery").split('<li class="clip-card"')[1:]
    assert ['hx-trigger="revealed"' in li for li in cards] == [False, False, True]
    monkeypatch.setattr(gallery_view, "GALLERY_PAGE", 5)
    assert 'hx-trigger="revealed"' not in get(member_client, "gallery")


# --- Generate: the kept column --------------------------------------------------------


def test_the_kept_generate_column_is_the_teams_and_follows_accounts(
    member_client, owner_client, outsider_client, team, other_team
):
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    ours = ProjectFactory(team=team, name="Same name")
    theirs = ProjectFactory(team=other_team, name="Same name")
    html = get(member_client, "generate")
    assert str(ours.uuid) in html and str(theirs.uuid) not in html
    assert str(ours.uuid) in get(owner_client, "generate")
    other = get(outsider_client, "generate")
    assert str(theirs.uuid) in other and str(ours.uuid) not in other
    VendorAccount.objects.filter(pk=account.pk).update(enabled=False)
    assert "Kinovi main" not in get(member_client, "generate")
    Project.objects.filter(pk=ours.pk).update(name=HOSTILE)
    html = get(member_client, "generate")
    assert ESCAPED in html and HOSTILE not in html
    Project.objects.filter(pk=ours.pk).delete()
    assert "Same name" not in get(member_client, "generate")


def test_generate_query_strings_make_no_new_entries(member_client, team):
    """Values that are none of the choices make one entry per field at most (the select
    then shows none chosen), however many different ones are sent."""
    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    ProjectFactory(team=team)
    get(member_client, "generate")
    garbage = {
        "project": lambda n: f"nope-{n}",
        "account": lambda n: str(uuid.uuid4()),
        "variants": lambda n: str(50 + n),
        "family": lambda n: f"x{n}'\"<",
        "duration": lambda n: str(1000 + n),
        "aspect_ratio": lambda n: f"{n + 90}:1",
        "resolution": lambda n: f"{n}p%",
    }
    for name, value in garbage.items():
        before = kept("generate-main")
        for n in range(4):
            get(member_client, "generate", **{name: value(n)})
        assert kept("generate-main") <= before + 1, name


def test_generate_with_another_teams_scene_is_404(member_client, other_team):
    scene = SceneFactory(project=ProjectFactory(team=other_team))
    response = member_client.get(reverse("generate"), {"scene": str(scene.uuid)})
    assert response.status_code == 404
    assert member_client.get(reverse("generate"), {"scene": "nope"}).status_code == 404


def test_a_viewer_gets_no_generate_page_even_once_kept(member_client, viewer_client, team):
    ProjectFactory(team=team)
    get(member_client, "generate")
    assert viewer_client.get(reverse("generate")).status_code in (302, 403)


# --- Team page ------------------------------------------------------------------------


def test_team_page_is_the_current_teams_and_escapes(
    owner_client, viewer_client, team, other_team, owner, outsider
):
    Invitation.create(other_team, Role.MEMBER, outsider, "Their invitation")
    ApiToken.issue(other_team, outsider, "Their token", "read")
    Invitation.create(team, Role.MEMBER, owner, HOSTILE)
    ApiToken.issue(team, owner, HOSTILE, "read")
    MembershipFactory(team=other_team, user=owner)  # the owner is in both teams
    html = get(owner_client, "team")
    assert "Their invitation" not in html and "Their token" not in html
    assert "oscar" not in html
    assert HOSTILE not in html and html.count(ESCAPED) >= 2
    viewer = get(viewer_client, "team")
    assert "Their" not in viewer and "oscar" not in viewer
    assert "/invitations/" not in viewer or "revoke" not in viewer


def test_a_role_change_shows_at_once(owner_client, team, member):
    get(owner_client, "team")
    Membership.objects.filter(team=team, user=member).update(role=Role.VIEWER)
    html = get(owner_client, "team")
    row = html.split(f"<td>{member.username}")[1].split("</tr>")[0]
    assert 'value="viewer" selected' in row or ">Viewer<" in row


# --- Storyboard ------------------------------------------------------------------------


def test_storyboard_of_another_team_is_404_and_names_are_escaped(member_client, team, other_team):
    theirs = ProjectFactory(team=other_team, name="Same")
    assert member_client.get(reverse("storyboard", args=[theirs.uuid])).status_code == 404
    ours = ProjectFactory(team=team, name=HOSTILE)
    scene = SceneFactory(project=ours, title=HOSTILE)
    take = clip(ours, "Take", scene=scene)
    Scene.objects.filter(pk=scene.pk).update(chosen_take=take)
    html = get(member_client, "storyboard", ours.uuid)
    assert HOSTILE not in html and ESCAPED in html
    Scene.objects.filter(pk=scene.pk).update(title="Renamed scene", chosen_take=None)
    html = get(member_client, "storyboard", ours.uuid)
    assert "Renamed scene" in html


@pytest.mark.django_db(transaction=True)
def test_hostile_text_on_the_held_page_outside_a_transaction(member_client, common_fox):
    """As a request runs (autocommit): the held string is its own transaction."""
    html = get(member_client, "gallery", q="fox'); --\\ ;")
    assert prompts(html) == ["Fox 0", "Fox 1", "Fox 2"]
    assert HELD in html or connection.vendor != "postgresql"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW enable_sort")
            assert cursor.fetchone()[0] == "on"
