"""Adversarial review of ad22587..acd4a4e (keyset bound, bounded fragment cache, scenes and
inputs kept, gallery filter problem, job page UNION ALL, gallery scalar subqueries, written
SQL for a membership's usage, routing policy and available balance).

FINDING tests failed on the code as reviewed, each proving a real problem, and pass since
the fixes (keyset.decode looks at a cursor id's length before int(); the fragments cache
clears in one hold of its lock and counts what incr writes); HELD tests pin attacks the
code withstood. Run on SQLite and on PostgreSQL.
"""

import base64
import datetime as dt
import time
import uuid

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from billing import ledger
from billing.ledger.errors import Refused
from billing.ledger.limits import check_limits, refusal
from billing.ledger.reports import available_balance
from billing.ledger.usage import membership_with_usage, month_of
from billing.models import Account, Membership, MemberUsage, Role
from generations.models import GenerationEvent, RoutingPolicy, State, TeamRouting
from generations.studio import job_cards
from generations.studio.views import gallery as gallery_views
from seedance_site import keyset
from seedance_site.fragment_cache import BoundedLocMemCache
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)
from tests.generations.test_job_cards import page_request

USD = 1_000_000


pytestmark = pytest.mark.usefixtures("media")


# --- the bounded fragment cache ---------------------------------------------------------


def bounded(max_bytes=1000, entry=600, **options):
    name = f"review-{uuid.uuid4()}"
    params = {"OPTIONS": {"MAX_BYTES": max_bytes, "MAX_ENTRY_BYTES": entry, **options}}
    return BoundedLocMemCache(name, params)


def true_bytes(store) -> int:
    return sum(len(value) for value in store._cache.values())


def test_held_fragment_cache_bookkeeping_matches_what_it_keeps_on_every_path(monkeypatch):
    """HELD: set, overwrite, add, touch, delete, get of an expired key, a too-big entry,
    cull by MAX_ENTRIES and LRU eviction by bytes all keep bytes_kept equal to the bytes of
    the entries actually kept, never above MAX_BYTES; the entry last read survives."""
    store = bounded(max_bytes=1000, entry=600, MAX_ENTRIES=6, CULL_FREQUENCY=3)
    for n in range(5):
        store.set(f"k{n}", "x" * 150)
        assert store.bytes_kept == true_bytes(store) <= 1000
    store.get("k0")  # read last: the least recent is now k1
    store.set("k5", "y" * 300)
    assert "k0" in str(list(store._cache)) and store.get("k1") is None
    store.set("k5", "z" * 10)  # overwrite: the old size goes
    assert not store.add("k5", "again") and store.add("new", "a")
    assert store.touch("new", 100)
    store.set("big", "b" * 700)  # over MAX_ENTRY_BYTES: not kept, old value gone too
    assert store.get("big") is None
    store.delete("k2")
    store.set("short", "s" * 100, timeout=10)
    now = time.time()
    monkeypatch.setattr("time.time", lambda: now + 60)
    assert store.get("short") is None  # expired read deletes it, and its size
    monkeypatch.undo()
    for n in range(20):  # MAX_ENTRIES culls
        store.set(f"c{n}", "c" * 40)
    assert store.bytes_kept == true_bytes(store) <= 1000
    assert set(store._size_of) == set(store._cache)
    store.clear()
    assert store.bytes_kept == 0 == len(store._cache)


def test_finding_a_set_between_the_two_halves_of_clear_leaves_bytes_nothing_holds(monkeypatch):
    """FINDING (low): clear() empties the sizes under the lock, lets it go, then takes it
    again for LocMemCache.clear(). A set by another thread in between is counted but then
    dropped, so its bytes are counted for ever; enough of them and every set evicts every
    other entry (the loop empties the cache and still counts the ghosts)."""
    store = bounded(max_bytes=1000, entry=900)
    real_clear = LocMemCache.clear

    def other_thread_slips_in(self):
        if self is store:
            store.set("meanwhile", "m" * 850)  # another request, between the two locks
        return real_clear(self)

    monkeypatch.setattr(LocMemCache, "clear", other_thread_slips_in)
    store.clear()
    monkeypatch.undo()
    store.set("a", "a" * 100)
    store.set("b", "b" * 100)
    assert store.get("a") is not None, "two 100-byte entries no longer fit in 1000 bytes"
    assert store.bytes_kept == true_bytes(store)


