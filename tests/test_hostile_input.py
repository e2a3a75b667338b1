"""Hostile input: whatever a member types or a stranger sends, no page answers 500, and
money moves only when a real submit succeeded.

Hypothesis drives the Generate form (and its live quote), the vendor callback, and the
query strings of the gallery, jobs, billing and statement pages. After every example
the ledger is compared with a snapshot taken before it: every account's balance, the
number of transfers, holds, generations, projects and scenes. They may change only
when the request created generations, and then the books must still reconcile.
"""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from billing import ledger
from billing.models import Account, Hold, Transfer
from generations import lifecycle
from generations.models import Generation, GenerationEvent, Project, Scene, State
from generations.vendors import Family
from seedance_site.tokens import hash_token
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ODD = [
    "", " ", "\t", "-1", "0", "-0", "1", "4", "5", "10", "99", "NaN", "nan", "inf", "-Infinity",
    "1e309", "9" * 40, "-" + "9" * 40, "5.0", "0x10", "٥", "²", "\x00", "a\x00b", "null", "None",
    "true", "on", "[]", "{}", "<script>alert(1)</script>", "' OR '1'='1", "%00", "../../etc/passwd",
    "🎬" * 30, "\u202e", "\r\n", "seedance-2.0", "seedance-9.9", "sora-2", "16:9", "0:0", "720p",
    "8k", "2024-02-30", "2024-13-01", "9999-12-31", "0001-01-01", "10000-01-01", "-2024-01-01",
    "refresh", "1970-01-01T00:00:00", "00000000-0000-0000-0000-000000000000",
]  # fmt: skip
SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
HUGE = st.sampled_from([2_001, 20_001, 300_000]).map(lambda n: "é" * n)


def hostile(*extra) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ODD + list(extra)),
        SAFE_TEXT,
        st.uuids().map(str),
        st.integers(-(2**70), 2**70).map(str),
        st.floats().map(str),
        HUGE,
    )


def mostly(structured: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`structured` three times in four, else anything hostile. (st.one_of would flatten
    hostile()'s own branches in beside it, and the structured values would be rare.)"""
    return st.integers(0, 3).flatmap(lambda n: structured if n else hostile())


def keyset_cursor(stamp: datetime, pk: str) -> str:
    """Shaped like seedance_site.keyset's cursors, with any time and any "id"."""
    return base64.urlsafe_b64encode(f"{stamp.isoformat()}|{pk}".encode()).decode().rstrip("=")


STAMPS = st.datetimes(
    min_value=datetime(1, 1, 1),
    max_value=datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.one_of(
        st.none(),
        st.just(UTC),
        st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))),
    ),
)
PKS = st.one_of(
    st.sampled_from(["²", "٣", "", "0", "-1", " 1", str(2**63), "9" * 30]),
    st.integers(-(2**70), 2**70).map(str),
)
CURSORS = mostly(st.builds(keyset_cursor, STAMPS, PKS))
DATES = mostly(st.one_of(st.dates().map(str), st.sampled_from(["0001-01-01", "9999-12-31"])))


def books() -> dict:
    return {
        "balances": dict(Account.objects.values_list("pk", "balance")),
        "sum": Account.objects.aggregate(total=Sum("balance"))["total"] or 0,
        "transfers": Transfer.objects.count(),
        "holds": Hold.objects.count(),
        "generations": Generation.objects.count(),
        "projects": Project.objects.count(),
        "scenes": Scene.objects.count(),
    }


def assert_unchanged(before: dict) -> None:
    assert books() == before


