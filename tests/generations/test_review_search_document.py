"""Adversarial review of 5e0b583: prompt search on PostgreSQL reads the stored generated
column prompt_document (migration 0007) instead of computing to_tsvector per row.

Each test pits the stored document against what the search computed before the change,
to_tsvector('english', COALESCE(prompt, '')): every way a row is written, every gallery
filter and way of searching, hostile text, and the migration both ways."""

from datetime import timedelta

import pytest
from django.core import serializers
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Exists, OuterRef, Q, Subquery, Value
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations.assets.models import Asset, GenerationInput
from generations.models import Favourite, Generation, State
from generations.studio import search
from generations.studio.gallery_filters import GalleryFilterForm
from seedance_site import rows
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)
from tests.generations.factories import finished_clip as clip
from tests.generations.test_gallery_search import shown

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the stored document is PostgreSQL's"
)

pytestmark = pytest.mark.usefixtures("media")

# What the search computed per row before 5e0b583 (and what migration 0005 indexed).
EXPRESSION = "to_tsvector('english'::regconfig, COALESCE(prompt, ''))"


def stale_documents() -> int:
    """Rows whose stored document is not what the expression computes from their prompt."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM generations_generation WHERE prompt_document IS DISTINCT FROM {EXPRESSION}"  # noqa: S608
        )
        return cursor.fetchone()[0]


def expected_matches(text: str) -> list[tuple[int, float]]:
    """(pk, rank) of every row the expression matches, best first then newest (as ranked)."""
    found = search.words(text)
    if not found:
        return []
    sql = (
        f"SELECT id, ts_rank({EXPRESSION}, to_tsquery('english'::regconfig, %s)) AS r "  # noqa: S608
        f"FROM generations_generation WHERE {EXPRESSION} @@ to_tsquery('english'::regconfig, %s) "
        "ORDER BY r DESC, created DESC, id DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [search._raw(found), search._raw(found)])
        return cursor.fetchall()


# ---------------------------------------------------------------------------------------
# Writes: every way a row reaches generations_generation leaves a current document.


@on_postgres
def test_every_write_path_leaves_the_document_the_expression_would_compute(team, member):
    project = ProjectFactory(team=team)
    first = clip(project, "Foxes running through snow")  # factory: ORM create + save()
    # bulk_create (on PostgreSQL, Django 5.2 inserts through UNNEST)
    Generation.objects.bulk_create(
        [GenerationFactory.build(project=project, prompt=f"Lanterns {n} glowing") for n in range(3)]
    )
    # The hand-written INSERT every submission uses (seedance_site/rows.py)
    with connection.cursor() as cursor:
        rows.insert(cursor, GenerationFactory.build(project=project, prompt="Harbour at dusk"))
    # update() with an expression, bulk_update, save() of a changed prompt
    Generation.objects.filter(prompt__startswith="Lanterns").update(
        prompt=Concat("prompt", Value(" over boats"))
    )
    some = list(Generation.objects.filter(prompt__startswith="Lanterns"))
    for g in some:
        g.prompt = g.prompt.replace("Lanterns", "Kites")
    Generation.objects.bulk_update(some, ["prompt"])
    first.prompt = "A heron in the reeds"
    first.save()
    # A raw UPDATE of other columns (the lifecycle's polling) does not disturb it
    with connection.cursor() as cursor:
        cursor.execute("UPDATE generations_generation SET poll_count = poll_count + 1")
    assert Generation.objects.count() == 5
    assert stale_documents() == 0
    # And SELECT * mapped into models still works (the extra column is just an attribute)
    everything = list(Generation.objects.raw("SELECT * FROM generations_generation"))
    assert {g.prompt for g in everything} >= {"A heron in the reeds", "Harbour at dusk"}


@on_postgres
def test_a_serialized_clip_loads_back_with_its_document(team):
    """dumpdata/loaddata: the serializer knows only model fields; the column is regenerated."""
    fox = GenerationFactory(project=ProjectFactory(team=team), prompt="Foxes in snow")
    dumped = serializers.serialize("json", [fox])
    Generation.objects.filter(pk=fox.pk).delete()
    for obj in serializers.deserialize("json", dumped):
        obj.save()
    assert stale_documents() == 0
    assert expected_matches("fox") == [(fox.pk, pytest.approx(0.0607927))]


# ---------------------------------------------------------------------------------------
# Reads: the expression renders the alias of its own query, however the query is built.


@on_postgres
def test_the_document_is_the_rows_own_in_joins_subqueries_and_combinations(team):
    project = ProjectFactory(team=team)
    a = clip(project, "A fox in snow")
    b = clip(project, "A kite", remix_of=a)
    c = clip(project, "Fox again", remix_of=b)
    fox = search._ts_query(["fox"])
    G = Generation.objects
    matches = G.annotate(document=search._Document()).filter(document=fox)
    tested = G.filter(search._tested(fox))
    assert set(matches.values_list("pk", flat=True)) == {a.pk, c.pk}
    # Nested subqueries (relabelled U0, V0 ...)
    nested = G.filter(pk__in=Subquery(G.filter(pk__in=Subquery(matches.values("pk"))).values("pk")))
    assert set(nested.values_list("pk", flat=True)) == {a.pk, c.pk}
    # A correlated Exists over the same table: the inner row's document, not the outer's
    remixed_into_fox = G.annotate(
        has=Exists(G.filter(remix_of=OuterRef("pk")).filter(search._tested(fox)))
    )
    assert dict(remixed_into_fox.values_list("pk", "has")) == {a.pk: False, b.pk: True, c.pk: False}
    # Self-joins, OR with a joined condition, exclude, union
    assert list(G.filter(remix_of__in=matches).values_list("pk", flat=True)) == [b.pk]
    assert set(
        G.filter(Q(search._tested(fox)) | Q(remix_of__prompt="A fox in snow")).values_list(
            "pk", flat=True
        )
    ) == {a.pk, b.pk, c.pk}
    assert list(G.exclude(search._tested(fox)).values_list("pk", flat=True)) == [b.pk]
    assert set(
        matches.values("pk").union(G.filter(pk=b.pk).values("pk")).values_list("pk", flat=True)
    ) == {a.pk, b.pk, c.pk}
    assert tested.count() == 2


# ---------------------------------------------------------------------------------------
# The gallery: every filter, every way a search goes, against the expression's answer.


@pytest.fixture
def studio(team, member, owner, other_team):
    """A team's clips across two projects, scenes, vendors, people, models, days,
    favourites, modes and an input asset; and a rival team's clips with the same words."""
    harbour = ProjectFactory(team=team, name="Harbour")
    meadow = ProjectFactory(team=team, name="Meadow")
    s1, s2 = SceneFactory(project=harbour), SceneFactory(project=harbour)
    va1, va2 = VendorAccountFactory(), VendorAccountFactory()
    picture = Asset.objects.create(
        team=team,
        project=harbour,
        created_by=member,
        kind="image",
        format="png",
        content_type="image/png",
        name="gull.png",
        file="assets/gull.png",
        bytes=10,
        sha256="0" * 64,
    )
    fast = "seedance-2.0-fast"
    # fmt: off
    made = [
        # prompt, project, scene, account, by, family, days ago, favourite, mode, asset
        ("Fox at the harbour wall", harbour, s1, va1, member, "seedance-2.0", 0, True, "text", None),
        ("Foxes chasing gulls on the pier", harbour, s2, va2, owner, fast, 1, False, "image", picture),
        ("A kite over the harbour", harbour, s1, va1, owner, "seedance-2.0", 2, True, None, None),
        ("Fox cubs asleep in a meadow", meadow, None, va2, member, fast, 3, False, "text", None),
        ("Rain on the meadow", meadow, None, va1, member, "seedance-2.0", 0, True, None, None),
        ("The fox and the fox again fox", harbour, None, va2, owner, "seedance-2.0", 5, True, None, None),
        ("Quiet street at night", harbour, s2, va1, member, fast, 1, False, "image", None),
    ]
    # fmt: on
    for n, (prompt, project, scene, account, by, family, days, fav, mode, asset) in enumerate(made):
        g = clip(
            project,
            prompt,
            minutes_ago=days * 24 * 60 + n,
            scene=scene,
            vendor_account=account,
            created_by=by,
            family=family,
        )
        request = dict(g.request)
        request.pop("mode", None)
        if mode:
            request["mode"] = mode
        Generation.objects.filter(pk=g.pk).update(request=request)
        if fav:
            Favourite.objects.create(user=member, generation=g)
        if asset:
            GenerationInput.objects.create(generation=g, asset=asset, role="first_frame")
    # Not finished (no clip): never shown even if it matches
    GenerationFactory(project=harbour, prompt="Fox that never finished", state=State.RUNNING)
    rival = ProjectFactory(team=other_team, name="Rival harbour")
    clip(rival, "Fox at the harbour wall of the rival")
    clip(rival, "Foxes and gulls of the rival")
    today = timezone.localdate()
    filters = [
        {},
        {"project": str(harbour.uuid)},
        {"project": str(meadow.uuid)},
        {"scene": str(s1.uuid)},
        {"scene": str(s2.uuid)},
        {"account": str(va2.uuid)},
        {"member": owner.username},
        {"family": fast},
        {"since": str(today - timedelta(days=1))},
        {"until": str(today - timedelta(days=2))},
        {"favourites": "on"},
        {"mode": "text"},
        {"mode": "image"},
        {"asset": str(picture.uuid)},
        {"project": str(harbour.uuid), "favourites": "on", "member": owner.username},
        {
            "project": str(meadow.uuid),
            "account": str(va2.uuid),
            "since": str(today - timedelta(days=6)),
        },
    ]
    return team, filters