def test_held_fragment_cache_under_threads_counts_what_it_keeps():
    """HELD: sets, reads and deletes from 8 threads (each under the shared lock) leave the
    count equal to what is kept, and within MAX_BYTES."""
    import random
    import threading

    store = bounded(max_bytes=5000, entry=900, MAX_ENTRIES=40)

    def work(seed):
        rng = random.Random(seed)
        for _ in range(400):
            key = f"k{rng.randrange(60)}"
            op = rng.random()
            if op < 0.5:
                store.set(key, "v" * rng.randrange(1, 1200), timeout=rng.choice([None, 0, 5]))
            elif op < 0.8:
                store.get(key)
            elif op < 0.9:
                store.add(key, "a" * rng.randrange(1, 300))
            else:
                store.delete(key)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.bytes_kept == true_bytes(store) <= 5000
    assert set(store._size_of) == set(store._cache)


def test_finding_incr_changes_what_is_kept_but_not_what_is_counted():
    """FINDING (low): LocMemCache.incr writes the new value into _cache itself, past _set,
    so the byte count keeps the old size: the cache can hold far past MAX_BYTES."""
    store = bounded(max_bytes=1000, entry=900)
    store.set("n", 1)
    store.incr("n", 10**2000)  # a 830-byte int, counted as the few bytes of 1
    store.set("other", "o" * 500)
    assert true_bytes(store) <= 1000
    assert store.bytes_kept == true_bytes(store)


# --- a membership's usage, the quote and the hold ---------------------------------------


@pytest.fixture
def funded(team, operator):
    ledger.grant(team, 100 * USD, operator, "Welcome credits", "welcome")
    return team


def last_month() -> dt.date:
    return (month_of() - dt.timedelta(days=1)).replace(day=1)


def test_held_last_months_spend_does_not_count_and_pending_always_does(funded, member):
    """HELD: written SQL compares the stored month (text on SQLite, date on PostgreSQL)
    as the ORM did: last month's spend is forgotten, pending holds count, this month's
    spend counts; a month passed explicitly (the hold's guard's) is used."""
    Membership.objects.filter(user=member).update(monthly_cap=40 * USD)
    MemberUsage.objects.create(
        team=funded, member=member, month=last_month(), pending=5 * USD, spent=30 * USD
    )
    assert membership_with_usage(funded.pk, member.pk) == (Role.MEMBER, 40 * USD, 5 * USD)
    assert membership_with_usage(funded.pk, member.pk, last_month())[2] == 35 * USD
    MemberUsage.objects.filter(member=member).update(month=month_of())
    assert membership_with_usage(funded.pk, member.pk)[2] == 35 * USD
    later = (month_of() + dt.timedelta(days=40)).replace(day=1)
    assert membership_with_usage(funded.pk, member.pk, later)[2] == 5 * USD


def test_held_the_quote_refuses_what_the_hold_refuses_in_the_same_words(funded, member):
    """HELD: with last month's spend on the row, a quote of exactly what is left passes
    and the hold of it is placed; one cent more is refused by both, same words, and no
    money moves for the refused hold."""
    Membership.objects.filter(user=member).update(monthly_cap=40 * USD)
    MemberUsage.objects.create(
        team=funded, member=member, month=last_month(), pending=0, spent=39 * USD
    )
    assert refusal(funded, member, None, 40 * USD) is None
    over = refusal(funded, member, None, 40 * USD + 10_000)
    assert over.limit == "member"
    with pytest.raises(Refused) as refused:
        ledger.hold(funded, member, None, 40 * USD + 10_000, "m", "over")
    assert str(refused.value) == str(over)
    assert available_balance(funded) == 100 * USD
    ledger.hold(funded, member, None, 40 * USD, "m", "fits")
    assert available_balance(funded) == 60 * USD
    assert membership_with_usage(funded.pk, member.pk)[2] == 40 * USD
    assert refusal(funded, member, None, 10_000).limit == "member"


