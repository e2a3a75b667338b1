"""The page head (base.html): its assets, navigation and balance badge are kept fragments
(seedance_site.fragments). Kept by what they show, they still follow the page, the role
and the count of jobs waiting for an operator."""

import re

import pytest
from django.urls import reverse

from billing.models import Role
from generations.models import State
from tests.factories import MembershipFactory
from tests.generations.factories import GenerationFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def nav(response) -> str:
    html = response.content.decode()
    return html[html.index('<nav class="nav"') : html.index("</nav>")]


def current(response) -> list[str]:
    return re.findall(r'<a href="[^"]+" aria-current="page">([^<]+)</a>', nav(response))


def test_the_current_page_is_marked_on_each_page(member_client):
    assert current(member_client.get(reverse("gallery"))) == ["Gallery"]
    assert current(member_client.get(reverse("jobs"))) == ["Jobs"]
    assert current(member_client.get(reverse("projects"))) == ["Projects"]


def test_a_member_made_viewer_loses_the_generate_link_at_once(member_client, member, team):
    assert ">Generate</a>" in nav(member_client.get(reverse("jobs")))
    member.memberships.filter(team=team).update(role=Role.VIEWER)
    assert ">Generate</a>" not in nav(member_client.get(reverse("jobs")))


def test_operators_see_the_waiting_count_change(operator_client, team, member):
    assert "waiting</span>" not in nav(operator_client.get(reverse("vendors")))
    project = ProjectFactory(team=team)
    GenerationFactory(project=project, created_by=member, state=State.NEEDS_ATTENTION)
    page = nav(operator_client.get(reverse("vendors")))
    assert 'title="1 job waiting">1<span class="visually-hidden"> waiting</span>' in page
    GenerationFactory(project=project, created_by=member, state=State.NEEDS_ATTENTION)
    assert 'title="2 jobs waiting">2' in nav(operator_client.get(reverse("vendors")))


def test_members_never_get_the_operators_links(member_client, operator_client, operator, team):
    MembershipFactory(team=team, user=operator)  # both see the same page
    assert "Needs attention" in nav(operator_client.get(reverse("jobs")))  # kept first
    page = nav(member_client.get(reverse("jobs")))
    assert "Needs attention" not in page and reverse("vendors") not in page


def test_every_page_links_its_assets(member_client, client):
    for response in (member_client.get(reverse("gallery")), client.get(reverse("login"))):
        html = response.content.decode()
        assert html.count('<script src="/static/') == 4 and "/static/css/app.css" in html
