"""The clip page's row read as written (generations/studio/clip_row.py) is what the ORM
reads: every value of the generation and of its joined rows, with the same types; the
viewer's favourite, the team's remix count; and only the team's own clips."""

from types import SimpleNamespace

import pytest
from django.db.models import BooleanField, IntegerField
from django.db.models.expressions import RawSQL
from django.http import Http404

from generations import access
from generations.models import Favourite, GenerationEvent, State
from generations.studio.clip_row import attach_events, clip_row
from seedance_site import fragments
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

FAVOURITE = "EXISTS (SELECT 1 FROM generations_favourite f WHERE f.generation_id = generations_generation.id AND f.user_id = %s)"  # noqa: E501
REMIXES = "(SELECT count(*) FROM generations_generation r WHERE r.remix_of_id = generations_generation.id AND r.team_id = %s)"  # noqa: E501


pytestmark = pytest.mark.usefixtures("media")


def by_the_orm(request, g):
    queryset = access.generations(request).annotate(
        is_favourite=RawSQL(FAVOURITE, [request.user.pk], BooleanField()),  # noqa: S611
        remix_count=RawSQL(REMIXES, [request.team.pk], IntegerField()),  # noqa: S611
    )
    return access.get_generation(request, g.uuid, queryset)


def assert_same(request, g):
    read, orm = clip_row(request, g.uuid), by_the_orm(request, g)
    assert fragments.row(read) == fragments.row(orm)
    for name in ("project", "scene", "created_by", "hold", "vendor_account", "pinned_account"):
        assert repr(getattr(read, name)) == repr(getattr(orm, name)), name
    assert hasattr(read, "clip") == hasattr(orm, "clip")
    assert (read.is_favourite, read.remix_count) == (orm.is_favourite, orm.remix_count)
    return read


def test_a_finished_clip_with_every_row_joined(team, member):
    request = SimpleNamespace(team=team, user=member)
    project = ProjectFactory(team=team)
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    g = GenerationFactory(
        project=project,
        scene=SceneFactory(project=project),
        succeeded=True,
        created_by=member,
        vendor_account=account,
        pinned_account=account,
        charge_micros=250_000,
    )
    Favourite.objects.create(user=member, generation=g)
    GenerationFactory(project=project, remix_of=g)
    read = assert_same(request, g)
    assert read.is_favourite and read.remix_count == 1
    assert read.clip.generation is read and read.clip.duration == g.clip.duration


def test_a_clip_without_a_scene_or_a_maker_and_a_job_without_a_clip(team, member):
    request = SimpleNamespace(team=team, user=member)
    project = ProjectFactory(team=team)
    loose = GenerationFactory(project=project, succeeded=True, created_by=None)
    read = assert_same(request, loose)
    assert read.scene is None and read.created_by is None and not read.is_favourite
    running = GenerationFactory(project=project, state=State.RUNNING)
    assert not hasattr(assert_same(request, running), "clip")


def test_another_teams_clip_and_a_malformed_address_are_not_found(team, other_team, member):
    request = SimpleNamespace(team=team, user=member)
    theirs = GenerationFactory(project=ProjectFactory(team=other_team), succeeded=True)
    for uuid in (theirs.uuid, "not-a-uuid"):
        with pytest.raises(Http404):
            clip_row(request, uuid)


def test_the_events_are_the_ones_the_orm_reads_in_order(team, member):
    g = GenerationFactory(project=ProjectFactory(team=team), succeeded=True)
    for kind in ("submitted", "running", "succeeded"):
        GenerationEvent.objects.create(generation=g, kind=kind, message=kind, data={"k": kind})
    read = clip_row(SimpleNamespace(team=team, user=member), g.uuid)
    attach_events(read)
    expected = [fragments.row(e) for e in g.events.all()]
    assert [fragments.row(e) for e in read.events.all()] == expected
    assert read.events.all()[0].data == {"k": "submitted"}
