"""The gallery filters' fields written in Python give the markup partials/field.html gave."""

import re

import pytest
from django.http import QueryDict
from django.template.loader import render_to_string

from generations.studio.forms import GalleryFilterForm
from generations.templatetags.kept import form_field, list_field
from tests.generations.factories import ProjectFactory, SceneFactory, VendorAccountFactory

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
