"""Prompt search: full text on PostgreSQL (stems, prefixes, best match first when few
match), every word as a substring on SQLite; hostile input is just text."""

import pytest
from django.db import connection

from generations.studio import search
from tests.generations.factories import ProjectFactory
from tests.generations.factories import finished_clip as clip

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="full-text search is PostgreSQL's"
)


pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def project(team):
    return ProjectFactory(team=team, name="Harbour")


def shown(client, q, **params):
    html = client.get("/gallery/", {"q": q, **params}).content.decode()
    return [
        part.split("</a>")[0]
        for part in html.split('<a class="clip-prompt" href="')[1:]
        for part in [part.split('">', 1)[1]]
    ], html


def test_every_word_must_match_in_any_order(member_client, project):
    clip(project, "A red fox runs through snow")
    clip(project, "A red kite over the sea")
    prompts, _ = shown(member_client, "snow fox")
    assert prompts == ["A red fox runs through snow"]
    prompts, _ = shown(member_client, "red")
    assert sorted(prompts) == ["A red fox runs through snow", "A red kite over the sea"]


def test_the_word_being_typed_already_matches(member_client, project):
    clip(project, "Storm over the lighthouse")
    prompts, _ = shown(member_client, "lightho")
    assert prompts == ["Storm over the lighthouse"]


@pytest.mark.parametrize("q", ["'&|!():*\\", "fox:* | !kite", "(((", "' OR 1=1 --", "\x00"])
def test_tsquery_syntax_and_hostile_text_is_only_text(member_client, project, q):
    clip(project, "A red fox runs through snow")
    response = member_client.get("/gallery/", {"q": q})
    assert response.status_code == 200


@on_postgres
def test_only_stop_words_are_explained_instead_of_matching_nothing(member_client, project):
    clip(project, "The end of the pier")
    prompts, html = shown(member_client, "the")
    assert prompts == []
    assert "“the” is too common to search for: add a word that says more." in html


def test_a_search_without_letters_or_digits_says_so(member_client, project):
    clip(project, "The end of the pier")
    prompts, html = shown(member_client, "!!! ???")
    assert prompts == []
    assert "Search for words: letters or digits." in html


def test_searching_stays_within_the_team(member_client, project, other_team):
    clip(project, "A red fox runs through snow")
    clip(ProjectFactory(team=other_team), "A red fox of the rival team")
    prompts, _ = shown(member_client, "fox")
    assert prompts == ["A red fox runs through snow"]


@on_postgres
def test_stems_match_other_forms_of_a_word(member_client, project):
    clip(project, "Paper boats drifting")
    prompts, _ = shown(member_client, "boat drifts")
    assert prompts == ["Paper boats drifting"]


@on_postgres
def test_few_matches_come_best_match_first_then_newest(member_client, project):
    clip(project, "A fox, a fox, a fox in the snow, fox tracks", minutes_ago=30)
    clip(project, "Snow falls on a quiet fox", minutes_ago=1)
    clip(project, "Snow on the roofs", minutes_ago=0)
    prompts, html = shown(member_client, "fox")
    assert prompts == ["A fox, a fox, a fox in the snow, fox tracks", "Snow falls on a quiet fox"]
    assert "Best match first." in html


@on_postgres
def test_ranked_matches_page_on_without_repeats_or_gaps(member_client, project, monkeypatch):
    from generations.studio.views import gallery

    monkeypatch.setattr(gallery, "GALLERY_PAGE", 3)
    for n in range(8):
        clip(project, f"Lantern {n} " + "glow " * n, minutes_ago=n)
    seen, cursor = [], ""
    for _ in range(5):
        html = member_client.get("/gallery/", {"q": "glow", "cursor": cursor}).content.decode()
        seen += [p.split("</a>")[0] for p in html.split('">Lantern ')[1:]]
        if 'hx-trigger="revealed"' not in html:
            break
        cursor = html.split("cursor=")[-1].split('"')[0]
    assert [s.split(" ")[0] for s in seen] == ["7", "6", "5", "4", "3", "2", "1"]


