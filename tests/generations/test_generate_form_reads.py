"""What the Generate form reads: the team's projects and the chosen project's scenes in
one query, and the team's routing policy only when there are routes to order."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations import routing
from generations.models import RoutingPolicy, TeamRouting
from generations.studio.forms import GenerateForm
from tests.generations.conftest import form_data, text_request
from tests.generations.factories import ProjectFactory, SceneFactory, VendorAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def studio(team, other_team):
    VendorAccountFactory(protocol="kinovi")
    trailer = ProjectFactory(team=team, name="Trailer")
    teaser = ProjectFactory(team=team, name="Alpha teaser")
    for project in (trailer, teaser):
        for number in (2, 1, 3):
            SceneFactory(project=project, number=number, title=f"{project.name} {number}")
    theirs = ProjectFactory(team=other_team, name="Theirs")
    SceneFactory(project=theirs, number=1, title="Their scene")
    return {"trailer": trailer, "teaser": teaser, "theirs": theirs}


def form_for(team, owner, **data):
    return GenerateForm(data or None, team=team, user=owner)


def test_the_chosen_projects_scenes_come_with_the_projects_in_one_query(team, owner, studio):
    with CaptureQueriesContext(connection) as captured:
        form = form_for(team, owner, **form_data(studio["trailer"]))
    assert [p.name for p in form.projects] == ["Alpha teaser", "Trailer"]
    assert form.project_value == studio["trailer"]
    assert [s.title for s in form.scenes] == ["Trailer 1", "Trailer 2", "Trailer 3"]
    assert all(s.project_id == studio["trailer"].pk for s in form.scenes)
    # The enabled accounts, then the projects with the chosen one's scenes: 3 queries
    # while the scenes were read on their own.
    [accounts, projects] = [q["sql"] for q in captured]
    assert "generations_vendoraccount" in accounts
    assert "generations_project" in projects and "generations_scene" in projects
    assert form.is_valid(), form.errors
    scene = studio["trailer"].scenes.get(number=2)
    chosen = form_for(team, owner, **form_data(studio["trailer"], scene=str(scene.uuid)))
    assert chosen.is_valid() and chosen.cleaned_data["scene"] == scene


@pytest.mark.parametrize(
    "asked",
    ["theirs", "nonsense", "upper", ""],
    ids=["another team's", "not a uuid", "a uuid written otherwise", "none"],
)
def test_a_project_that_is_not_one_of_the_teams_brings_no_scenes(team, owner, studio, asked):
    value = {
        "theirs": str(studio["theirs"].uuid),
        "nonsense": "'; DROP TABLE generations_scene; --",
        "upper": str(studio["trailer"].uuid).upper(),
        "": "",
    }[asked]
    form = form_for(team, owner, **form_data(studio["trailer"], project=value))
    assert form.project_value is None and form.scenes == []
    assert [p.name for p in form.projects] == ["Alpha teaser", "Trailer"]
    assert not form.is_valid() and "project" in form.errors
    their_scene = studio["theirs"].scenes.get()
    stolen = form_for(team, owner, **form_data(studio["theirs"], scene=str(their_scene.uuid)))
    assert not stolen.is_valid() and stolen.cleaned_data.get("scene") is None


def test_a_team_with_one_project_starts_the_page_on_it_with_its_scenes(team, owner):
    VendorAccountFactory(protocol="kinovi")
    only = ProjectFactory(team=team, name="Only")
    SceneFactory(project=only, number=1, title="Opening")
    form = form_for(team, owner)
    assert form.project_value == only and [s.title for s in form.scenes] == ["Opening"]
    assert form.initial["project"] == str(only.uuid)


def test_a_team_without_projects_reads_none(team, owner):
    VendorAccountFactory(protocol="kinovi")
    form = form_for(team, owner)
    assert form.projects == [] and form.scenes == [] and form.project_value is None


def _policy_reads(captured):
    return sum("generations_teamrouting" in q["sql"] for q in captured)


def test_one_route_needs_no_policy_two_are_ordered_by_it(team):
    cheap = VendorAccountFactory(protocol="kinovi", label="Cheap", priority=2)
    request = text_request()
    with CaptureQueriesContext(connection) as captured:
        offer = routing.route(team, request, accounts=[cheap])
    assert [r.account for r in offer.routes] == [cheap] and _policy_reads(captured) == 0

    dear = VendorAccountFactory(
        protocol="kinovi", label="Dear", priority=1, credit_value=cheap.credit_value * 2
    )
    TeamRouting.set_policy(team, RoutingPolicy.PRIORITY)
    with CaptureQueriesContext(connection) as captured:
        offer = routing.route(team, request, accounts=[cheap, dear])
    assert [r.account for r in offer.routes] == [dear, cheap] and _policy_reads(captured) == 1
    TeamRouting.set_policy(team, RoutingPolicy.CHEAPEST)
    offer = routing.route(team, request, accounts=[cheap, dear])
    assert [r.account for r in offer.routes] == [cheap, dear]
    # A pinned vendor is the one route, whatever the policy.
    with CaptureQueriesContext(connection) as captured:
        offer = routing.route(team, request, pinned=dear, accounts=[cheap, dear])
    assert [r.account for r in offer.routes] == [dear] and _policy_reads(captured) == 0
