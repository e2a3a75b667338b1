"""Projects, their scenes and takes, choosing takes, and the storyboard."""

import pytest

from billing import ledger
from billing.models import ProjectUsage
from generations.models import Project, Scene
from tests.generations.factories import GenerationFactory, ProjectFactory, SceneFactory

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Coastline", created_by=owner)


@pytest.fixture
def scene(project):
    return SceneFactory(project=project, title="Cliffs")


@pytest.fixture
def take(scene):
    return GenerationFactory(
        project=scene.project, scene=scene, succeeded=True, prompt="Waves on cliffs"
    )


def test_the_projects_page_lists_the_teams_projects_only(member_client, project, other_team):
    ProjectFactory(team=other_team, name="Rival harbour")
    html = member_client.get("/projects/").content.decode()
    assert "Coastline" in html
    assert "Rival harbour" not in html


def test_a_member_creates_a_project(member_client, member, team):
    response = member_client.post("/projects/", {"name": "Desert road", "description": "Heat haze"})
    project = Project.objects.get(name="Desert road")
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.uuid}/"
    assert project.team == team
    assert project.created_by == member


def test_a_project_needs_a_name_and_the_error_sits_by_the_field(member_client):
    html = member_client.post("/projects/", {"name": "", "description": "Kept"}).content.decode()
    name_field = html.split('for="id_name"')[1].split("</div>")[0]
    assert "This field is required." in name_field
    assert "Kept</textarea>" in html
    assert not Project.objects.exists()


def test_viewers_may_browse_projects_but_not_create_them(viewer_client, project):
    html = viewer_client.get("/projects/").content.decode()
    assert "Coastline" in html
    assert "Create project" not in html
    assert viewer_client.post("/projects/", {"name": "Sneaky"}).status_code == 403
    assert not Project.objects.filter(name="Sneaky").exists()


def test_outsiders_get_not_found_for_every_project_and_scene_address(
    outsider_client, project, scene, take
):
    for url in ("", "storyboard/", "storyboard.zip", "storyboard/export/status/", "storyboard.mp4"):
        assert outsider_client.get(f"/projects/{project.uuid}/{url}").status_code == 404, url
    assert (
        outsider_client.post(f"/projects/{project.uuid}/scenes/", {"new-title": "x"}).status_code
        == 404
    )
    assert outsider_client.post(f"/projects/{project.uuid}/storyboard/export/").status_code == 404
    assert outsider_client.post(f"/scenes/{scene.uuid}/edit/").status_code == 404
    assert (
        outsider_client.post(f"/scenes/{scene.uuid}/take/", {"take": str(take.uuid)}).status_code
        == 404
    )
    scene.refresh_from_db()
    assert scene.chosen_take is None


def test_the_project_page_shows_scenes_in_order_with_their_takes_side_by_side(
    member_client, project
):
    second = SceneFactory(project=project, number=2, title="Lighthouse")
    first = SceneFactory(project=project, number=1, title="Dawn")
    GenerationFactory(project=project, scene=first, succeeded=True, prompt="Dawn take one")
    GenerationFactory(project=project, scene=first, succeeded=True, prompt="Dawn take two")
    GenerationFactory(project=project, scene=second, running=True, prompt="Lighthouse in progress")
    GenerationFactory(project=project, scene=second, failed=True, prompt="Lighthouse failure")
    html = member_client.get(f"/projects/{project.uuid}/").content.decode()
    assert html.index("Dawn") < html.index("Lighthouse")
    dawn = html.split(f'id="scene-{first.uuid}"')[1].split("</section>")[0]
    assert dawn.count('<li class="take') == 2
    assert dawn.count("Use this take") == 2
    lighthouse = html.split(f'id="scene-{second.uuid}"')[1].split("</section>")[0]
    assert "Generating · 40%" in lighthouse
    assert "Lighthouse failure" not in lighthouse
    assert f'href="/generate/?scene={second.uuid}"' in lighthouse


def test_a_member_adds_scenes_numbered_in_order(member_client, project, scene):
    response = member_client.post(
        f"/projects/{project.uuid}/scenes/", {"new-title": "Storm", "new-notes": "Dark sky"}
    )
    storm = Scene.objects.get(title="Storm")
    assert storm.number == scene.number + 1
    assert storm.notes == "Dark sky"
    assert response["Location"] == f"/projects/{project.uuid}/#scene-{storm.uuid}"


