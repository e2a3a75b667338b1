"""The gallery's markup written in Python (its filter fields, its cards' <li>) is what the
templates wrote."""

import re

import pytest
from django.http import QueryDict
from django.template import engines
from django.template.loader import render_to_string
from django.test import RequestFactory

from generations.studio.gallery_filters import GalleryFilterForm
from generations.templatetags.kept import form_field, list_field
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.django_db


def same(html) -> str:
    """Markup up to the whitespace between tags."""
    return re.sub(r">\s+<", "><", re.sub(r"\s+", " ", str(html))).strip()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "family=seedance-2.0&mode=text&since=2020-01-01&until=2020-12-31&favourites=on",
        "family=nope&mode=<b>&since=not-a-day&until=2020-13-45&favourites=xyz",
        "project=nope&scene=&account=x&member=<i>",
    ],
)
def test_every_filter_field_is_written_as_the_partial_wrote_it(team, owner, query):
    VendorAccountFactory(label="Kinovi <main>")
    project = ProjectFactory(team=team, name="Ads <&> “quotes”")
    SceneFactory(project=project, number=1, title="Dawn & dusk")
    form = GalleryFilterForm(QueryDict(query), team=team)
    form.is_valid()
    for name in form.fields:
        if name in ("q", "asset"):
            continue  # written by the page's own markup
        old = render_to_string("partials/field.html", {"field": form[name]})
        written = list_field(form[name]) if name in form.lists else form_field(form[name])
        assert same(written) == same(old), name


# The loop the page drew its cards with before the gallery_cards tag.
CARDS_LOOP = """{% load cache %}{% for c in clips %}
<li class="clip-card" data-preview="{{ c.video_url }}"
    {% if forloop.last and next_url %}hx-get="{% url 'gallery' %}{{ next_url }}" hx-trigger="revealed" hx-swap="afterend" hx-target="this"{% endif %}>
  {% cache 86400 old-card c.digest %}{% include "generations/gallery.html#card" %}{% endcache %}
</li>
{% endfor %}"""  # noqa: E501


@pytest.mark.parametrize("next_url", ["", "?q=<fox>&cursor=abc"])
def test_the_cards_are_written_as_the_loop_wrote_them(settings, tmp_path, owner, team, next_url):
    from types import SimpleNamespace

    from generations.studio.views.gallery import with_cards

    settings.MEDIA_ROOT = tmp_path
    project = ProjectFactory(team=team, name="Ads <&>")
    rows = [
        GenerationFactory(project=project, succeeded=True, prompt=f"Take <{n}> & more")
        for n in range(3)
    ]
    cards = with_cards(SimpleNamespace(user=owner, team=team), rows)
    request = RequestFactory().get("/gallery/")
    context = {"clips": cards, "next_url": next_url}
    old = engines["django"].from_string(CARDS_LOOP).render(context, request)
    new = render_to_string("generations/gallery.html#cards", context, request)
    assert new.strip("\n") == old.strip("\n")
    assert new.count('hx-trigger="revealed"') == (1 if next_url else 0)


def test_a_search_too_long_says_so_by_the_box_and_in_the_results(member_client):
    """A crafted address (the box itself stops at 200) once showed "No finished clips
    yet." and no word of why."""
    page = member_client.get("/gallery/", {"q": "x" * 201}).content.decode()
    box = page[page.index('<div class="field search') : page.index("</div>", page.index("id_q"))]
    assert 'aria-invalid="true"' in box and "at most 200 characters" in box
    assert "No finished clips yet." not in page
    assert "No clips shown. Search prompts: Ensure this value has at most 200" in page


def test_a_filter_that_cannot_be_read_says_which_in_the_swapped_results(member_client):
    page = member_client.get(
        "/gallery/",
        {"since": "last tuesday"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="gallery-results",
    ).content.decode()
    assert page.lstrip().startswith('<section id="gallery-results"')
    assert "No clips shown. From: Enter a valid date." in page


def test_a_filter_that_cannot_be_read_is_named_on_a_later_page_too(member_client):
    page = member_client.get("/gallery/", {"since": "soon", "cursor": "abc"}).content.decode()
    assert "No clips shown. From: Enter a valid date." in page
    assert "No more clips here." not in page
