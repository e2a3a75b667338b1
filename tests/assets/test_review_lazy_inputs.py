"""Adversarial review of 5847e35: InputsForm reads the project's assets lazily (assets and
by_uuid are cached_property, each slot's choices a callable). What a member could send,
and whether the page, the quote, the kept key and the uploads still behave."""

import copy

import pytest
from django.http import QueryDict
from django.urls import reverse

from generations.assets import services
from generations.assets.forms import NOT_IN_LIBRARY, SLOT_KINDS, InputsForm
from generations.assets.models import Asset, GenerationInput, Role
from generations.models import Generation
from tests.assets.media import image_bytes, upload, wav_bytes
from tests.generations.conftest import form_data
from tests.generations.factories import ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def voice(project, member, vendors):
    return services.add_upload(project, member, upload("voice.wav", wav_bytes()))


@pytest.fixture
def second(project, member, vendors):
    return services.add_upload(project, member, upload("b.png", image_bytes(colour=(1, 2, 3))))


def post(**values) -> QueryDict:
    data = QueryDict(mutable=True)
    for name, value in values.items():
        data.setlist(name, value if isinstance(value, list) else [value])
    return data


def test_each_slot_offers_its_own_kind_only_no_late_binding(project, picture, voice):
    """Each lambda keeps its own slot: the last slot's kind (audio) is not every slot's."""
    form = InputsForm(project=project)
    offered = {slot: [v for v, _ in form.fields[slot].choices] for slot in SLOT_KINDS}
    assert offered["first_frame"] == ["", str(picture.uuid)]
    assert offered["last_frame"] == ["", str(picture.uuid)]
    assert offered["reference_images"] == [str(picture.uuid)]
    assert offered["reference_videos"] == []
    assert offered["reference_audio"] == [str(voice.uuid)]
    # The widget renders from the same callable.
    assert [v for v, _ in form.fields["reference_audio"].widget.choices] == [str(voice.uuid)]


@pytest.mark.parametrize("where", ["other_project", "other_team"])
def test_an_asset_of_another_project_or_team_makes_no_job(
    where, funded, member_client, member, project, team, other_team, vendors, queued
):
    owner_team = team if where == "other_project" else other_team
    elsewhere = ProjectFactory(team=owner_team, name="Elsewhere")
    foreign = services.add_upload(elsewhere, member, upload("x.png", image_bytes()))
    for data in (
        form_data(project, mode="image", first_frame=str(foreign.uuid)),
        form_data(project, mode="reference", reference_images=[str(foreign.uuid)]),
    ):
        response = member_client.post(reverse("generate"), data)
        assert response.status_code == 200
        assert NOT_IN_LIBRARY["invalid_choice"] in response.content.decode()
    assert not Generation.objects.exists()


def test_an_asset_of_the_wrong_kind_for_its_slot_is_refused(project, picture, voice):
    for data in (
        post(mode="image", first_frame=str(voice.uuid)),
        post(mode="reference", reference_images=[str(voice.uuid)], reference_audio=[]),
        post(mode="reference", reference_audio=[str(picture.uuid)]),
        post(mode="first_last", first_frame=str(picture.uuid), last_frame=str(voice.uuid)),
    ):
        form = InputsForm(data, project=project)
        assert not form.is_valid(), data


def test_an_asset_deleted_after_the_form_read_them_is_still_chosen_never_dropped(
    project, picture, second
):
    """The choices and the chosen assets are one snapshot, read with the form: an asset
    deleted after it stays chosen (the submission's lock_chosen then refuses it in words),
    never validated against one list and then missing from the other."""
    data = post(mode="reference", reference_images=[str(picture.uuid), str(second.uuid)])
    form = InputsForm(data, project=project)
    Asset.objects.filter(pk=second.pk).delete()
    assert form.is_valid()
    assert [asset.pk for _, asset in form.cleaned_data["chosen"]] == [picture.pk, second.pk]