QUERIES = ["fox", "harbour", "fox harbour", "gull", "mead", "FOXES!", "fox:* | kite", "night & day"]


@on_postgres
@pytest.mark.parametrize(
    ("probe", "ranked_at_most"),
    [(100, 200), (2, 200), (2, 1)],
    ids=["probe-reads-all", "probe-few", "probe-few-rank-none"],
)
def test_every_filter_finds_what_the_expression_found_in_the_same_order(
    member_client, member, studio, monkeypatch, probe, ranked_at_most
):
    team, filters = studio
    monkeypatch.setattr(search, "PROBE", probe)
    monkeypatch.setattr(search, "RANKED_AT_MOST", ranked_at_most)
    prompts = dict(Generation.objects.values_list("pk", "prompt"))
    ways = set()
    for params in filters:
        form = GalleryFilterForm(params, team=team)
        base = Generation.objects.filter(team=team, state=State.SUCCEEDED, clip__isnull=False)
        allowed = set(form.filter(base, member).values_list("pk", flat=True))
        for q in QUERIES:
            with CaptureQueriesContext(connection) as queries:
                got, html = shown(member_client, q, **params)
            walked = any("SET LOCAL" in query["sql"] for query in queries.captured_queries)
            ways.add(("best" if "Best match first." in html else "newest", walked))
            expected = [(pk, rank) for pk, rank in expected_matches(q) if pk in allowed]
            if "Best match first." in html:
                want = [prompts[pk] for pk, _ in expected]
            else:
                newest = Generation.objects.filter(pk__in=[pk for pk, _ in expected])
                want = list(newest.order_by("-created", "-pk").values_list("prompt", flat=True))
            assert got == want, (params, q, html.count("clip-prompt"))
    # Each way a search goes was taken: ranked, the newest-first walk, the index newest first
    assert (
        ways
        >= {
            (100, 200): {("best", False)},
            (2, 200): {("best", False), ("newest", True)},
            (2, 1): {("newest", True), ("newest", False)},
        }[probe, ranked_at_most]
    ), ways


