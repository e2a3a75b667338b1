"""The Gallery: team clips only, filters as a shareable GET form, keyset infinite scroll."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.models import Favourite
from tests.factories import MembershipFactory
from tests.generations.factories import (
    ClipFactory,
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Orchard")


def clip(project, **kwargs):
    return GenerationFactory(project=project, succeeded=True, **kwargs)


def cards(html):
    return html.count('<li class="clip-card"')


def next_page_url(html):
    """The address the last card asks for when it scrolls into view."""
    last = html.split('hx-trigger="revealed"')[0].rsplit('<li class="clip-card"', 1)[1]
    return last.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")


def test_it_shows_the_teams_finished_clips_only(member_client, project, other_team):
    clip(project, prompt="Apples falling in slow motion")
    GenerationFactory(project=project, running=True, prompt="Still rendering pears")
    GenerationFactory(project=project, failed=True, prompt="Failed plums")
    clip(ProjectFactory(team=other_team), prompt="The rival's cherries")
    html = member_client.get("/gallery/").content.decode()
    assert "Apples falling in slow motion" in html
    assert "Still rendering pears" not in html
    assert "Failed plums" not in html
    assert "cherries" not in html
    assert cards(html) == 1


def test_the_number_of_queries_is_the_same_at_10_and_at_200_clips(
    member_client, member, team, project, django_assert_num_queries
):
    scene = SceneFactory(project=project)
    account = VendorAccountFactory()
    MembershipFactory(team=team)  # another member in the "made by" filter

    def add(count):
        for n in range(count):
            g = clip(
                project, scene=scene if n % 2 else None, vendor_account=account, created_by=member
            )
            if n % 3 == 0:
                Favourite.objects.create(user=member, generation=g)

    add(10)
    with CaptureQueriesContext(connection) as warm_up:
        member_client.get("/gallery/")
    expected = len(warm_up)
    with django_assert_num_queries(expected):
        html = member_client.get("/gallery/").content.decode()
    assert cards(html) == 10
    add(190)
    with django_assert_num_queries(expected):
        html = member_client.get("/gallery/").content.decode()
    assert cards(html) == 24
    assert html.count('aria-pressed="true"') >= 8


def test_keyset_pages_follow_each_other_without_repeats_or_gaps(member_client, project):
    now = timezone.now()
    made = [clip(project, prompt=f"Blossom number {n:03d}") for n in range(60)]
    # Ties on `created` must still page cleanly: the id breaks them.
    for n, g in enumerate(made):
        g.created = now - timedelta(minutes=n // 10)
        g.save(update_fields=["created"])

    seen = []
    html = member_client.get("/gallery/").content.decode()
    while True:
        seen += [g.prompt for g in made if f">{g.prompt}</a>" in html]
        if 'hx-trigger="revealed"' not in html:
            break
        html = member_client.get(next_page_url(html), HTTP_HX_REQUEST="true").content.decode()
        assert "<html" not in html
        assert 'id="gallery-results"' not in html  # the cards alone, swapped in after the last
    assert len(seen) == 60
    assert len(set(seen)) == 60


def test_only_the_last_card_of_a_page_that_has_more_asks_for_the_next(member_client, project):
    for _ in range(25):
        clip(project)
    html = member_client.get("/gallery/").content.decode()
    assert html.count('hx-trigger="revealed"') == 1
    assert 'hx-swap="afterend"' in html
    last = html.split('hx-trigger="revealed"')[0]
    assert last.count('<li class="clip-card"') == 24
    assert "Older clips" in html  # the same next page as a plain link, without JavaScript
    final = member_client.get(next_page_url(html), HTTP_HX_REQUEST="true").content.decode()
    assert cards(final) == 1
    assert "revealed" not in final


def test_the_next_page_keeps_the_filters(member_client, project):
    for n in range(60):
        clip(project, prompt=f"{'Pear' if n % 2 else 'Apple'} tree in wind {n}")
    html = member_client.get("/gallery/?q=pear&family=seedance-2.0").content.decode()
    assert cards(html) == 24
    url = next_page_url(html)
    assert "q=pear" in url
    assert "family=seedance-2.0" in url
    rest = member_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert cards(rest) == 6
    assert "Apple" not in rest


def test_prompt_search_from_htmx_gets_the_results_fragment_and_a_clean_address(
    member_client, project
):
    clip(project, prompt="Apples falling in slow motion")
    clip(project, prompt="A tractor at dawn")
    response = member_client.get(
        "/gallery/?q=tractor&project=&scene=&family=",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="gallery-results",
    )
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="gallery-results"')
    assert "A tractor at dawn" in html
    assert "Apples" not in html
    assert response["HX-Push-Url"] == "/gallery/?q=tractor"


def test_a_filtered_address_is_shareable_as_a_whole_page(member_client, project):
    clip(project, prompt="A tractor at dawn")
    clip(project, prompt="Apples falling")
    html = member_client.get("/gallery/?q=tractor").content.decode()
    assert "<html" in html
    assert 'value="tractor"' in html
    assert 'hx-trigger="input changed delay:250ms, search"' in html
    assert 'hx-push-url="true"' in html
    assert "A tractor at dawn" in html
    assert "Apples falling" not in html


def test_every_filter_narrows_the_clips(member_client, member, owner, project, team):
    other_project = ProjectFactory(team=team, name="Vineyard")
    scene = SceneFactory(project=project, title="Harvest")
    fast = VendorAccountFactory(label="Fast vendor")
    old = clip(project, prompt="Old clip", created_by=owner)
    old.created = timezone.now() - timedelta(days=40)
    old.save(update_fields=["created"])
    clip(project, prompt="Scene clip", scene=scene, created_by=member)
    clip(other_project, prompt="Vineyard clip", family="seedance-2.0-fast", vendor_account=fast)
    favourite = clip(project, prompt="Loved clip")
    Favourite.objects.create(user=member, generation=favourite)

    def shown(query):
        html = member_client.get("/gallery/?" + query).content.decode()
        return {p for p in ("Old clip", "Scene clip", "Vineyard clip", "Loved clip") if p in html}

    assert shown(f"project={other_project.uuid}") == {"Vineyard clip"}
    assert shown(f"scene={scene.uuid}") == {"Scene clip"}
    assert shown("family=seedance-2.0-fast") == {"Vineyard clip"}
    assert shown(f"account={fast.uuid}") == {"Vineyard clip"}
    assert shown(f"member={owner.username}") == {"Old clip"}
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert "Old clip" not in shown(f"since={since}")
    until = (timezone.now() - timedelta(days=30)).date().isoformat()
    assert shown(f"until={until}") == {"Old clip"}
    assert shown("favourites=on") == {"Loved clip"}


def test_the_filters_offer_only_the_teams_projects_and_people(
    member_client, project, other_team, outsider
):
    ProjectFactory(team=other_team, name="Rival secret project")
    html = member_client.get("/gallery/").content.decode()
    assert "Orchard" in html
    assert "Rival secret project" not in html
    assert outsider.username not in html


def test_a_cursor_that_does_not_parse_shows_no_more_cards_rather_than_the_first_again(
    member_client, project
):
    clip(project, prompt="Newest blossom")
    for cursor in ("garbage!", "r", "r-1", "r99999", "r3"):
        response = member_client.get(f"/gallery/?cursor={cursor}", HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert "Newest blossom" not in response.content.decode()
        assert "<html" not in response.content.decode()
    # Without htmx the page still stands, with its filters, and a way back to the newest.
    html = member_client.get("/gallery/?cursor=garbage!").content.decode()
    assert "Back to the newest" in html and "<html" in html


def test_viewers_browse_the_gallery_and_may_keep_favourites(viewer_client, viewer, project):
    g = clip(project, prompt="Apple blossom")
    html = viewer_client.get("/gallery/").content.decode()
    assert "Apple blossom" in html
    assert "New clip" not in html
    response = viewer_client.post(f"/clips/{g.uuid}/favourite/", HTTP_HX_REQUEST="true")
    assert 'aria-pressed="true"' in response.content.decode()
    assert Favourite.objects.filter(user=viewer, generation=g).exists()


def test_the_poster_links_to_the_clip_and_carries_the_preview_address(member_client, project):
    g = clip(project)
    html = member_client.get("/gallery/").content.decode()
    assert f'data-preview="/clips/{g.uuid}/video.mp4"' in html
    assert f'src="/clips/{g.uuid}/poster.jpg"' in html
    assert f'href="/clips/{g.uuid}/"' in html


def test_a_clip_without_its_file_record_is_left_out(member_client, project):
    GenerationFactory(project=project, state="succeeded", prompt="Succeeded but nothing stored")
    assert "Succeeded but nothing stored" not in member_client.get("/gallery/").content.decode()
    ClipFactory(generation__project=project, generation__prompt="Stored clip")
    assert "Stored clip" in member_client.get("/gallery/").content.decode()


def test_the_filter_lists_come_in_one_query_in_order_and_for_this_team_only(
    team, owner, member, other_team, django_assert_num_queries
):
    from generations.studio.gallery_filters import filter_lists

    b = ProjectFactory(team=team, name="B roll")
    a = ProjectFactory(team=team, name="A story")
    SceneFactory(project=b, number=2, title="Dusk")
    SceneFactory(project=b, number=1, title="Dawn")
    first = SceneFactory(project=a, number=1, title="Opening")
    ProjectFactory(team=other_team, name="Not ours")
    account = VendorAccountFactory(label="Kinovi main")
    with django_assert_num_queries(1):
        lists = filter_lists(team)
    assert lists["project"] == [(str(a.uuid), "A story"), (str(b.uuid), "B roll")]
    assert [label for _, label in lists["scene"]] == [
        "A story · 1. Opening",
        "B roll · 1. Dawn",
        "B roll · 2. Dusk",
    ]
    assert lists["scene"][0][0] == str(first.uuid)
    assert lists["account"] == [(str(account.uuid), "Kinovi main")]
    assert lists["member"] == sorted((u.username, u.username) for u in (owner, member))


def test_a_card_says_what_made_the_clip_in_words(member_client, project):
    from generations.models import Clip

    g = clip(project, prompt="x" * 120)
    Clip.objects.filter(generation=g).update(duration=2.5)
    html = member_client.get("/gallery/").content.decode()
    assert '<span class="clip-duration">3 s</span>' in html  # rounded as floatformat:0
    assert f">{'x' * 89}…</a>" in html
    assert f"Orchard · {g.family_label}<br>" in html  # no scene: project and model
    assert f'href="/clips/{g.uuid}/"' in html and f'action="/clips/{g.uuid}/favourite/"' in html


def test_the_date_filters_take_whole_days_and_read_no_date_of_every_row(member_client, project):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    g = clip(project, prompt="Midnight clip")
    day = timezone.localtime(g.created).date()
    g.created = timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time()))
    g.save(update_fields=["created"])
    for query in (f"since={day}", f"until={day}", f"since={day}&until={day}"):
        with CaptureQueriesContext(connection) as queries:
            html = member_client.get(f"/gallery/?{query}").content.decode()
        assert "Midnight clip" in html, query
        # A range of instants, not a date cast of each row's timestamp.
        assert not [q for q in queries.captured_queries if "::date" in q["sql"]]
        assert not [q for q in queries.captured_queries if "django_datetime_cast_date" in q["sql"]]
    before = day - timezone.timedelta(days=1)
    assert "Midnight clip" not in member_client.get(f"/gallery/?until={before}").content.decode()


def test_the_last_day_there_is_filters_without_overflowing(member_client):
    assert member_client.get("/gallery/?until=9999-12-31").status_code == 200


def test_a_plain_page_picks_and_reads_its_cards_in_one_query(member_client, project):
    for n in range(5):
        clip(project, prompt=f"Take {n}")
    with CaptureQueriesContext(connection) as captured:
        html = member_client.get("/gallery/").content.decode()
    reads = [q["sql"] for q in captured if 'FROM "generations_generation"' in q["sql"]]
    assert len(reads) == 1 and "LIMIT 25" in reads[0]
    assert cards(html) == 5


def test_a_cards_row_read_by_hand_is_the_row_values_gave(rf, owner, project, team):
    """The cards' constant SQL answers what the ORM's values() did, with the same types on
    both databases (uuid, aware time, a real bool): a card and its kept markup's digest
    read them so."""
    from types import SimpleNamespace

    from django.db.models import Exists, OuterRef
    from django.db.models.fields.json import KT

    from generations.models import Generation
    from generations.studio.views.gallery import CARD_FIELDS, _card_rows

    mine = clip(project, created_by=owner, request={"mode": "image"})
    other = clip(project, scene=SceneFactory(project=project), request={})
    Favourite.objects.create(user=owner, generation=mine)
    request = SimpleNamespace(user=owner, team=team)
    favourite = Favourite.objects.filter(user=owner, generation=OuterRef("pk"))
    expected = list(
        Generation.objects.filter(pk__in=[mine.pk, other.pk])
        .annotate(is_favourite=Exists(favourite))
        .values("pk", "is_favourite", *CARD_FIELDS, mode=KT("request__mode"))
        .order_by("pk")
    )
    rows = sorted(_card_rows(request, "%s, %s", [mine.pk, other.pk]), key=lambda row: row["pk"])
    assert rows == expected
    assert [type(value) for value in rows[0].values()] == [
        type(value) for value in expected[0].values()
    ]


def test_a_listed_filter_reads_its_column_by_id_without_a_join(
    member_client, member, project, team
):
    """A project, scene, vendor or member chosen from the filter lists is a row id read
    with the lists (lists_and_ids): the page reads generations' own column, joins no
    table to match a uuid or a name, and the planner knows which index serves it."""
    scene = SceneFactory(project=project)
    account = VendorAccountFactory()
    clip(project, scene=scene, vendor_account=account, created_by=member, prompt="Kept")
    clip(ProjectFactory(team=team), prompt="Elsewhere")
    chosen = {
        "project": (project.uuid, f'"project_id" = {project.pk}'),
        "scene": (scene.uuid, f'"scene_id" = {scene.pk}'),
        "account": (account.uuid, f'"vendor_account_id" = {account.pk}'),
        "member": (member.username, f'"created_by_id" = {member.pk}'),
    }
    for name, (value, column) in chosen.items():
        with CaptureQueriesContext(connection) as captured:
            html = member_client.get("/gallery/", {name: value}).content.decode()
        assert cards(html) == 1 and "Kept" in html, name
        page = next(q["sql"] for q in captured if "generations_favourite" in q["sql"])
        chosen_ids = page.split("WHERE g.id IN", 1)[1]
        assert column in chosen_ids, name
        for table in ("generations_project", "generations_scene", "auth_user"):
            assert f'JOIN "{table}"' not in chosen_ids, (name, table)
        assert "generations_vendoraccount" not in chosen_ids, name
