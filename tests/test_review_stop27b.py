"""Adversarial review of stop 27 (b): the Generate form's one-join read of the team's
projects and the chosen project's scenes (generations/studio/forms.py).

These pin what held: a chosen project without scenes, a team with many projects (each
listed once, by name), and one query for both lists whatever their size.
"""

from uuid import uuid4

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations.models import Project, Scene
from generations.studio.forms import GenerateForm, accounts_projects_and_scenes
from tests.factories import TeamFactory

MANY = 130


def joined(queries):
    return [q for q in queries if 'FROM "generations_project" p' in q["sql"]]


@pytest.fixture
def many_projects(team):
    """MANY projects named so that their order by name is not their order of creation;
    the one named "p-064" has three scenes, "p-000" none."""
    projects = Project.objects.bulk_create(
        Project(team=team, name=f"p-{(n * 37) % MANY:03d}") for n in range(MANY)
    )
    rich = next(p for p in projects if p.name == "p-064")
    for number in (3, 1, 2):
        Scene.objects.create(project=rich, number=number, title=f"Scene {number}")
    return projects


@pytest.mark.django_db
def test_a_chosen_project_without_scenes_lists_every_project_and_no_scene(team, many_projects):
    """Held: the LEFT JOIN keeps a project without scenes, once, and offers no scene."""
    empty = next(p for p in many_projects if p.name == "p-000")
    with CaptureQueriesContext(connection) as queries:
        projects, scenes = accounts_projects_and_scenes(team, str(empty.uuid))[1:]
    assert [p.name for p in projects] == [f"p-{n:03d}" for n in range(MANY)]
    assert scenes == []
    # The projects with their scenes in one query; the enabled accounts, read with it.
    assert len(joined(queries)) == 1 and len(queries.captured_queries) == 2


@pytest.mark.django_db
def test_many_projects_and_the_chosen_ones_scenes_come_in_one_query(team, many_projects):
    """Held: more than a hundred projects, each once; the chosen one's scenes by number,
    each with its project; still a single query (and the enabled accounts, sent with it)."""
    rich = next(p for p in many_projects if p.name == "p-064")
    with CaptureQueriesContext(connection) as queries:
        projects, scenes = accounts_projects_and_scenes(team, rich.uuid)[1:]
    assert len(projects) == len({p.pk for p in projects}) == MANY
    assert [s.number for s in scenes] == [1, 2, 3]
    assert {s.project_id for s in scenes} == {rich.pk}
    assert len(queries.captured_queries) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("asked", [None, "", "not-a-uuid", str(uuid4())])
def test_no_or_unknown_project_asked_gives_the_projects_and_no_scene(team, many_projects, asked):
    """Held: nothing asked, garbage, or a uuid of no project: every project, no scene."""
    projects, scenes = accounts_projects_and_scenes(team, asked)[1:]
    assert len(projects) == MANY and scenes == []


@pytest.mark.django_db
def test_another_teams_project_with_scenes_gives_none_of_its_scenes(team, many_projects):
    """Held: the join's uuid test cannot pull another team's scenes into this team's list."""
    other = TeamFactory(name="Other")
    theirs = Project.objects.create(team=other, name="Theirs")
    Scene.objects.create(project=theirs, number=1, title="Secret")
    projects, scenes = accounts_projects_and_scenes(team, str(theirs.uuid))[1:]
    assert theirs.pk not in {p.pk for p in projects}
    assert scenes == []


@pytest.mark.django_db
def test_the_form_offers_the_empty_projects_choices_in_one_join(team, member, many_projects):
    """Held: the Generate form bound to a project without scenes offers all MANY projects
    and only the empty scene choice, reading them with one joined query."""
    empty = next(p for p in many_projects if p.name == "p-000")
    data = {"project": str(empty.uuid), "prompt": "x", "family": "seedance-2"}
    with CaptureQueriesContext(connection) as queries:
        form = GenerateForm(data, team=team, user=member)
    project_values = [v for v, _ in form.fields["project"].choices if v]
    assert len(project_values) == MANY and str(empty.uuid) in project_values
    assert [v for v, _ in form.fields["scene"].choices if v] == []
    assert len(joined(queries.captured_queries)) == 1
