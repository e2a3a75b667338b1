"""A project page's kept markup (seedance_site/fragments.py, generations/studio/takes.py):
each take, each scene's head and edit fields and the cap's field are read back by what
they show, render again when that changes, and hold nothing personal."""

import pickle
import re
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from generations.models import Generation, Project, Scene
from tests.generations.factories import GenerationFactory, ProjectFactory, SceneFactory
from tests.generations.test_fragments import MARKER, overwrite_every_fragment

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Orchard")


@pytest.fixture
def scene(project):
    return SceneFactory(project=project, title="Harbour", notes="Low tide")


def take(scene, **kwargs):
    return GenerationFactory(project=scene.project, scene=scene, succeeded=True, **kwargs)


def page(client, project) -> str:
    response = client.get(f"/projects/{project.uuid}/")
    assert response.status_code == 200
    return response.content.decode()


def section(html, scene) -> str:
    return html.split(f'id="scene-{scene.uuid}"')[1].split("</section>")[0]


def kept_markup() -> list[str]:
    """Every fragment kept in this process's own memory."""
    kept = caches["template_fragments"]._cache.values()
    return [pickle.loads(value) for value in kept]  # noqa: S301 (this process's own cache)


def forget_the_scenes():
    """Drop the page's scenes kept whole, so that the markup kept inside them is read."""
    kept = caches["template_fragments"]
    for key in [k for k in kept._cache if "template.cache.project-scenes." in k]:
        kept._delete(key)


def test_a_take_is_read_back_by_what_it_shows(member_client, project, scene):
    g = take(scene, prompt="Boats at dawn")
    assert "Boats at dawn" in page(member_client, project)
    assert overwrite_every_fragment("project-take") == 1
    forget_the_scenes()
    assert MARKER in section(page(member_client, project), scene)

    Generation.objects.filter(pk=g.pk).update(prompt="Boats at dusk")
    html = section(page(member_client, project), scene)
    assert MARKER not in html and "Boats at dusk" in html


def test_choosing_a_take_renders_it_again(member_client, project, scene):
    g = take(scene, prompt="The keeper")
    assert "Use this take" in section(page(member_client, project), scene)
    overwrite_every_fragment("project-take")
    Scene.objects.filter(pk=scene.pk).update(chosen_take=g)
    html = section(page(member_client, project), scene)
    assert MARKER not in html
    assert '<li class="take chosen">' in html and "Chosen</span>" in html and "Unchoose" in html


def test_a_chosen_take_pushed_out_of_the_newest_loses_its_number(member_client, project, scene):
    first = take(scene, prompt="The keeper")
    Scene.objects.filter(pk=scene.pk).update(chosen_take=first)
    assert "Take 1: The keeper" in section(page(member_client, project), scene)
    for n in range(6):
        take(scene, prompt=f"Later take {n}")
    html = section(page(member_client, project), scene)
    # Shown apart, before the six newest: by its day, not by a number it no longer has.
    assert 'alt="The keeper"' in html and "Take of " in html and "Take 1" not in html
    assert html.index("The keeper") < html.index("Later take 0")


def test_the_scene_head_and_fields_follow_the_scene(member_client, project, scene):
    page(member_client, project)
    assert overwrite_every_fragment("scene-head") == 1
    assert overwrite_every_fragment("scene-fields") == 1
    forget_the_scenes()
    assert page(member_client, project).count(MARKER) == 2

    Scene.objects.filter(pk=scene.pk).update(title="Lighthouse", notes="Storm")
    html = section(page(member_client, project), scene)
    assert MARKER not in html
    assert "</span> Lighthouse</h2>" in html and '<p class="scene-notes">Storm</p>' in html
    assert 'value="Lighthouse"' in html and ">\nStorm</textarea>" in html


def test_kept_markup_holds_no_csrf_token(project, scene, member):
    take(scene)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    html = page(client, project)
    tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
    assert kept_markup() and tokens
    assert not any(t in m for t in tokens for m in kept_markup())
    # Every form of the page still carries the token.
    forms = html.count('<form method="post"')
    assert forms >= 3 and html.count('name="csrfmiddlewaretoken"') >= forms