def test_held_non_member_viewer_and_no_cap(funded, member, viewer, outsider, owner):
    """HELD: a user of another team is None (refused as not a member, not as a 0 cap),
    a viewer is refused for role, an owner with no cap and no usage row has used 0."""
    assert membership_with_usage(funded.pk, outsider.pk) is None
    assert refusal(funded, outsider, None, USD).limit == "role"
    assert "Only members of" in str(refusal(funded, outsider, None, USD))
    assert refusal(funded, viewer, None, USD).limit == "role"
    assert membership_with_usage(funded.pk, owner.pk)[1:] == (None, 0)
    assert refusal(funded, owner, None, 100 * USD) is None
    assert refusal(funded, owner, None, 100 * USD + 1).limit == "team"
    with pytest.raises(Refused):
        check_limits(funded, viewer, None, USD, 100 * USD, month_of())


def test_held_routing_and_balance_without_rows(team, other_team):
    """HELD: a team with no routing row routes by price; one with no account row has 0
    available; another team's rows are never read."""
    assert TeamRouting.policy_for(team) == RoutingPolicy.CHEAPEST
    TeamRouting.set_policy(other_team, RoutingPolicy.choices[-1][0])
    assert TeamRouting.policy_for(team) == RoutingPolicy.CHEAPEST
    assert TeamRouting.policy_for(other_team) == RoutingPolicy.choices[-1][0]
    Account.objects.filter(team=team).delete()
    assert available_balance(team) == 0


# --- the job page's card and events -----------------------------------------------------


def test_held_job_page_events_in_order_none_and_other_teams(team, owner, member, other_team):
    """HELD: events with equal times come by id (on PostgreSQL the NULLs of the UNION's
    first branch take the events' types); a job with no events has a card and none; another
    team's job, a malformed or hostile uuid are 404, never a 500."""
    g = GenerationFactory(project=ProjectFactory(team=team), created_by=member)
    assert list(job_cards.one(page_request(team, member), str(g.uuid)).events.all()) == []
    same = timezone.now()
    made = [
        GenerationEvent.objects.create(generation=g, kind="progress", message=m, created=same)
        for m in ("b", "a", "c")
    ]
    GenerationEvent.objects.create(
        generation=g, kind="queued", message="first", created=same - dt.timedelta(seconds=1)
    )
    found = job_cards.one(page_request(team, member), str(g.uuid))
    events = list(found.events.all())
    assert [e.message for e in events][-4:] == ["first", "b", "a", "c"]
    assert [e.pk for e in events][-3:] == [e.pk for e in made]
    assert all(isinstance(e.created, dt.datetime) for e in events)
    theirs = GenerationFactory(project=ProjectFactory(team=other_team))
    theirs.log("check_failed", "secret of theirs")
    hostile = (str(theirs.uuid), "' OR 1=1 --", "%", "0" * 40, "x" * 5000, "\x00")
    for value in hostile:
        with pytest.raises(Http404):
            job_cards.one(page_request(team, member), value)


# --- the gallery --------------------------------------------------------------------------


def finished(project, **fields):
    g = GenerationFactory(project=project, state=State.SUCCEEDED, **fields)
    if not hasattr(g, "clip"):
        from tests.generations.factories import ClipFactory

        ClipFactory(generation=g)
    return g


