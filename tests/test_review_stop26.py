"""Adversarial review of stop 26: the Generate form reading the team's projects and the
chosen project's scenes in one written query (now accounts_projects_and_scenes, read
with the enabled accounts), and route() reading the team's routing policy only when
there are two routes or more to order.

Every attack here held: these tests pin the behaviour that must not change.
"""

import uuid as uuidlib
from datetime import timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import ledger
from generations import routing
from generations.models import Generation, RoutingPolicy, Scene, TeamRouting
from generations.studio.forms import GenerateForm, accounts_projects_and_scenes
from tests.generations.conftest import form_data, text_request
from tests.generations.factories import ProjectFactory, SceneFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db


def spellings(value: uuidlib.UUID) -> dict[str, str]:
    """The ways a uuid may be written that Python's UUID() reads as the same uuid."""
    return {
        "upper": str(value).upper(),
        "braces": "{" + str(value) + "}",
        "no dashes": value.hex,
        "urn": value.urn,
        "upper hex": value.hex.upper(),
    }


@pytest.fixture
def studio(team, other_team, owner):
    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    ledger.grant(team, 100_000_000, by=owner, memo="Test budget", key="stop26-grant")
    a = ProjectFactory(team=team, name="Same name")
    b = ProjectFactory(team=team, name="Same name")  # equal names: both kept, by id
    c = ProjectFactory(team=team, name="Another")
    for project in (a, b, c):
        for number in (3, 1, 2):
            SceneFactory(project=project, number=number, title=f"{project.pk}-{number}")
    theirs = ProjectFactory(team=other_team, name="Same name")
    SceneFactory(project=theirs, number=1, title="Their scene")
    return {"a": a, "b": b, "c": c, "theirs": theirs}


def bound(team, user, data):
    return GenerateForm(data, team=team, user=user)


# --- Another team's project or scene through the new query ------------------------


@pytest.mark.parametrize("spelling", ["canonical", *spellings(uuidlib.uuid4())])
def test_another_teams_project_in_any_spelling_brings_none_of_its_scenes(
    team, owner, studio, spelling
):
    theirs = studio["theirs"]
    value = str(theirs.uuid) if spelling == "canonical" else spellings(theirs.uuid)[spelling]
    projects, scenes = accounts_projects_and_scenes(team, value)[1:]
    assert scenes == []  # the join is limited to the team's projects
    assert {p.team_id for p in projects} == {team.pk}
    assert theirs.pk not in {p.pk for p in projects}
    form = bound(team, owner, form_data(theirs, project=value))
    assert form.project_value is None and form.scenes == []
    assert not form.is_valid() and "project" in form.errors


@pytest.mark.parametrize("spelling", list(spellings(uuidlib.uuid4())))
def test_the_teams_own_project_written_otherwise_is_not_chosen_and_its_scenes_are_not_offered(
    team, owner, studio, spelling
):
    """The query itself matches a uuid in any spelling UUID() reads (it parses the posted
    value), but the form chooses a project only by its canonical text, as before: the
    scenes that came with the projects must then be dropped, not offered."""
    a = studio["a"]
    value = spellings(a.uuid)[spelling]
    _, scenes = accounts_projects_and_scenes(team, value)[1:]
    assert {s.project_id for s in scenes} == {a.pk}  # read, as documented
    form = bound(team, owner, form_data(a, project=value))
    assert form.project_value is None and form.scenes == []
    assert [c for c, _ in form.fields["scene"].choices] == [""]
    assert not form.is_valid() and "project" in form.errors


@pytest.mark.parametrize(
    "value",
    [
        "'; DROP TABLE generations_scene; --",
        "' OR 1=1 --",
        "00000000-0000-0000-0000-000000000000' OR '1'='1",
        "x" * 100_000,
        "a" * 32 + "0" * 100_000,
        "\x00",
        "urn:uuid:",
        "{}",
    ],
    ids=["drop", "or", "uuid then or", "long", "long hex", "nul", "urn only", "braces"],
)
def test_hostile_project_values_read_the_teams_projects_and_no_scenes(team, owner, studio, value):
    projects, scenes = accounts_projects_and_scenes(team, value)[1:]
    assert scenes == []
    assert sorted(p.pk for p in projects) == sorted(studio[k].pk for k in ("a", "b", "c"))
    form = bound(team, owner, form_data(studio["a"], project=value))
    assert form.project_value is None and not form.is_valid()
    assert Scene.objects.count() == 10  # nothing dropped


@pytest.mark.parametrize("value", [None, "", 0, ["x"], {"a": 1}, 12345, True])
def test_non_text_project_values_are_nothing_asked(team, studio, value):
    projects, scenes = accounts_projects_and_scenes(team, value)[1:]
    assert len(projects) == 3 and scenes == []


# --- Scenes: never mixed, never another project's -------------------------------


def test_the_scenes_offered_are_the_chosen_projects_only_by_number(team, owner, studio):
    for key in ("a", "b", "c"):
        project = studio[key]
        form = bound(team, owner, form_data(project))
        assert form.project_value == project
        assert [s.project_id for s in form.scenes] == [project.pk] * 3
        assert [s.number for s in form.scenes] == [1, 2, 3]
        assert form.is_valid(), form.errors


