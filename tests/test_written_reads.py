"""The reads on every signed-in request, written as SQL (seedance_site.written): the
session by its key, and the user with their teams. They must build the very instances
the ORM built, on SQLite and PostgreSQL alike."""

from datetime import timedelta
from importlib import import_module

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.cache import caches
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import Membership, Team
from billing.teams.backends import teams_of
from seedance_site import fragments, written
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def stored_values(instance):
    return fragments.row(instance)[1]


def test_rows_are_converted_as_the_orm_converts_them(member, team):
    team.low_balance_threshold = 123
    team.save()
    selected = f"{written.columns(Membership, 'm')}, {written.columns(Team, 't')}"
    sql = (
        f"SELECT {selected} "  # noqa: S608
        f"FROM {written.table(Membership)} AS m JOIN {written.table(Team)} AS t "
        "ON t.id = m.team_id WHERE m.user_id = %s"
    )
    [(membership, read_team)] = written.instances(sql, [member.pk], Membership, Team)
    by_orm = Membership.objects.get(user=member)
    assert stored_values(membership) == stored_values(by_orm)  # uuid, dates, role...
    assert stored_values(read_team) == stored_values(Team.objects.get(pk=team.pk))
    assert not membership._state.adding  # loaded, as the ORM's are: a save() updates


def test_a_users_teams_come_by_name_with_their_team_and_user(db):
    user = UserFactory()
    for name in ("Zebra", "alpha", "Mango"):
        MembershipFactory(user=user, team=TeamFactory(name=name))
    MembershipFactory(team=TeamFactory(name="Another's"))  # not theirs
    memberships = teams_of(user.pk)
    expected = list(
        Membership.objects.filter(user=user).select_related("team").order_by("team__name")
    )
    assert [m.pk for m in memberships] == [m.pk for m in expected]
    assert [m.team.name for m in memberships] == [m.team.name for m in expected]
    assert {m.user.pk for m in memberships} == {user.pk}
    with CaptureQueriesContext(connection) as captured:
        [m.team.uuid for m in memberships] + [m.user.username for m in memberships]
    assert not captured.captured_queries  # read with the memberships


def test_a_user_with_no_team_has_none(db):
    assert teams_of(UserFactory().pk) == []


def session_for(user, expires):
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store["_auth_user_id"] = str(user.pk)
    store["_auth_user_backend"] = "billing.teams.backends.MembershipsBackend"
    store["_auth_user_hash"] = user.get_session_auth_hash()
    store.create()
    Session.objects.filter(session_key=store.session_key).update(expire_date=expires)
    caches[settings.SESSION_CACHE_ALIAS].clear()  # with Redis in front: read the table
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return client


def test_a_live_session_signs_its_user_in(member):
    client = session_for(member, timezone.now() + timedelta(hours=1))
    assert client.get(reverse("team")).status_code == 200


def test_a_page_reads_its_session_by_the_written_query(member):
    client = session_for(member, timezone.now() + timedelta(hours=1))
    with CaptureQueriesContext(connection) as captured:
        client.get(reverse("team"))
    sessions = [q["sql"] for q in captured if "django_session" in q["sql"]]
    assert len(sessions) == 1 and 'FROM "django_session" AS s' in sessions[0]


def test_an_expired_session_signs_nobody_in(member):
    client = session_for(member, timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("team"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_an_unknown_session_key_signs_nobody_in(member):
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    response = client.get(reverse("team"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_session_keeps_what_a_request_puts_in_it(member, team):
    other = MembershipFactory(user=member, team=TeamFactory(name="Second team")).team
    client = Client()
    client.force_login(member)
    client.post(reverse("switch_team"), {"team": str(other.uuid), "next": "/"})
    assert client.get(reverse("team")).context["current_team"] == other
    assert get_user_model().objects.filter(pk=member.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_pipelined_statements_give_the_last_answer_and_djangos_errors():
    """What `written.pipelined` sends together is still run in order, the cursor gives the
    last statement's answer once the block is left, and an error is Django's own."""
    with transaction.atomic(), connection.cursor() as cursor:
        with written.pipelined():
            cursor.execute("CREATE TEMPORARY TABLE piped (n integer PRIMARY KEY)")
            cursor.execute("INSERT INTO piped VALUES (1)")
            cursor.execute("SELECT count(*) FROM piped")
        assert cursor.fetchone()[0] == 1
    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        connection.cursor() as cursor,
        written.pipelined(),
    ):
        cursor.execute("INSERT INTO piped VALUES (2)")
        cursor.execute("INSERT INTO piped VALUES (2)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM piped")  # the failed transaction left nothing
        assert cursor.fetchone()[0] == 1
        cursor.execute("DROP TABLE piped")


def test_the_generate_forms_reads_build_what_the_orm_builds(team):
    """The enabled accounts (keys encrypted, by priority then label), the team's projects
    and the asked project's scenes: read together, each instance as the ORM reads it."""
    from generations.models import Project, Scene, VendorAccount
    from generations.studio.forms import accounts_projects_and_scenes
    from tests.generations.factories import VendorAccountFactory

    VendorAccountFactory(protocol="kinovi", label="B", priority=2)
    VendorAccountFactory(protocol="evolink", label="A", priority=2)
    VendorAccountFactory(protocol="aigptimage", label="Z", priority=1)
    VendorAccountFactory(protocol="seedance2_ink", label="Off", enabled=False)
    chosen = Project.objects.create(team=team, name="Chosen")
    Project.objects.create(team=team, name="Another")
    Project.objects.create(team=TeamFactory(), name="Theirs")
    Scene.objects.create(project=chosen, number=2, title="Two")
    Scene.objects.create(project=chosen, number=1, title="One")

    accounts, projects, scenes = accounts_projects_and_scenes(team, str(chosen.uuid))

    expected = VendorAccount.objects.filter(enabled=True).order_by("priority", "label")
    assert [a.label for a in accounts] == ["Z", "A", "B"]
    assert [stored_values(a) for a in accounts] == [stored_values(a) for a in expected]
    assert [a.masked_key for a in accounts] == [a.masked_key for a in expected]
    assert [stored_values(p) for p in projects] == [
        stored_values(p) for p in Project.objects.filter(team=team).order_by("name")
    ]
    assert [stored_values(s) for s in scenes] == [
        stored_values(s) for s in chosen.scenes.order_by("number")
    ]