def test_held_gallery_cards_with_no_scene_author_or_account(member_client, team, member):
    """HELD: the scalar subqueries give a card with no scene, no author (deleted user) and
    no vendor account, as the LEFT JOINs did (the old joined statement, rebuilt here, reads
    the same rows on either database); another team's clips never appear."""
    project = ProjectFactory(team=team, name="Trailer <b>")
    bare = finished(project, created_by=None, scene=None, vendor_account=None, prompt="bare one")
    full = finished(
        project,
        created_by=member,
        scene=SceneFactory(project=project, title="Opening"),
        vendor_account=VendorAccountFactory(label="Main acct"),
        prompt="full one",
    )
    finished(ProjectFactory(name="Rival"), prompt="rival secret")
    page = member_client.get(reverse("gallery")).content.decode()
    assert "bare one" in page and "full one" in page and "rival secret" not in page
    assert "Trailer &lt;b&gt;" in page and "Trailer <b>" not in page
    old = gallery_views.CARDS.replace(
        "(SELECT name FROM generations_project WHERE id = g.project_id),", "project.name,"
    )
    old = old.replace(
        "(SELECT title FROM generations_scene WHERE id = g.scene_id),", "scene.title,"
    )
    old = old.replace(
        "(SELECT label FROM generations_vendoraccount WHERE id = g.vendor_account_id),",
        "account.label,",
    )
    old = old.replace(
        "(SELECT username FROM auth_user WHERE id = g.created_by_id),", "author.username,"
    )
    old = old.replace(
        "LEFT JOIN generations_clip",
        "JOIN generations_project AS project ON project.id = g.project_id "
        "LEFT JOIN generations_scene AS scene ON scene.id = g.scene_id "
        "LEFT JOIN generations_vendoraccount AS account ON account.id = g.vendor_account_id "
        "LEFT JOIN auth_user AS author ON author.id = g.created_by_id LEFT JOIN generations_clip",
    )
    assert old != gallery_views.CARDS and "SELECT name" not in old
    ids = [bare.pk, full.pk]
    for sql in (gallery_views.CARDS, old):
        with connection.cursor() as cursor:
            cursor.execute(
                sql.format(mode=gallery_views.MODE[connection.vendor], chosen="%s, %s"),
                [member.pk, *ids],
            )
            found = sorted(cursor.fetchall())
        if sql is gallery_views.CARDS:
            new = found
    assert new == found and len(new) == 2
    assert [row[6:10] for row in new] == [
        ("Trailer <b>", None, None, None),
        ("Trailer <b>", "Opening", "Main acct", "mateo"),
    ]


def test_held_unreadable_filter_names_it_escaped_also_in_an_htmx_swap(member_client):
    """HELD: an unknown project value is named in the results, escaped (no markup of the
    member's own), on the full page and in the results swapped alone by htmx."""
    hostile = '<img src=x onerror="alert(1)">'
    for headers in ({}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery-results"}):
        page = member_client.get(reverse("gallery"), {"project": hostile}, **headers)
        body = page.content.decode()
        assert page.status_code == 200
        assert "No clips shown. Project:" in body
        assert "<img src=x" not in body and "&lt;img src=x" in body
    body = member_client.get(reverse("gallery"), {"since": "2026-13-45"}).content.decode()
    assert "From: Enter a valid date." in body
    long_q = member_client.get(reverse("gallery"), {"q": "q" * 201}).content.decode()
    assert "Search prompts: Ensure this value has at most 200" in long_q


def cursor_of(stamp: str, pk: str) -> str:
    return base64.urlsafe_b64encode(f"{stamp}|{pk}".encode()).decode().rstrip("=")


def test_held_keyset_cursor_past_64_bits_is_refused_not_a_500(member_client):
    """HELD: a cursor whose id is 2**63 or more, negative, or not ASCII digits does not
    parse; the jobs and gallery pages open at their first page, never a 500."""
    stamp = "2026-01-01T00:00:00+00:00"
    assert keyset.decode(cursor_of(stamp, str(2**63 - 1))) is not None
    for pk in (str(2**63), str(2**64 + 5), "-1", "\u00b2", "1e3", " 1"):
        token = cursor_of(stamp, pk)
        assert keyset.decode(token) is None
        assert member_client.get(reverse("jobs"), {"before": token}).status_code == 200
        assert member_client.get(reverse("gallery"), {"cursor": token}).status_code == 200


def test_finding_a_cursor_with_a_5000_digit_id_is_a_500(member_client):
    """FINDING (medium): decode() calls int(pk) outside its try; past Python's 4300-digit
    limit int() raises ValueError, so a crafted ~6.7 KB cursor is a 500 on the jobs and
    gallery pages, the statement and the audit log (each logs a traceback) instead of
    the first page."""
    token = cursor_of("2026-01-01T00:00:00+00:00", "9" * 5000)
    member_client.raise_request_exception = False
    for page, name in (("jobs", "before"), ("gallery", "cursor")):
        assert member_client.get(reverse(page), {name: token}).status_code == 200
    assert keyset.decode(token) is None