def test_equal_names_are_two_projects_in_id_order_each_with_its_own_scenes(team, owner, studio):
    a, b, c = studio["a"], studio["b"], studio["c"]
    form = bound(team, owner, form_data(b))
    assert [p.pk for p in form.projects] == [c.pk, a.pk, b.pk]  # Another, then by id
    assert [s.project_id for s in form.scenes] == [b.pk] * 3
    choices = [v for v, _ in form.fields["project"].choices]
    assert choices == ["", str(c.uuid), str(a.uuid), str(b.uuid)]


def test_a_scene_of_project_a_submitted_with_project_b_is_refused(team, owner, studio):
    a_scene = studio["a"].scenes.get(number=1)
    form = bound(team, owner, form_data(studio["b"], scene=str(a_scene.uuid)))
    assert not form.is_valid() and "scene" in form.errors
    assert form.cleaned_data.get("scene") is None
    their_scene = studio["theirs"].scenes.get()
    form = bound(team, owner, form_data(studio["a"], scene=str(their_scene.uuid)))
    assert not form.is_valid() and "scene" in form.errors


def test_a_project_posted_twice_is_the_last_one_for_the_field_the_scenes_and_the_value(
    team, owner, studio
):
    """A multipart body with project twice: the field's value, the chosen project and the
    scenes offered must all be the same one (QueryDict.get: the last)."""
    a, b = studio["a"], studio["b"]
    b_scene = b.scenes.get(number=2)
    a_scene = a.scenes.get(number=2)
    data = QueryDict(mutable=True)
    data.update(form_data(a, scene=str(b_scene.uuid)))
    data.setlist("project", [str(a.uuid), str(b.uuid)])
    form = bound(team, owner, data)
    assert form.project_value == b
    assert {s.project_id for s in form.scenes} == {b.pk}
    assert form.is_valid(), form.errors
    assert form.cleaned_data["project"] == b and form.cleaned_data["scene"] == b_scene
    data["scene"] = str(a_scene.uuid)  # the first project's scene with the last project
    assert not bound(team, owner, data).is_valid()


def test_a_submission_never_puts_a_job_in_a_scene_of_another_project(
    member_client, team, studio, queued, django_capture_on_commit_callbacks
):
    """End to end through POST /generate/, with the project posted twice."""
    a, b = studio["a"], studio["b"]
    a_scene = a.scenes.get(number=1)
    data = form_data(b, scene=str(a_scene.uuid))
    data["project"] = [str(a.uuid), str(b.uuid)]
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/generate/", data)
    assert response.status_code == 200  # the form again, with the scene refused
    assert Generation.objects.count() == 0
    data["project"] = [str(b.uuid), str(a.uuid)]  # now the scene's own project is last
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/generate/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    [job] = Generation.objects.all()
    assert (job.project, job.scene) == (a, a_scene)


def test_the_page_its_quote_and_a_submission_offer_the_same_scenes(
    member_client, team, studio, queued
):
    b = studio["b"]
    scenes = [str(s.uuid) for s in b.scenes.order_by("number")]
    page = member_client.get("/generate/", {"project": str(b.uuid)}).content.decode()
    quote = member_client.post(
        "/generate/quote/", form_data(b), HTTP_HX_REQUEST="true"
    ).content.decode()
    refresh = member_client.post(
        "/generate/", form_data(b, intent="refresh"), HTTP_HX_REQUEST="true"
    ).content.decode()
    for html in (page, refresh):
        offered = [u for u in scenes if f'value="{u}"' in html]
        assert offered == scenes
        for other in Scene.objects.exclude(project=b):
            assert str(other.uuid) not in html
    assert "$1.00" in quote
    assert Generation.objects.count() == 0


# --- Teams with no or one project; the default on GET -----------------------------


def test_a_team_without_projects_asked_for_another_teams_reads_nothing(team, owner, other_team):
    theirs = ProjectFactory(team=other_team)
    SceneFactory(project=theirs, number=1)
    assert accounts_projects_and_scenes(team, str(theirs.uuid))[1:] == ([], [])
    form = GenerateForm(team=team, user=owner, initial={"project": str(theirs.uuid)})
    assert form.projects == [] and form.scenes == [] and form.project_value is None


def test_one_project_is_the_default_on_get_even_when_another_teams_is_asked(
    team, owner, other_team
):
    only = ProjectFactory(team=team, name="Only")
    SceneFactory(project=only, number=1, title="Opening")
    theirs = ProjectFactory(team=other_team)
    SceneFactory(project=theirs, number=1, title="Theirs")
    for initial in (None, {"project": str(theirs.uuid)}, {"project": str(only.uuid).upper()}):
        form = GenerateForm(team=team, user=owner, initial=initial)
        assert form.project_value == only
        assert [s.title for s in form.scenes] == ["Opening"]
    # Posted (bound), a team's only project is not chosen for it.
    posted = GenerateForm({"prompt": "x"}, team=team, user=owner)
    assert posted.project_value is None and posted.scenes == []


