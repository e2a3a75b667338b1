"""Cards kept by what they show (seedance_site/fragments.py): a cached card is read back
by its digest, anything it shows changing makes it render again, and nothing one person
sees leaks to another through it."""

import pickle
import re
from datetime import timedelta

import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from generations.models import Favourite, Generation
from tests.generations.factories import GenerationFactory, ProjectFactory

MARKER = "<li>kept markup</li>"


pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Orchard")


def clip(project, **kwargs):
    return GenerationFactory(project=project, succeeded=True, **kwargs)


def cached_keys():
    return set(caches["template_fragments"]._cache)


def overwrite_every_fragment(prefix):
    """Replace the markup kept under `prefix` with MARKER; returns how many there were."""
    fragments = caches["template_fragments"]
    keys = [k for k in fragments._cache if f"template.cache.{prefix}." in k]
    for full_key in keys:
        fragments._cache[full_key] = pickle.dumps(MARKER)
    return len(keys)


def test_a_gallery_card_is_read_back_by_what_it_shows(member_client, project):
    g = clip(project, prompt="A fox in the snow")
    first = member_client.get("/gallery/").content.decode()
    assert "A fox in the snow" in first
    assert overwrite_every_fragment("gallery-card") == 1

    # Nothing changed: the kept markup is what the page shows.
    assert MARKER in member_client.get("/gallery/").content.decode()

    # A renamed project is a different card: rendered again, with the new name.
    project.name = "Vineyard"
    project.save()
    again = member_client.get("/gallery/").content.decode()
    assert MARKER not in again
    assert "Vineyard" in again and str(g.uuid) in again


def test_favourites_on_cards_are_personal(member_client, owner_client, member, project):
    g = clip(project)
    Favourite.objects.create(user=member, generation=g)
    mine = member_client.get("/gallery/").content.decode()
    theirs = owner_client.get("/gallery/").content.decode()
    assert 'aria-pressed="true"' in mine
    assert 'aria-pressed="true"' not in theirs and 'aria-pressed="false"' in theirs


def test_cards_hold_no_csrf_token_and_the_page_form_carries_it(project, member):
    clip(project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    html = client.get("/gallery/").content.decode()
    card = html[html.index('<li class="clip-card"') : html.index("</li>", html.index("clip-card"))]
    assert "csrfmiddlewaretoken" not in card
    assert 'form="favourite-form"' in card
    form = re.search(r'<form id="favourite-form" method="post" hidden>(.*?)</form>', html, re.S)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.group(1)).group(1)
    action = re.search(r'formaction="([^"]+)"', card).group(1)

    # Without JavaScript the button posts the page's form (its token, its next) to its own address.
    response = client.post(action, {"csrfmiddlewaretoken": token, "next": "/gallery/"})
    assert response.status_code == 302 and response["Location"] == "/gallery/"
    assert Favourite.objects.filter(user=member).count() == 1


def test_a_cards_button_answered_by_htmx_stays_an_icon(member_client, project):
    g = clip(project)
    url = f"/clips/{g.uuid}/favourite/"
    html = member_client.post(url, {"compact": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert " icon" in html and 'class="visually-hidden">Favourite' in html
    html = member_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert " icon" not in html  # the clip page's button keeps its words


def test_the_filters_show_a_new_project_after_they_were_kept(member_client, team, project):
    clip(project)
    member_client.get("/gallery/")
    assert any(":gallery-filter:" in key for key in cached_keys())
    ProjectFactory(team=team, name="Lighthouse")
    assert "Lighthouse" in member_client.get("/gallery/").content.decode()


def test_the_filters_show_what_was_asked(member_client, project):
    clip(project, prompt="Harbour at dawn")
    member_client.get("/gallery/")
    html = member_client.get("/gallery/?q=harbour").content.decode()
    assert 'value="harbour"' in html


def test_a_job_card_kept_for_a_member_shows_a_viewer_no_run_again(
    member_client, viewer_client, project
):
    clip(project, prompt="Kept job")
    assert "Run again" in member_client.get("/jobs/").content.decode()
    html = viewer_client.get("/jobs/").content.decode()
    assert "Kept job" in html and "Run again" not in html


def test_a_job_card_says_how_long_ago_as_time_passes(member_client, project, monkeypatch):
    g = clip(project, prompt="Old job")
    Generation.objects.filter(pk=g.pk).update(created=timezone.now() - timedelta(minutes=3))
    assert "3\xa0minutes ago" in member_client.get("/jobs/").content.decode()
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr("django.utils.timezone.now", lambda: later)
    assert "2\xa0hours" in member_client.get("/jobs/").content.decode()


def test_a_finished_job_card_follows_its_row(member_client, project):
    g = clip(project, prompt="Before")
    member_client.get("/jobs/")
    assert overwrite_every_fragment("job-card") == 1
    assert MARKER in member_client.get("/jobs/").content.decode()
    Generation.objects.filter(pk=g.pk).update(prompt="After")
    html = member_client.get("/jobs/").content.decode()
    assert MARKER not in html and "After" in html


def test_a_kept_list_shows_the_chosen_value_and_an_invalid_one_its_error(
    member_client, team, project
):
    clip(project)
    other = ProjectFactory(team=team, name="Lighthouse")
    member_client.get("/gallery/")
    html = member_client.get(f"/gallery/?project={other.uuid}").content.decode()
    assert f'<option value="{other.uuid}" selected>Lighthouse</option>' in html
    html = member_client.get("/gallery/").content.decode()
    assert f'<option value="{other.uuid}">Lighthouse</option>' in html
    html = member_client.get("/gallery/?project=nonsense").content.decode()
    assert "is not one of the" in html
    assert not any("nonsense" in str(v) for v in caches["template_fragments"]._cache.values())
