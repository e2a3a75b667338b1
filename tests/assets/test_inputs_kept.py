"""The Generate page's mode and slots (templates/assets/inputs.html) are kept by all they
show (InputsForm.kept_key): read back until the project's assets or the chosen ones
change, never kept with an error, and no query string makes more entries."""

from django.core.cache import caches
from django.urls import reverse

from generations.assets import services
from generations.assets.forms import InputsForm
from generations.assets.models import Asset
from tests.assets.media import image_bytes, upload
from tests.generations.conftest import form_data
from tests.generations.test_fragments import MARKER, overwrite_every_fragment


def generate_page(client, **query) -> str:
    response = client.get(reverse("generate"), query)
    assert response.status_code == 200
    return response.content.decode()


def kept_inputs() -> list[str]:
    return [k for k in caches["template_fragments"]._cache if ".generate-inputs." in k]


def forget_the_main_column():
    """The page's main column, the slots and all, is kept too (generate_html.kept_key):
    forgotten, the page is rendered again around the slots as kept."""
    store = caches["template_fragments"]
    for key in [k for k in store._cache if ".generate-main." in k]:
        store.delete(key.split(":", 2)[-1])


def test_the_slots_are_read_back_until_the_projects_assets_change(
    member_client, member, project, picture
):
    assert "still.png" in generate_page(member_client, project=project.uuid)
    assert overwrite_every_fragment("generate-inputs") == 1
    forget_the_main_column()
    assert MARKER in generate_page(member_client, project=project.uuid)

    Asset.objects.filter(pk=picture.pk).update(name="frame.png")
    page = generate_page(member_client, project=project.uuid)
    assert MARKER not in page and "frame.png" in page

    overwrite_every_fragment("generate-inputs")
    services.add_upload(project, member, upload("second.png", image_bytes(colour=(10, 20, 30))))
    page = generate_page(member_client, project=project.uuid)
    assert MARKER not in page and "second.png" in page


def test_slots_with_a_chosen_asset_are_rendered_not_kept(member_client, project, picture):
    """Kept per choice, any subset of a project's assets could be an entry (2^N)."""
    plain = generate_page(member_client, project=project.uuid)
    chosen = generate_page(member_client, project=project.uuid, first_frame=picture.uuid)
    assert f'value="{picture.uuid}" selected' in chosen
    assert f'value="{picture.uuid}" selected' not in plain
    assert len(kept_inputs()) == 1  # the page as it opens, nothing chosen


def test_values_that_are_no_asset_of_the_project_make_no_new_entries(
    member_client, project, picture
):
    generate_page(member_client, project=project.uuid)
    for n in range(5):
        generate_page(member_client, project=project.uuid, first_frame=f"junk-{n}")
    assert len(kept_inputs()) == 1


def test_slots_with_an_error_are_rendered_not_kept(member_client, project, vendors):
    data = form_data(project, mode="image", prompt="A kite")
    page = member_client.post(reverse("generate"), data).content.decode()
    assert "Choose or upload the first frame." in page
    assert kept_inputs() == []
    bound = InputsForm({"mode": "image"}, project=project)
    bound.is_valid()
    assert bound.kept_key() is None
    assert InputsForm(project=project).kept_key() is not None