@on_postgres
def test_a_common_word_in_a_long_history_comes_newest_first(member_client, project, monkeypatch):
    # The newest PROBE clips stand for a long history; most of them have the word.
    monkeypatch.setattr(search, "PROBE", 2)
    clip(project, "Fox fox fox fox", minutes_ago=10)
    clip(project, "A fox", minutes_ago=5)
    clip(project, "Another fox", minutes_ago=0)
    prompts, html = shown(member_client, "fox")
    assert prompts == ["Another fox", "A fox", "Fox fox fox fox"]
    assert "Newest first: more clips match than can be ranked." in html


@on_postgres
def test_a_rarer_word_found_by_the_index_is_ranked_unless_too_many_match(
    member_client, project, monkeypatch
):
    monkeypatch.setattr(search, "PROBE", 2)
    clip(project, "Fox fox fox fox", minutes_ago=10)
    clip(project, "A fox", minutes_ago=5)
    clip(project, "Waves", minutes_ago=1)
    clip(project, "Rain", minutes_ago=0)
    prompts, html = shown(member_client, "fox")
    assert prompts == ["Fox fox fox fox", "A fox"]
    assert "Best match first." in html
    monkeypatch.setattr(search, "RANKED_AT_MOST", 1)
    prompts, html = shown(member_client, "fox")
    assert prompts == ["A fox", "Fox fox fox fox"]
    assert "Newest first: more clips match than can be ranked." in html


def test_words_are_what_the_search_sees():
    assert search.words("  Fox:* & (snow) | it's ") == ["fox", "snow", "it", "s"]
    assert len(search.words("word " * 50)) == search.MAX_WORDS


def test_the_database_binds_parameters_on_the_client_as_page_rows_needs():
    """page_rows sends a common-words page with its planner settings as one string of
    several statements: with Django's server-side binding (OPTIONS
    "server_side_binding": True) PostgreSQL could not prepare it."""
    assert not getattr(connection.features, "uses_server_side_binding", False)


def held(sql, params=()):
    """The rows of `sql` read as a page of common words is: the planner held to the walk."""
    from generations.models import Generation

    found = search.Found(Generation.objects.all(), search.Order.NEWEST, read_newest_first=True)
    return search.page_rows(found, sql, list(params))


def setting(name):
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


@on_postgres
def test_holding_the_planner_to_the_walk_ends_with_the_page_query(project):
    before = setting("max_parallel_workers_per_gather")
    # The test runs inside a transaction, as a view under ATOMIC_REQUESTS would.
    rows = held(
        "SELECT current_setting('enable_sort'), current_setting(%s), %s",
        ["max_parallel_workers_per_gather", 7],
    )
    assert rows == [("off", "0", 7)]
    assert setting("enable_sort") == "on"
    assert setting("enable_bitmapscan") == "on"
    assert setting("max_parallel_workers_per_gather") == before


def disabled(plan_rows) -> bool:
    """Whether a plan uses a node its settings disable (its cost weighed by 10^10; from
    PostgreSQL 18 on, marked Disabled)."""
    plan = " ".join(row[0] for row in plan_rows)
    return "10000000000" in plan or "Disabled" in plan


@on_postgres
def test_the_page_is_planned_with_the_planner_held(project):
    """The settings and the page go in one round trip, and the page is planned after the
    settings have run: its sort is one they disable."""
    sql = "EXPLAIN SELECT id FROM generations_generation ORDER BY prompt LIMIT 5"
    assert disabled(held(sql))
    with connection.cursor() as cursor:
        cursor.execute(sql)
        assert not disabled(cursor.fetchall())


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_held_page_is_one_statement(django_assert_num_queries):
    """No BEGIN, COMMIT or savepoint around it: the string is a transaction of its own,
    and its settings end with it."""
    before = setting("max_parallel_workers_per_gather")
    with django_assert_num_queries(1):
        rows = held("SELECT current_setting('enable_seqscan'), %s", [3])
    assert rows == [("off", 3)]
    assert setting("enable_seqscan") == "on"
    assert setting("max_parallel_workers_per_gather") == before


