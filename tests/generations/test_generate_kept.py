"""The Generate page's main column (prompt, inputs, settings, project and scene) and its
variants field are kept, as the page opens, by all they show (generate_html.kept_key):
read back until an account, a project, a scene or a choice changes; rendered, never kept,
as posted or with typed text; and no query string makes more entries than its choices."""

import re

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generations.models import Project, Scene, VendorAccount
from generations.studio import generate_html
from generations.studio.forms import GenerateForm
from tests.generations.conftest import form_data
from tests.generations.factories import ProjectFactory, SceneFactory, VendorAccountFactory
from tests.generations.test_fragments import MARKER, overwrite_every_fragment

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def world(team):
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    projects = [ProjectFactory(team=team, name=f"Project {n}") for n in range(2)]
    scene = SceneFactory(project=projects[0], number=1, title="Opening")
    return {"account": account, "projects": projects, "scene": scene}


def page(client, **query) -> str:
    response = client.get(reverse("generate"), query)
    assert response.status_code == 200
    return response.content.decode()


def kept_main() -> list[str]:
    return [k for k in caches["template_fragments"]._cache if ".generate-main." in k]


def without_tokens(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def test_the_page_as_kept_is_the_page_as_rendered(member_client, world):
    rendered = page(member_client)
    assert len(kept_main()) == 1
    assert without_tokens(page(member_client)) == without_tokens(rendered)
    assert 'name="csrfmiddlewaretoken"' in page(member_client)  # the token stays outside


def test_kept_until_an_account_a_project_or_a_scene_changes(member_client, world):
    project = world["projects"][0]
    changes = [
        lambda: VendorAccount.objects.filter(pk=world["account"].pk).update(label="Kinovi B"),
        lambda: Project.objects.filter(pk=project.pk).update(name="Renamed"),
        lambda: Scene.objects.filter(pk=world["scene"].pk).update(title="Closing"),
    ]
    shown = ["Kinovi B", "Renamed", "Closing"]
    for change, words in zip(changes, shown, strict=True):
        page(member_client, project=project.uuid)
        assert overwrite_every_fragment("generate-main") >= 1
        assert MARKER in page(member_client, project=project.uuid)
        change()
        html = page(member_client, project=project.uuid)
        assert MARKER not in html and words in html, words


def test_each_choice_is_its_own_entry(member_client, world):
    html = page(member_client, family="seedance-2.0-fast", duration="10")
    assert 'value="seedance-2.0-fast" selected' in html
    assert 'value="seedance-2.0-fast" selected' not in page(member_client)
    assert len(kept_main()) == 2


def test_values_that_are_no_choice_make_no_new_entries(member_client, world):
    page(member_client)
    for n in range(4):
        page(member_client, family=f"junk-{n}", account=f"junk-{n}", project=f"junk-{n}")
    assert len(kept_main()) <= 2  # the page as it opens, and one for "none chosen"


def test_typed_text_and_a_posted_form_are_rendered_not_kept(member_client, world):
    html = page(member_client, new_scene="<b>Act two</b>")
    assert 'value="&lt;b&gt;Act two&lt;/b&gt;"' in html
    assert kept_main() == []
    posted = member_client.post(reverse("generate"), form_data(world["projects"][0], prompt=""))
    assert "This field is required." in posted.content.decode()
    assert kept_main() == []


def test_no_key_for_a_bound_form(team, member, world):
    form = GenerateForm(form_data(world["projects"][0]), team=team, user=member)
    assert generate_html.kept_key(form, inputs_of(form)) is None
    opened = GenerateForm(team=team, user=member, initial={})
    assert generate_html.kept_key(opened, inputs_of(opened)) is not None


def inputs_of(form):
    from generations.assets.forms import InputsForm

    data = form.data if form.is_bound else None
    return InputsForm(data, project=form.project_value)


def test_kept_or_rendered_the_page_asks_as_much(member_client, world):
    def count():
        with CaptureQueriesContext(connection) as captured:
            page(member_client)
        return len(captured)

    rendered = count()
    kept = count()
    assert kept == rendered
    for n in range(5):
        ProjectFactory(team=world["projects"][0].team, name=f"More {n}")
    assert count() == rendered