@on_postgres
@pytest.mark.parametrize(
    "q",
    [
        "'&|!():*\\",
        "fox' OR 1=1 --",
        "fox\u00a0snow",
        "ＦＯＸ",  # fullwidth
        "fox_snow",
        "snow-fox",
        "Ｆox:*:*:*",
        "ﬁsh",  # ligature
        "1e5 3.5",
        "<fox>",
        "x" * 199,
        " ".join(["the"] * 11 + ["fox"]),
        "renard café",
    ],
)
def test_hostile_text_finds_what_the_expression_found(member_client, team, q):
    project = ProjectFactory(team=team, name="Harbour")
    for prompt in [
        "A fox in snow",
        "fox_snow tracks",
        "snow-fox at dusk",
        "FISH market",
        "fish market",
        "1e5 frames at 3.5 speed",
        "Un renard au café",
        "ＦＯＸ in fullwidth",
    ]:
        clip(project, prompt)
    got, html = shown(member_client, q)
    want = {pk for pk, _ in expected_matches(q)}
    assert sorted(got) == sorted(
        Generation.objects.filter(pk__in=want).values_list("prompt", flat=True)
    ), html[:200]


# ---------------------------------------------------------------------------------------
# The migration, both ways, on either database.

BEFORE = [("generations", "0006_vendor_account_model_ids")]
AFTER = [("generations", "0007_stored_prompt_document")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()


@pytest.fixture
def at_latest_afterwards(transactional_db):
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def columns() -> set[str]:
    with connection.cursor() as cursor:
        described = connection.introspection.get_table_description(cursor, "generations_generation")
    return {c.name for c in described}


def indexes() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, "generations_generation"))


