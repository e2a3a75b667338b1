"""The storyboard's written read (exports.storyboard_of, storyboard_scenes): the project and
its scenes in one query, each scene with what select_related loaded before."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations import access
from generations.media import exports
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.usefixtures("media")


def by_orm(project):
    return list(
        project.scenes.select_related("chosen_take__clip", "chosen_take__vendor_account").order_by(
            "number"
        )
    )


def test_the_scenes_are_what_select_related_read(team):
    project = ProjectFactory(team=team)
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    saved = SceneFactory(project=project, number=2, title="Saved")
    unsaved = SceneFactory(project=project, number=1, title="Still running")
    SceneFactory(project=project, number=3, title="Nothing chosen")
    saved.chosen_take = GenerationFactory(
        project=project, scene=saved, succeeded=True, vendor_account=account
    )
    saved.save()
    unsaved.chosen_take = GenerationFactory(project=project, scene=unsaved)
    unsaved.save()

    found, scenes = exports.storyboard_of(team.pk, access.public_id_param(project.uuid))
    assert found == project and found.name == project.name
    with CaptureQueriesContext(connection) as captured:
        for ours, theirs in zip(scenes, by_orm(project), strict=True):
            assert (ours.pk, ours.number, ours.title) == (theirs.pk, theirs.number, theirs.title)
            assert ours.project == project
            if theirs.chosen_take_id is None:
                assert ours.chosen_take is None
                continue
            assert ours.chosen_take == theirs.chosen_take
            assert ours.chosen_take.prompt == theirs.chosen_take.prompt
            assert ours.chosen_take.vendor_account == theirs.chosen_take.vendor_account
            assert hasattr(ours.chosen_take, "clip") == hasattr(theirs.chosen_take, "clip")
            if hasattr(theirs.chosen_take, "clip"):
                clip = ours.chosen_take.clip
                assert (clip.pk, clip.width, clip.duration) == (
                    theirs.chosen_take.clip.pk,
                    theirs.chosen_take.clip.width,
                    theirs.chosen_take.clip.duration,
                )
                assert clip.generation is ours.chosen_take
    assert len(captured) == 1  # by_orm's own query: ours loaded all it reads
    assert [s.title for s in exports.chosen_scenes(scenes)] == ["Saved"]
    assert [s.pk for s in exports.storyboard_scenes(project)] == [s.pk for s in scenes]


def test_a_project_without_scenes_and_another_teams_project(team):
    from tests.factories import TeamFactory

    project = ProjectFactory(team=team)
    assert exports.storyboard_of(team.pk, access.public_id_param(project.uuid)) == (project, [])
    other = TeamFactory()
    assert exports.storyboard_of(other.pk, access.public_id_param(project.uuid)) == (None, [])


def test_the_page_asks_as_much_for_many_scenes_as_for_one(member_client, project):
    def count():
        member_client.get(f"/projects/{project.uuid}/storyboard/")
        with CaptureQueriesContext(connection) as captured:
            response = member_client.get(f"/projects/{project.uuid}/storyboard/")
        assert response.status_code == 200
        return len(captured)

    scene = SceneFactory(project=project, number=1)
    scene.chosen_take = GenerationFactory(project=project, scene=scene, succeeded=True)
    scene.save()
    one = count()
    for n in range(2, 6):
        more = SceneFactory(project=project, number=n)
        more.chosen_take = GenerationFactory(project=project, scene=more, succeeded=True)
        more.save()
    assert count() == one
