"""A member may start GENERATE_RATE_PER_MINUTE clips a minute, variants counted one by one."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from generations import lifecycle
from generations.models import Generation
from generations.studio import ratelimit
from tests.generations.conftest import PROMPT, form_data, text_request
from tests.generations.factories import GenerationFactory
from tests.threads import race

NOW = timezone.now().replace(microsecond=0)


pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def frozen(monkeypatch):
    """The clock the rate is counted against stands still at NOW."""
    monkeypatch.setattr(ratelimit.timezone, "now", lambda: NOW)
    return NOW


def started(user, project, count, seconds_ago):
    """`count` clips `user` started `seconds_ago` (a number, or one per clip)."""
    ages = seconds_ago if isinstance(seconds_ago, list) else [seconds_ago] * count
    for age in ages:
        GenerationFactory(project=project, created_by=user, created=NOW - timedelta(seconds=age))


def mine(user):
    return Generation.objects.filter(created_by=user).count()


def test_a_member_at_the_limit_is_told_how_long_to_wait_and_keeps_the_form(
    member_client, member, project, kinovi, funded, frozen
):
    # The oldest of the twenty leaves the minute 35 seconds from now.
    started(member, project, 20, [25] + [10] * 19)
    response = member_client.post("/generate/", form_data(project))
    page = response.content.decode()
    assert response.status_code == 200
    assert (
        "You&#x27;ve started 20 clips in the last minute; wait 35 seconds before starting more."
        in page
    )
    assert PROMPT in page  # the form is as the member left it
    assert mine(member) == 20


def test_the_wait_is_for_the_oldest_clip_that_must_leave_the_minute(member, project, frozen):
    started(member, project, 20, [50, 40, 30] + [5] * 17)
    with pytest.raises(ratelimit.TooFast, match="wait 10 seconds"):
        ratelimit.check(member, 1)
    # Three more need the three oldest gone: the third leaves in 30 seconds.
    with pytest.raises(ratelimit.TooFast, match="wait 30 seconds"):
        ratelimit.check(member, 3)


def test_variants_count_one_by_one(member_client, member, project, kinovi, funded, frozen):
    started(member, project, 18, 20)
    response = member_client.post("/generate/", form_data(project, variants="4"))
    assert (
        "You&#x27;ve started 18 clips in the last minute, and 20 is the most in a minute; "
        "wait 40 seconds before starting 4 more, or ask for fewer variants."
    ) in response.content.decode()
    assert mine(member) == 18

    response = member_client.post("/generate/", form_data(project, variants="2"))
    assert response.status_code == 302
    assert mine(member) == 20


def test_clips_older_than_a_minute_do_not_count(member_client, member, project, kinovi, funded):
    started(member, project, 20, 61)
    response = member_client.post("/generate/", form_data(project))
    assert response.status_code == 302
    assert mine(member) == 21


def test_other_members_clips_do_not_count(
    member_client, member, owner, project, kinovi, funded, frozen
):
    started(owner, project, 20, 5)
    response = member_client.post("/generate/", form_data(project))
    assert response.status_code == 302
    assert mine(member) == 1


def test_the_rate_comes_from_the_setting(
    member_client, member, project, kinovi, funded, settings, frozen
):
    settings.GENERATE_RATE_PER_MINUTE = 2
    started(member, project, 2, 59)
    response = member_client.post("/generate/", form_data(project))
    assert "started 2 clips in the last minute; wait 1 second before" in response.content.decode()
    assert mine(member) == 2


def test_more_variants_than_the_rate_allows_are_refused_outright(member, settings):
    settings.GENERATE_RATE_PER_MINUTE = 3
    with pytest.raises(ratelimit.TooFast, match="at most 3 clips a minute"):
        ratelimit.check(member, 4)


def test_htmx_gets_the_form_back_with_the_error(
    member_client, member, project, kinovi, funded, frozen
):
    started(member, project, 20, 30)
    response = member_client.post("/generate/", form_data(project), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "HX-Redirect" not in response
    assert "wait 30 seconds before starting more" in html


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_submissions_at_the_limit_start_one_clip(
    team, member, project, kinovi, funded, queued, settings
):
    settings.GENERATE_RATE_PER_MINUTE = 1
    count = 6

    def submit(i):
        try:
            with ratelimit.starting(member, 1):
                lifecycle.submit(team=team, member=member, project=project, request=text_request())
            return "started"
        except ratelimit.TooFast:
            return "refused"

    results = race(count, submit)
    assert sorted(results) == ["refused"] * (count - 1) + ["started"]
    assert mine(member) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_holding_a_members_place_does_not_block_money_moving_for_them(team, member, operator):
    """A capture of one of the member's clips writes a transfer naming them: it must not
    wait on a submit of theirs in progress (which may itself wait on that capture)."""
    from billing import ledger

    ledger.grant(team, 10_000_000, by=operator, memo="Budget", key="budget")
    placed, done = threading.Event(), threading.Event()
    outcome = []

    def submitting():
        with ratelimit.starting(member, 1):
            placed.set()
            done.wait(timeout=20)

    def moving_money():
        try:
            placed.wait(timeout=20)
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '3s'")
            ledger.hold(team, member, None, 10_000, "Clip", "hold-while-placed")
            outcome.append("moved")
        except Exception as exc:  # the lock timeout, if the submit blocked it
            outcome.append(repr(exc))
        finally:
            done.set()

    assert race(2, lambda i: (submitting, moving_money)[i]()) == [None, None]
    assert outcome == ["moved"]


def test_a_refusal_is_decided_on_the_window_after_the_members_lock(member, project, monkeypatch):
    """The count goes out with the lock (one round trip) and so counts from a moment
    before the lock is surely ours; a submission that waited for another's lock is not
    refused for clips that left the minute meanwhile: a refusal is read again behind it."""
    started(member, project, 20, 59.5)  # all twenty leave the minute half a second from NOW
    clock = iter([NOW, NOW + timedelta(seconds=1)])  # the lock took a second to get
    monkeypatch.setattr(ratelimit.timezone, "now", lambda: next(clock))
    with ratelimit.starting(member, 1):
        pass  # not refused: behind the lock, none of the twenty is in the minute


def test_a_refusal_behind_the_lock_still_counts_what_stayed(member, project, monkeypatch):
    started(member, project, 20, 30)
    clock = iter([NOW, NOW + timedelta(seconds=1)])
    monkeypatch.setattr(ratelimit.timezone, "now", lambda: next(clock))
    with pytest.raises(ratelimit.TooFast, match="wait 29 seconds"), ratelimit.starting(member, 1):
        pass


@pytest.mark.postgres
def test_the_count_begins_after_the_members_lock_in_one_round_trip(member):
    """Lock and count go to PostgreSQL together (with the BEGIN); the server still runs
    the count after the lock is held, and the submission reads the count's answer."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured, ratelimit.starting(member, 1):
        pass
    statements = [q["sql"] for q in captured.captured_queries]
    lock = next(i for i, sql in enumerate(statements) if "FOR NO KEY UPDATE" in sql)
    count = next(i for i, sql in enumerate(statements) if "count(*)" in sql)
    assert lock < count