def test_the_migration_goes_back_and_forth_and_documents_rows_written_in_between(
    at_latest_afterwards, team
):
    fox = GenerationFactory(project=ProjectFactory(team=team), prompt="Foxes in snow")
    migrate(BEFORE)
    assert "prompt_document" not in columns()
    if connection.vendor == "postgresql":
        assert "generation_prompt_search" in indexes()
        assert "generation_prompt_document" not in indexes()
    # Written while the column is gone: a new prompt, and a new row
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE generations_generation SET prompt = %s WHERE id = %s", ["Herons", fox.pk]
        )
    kite = GenerationFactory(project=fox.project, prompt="Kites over the harbour")
    migrate(AFTER)
    if connection.vendor == "postgresql":
        assert "prompt_document" in columns()
        assert "generation_prompt_document" in indexes()
        assert "generation_prompt_search" not in indexes()
        assert stale_documents() == 0
        assert [pk for pk, _ in expected_matches("heron")] == [fox.pk]
        found = search.matching(Generation.objects.all(), "kite")
        assert [g.pk for g in found.clips] == [kite.pk]
    else:
        assert "prompt_document" not in columns()


# ---------------------------------------------------------------------------------------
# The column Django does not know about.


@on_postgres
def test_postgres_refuses_to_alter_the_prompt_column_while_its_document_depends_on_it(db):
    """prompt_document is invisible to Django's migration state, so a future AlterField of
    Generation.prompt that changes its type or collation (autodetected, and fine on
    SQLite) is refused by PostgreSQL: such a migration must drop the column and its index
    first and add them back after (as 0007's two functions do). The model's field says so."""
    from django.db.utils import NotSupportedError

    old = Generation._meta.get_field("prompt")
    new = models.CharField(max_length=20_000)
    new.set_attributes_from_name("prompt")
    new.model = Generation
    with (
        pytest.raises(NotSupportedError, match="generated column"),
        connection.schema_editor() as editor,
    ):
        editor.alter_field(Generation, old, new, strict=True)


def test_the_model_notes_point_at_the_search_column_not_the_dropped_index():
    """generations/models.py still says the GIN index for prompt search is migration
    0005's; 0007 dropped it, and nothing beside the prompt field warns that PostgreSQL
    derives a generated column from it."""
    import inspect

    from generations import models as generation_models

    source = inspect.getsource(generation_models.Generation)
    assert "migration 0005" not in source
    assert "prompt_document" in source