def failing_page_keeps_its_error_and_the_settings_go_back():
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="division by zero"):
        held("SELECT 1 / 0")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SHOW enable_sort")
        assert cursor.fetchone()[0] == "on"


@on_postgres
def test_a_failing_page_query_keeps_its_own_error_and_the_settings_go_back(project):
    failing_page_keeps_its_error_and_the_settings_go_back()


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_failing_page_query_outside_a_transaction_too():
    failing_page_keeps_its_error_and_the_settings_go_back()


@on_postgres
def test_the_probe_also_says_whether_any_word_is_searchable(project, django_assert_num_queries):
    from generations.models import Generation

    clip(project, "The end of the pier")
    clips = Generation.objects.filter(team=project.team)
    with django_assert_num_queries(1):
        found = search.matching(clips, "the of")
    assert found.problem == "“the of” is too common to search for: add a word that says more."
    with django_assert_num_queries(2):  # the probe, then the ranked matches
        found = search.matching(clips, "pier")
    assert [g.pk for g in found.clips] == list(clips.values_list("pk", flat=True))
    assert found.order == search.Order.BEST


@on_postgres
def test_a_common_words_page_is_read_cards_and_all_in_one_query_behind_the_fence(
    member_client, project, monkeypatch
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(search, "PROBE", 2)
    for n in range(3):
        clip(project, f"Fox {n}", minutes_ago=n)
    with CaptureQueriesContext(connection) as queries:
        prompts, html = shown(member_client, "fox")
    assert prompts == ["Fox 0", "Fox 1", "Fox 2"]
    assert "Newest first: more clips match than can be ranked." in html
    sql = [query["sql"] for query in queries.captured_queries]
    fenced = [text for text in sql if "SET LOCAL" in text]
    assert len(fenced) == 1
    # The settings, the page's rows (its cards) and, inside a test's transaction, the
    # settings put back, in one statement.
    parts = fenced[0].split(";\n")
    hold, page, lifted = parts[:4], parts[4], parts[5:]
    assert hold == [f"SET LOCAL {name} = {value}" for name, value in search.HELD.items()]
    assert "generations_favourite" in page and "SET LOCAL" not in page
    assert lifted == [f"SET LOCAL {name} TO DEFAULT" for name in search.HELD]
    with connection.cursor() as cursor:  # put back for the rest of the transaction
        for name in search.HELD:
            cursor.execute(f"SHOW {name}")
            assert cursor.fetchone()[0] != search.HELD[name]


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_a_common_words_page_is_as_many_statements_at_any_size_and_no_transaction(
    member_client, project, monkeypatch
):
    """Outside a transaction (as a request is) the page of common words goes with its
    planner settings in one statement: no BEGIN, savepoint or COMMIT around it; and a
    search costs as many statements at 3 clips as at 30."""
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(search, "PROBE", 2)

    def statements():
        with CaptureQueriesContext(connection) as queries:
            prompts, html = shown(member_client, "fox")
        assert "Newest first: more clips match than can be ranked." in html
        return [query["sql"] for query in queries.captured_queries], prompts

    for n in range(3):
        clip(project, f"Fox {n}", minutes_ago=n)
    few, prompts = statements()
    assert prompts == ["Fox 0", "Fox 1", "Fox 2"]
    for n in range(3, 30):
        clip(project, f"Fox {n}", minutes_ago=n)
    many, prompts = statements()
    assert len(prompts) == 24
    assert len(many) == len(few)
    assert not [sql for sql in many if sql.split()[0] in ("BEGIN", "COMMIT", "SAVEPOINT")]
    assert len([sql for sql in many if "SET LOCAL" in sql]) == 1
    with connection.cursor() as cursor:  # the settings ended with the page's own transaction
        cursor.execute("SHOW enable_sort")
        assert cursor.fetchone()[0] == "on"
