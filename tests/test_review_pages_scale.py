"""Adversarial review of the speed work of issue #13 (hand-written SQL, kept fragments).

Tests marked FINDING failed on the code as reviewed, each proving a real problem; all
three are fixed (keyset.decode refuses ids past 64 bits; a project's scenes are not kept
whole while a take is in flight, and the fragments cache is bounded in bytes; the
Generate page's inputs are kept only with nothing chosen).
Tests marked HELD pin an attack that the code withstood, so that it stays withstood.
"""

import base64
import pickle
import re

import pytest
from django.core.cache import caches
from django.middleware.csrf import InvalidTokenFormat, _check_token_format
from django.test import Client
from django.urls import reverse
from django.utils.crypto import salted_hmac

from billing import ledger
from generations.assets.models import Asset, Kind
from generations.models import Favourite, Generation, State
from tests.generations.conftest import form_data
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.usefixtures("media")


def kept():
    store = caches["template_fragments"]
    return {key: pickle.loads(value) for key, value in store._cache.items()}  # noqa: S301


def kept_bytes(prefix=""):
    return sum(len(markup) for key, markup in kept().items() if prefix in key)


def cursor(stamp, pk):
    return base64.urlsafe_b64encode(f"{stamp}|{pk}".encode()).decode().rstrip("=")


# --- FINDING 1: the statement's written SQL takes any integer from the cursor ------------


@pytest.mark.parametrize("pk", ["9223372036854775808", "99999999999999999999999"])
def test_a_statement_cursor_past_the_largest_id_is_no_server_error(owner_client, pk):
    """FINDING (low; SQLite only). keyset.decode() accepts any run of ASCII digits as the
    last row's id. The ORM path (keyset.after) let Django 5's IntegerField lookups turn an
    id past the 64-bit range into an always-true / always-false condition; the hand-written
    statement (billing/money/statement.py AFTER) hands it to the driver as is, and SQLite's
    driver raises OverflowError: a 500 for /billing/?cursor=<crafted>, full page and htmx.
    (PostgreSQL compares the bigint with a numeric literal and answers.) The gallery's
    cursor, still through the ORM, takes the same value fine."""
    crafted = cursor("2026-01-01T00:00:00+00:00", pk)
    assert owner_client.get(f"/gallery/?cursor={crafted}").status_code == 200
    assert owner_client.get(f"/billing/?cursor={crafted}").status_code == 200
    response = owner_client.get(f"/billing/?cursor={crafted}", HTTP_HX_REQUEST="true")
    assert response.status_code == 200


# --- FINDING 2: the project's scenes kept whole: a copy of everything per change ---------


def test_a_take_in_flight_does_not_keep_a_new_copy_of_the_whole_project_per_tick(
    member_client, team, owner
):
    """FINDING (medium: memory of every web process, so every team's pages). Since
    eb8184a the project page keeps all its scenes as ONE block keyed by takes.page_digest,
    which includes each take in flight's progress. Every change anywhere in the project (a
    progress tick, a new take, a rename) stores another full copy of every scene's markup;
    the old copies stay up to 24 h. template_fragments is a LocMemCache bounded by entry
    COUNT (5,000), not bytes, and scene notes are an unbounded TextField (up to the
    2.5 MB request body), so a member who writes big notes and keeps one job running (or
    simply edits a title back and forth) makes each process hold thousands of copies of
    megabytes. Before the whole-page block, a tick re-rendered only the pending take,
    outside every cache, and kept nothing new.

    Suggested fix: drop the whole-page block (the per-scene / per-take blocks already
    make it cheap) or leave takes in flight out of it; and refuse to keep any fragment
    above a size limit (or bound the cache by bytes)."""
    project = ProjectFactory(team=team, name="Orchard")
    notes = "Long notes about the light. " * 700  # ~20 KB, far below what a form takes
    scenes = [SceneFactory(project=project, title=f"Scene {n}", notes=notes) for n in range(10)]
    running = GenerationFactory(project=project, scene=scenes[0], running=True, progress=1)
    url = f"/projects/{project.uuid}/"
    for progress in range(2, 22):  # one poll per tick of one job
        Generation.objects.filter(pk=running.pk).update(progress=progress)
        assert member_client.get(url).status_code == 200
    # Fixed: while a take is in flight the scenes are not kept whole at all.
    assert kept_bytes("project-scenes") == 0
    Generation.objects.filter(pk=running.pk).update(state=State.FAILED)
    assert member_client.get(url).status_code == 200
    assert kept_bytes("project-scenes") > 10 * len(notes)  # kept whole once all are done