def test_the_scenes_are_read_back_whole_until_a_take_changes(member_client, project, scene):
    g = take(scene, prompt="Boats at dawn")
    page(member_client, project)
    assert overwrite_every_fragment("project-scenes") == 1
    assert MARKER in page(member_client, project)

    Generation.objects.filter(pk=g.pk).update(prompt="Boats at dusk")
    html = page(member_client, project)
    assert MARKER not in html and "Boats at dusk" in html

    overwrite_every_fragment("project-scenes")
    take(scene, prompt="A second take")
    html = page(member_client, project)
    assert MARKER not in html and "A second take" in html


def test_scenes_read_back_carry_the_token_of_whoever_is_looking(project, scene, member, owner):
    g = take(scene)
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first.force_login(member)
    second.force_login(owner)
    page(first, project)  # kept, with the first member's tokens written in after
    html = section(page(second, project), scene)
    [token] = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
    data = {"csrfmiddlewaretoken": token, "take": str(g.uuid)}
    assert second.post(f"/scenes/{scene.uuid}/take/", data).status_code == 302
    assert Scene.objects.get(pk=scene.pk).chosen_take_id == g.pk


def test_a_viewer_never_sees_a_members_forms(member_client, viewer_client, project, scene):
    take(scene, prompt="Shared take")
    assert "Use this take" in page(member_client, project)
    html = page(viewer_client, project)
    assert "Shared take" in html
    for form in ("Use this take", "Generate a take", "Edit title and notes", "Add a scene"):
        assert form not in html
    # And the other way round: markup kept for a viewer shows a member the forms.
    caches["template_fragments"].clear()
    page(viewer_client, project)
    html = page(member_client, project)
    assert "Use this take" in html and "Generate a take" in html and "Save scene" in html


def test_the_cap_field_follows_the_cap(owner_client, project):
    Project.objects.filter(pk=project.pk).update(spend_cap=3_000_000)
    assert 'value="3.00"' in page(owner_client, project)
    Project.objects.filter(pk=project.pk).update(spend_cap=4_500_000)
    assert 'value="4.50"' in page(owner_client, project)

    # A cap sent back with an error shows what was typed, not what was kept.
    url = f"/projects/{project.uuid}/cap/"
    html = owner_client.post(url, {"spend_cap": "-4"}).content.decode()
    assert 'value="-4"' in html and 'id="id_spend_cap_error"' in html
    assert 'value="4.50"' in page(owner_client, project)


def test_the_project_list_is_read_back_until_a_project_changes(member_client, project, scene):
    assert "Orchard" in member_client.get("/projects/").content.decode()
    assert overwrite_every_fragment("project-list") == 1
    assert MARKER in member_client.get("/projects/").content.decode()

    take(scene)  # a new clip: the counter and the last activity change
    html = member_client.get("/projects/").content.decode()
    assert MARKER not in html and "1 scene · 1 clip\n" in html and "last clip" in html

    overwrite_every_fragment("project-list")
    Project.objects.filter(pk=project.pk).update(name="Vineyard")
    html = member_client.get("/projects/").content.decode()
    assert MARKER not in html and "Vineyard" in html


def test_the_project_list_says_how_long_ago_as_time_passes(member_client, scene, monkeypatch):
    g = take(scene)
    Generation.objects.filter(pk=g.pk).update(created=timezone.now() - timedelta(minutes=3))
    assert "last clip 3\xa0minutes ago" in member_client.get("/projects/").content.decode()
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert "last clip 2\xa0hours" in member_client.get("/projects/").content.decode()


def test_a_new_project_sent_back_with_errors_shows_them_not_the_kept_fields(member_client):
    member_client.get("/projects/")
    assert any("new-project-fields" in key for key in caches["template_fragments"]._cache)
    html = member_client.post("/projects/", {"name": "", "description": "Kept"}).content.decode()
    assert "This field is required." in html and ">\nKept</textarea>" in html
    html = member_client.get("/projects/").content.decode()
    assert "This field is required." not in html and "Kept</textarea>" not in html


@pytest.mark.parametrize("token", [None, "NOTPROVIDED"])
def test_kept_forms_without_a_token_have_no_token_field(token):
    """As {% csrf_token %} writes nothing without a token, so does {% csrfkept %}."""
    kept = Template(
        "{% load csrf_kept %}{% csrfkept %}<form>{% csrf_token %}</form>{% endcsrfkept %}"
    )
    context = {"csrf_token": token} if token else {}
    assert kept.render(Context(context)) == "<form></form>"
    assert 'value="abc"' in kept.render(Context({"csrf_token": "abc"}))
