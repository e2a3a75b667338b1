"""The clip page's kept details (seedance_site/fragments.py, views/gallery.py): read back
by what they show, rendered again when any of it changes, and the same for everyone."""

import pytest

from generations.assets import services
from generations.assets.models import Asset, GenerationInput, Role
from generations.models import Favourite, Generation, GenerationEvent, Project, VendorAccount
from tests.assets.media import image_bytes, upload
from tests.generations.factories import GenerationFactory, ProjectFactory, VendorAccountFactory
from tests.generations.test_fragments import MARKER, overwrite_every_fragment

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def account(db):
    return VendorAccountFactory(protocol="kinovi", label="Kinovi main")


@pytest.fixture
def g(team, owner, account):
    project = ProjectFactory(team=team, name="Night market")
    return GenerationFactory(project=project, succeeded=True, vendor_account=account)


def page(client, g) -> str:
    response = client.get(f"/clips/{g.uuid}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_details_are_read_back_until_what_they_show_changes(member_client, g, account):
    assert "Kinovi main" in page(member_client, g)
    assert overwrite_every_fragment("clip-details") == 1
    assert MARKER in page(member_client, g)

    Project.objects.filter(pk=g.project_id).update(name="Day market")
    html = page(member_client, g)
    assert MARKER not in html and "Day market" in html

    overwrite_every_fragment("clip-details")
    VendorAccount.objects.filter(pk=account.pk).update(label="Kinovi spare")
    html = page(member_client, g)
    assert MARKER not in html and "Kinovi spare" in html

    overwrite_every_fragment("clip-details")
    Generation.objects.filter(pk=g.pk).update(charge_micros=300_000)
    html = page(member_client, g)
    assert MARKER not in html and "$0.30" in html


def test_the_details_follow_the_clips_inputs(member_client, g, member):
    VendorAccountFactory(protocol="seedance2_ink", label="Ink")  # a vendor that takes images
    picture = services.add_upload(g.project, member, upload("still.png", image_bytes()))
    GenerationInput.objects.create(generation=g, asset=picture, role=Role.FIRST_FRAME)
    Generation.objects.filter(pk=g.pk).update(request=g.request | {"mode": "image"})
    assert "still.png" in page(member_client, g)
    Asset.objects.filter(pk=picture.pk).update(name="harbour.png")
    html = page(member_client, g)
    assert "harbour.png" in html and "still.png" not in html


def test_what_is_personal_stays_outside_the_details(
    member_client, viewer_client, owner_client, g, member
):
    Favourite.objects.create(user=member, generation=g)
    mine = page(member_client, g)
    assert 'aria-pressed="true"' in mine and "Remix" in mine and "Use this clip" in mine
    theirs = page(viewer_client, g)
    assert 'aria-pressed="false"' in theirs
    assert "Remix" not in theirs and "Use this clip" not in theirs
    assert 'aria-pressed="false"' in page(owner_client, g)


def test_the_head_and_the_timeline_follow_the_clip(member_client, g):
    GenerationEvent.objects.create(generation=g, kind="succeeded", message="Clip saved.")
    page(member_client, g)
    assert overwrite_every_fragment("clip-head") == 1
    assert overwrite_every_fragment("clip-details") == 1
    assert page(member_client, g).count(MARKER) == 2

    GenerationEvent.objects.create(generation=g, kind="running", message="Looked at again.")
    html = page(member_client, g)
    assert html.count(MARKER) == 0 and "Clip saved." in html and "Looked at again." in html

    overwrite_every_fragment("clip-head")
    Generation.objects.filter(pk=g.pk).update(prompt="Lanterns over the river")
    html = page(member_client, g)
    assert MARKER not in html and '<h1 class="clip-title">Lanterns over the river</h1>' in html