@pytest.fixture
def world(settings, tmp_path, team, owner, member, other_team, outsider, operator, monkeypatch):
    """A funded team with a project, a scene, a finished clip; another team with the same."""
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr("generations.tasks.enqueue_submit", lambda pk: None)
    monkeypatch.setattr("generations.tasks.enqueue_check", lambda pk: None)
    ledger.grant(team, 50_000_000, by=operator, memo="test", key="hostile-grant")
    kinovi = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    disabled = VendorAccountFactory(protocol="evolink", label="Evolink off", enabled=False)
    project = ProjectFactory(team=team, name="Lighthouse", created_by=owner)
    scene = SceneFactory(project=project)
    mine = GenerationFactory(project=project, created_by=member, succeeded=True)
    theirs_project = ProjectFactory(team=other_team, name="Rival", created_by=outsider)
    theirs_scene = SceneFactory(project=theirs_project)
    theirs = GenerationFactory(project=theirs_project, created_by=outsider, succeeded=True)
    running = GenerationFactory(project=project, created_by=member, running=True)
    running.callback_token_hash = hash_token(lifecycle.callback_token(running))
    running.save(update_fields=["callback_token_hash"])
    return {
        "valid": {
            "prompt": "A lighthouse keeper climbs the spiral stairs at dusk",
            "family": "seedance-2.0",
            "account": "",
            "duration": "5",
            "aspect_ratio": "16:9",
            "resolution": "720p",
            "project": str(project.uuid),
            "scene": str(scene.uuid),
            "new_scene": "",
            "variants": "1",
        },
        "ours": [
            *(str(x.uuid) for x in (project, scene, mine, kinovi, member.memberships.get())),
            member.username,
        ],
        "foreign": [
            *(str(x.uuid) for x in (theirs_project, theirs_scene, theirs, disabled, other_team)),
            str(outsider.memberships.get().uuid),
            outsider.username,
        ],
        "families": [f.value for f in Family],
        "team": team,
        "running": running,
    }


@st.composite
def generate_posts(draw, world) -> dict:
    """The form as a browser would send it, with a few fields replaced, dropped or doubled."""
    data = dict(world["valid"])
    values = hostile(*world["ours"], *world["foreign"], *world["families"])
    names = [*data, "audio", "new_project", "remix_of", "intent", "options_key", "unknown"]
    for name in draw(st.lists(st.sampled_from(names), max_size=5, unique=True)):
        how = draw(st.sampled_from(["replace", "replace", "drop", "double"]))
        if how == "replace":
            data[name] = draw(values)
        elif how == "drop":
            data.pop(name, None)
        else:
            data[name] = [draw(values), draw(values)]
    return data


@HYPOTHESIS
@given(data=st.data())
def test_the_generate_form_and_its_quote_survive_anything_and_hold_money_only_on_submit(
    member_client, world, data
):
    path = data.draw(
        st.sampled_from(["/generate/", "/generate/", "/generate/quote/"]), label="path"
    )
    post = data.draw(generate_posts(world), label="post")
    headers = {"HTTP_HX_REQUEST": "true"} if data.draw(st.booleans(), label="htmx") else {}
    before = books()

    response = member_client.post(path, post, **headers)

    assert response.status_code < 500
    created = books()["generations"] - before["generations"]
    event("submitted" if created else "not submitted")
    if not created:
        assert_unchanged(before)
        return
    # A real submit: the page moved on to Jobs, each variant holds its own quote.
    assert path == "/generate/"
    assert response.status_code == 302 or response.headers.get("HX-Redirect") == "/jobs/"
    after = books()
    assert after["holds"] - before["holds"] == created
    assert after["transfers"] - before["transfers"] == created
    assert after["sum"] == before["sum"]
    newest = Generation.objects.order_by("-pk")[:created]
    assert {g.team_id for g in newest} == {world["team"].pk}
    assert ledger.problems() == []


def test_the_untouched_form_submits_and_holds_its_quote(member_client, world):
    # The property above allows money to move only with a submit: here is one.
    before = books()
    response = member_client.post("/generate/", world["valid"])
    assert response.status_code == 302
    after = books()
    assert after["generations"] == before["generations"] + 1
    assert after["transfers"] == before["transfers"] + 1
    assert after["balances"] != before["balances"]
    assert after["sum"] == before["sum"]


@HYPOTHESIS
@given(data=st.data())
def test_the_generate_page_survives_any_query_string(member_client, world, data):
    values = hostile(*world["ours"], *world["foreign"], *world["families"])
    params = data.draw(
        st.dictionaries(
            st.sampled_from(["from", "project", "scene", "family", "account", "prompt"]), values
        ),
        label="params",
    )
    before = books()
    response = member_client.get("/generate/?" + urlencode(params))
    assert response.status_code < 500
    assert_unchanged(before)


# --- the vendor callback ------------------------------------------------------------------


CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "application/octet-stream",
    "",
    "application/json; charset=utf-7",
    "image/png",
]
BODIES = st.one_of(
    st.binary(max_size=2048),
    SAFE_TEXT.map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | SAFE_TEXT,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(SAFE_TEXT, inner, max_size=4),
        max_leaves=10,
    ).map(lambda o: json.dumps(o).encode()),
)