def test_the_query_reads_uuids_as_stored_on_this_database(team):
    """SQLite keeps a uuid as 32 hex digits, PostgreSQL as a uuid: the posted uuid must
    be prepared for the database (a canonical string would match nothing on SQLite)."""
    project = ProjectFactory(team=team)
    SceneFactory(project=project, number=1)
    with connection.cursor() as cursor:
        cursor.execute('SELECT uuid FROM "generations_project" WHERE id = %s', [project.pk])
        [stored] = cursor.fetchone()
    if connection.vendor == "sqlite":
        assert stored == project.uuid.hex
    projects, scenes = accounts_projects_and_scenes(team, str(project.uuid))[1:]
    assert projects == [project] and [s.project_id for s in scenes] == [project.pk]
    assert isinstance(projects[0].uuid, uuidlib.UUID)
    assert isinstance(scenes[0].uuid, uuidlib.UUID)


# --- Routing: the order when routes drop to one, and when there are several ---------


def _policy_reads(captured):
    return sum("generations_teamrouting" in q["sql"] for q in captured)


def test_routes_dropping_to_one_by_a_refusing_account_or_a_pin_need_no_order(team):
    cheap = VendorAccountFactory(protocol="kinovi", label="Cheap", priority=2)
    dear = VendorAccountFactory(
        protocol="kinovi", label="Dear", priority=1, credit_value=cheap.credit_value * 2
    )
    refuses = VendorAccountFactory(protocol="kinovi", label="Refuses", priority=0)
    refuses.price_rules = {}
    refuses.save()
    TeamRouting.set_policy(team, RoutingPolicy.PRIORITY)
    request = text_request()
    with CaptureQueriesContext(connection) as captured:
        three = routing.route(team, request, accounts=[cheap, dear, refuses])
    # Two serve: the policy orders them (priority first); the one that refuses says why.
    assert [r.account for r in three.routes] == [dear, cheap]
    assert three.problems and _policy_reads(captured) == 1
    with CaptureQueriesContext(connection) as captured:
        one = routing.route(team, request, accounts=[cheap, refuses])
    assert [r.account for r in one.routes] == [cheap] and one.problems
    assert one.hold_micros == one.first.micros and _policy_reads(captured) == 0
    with CaptureQueriesContext(connection) as captured:
        pinned = routing.route(team, request, pinned=cheap, accounts=[cheap, dear, refuses])
    assert [r.account for r in pinned.routes] == [cheap] and _policy_reads(captured) == 0
    none = routing.route(team, request, pinned=refuses, accounts=[cheap, dear, refuses])
    assert none.routes == [] and none.first is None and none.hold_micros == 0
    TeamRouting.set_policy(team, RoutingPolicy.CHEAPEST)
    assert [r.account for r in routing.route(team, request).routes] == [cheap, dear]


@pytest.mark.parametrize("policy", [RoutingPolicy.PRIORITY, RoutingPolicy.CHEAPEST])
def test_the_quote_and_the_submission_route_in_the_same_order(
    member_client, team, studio, queued, django_capture_on_commit_callbacks, policy
):
    """The job is held for the dearer route and sent to the route the quote named first."""
    cheap = routing.route(team, text_request()).routes[0].account
    dear = VendorAccountFactory(
        protocol="kinovi", label="Dear", priority=1, credit_value=cheap.credit_value * 2
    )
    TeamRouting.set_policy(team, policy)
    first, then = (dear, cheap) if policy == RoutingPolicy.PRIORITY else (cheap, dear)
    quote = member_client.post(
        "/generate/quote/", form_data(studio["a"]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert first.label in quote and then.label in quote
    assert quote.index(first.label) < quote.index(then.label)
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/generate/", form_data(studio["a"]))
    assert response.status_code == 302
    [job] = Generation.objects.all()
    assert job.hold.amount == max(r.micros for r in routing.route(team, text_request()).routes)
    offer = routing.route(team, text_request())
    assert offer.first.account == first


# --- The de-flaked "due later" tests: what they guard, without the clock's race -------


def test_follow_later_puts_the_next_check_a_whole_longest_poll_ahead(settings):
    """What test_every_job_ends' deadline test guards (follow_later pushes next_check_at
    into the future), asserted against the time before the call, so no speed matters."""
    from generations.lifecycle import follow
    from tests.generations.factories import GenerationFactory

    settings.GENERATION_POLL_MAX_SECONDS = 7
    job = GenerationFactory(running=True)
    before = timezone.now()
    follow.follow_later(job)
    job.refresh_from_db()
    assert job.claimed_at is None
    assert job.next_check_at >= before + timedelta(seconds=7)


@pytest.mark.parametrize("called_back", [False, True])
def test_the_next_poll_is_never_sooner_than_its_jittered_share(settings, called_back):
    """What the two sweep tests guard: a check puts the next one in the future."""
    from generations.lifecycle import seconds_to_next_check

    settings.GENERATION_POLL_FIRST_SECONDS = settings.GENERATION_POLL_MAX_SECONDS = 30
    settings.GENERATION_CALLBACK_POLL_SECONDS = None
    for checks in range(6):
        assert seconds_to_next_check(checks, called_back) >= 0.8 * 30
