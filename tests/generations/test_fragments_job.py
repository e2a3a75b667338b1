"""A finished job's page keeps its card, timeline open, by what it shows (views/jobs.py):
read back, rendered again when the job or its story changes, nothing personal kept."""

import pytest
from django.core.cache import caches

from generations.models import Generation, GenerationEvent
from tests.generations.factories import GenerationFactory, ProjectFactory
from tests.generations.test_fragments import MARKER, overwrite_every_fragment

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Orchard")


def page(client, g) -> str:
    response = client.get(f"/jobs/{g.uuid}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_finished_jobs_card_is_read_back_until_it_or_its_story_changes(member_client, project):
    g = GenerationFactory(project=project, succeeded=True, prompt="Before")
    GenerationEvent.objects.create(generation=g, kind="submitted", message="Sent along.")
    assert "Sent along." in page(member_client, g)
    assert overwrite_every_fragment("job-page-card") == 1
    assert MARKER in page(member_client, g)

    GenerationEvent.objects.create(generation=g, kind="running", message="Looked at again.")
    html = page(member_client, g)
    assert MARKER not in html and "Sent along." in html and "Looked at again." in html

    overwrite_every_fragment("job-page-card")
    Generation.objects.filter(pk=g.pk).update(prompt="After")
    html = page(member_client, g)
    assert MARKER not in html and "After" in html


def test_a_job_in_flight_is_never_kept(member_client, project, member):
    g = GenerationFactory(project=project, running=True, created_by=member)
    html = page(member_client, g)
    assert "csrfmiddlewaretoken" in html and ">Cancel</button>" in html
    assert not any("job-page-card" in key for key in caches["template_fragments"]._cache)


def test_a_card_kept_for_a_member_shows_a_viewer_no_run_again(
    member_client, viewer_client, project
):
    g = GenerationFactory(project=project, succeeded=True, prompt="Kept job")
    assert "Run again" in page(member_client, g)
    html = page(viewer_client, g)
    assert "Kept job" in html and "Run again" not in html