# --- FINDING 3: the Generate page's inputs kept per SUBSET of the project's assets ------


def test_choosing_assets_cannot_keep_more_copies_of_the_inputs_than_the_project_has_assets(
    member_client, team, owner
):
    """FINDING (low: memory / cache churn). InputsForm.kept_key's docstring promises that
    "no query string makes more entries than a project has assets", but the key digests
    the CHOSEN assets of each slot: the multi-choice reference slots (and first x last
    frames) let one member make 2^N entries of the whole inputs markup (every asset of the
    project, N of them) by posting /generate/quote/ with each subset, evicting everyone
    else's kept fragments (the cache is bounded by entry count) and holding N x 2^N asset
    rows of markup in each process.

    Suggested fix: keep only the part that is the same for every choice (the lists of
    assets) and write the checked/selected marks and the chosen thumbnails per request,
    or keep only the unchosen (initial) state."""
    VendorAccountFactory(protocol="evolink", label="evolink main")
    project = ProjectFactory(team=team, name="Trailer")
    images = [
        Asset.objects.create(
            team=team,
            project=project,
            kind=Kind.IMAGE,
            format="png",
            content_type="image/png",
            name=f"still-{n}.png",
            file=f"assets/still-{n}.png",
            bytes=1000,
            sha256="0" * 64,
        )
        for n in range(5)
    ]
    for mask in range(1, 2 ** len(images)):
        chosen = [str(a.uuid) for i, a in enumerate(images) if mask >> i & 1]
        data = form_data(project, mode="reference", reference_images=chosen)
        assert member_client.post(reverse("generate_quote"), data).status_code == 200
    entries = [key for key in kept() if "generate-inputs" in key]
    assert len(entries) <= 2 * len(images), f"{len(entries)} kept copies for {len(images)} assets"


# --- HELD: {% csrfkept %} --------------------------------------------------------------


def test_held_the_placeholder_token_is_no_valid_token_and_never_reaches_a_page(team, owner):
    """HELD. The placeholder is salted_hmac(...).hexdigest(): 40 hex digits, a length
    Django's CSRF check refuses; no page shows it; a scene title or notes holding the
    exact placeholder field stay text (escaped), never become a token field."""
    placeholder = salted_hmac("generations.csrf_kept", "placeholder").hexdigest()
    with pytest.raises(InvalidTokenFormat):
        _check_token_format(placeholder)
    field = f'<input type="hidden" name="csrfmiddlewaretoken" value="{placeholder}">'
    project = ProjectFactory(team=team, name=field)
    scene = SceneFactory(project=project, title=field[:120], notes=f"{field}\n{field}")
    GenerationFactory(project=project, scene=scene, succeeded=True, prompt=field)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    for _ in range(2):  # rendered, then read back
        html = client.get(f"/projects/{project.uuid}/").content.decode()
        assert placeholder not in html.replace(f"value=&quot;{placeholder}", "")
        tokens = set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
        assert len(tokens) == 1 and placeholder not in tokens
        assert html.count('name="csrfmiddlewaretoken" value=') == html.count('<form method="post"')