@HYPOTHESIS
@given(data=st.data())
def test_a_callback_with_a_wrong_token_is_a_404_and_changes_nothing(client, world, data):
    running = world["running"]
    token = lifecycle.callback_token(running)
    uuid = data.draw(st.one_of(st.just(str(running.uuid)), st.uuids().map(str)), label="uuid")
    presented = data.draw(
        st.one_of(
            st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80),
            st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
            st.just(token[:-1] + ("0" if token[-1] != "0" else "1")),
            st.just(token.upper()),
        ),
        label="token",
    )
    assume(presented != token)
    method = data.draw(st.sampled_from(["POST", "POST", "GET", "PUT", "PATCH", "DELETE"]))
    body = data.draw(BODIES, label="body")
    content_type = data.draw(st.sampled_from(CONTENT_TYPES) | SAFE_TEXT, label="content_type")
    events = GenerationEvent.objects.count()
    before = books()

    path = f"/hooks/{uuid}/{quote(presented, safe='')}/"
    response = client.generic(method, path, data=body, content_type=content_type)

    assert response.status_code in (404, 405) if method != "POST" else response.status_code == 404
    assert GenerationEvent.objects.count() == events
    running.refresh_from_db()
    assert running.state == State.RUNNING
    assert_unchanged(before)


def test_the_right_token_is_what_opens_the_callback(
    client, world, django_capture_on_commit_callbacks
):
    # The wrong-token property above means something only if the right one gets through.
    running = world["running"]
    events = GenerationEvent.objects.count()
    with django_capture_on_commit_callbacks():
        response = client.post(
            f"/hooks/{running.uuid}/{lifecycle.callback_token(running)}/",
            b"{}",
            content_type="application/json",
        )
    assert response.status_code == 200
    assert GenerationEvent.objects.count() == events + 1


# --- filters and searches -------------------------------------------------------------------


@HYPOTHESIS
@given(data=st.data())
def test_gallery_and_jobs_survive_any_filter(member_client, world, data):
    values = hostile(*world["ours"], *world["foreign"], *world["families"])
    path = data.draw(st.sampled_from(["/gallery/", "/jobs/"]), label="path")
    fields = ["q", "project", "scene", "family", "account", "member", "favourites", "mine", "x"]
    params = data.draw(
        st.dictionaries(st.sampled_from(fields), values)
        | st.dictionaries(st.sampled_from(["since", "until"]), DATES, min_size=1),
        label="params",
    )
    headers = {}
    if data.draw(st.booleans(), label="htmx"):
        headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery-results"}
    before = books()
    response = member_client.get(path + "?" + urlencode(params), **headers)
    assert response.status_code < 500
    assert_unchanged(before)


@pytest.mark.parametrize(
    "params", [{"until": "9999-12-31"}, {"since": "0001-01-01"}, {"since": "0001-01-02"}]
)
def test_the_gallery_takes_the_first_and_last_days_a_date_can_name(member_client, world, params):
    """Found by the test above: the day after 9999-12-31 does not exist (a 500)."""
    response = member_client.get("/gallery/?" + urlencode(params))
    assert response.status_code == 200
    assert "A paper boat drifts down a rainy street" in response.content.decode()


@settings(HYPOTHESIS, max_examples=100)
@given(data=st.data())
def test_gallery_and_jobs_survive_any_page_cursor(member_client, world, data):
    path, name = data.draw(st.sampled_from([("/gallery/", "cursor"), ("/jobs/", "before")]))
    cursor = data.draw(CURSORS, label="cursor")
    headers = {"HTTP_HX_REQUEST": "true"} if data.draw(st.booleans(), label="htmx") else {}
    before = books()
    response = member_client.get(path + "?" + urlencode({name: cursor}), **headers)
    assert response.status_code < 500
    assert_unchanged(before)


@settings(HYPOTHESIS, max_examples=100)
@given(data=st.data())
def test_billing_and_its_statement_survive_any_filter_and_cursor(owner_client, world, data):
    values = hostile(*world["ours"], *world["foreign"])
    path = data.draw(st.sampled_from(["/billing/", "/billing/statement.csv"]), label="path")
    params = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "since": DATES,
                "until": DATES,
                "member": values,
                "project": values,
                "vendor": values,
                "cursor": CURSORS,
            },
        ),
        label="params",
    )
    headers = {"HTTP_HX_REQUEST": "true"} if data.draw(st.booleans(), label="htmx") else {}
    before = books()
    response = owner_client.get(path + "?" + urlencode(params), **headers)
    assert response.status_code < 500
    if response.streaming:
        b"".join(response.streaming_content)  # a CSV fails while it streams, not before
    assert_unchanged(before)