def test_values_of_another_mode_are_never_sent(
    funded, member_client, project, picture, voice, vendors, queued
):
    data = form_data(
        project,
        mode="image",
        first_frame=str(picture.uuid),
        last_frame=str(picture.uuid),
        reference_images=[str(picture.uuid)],
        reference_audio=[str(voice.uuid)],
    )
    assert member_client.post(reverse("generate"), data).status_code == 302
    [row] = GenerationInput.objects.all()
    assert (row.role, row.asset) == (Role.FIRST_FRAME, picture)


def test_an_upload_beside_a_chosen_asset_is_chosen_too(
    funded, member_client, project, picture, vendors, queued
):
    data = form_data(project, mode="reference", reference_images=[str(picture.uuid)])
    data["reference_images_file"] = upload("new.png", image_bytes(colour=(9, 9, 9)))
    response = member_client.post(reverse("generate"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    names = sorted(r.asset.name for r in GenerationInput.objects.all())
    assert names == ["new.png", "still.png"]


def test_an_upload_intent_shows_the_new_asset_chosen_and_listed(
    member_client, project, picture, vendors
):
    data = form_data(project, mode="image", intent="upload")
    data["first_frame_file"] = upload("new.png", image_bytes(colour=(9, 9, 9)))
    page = member_client.post(reverse("generate"), data).content.decode()
    new = Asset.objects.get(name="new.png")
    assert f'value="{new.uuid}" selected' in page
    assert f'value="{picture.uuid}"' in page


def test_the_page_shown_again_keeps_the_assets_listed_and_chosen(
    funded, member_client, project, picture, second, vendors, queued
):
    data = form_data(project, mode="reference", prompt="", reference_images=[str(second.uuid)])
    page = member_client.post(reverse("generate"), data).content.decode()
    assert not Generation.objects.exists()
    assert f'value="{picture.uuid}">' in page  # listed, not checked
    assert f'value="{second.uuid}" checked' in page


def test_the_quote_sees_the_inputs_without_validating(project, picture, voice):
    data = post(
        mode="reference", reference_images=[str(picture.uuid)], reference_audio=[str(voice.uuid)]
    )
    form = InputsForm(data, project=project).hush()
    assert form.chosen_now() == [(Role.REFERENCE_IMAGE, picture), (Role.REFERENCE_AUDIO, voice)]
    assert not form.errors


def test_the_kept_key_follows_the_projects_assets(project, member, picture):
    before = InputsForm(project=project).kept_key()
    services.add_upload(project, member, upload("c.png", image_bytes(colour=(7, 7, 7))))
    after = InputsForm(project=project).kept_key()
    assert before and after and before != after


def test_a_deep_copied_form_validates_against_its_own_assets(project, picture, second):
    """A copy of the form (copy.deepcopy, as a batch or a formset might make one) must
    judge its choices by its own assets. The callable's closure holds the original form,
    so the copy's slots read the original's cached list: an asset the copy can see but the
    original read before it existed is refused; one deleted since the original read is
    accepted by the choices but missing from the copy's by_uuid, so silently dropped."""
    data = post(mode="reference", reference_images=[str(picture.uuid), str(second.uuid)])
    original = InputsForm(data, project=project)
    duplicate = copy.deepcopy(original)
    assert original.is_valid()  # caches the original's assets: picture and second
    Asset.objects.filter(pk=second.pk).delete()
    # The copy reads its own assets now (second is gone) but its choices are the
    # original's: it validates, and the deleted input vanishes without a word.
    assert not duplicate.is_valid() or len(duplicate.cleaned_data["chosen"]) == 2


def test_the_same_reference_sent_twice_is_one_input(
    funded, member_client, project, picture, vendors, queued
):
    """Pre-existing (clean() is unchanged by 5847e35), found by this review: a tampered
    POST that repeats a checkbox value makes a job whose vendor gets the same reference
    image three times (three GenerationInput rows, one asset). Checkboxes cannot send a
    value twice, so the form should take the slot as a set (or refuse it)."""
    data = form_data(project, mode="reference", reference_images=[str(picture.uuid)] * 3)
    member_client.post(reverse("generate"), data)
    assert GenerationInput.objects.filter(asset=picture).count() <= 1
