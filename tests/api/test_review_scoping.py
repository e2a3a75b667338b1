"""Another team's ids, wherever the API takes one, are 404: never an empty answer that
confirms they exist."""

import pytest

from tests.generations.factories import GenerationFactory, ProjectFactory, SceneFactory

pytestmark = pytest.mark.django_db


def assert_not_found(response):
    assert response.status_code == 404, response.content[:300]
    assert response.json()["code"] == "not_found"


def test_a_filter_naming_another_teams_project_or_scene_is_404(outsider_api, project):
    GenerationFactory(project=project)
    scene = SceneFactory(project=project)
    assert_not_found(outsider_api.get("/generations", project=str(project.uuid)))
    assert_not_found(outsider_api.get("/generations", scene=str(scene.uuid)))


def test_a_filter_naming_the_teams_own_project_still_works(owner_api, project, other_team):
    mine = GenerationFactory(project=project)
    GenerationFactory(project=ProjectFactory(team=project.team))
    results = owner_api.get("/generations", project=str(project.uuid)).json()["results"]
    assert [g["id"] for g in results] == [str(mine.uuid)]