def test_viewers_cannot_add_or_edit_scenes_or_choose_takes(viewer_client, project, scene, take):
    assert (
        viewer_client.post(f"/projects/{project.uuid}/scenes/", {"new-title": "x"}).status_code
        == 403
    )
    edit = {f"scene-{scene.uuid}-title": "Hijacked"}
    assert viewer_client.post(f"/scenes/{scene.uuid}/edit/", edit).status_code == 403
    assert (
        viewer_client.post(f"/scenes/{scene.uuid}/take/", {"take": str(take.uuid)}).status_code
        == 403
    )
    scene.refresh_from_db()
    assert scene.title == "Cliffs" and scene.chosen_take is None


def test_editing_a_scene_from_htmx_returns_the_scene_fragment(member_client, scene):
    data = {
        f"scene-{scene.uuid}-title": "Cliffs at noon",
        f"scene-{scene.uuid}-notes": "Harsh light",
    }
    response = member_client.post(f"/scenes/{scene.uuid}/edit/", data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith(f'<section class="card scene" id="scene-{scene.uuid}"')
    assert "Cliffs at noon" in html
    scene.refresh_from_db()
    assert (scene.title, scene.notes) == ("Cliffs at noon", "Harsh light")


def test_an_edit_with_errors_comes_back_open_with_what_was_typed(member_client, scene):
    data = {f"scene-{scene.uuid}-title": "", f"scene-{scene.uuid}-notes": "Keep these notes"}
    html = member_client.post(
        f"/scenes/{scene.uuid}/edit/", data, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<details class="edit-scene" open>' in html
    assert "This field is required." in html
    assert "Keep these notes</textarea>" in html
    scene.refresh_from_db()
    assert scene.title == "Cliffs"


def test_choosing_a_take_sets_it_on_the_scene(member_client, scene, take):
    GenerationFactory(project=scene.project, scene=scene, succeeded=True)
    response = member_client.post(f"/scenes/{scene.uuid}/take/", {"take": str(take.uuid)})
    assert response.status_code == 302
    scene.refresh_from_db()
    assert scene.chosen_take == take


def test_choosing_from_htmx_swaps_the_scene_with_the_choice_marked(member_client, scene, take):
    response = member_client.post(
        f"/scenes/{scene.uuid}/take/", {"take": str(take.uuid)}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html
    assert '<li class="take chosen">' in html
    assert "Unchoose" in html
    response = member_client.post(
        f"/scenes/{scene.uuid}/take/", {"take": ""}, HTTP_HX_REQUEST="true"
    )
    assert '<li class="take chosen">' not in response.content.decode()
    scene.refresh_from_db()
    assert scene.chosen_take is None


def test_choosing_from_htmx_also_updates_the_count_in_the_page_head(
    member_client, project, scene, take
):
    other = SceneFactory(project=project, title="Harbour")
    other.chosen_take = GenerationFactory(project=project, scene=other, succeeded=True)
    other.save()
    page = member_client.get(f"/projects/{project.uuid}/").content.decode()
    assert '<span id="chosen-count">1 with a chosen take</span>' in page

    html = member_client.post(
        f"/scenes/{scene.uuid}/take/", {"take": str(take.uuid)}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert html.lstrip().startswith(f'<section class="card scene" id="scene-{scene.uuid}"')
    assert '<span id="chosen-count" hx-swap-oob="true">2 with a chosen take</span>' in html
    html = member_client.post(
        f"/scenes/{scene.uuid}/take/", {"take": ""}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<span id="chosen-count" hx-swap-oob="true">1 with a chosen take</span>' in html


def test_only_a_finished_take_of_the_same_scene_can_be_chosen(
    member_client, project, scene, other_team
):
    elsewhere = GenerationFactory(
        project=project, scene=SceneFactory(project=project), succeeded=True
    )
    running = GenerationFactory(project=project, scene=scene, running=True)
    foreign = GenerationFactory(project=ProjectFactory(team=other_team), succeeded=True)
    for generation in (elsewhere, running, foreign):
        response = member_client.post(f"/scenes/{scene.uuid}/take/", {"take": str(generation.uuid)})
        assert response.status_code == 404
    assert (
        member_client.post(f"/scenes/{scene.uuid}/take/", {"take": "nonsense"}).status_code == 404
    )
    scene.refresh_from_db()
    assert scene.chosen_take is None


def test_the_storyboard_shows_the_chosen_takes_in_scene_order(member_client, project):
    second = SceneFactory(project=project, number=2, title="Second scene")
    first = SceneFactory(project=project, number=1, title="First scene")
    SceneFactory(project=project, number=3, title="Third, not chosen yet")
    for scene in (second, first):
        scene.chosen_take = GenerationFactory(
            project=project, scene=scene, succeeded=True, prompt=f"Take for {scene.title}"
        )
        scene.save()
    html = member_client.get(f"/projects/{project.uuid}/storyboard/").content.decode()
    assert html.index("Take for First scene") < html.index("Take for Second scene")
    assert "No take chosen" in html
    assert "2 of 3 scenes with a chosen take" in html
    assert f'href="/projects/{project.uuid}/storyboard.zip"' in html
    assert "Make one MP4" in html


def test_a_scene_shows_its_newest_takes_numbered_and_links_to_the_rest(member_client, project):
    from generations.studio.views.projects import SCENE_TAKES

    scene = SceneFactory(project=project, title="Harbour")
    for n in range(1, SCENE_TAKES + 4):
        GenerationFactory(project=project, scene=scene, succeeded=True, prompt=f"Harbour take {n}")
    html = member_client.get(f"/projects/{project.uuid}/").content.decode()
    section = html.split(f'id="scene-{scene.uuid}"')[1].split("</section>")[0]
    assert section.count('<li class="take') == SCENE_TAKES
    # The newest SCENE_TAKES, oldest of them first, numbered in the scene's whole history.
    assert 'Harbour take 3"' not in section and 'Harbour take 4"' in section
    assert "Take 4 ·" in section and f"Take {SCENE_TAKES + 3} ·" in section
    assert section.index("Harbour take 4") < section.index(f"Harbour take {SCENE_TAKES + 3}")
    assert f'href="/gallery/?scene={scene.uuid}"' in section
    assert f"See all {SCENE_TAKES + 3} finished takes" in section


def test_a_chosen_take_older_than_the_newest_is_still_shown_first(member_client, project):
    from generations.studio.views.projects import SCENE_TAKES

    scene = SceneFactory(project=project, title="Harbour")
    first = GenerationFactory(project=project, scene=scene, succeeded=True, prompt="The keeper")
    for n in range(SCENE_TAKES):
        GenerationFactory(project=project, scene=scene, succeeded=True, prompt=f"Later take {n}")
    Scene.objects.filter(pk=scene.pk).update(chosen_take=first)
    html = member_client.get(f"/projects/{project.uuid}/").content.decode()
    section = html.split(f'id="scene-{scene.uuid}"')[1].split("</section>")[0]
    assert section.count('<li class="take') == SCENE_TAKES + 1
    assert section.index("The keeper") < section.index("Later take 0")
    assert '<li class="take chosen">' in section.split("The keeper")[0]


def test_clips_of_no_scene_are_counted_from_the_counters(member_client, project):
    scene = SceneFactory(project=project, title="Harbour")
    GenerationFactory(project=project, scene=scene, succeeded=True)
    GenerationFactory(project=project, succeeded=True)
    GenerationFactory(project=project, succeeded=True)
    GenerationFactory(project=project, failed=True)
    html = member_client.get(f"/projects/{project.uuid}/").content.decode()
    assert "2 clips of this project belong to no scene" in html
    listing = member_client.get("/projects/").content.decode()
    assert "3 clips" in listing


def test_a_job_that_succeeds_counts_one_clip_for_its_project_and_scene(project):
    from generations.lifecycle.steps import set_state
    from generations.models import State

    scene = SceneFactory(project=project)
    job = GenerationFactory(project=project, scene=scene, state=State.FINALIZING)
    assert set_state(job, [State.FINALIZING], State.SUCCEEDED)
    # A second, late answer moves nothing and counts nothing.
    assert not set_state(job, [State.FINALIZING], State.SUCCEEDED)
    project.refresh_from_db()
    scene.refresh_from_db()
    assert (project.clip_count, scene.clip_count) == (1, 1)


def test_recount_repairs_the_counters_from_the_generations(project):
    from generations import clip_counts
    from generations.models import Generation

    scene = SceneFactory(project=project)
    GenerationFactory(project=project, scene=scene, succeeded=True)
    GenerationFactory(project=project, succeeded=True)
    GenerationFactory(project=project, scene=scene, failed=True)
    Project.objects.update(clip_count=99)
    Scene.objects.update(clip_count=42)
    clip_counts.recount(Project, Scene, Generation)
    project.refresh_from_db()
    scene.refresh_from_db()
    assert (project.clip_count, scene.clip_count) == (2, 1)


def test_the_project_page_says_what_counts_against_its_cap(member_client, project, team):
    """All the project spent plus its pending holds, as ledger.project_usage counts it."""
    assert "spent $0.00" in member_client.get(f"/projects/{project.uuid}/").content.decode()
    ProjectUsage.objects.create(
        team=team, project_uuid=project.uuid, pending=1_000_000, spent=500_000
    )
    assert ledger.project_usage(team, project.uuid) == 1_500_000
    assert "spent $1.50" in member_client.get(f"/projects/{project.uuid}/").content.decode()


def test_a_project_address_that_is_no_uuid_is_not_found(member_client, project):
    assert member_client.get("/projects/not-a-project/").status_code == 404