def test_held_another_teams_ids_in_the_gallery_filters_show_nothing_of_theirs(
    member_client, team, other_team, outsider
):
    """HELD. Another team's project, scene, maker and asset ids are refused or select
    nothing; none of their names reaches the page."""
    mine = ProjectFactory(team=team, name="Orchard")
    GenerationFactory(project=mine, succeeded=True, prompt="Apples in the wind")
    theirs = ProjectFactory(team=other_team, name="Rival secret project")
    their_scene = SceneFactory(project=theirs, title="Rival secret scene")
    GenerationFactory(
        project=theirs, scene=their_scene, succeeded=True, created_by=outsider,
        prompt="Rival secret prompt",
    )  # fmt: skip
    for query in (
        f"project={theirs.uuid}",
        f"scene={their_scene.uuid}",
        f"member={outsider.username}",
        f"asset={their_scene.uuid}",
        f"project={mine.uuid}&project={theirs.uuid}",
        f"q=secret&project={theirs.uuid}",
        "q=%27%20OR%201%3D1--&scene=%25",
    ):
        html = member_client.get(f"/gallery/?{query}").content.decode()
        # (?member=oscar is echoed in its own error: "oscar is not one of the choices".)
        assert "Rival" not in html and "oscar ·" not in html, query


def test_held_a_kept_card_follows_a_rename_a_favourite_and_a_deleted_clip(
    member_client, owner_client, member, team
):
    """HELD. A card kept for one viewer is never another's favourite, and follows a
    renamed project and a clip record that goes."""
    project = ProjectFactory(team=team, name="Orchard")
    g = GenerationFactory(project=project, succeeded=True, prompt="Pears falling")
    member_client.get("/gallery/")
    Favourite.objects.create(user=member, generation=g)
    assert 'aria-pressed="true"' in member_client.get("/gallery/").content.decode()
    assert 'aria-pressed="true"' not in owner_client.get("/gallery/").content.decode()
    project.name = "Grove"
    project.save()
    assert "Grove" in owner_client.get("/gallery/").content.decode()
    g.clip.delete()
    assert "Pears falling" not in member_client.get("/gallery/").content.decode()


def test_held_the_kept_statement_follows_new_entries_and_matches_the_ledger(
    owner_client, team, operator
):
    """HELD. The newest page's kept rows show a new grant at once, and the balance the
    page reads is the ledger's to the micro-dollar."""
    ledger.grant(team, 1_234_567, operator, "first", "k1")
    owner_client.get("/billing/")
    ledger.grant(team, 7, operator, "second-grant-memo", "k2")
    html = owner_client.get("/billing/").content.decode()
    assert "second-grant-memo" in html
    assert ledger.available_balance(team) == 1_234_574
    assert ledger.dollars(1_234_574) in html


def test_held_the_placeholder_is_not_a_setting_that_repeats_across_keys(settings):
    """HELD (note). The placeholder follows SECRET_KEY: a kept block rendered under an
    old key keeps the old placeholder, which is then not replaced (forms would post it and
    be refused). The cache is this process's memory, so a key change (a restart) empties
    it: no finding, but a shared template_fragments cache would make it one."""
    first = salted_hmac("generations.csrf_kept", "placeholder").hexdigest()
    settings.SECRET_KEY = settings.SECRET_KEY + "-rotated"
    assert salted_hmac("generations.csrf_kept", "placeholder").hexdigest() != first
    assert "LocMemCache" in settings.CACHES["template_fragments"]["BACKEND"]


def test_held_a_viewer_gets_no_forms_from_scenes_kept_for_a_member(
    member_client, viewer_client, team
):
    """HELD. The scenes kept whole are keyed by can_generate."""
    project = ProjectFactory(team=team, name="Orchard")
    scene = SceneFactory(project=project, title="Harbour")
    GenerationFactory(project=project, scene=scene, succeeded=True)
    assert "Use this take" in member_client.get(f"/projects/{project.uuid}/").content.decode()
    html = viewer_client.get(f"/projects/{project.uuid}/").content.decode()
    assert (
        "Use this take" not in html
        and "csrfmiddlewaretoken" not in html.split('id="scene-')[1].split("</section>")[0]
    )
