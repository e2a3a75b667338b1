"""Prompt search on PostgreSQL reads each clip's stored document (the generated column
prompt_document, migration 0007) and its GIN index: no statement of a search computes
to_tsvector from a prompt, whichever way the search goes."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generations.models import Generation
from generations.studio import search
from tests.generations.factories import ProjectFactory
from tests.generations.factories import finished_clip as clip

pytestmark = [
    pytest.mark.usefixtures("media"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the column is PostgreSQL's"),
]


@pytest.fixture
def project(team):
    return ProjectFactory(team=team, name="Harbour")


def document(generation) -> str:
    with connection.cursor() as cursor:
        sql = "SELECT prompt_document::text FROM generations_generation WHERE id = %s"
        cursor.execute(sql, [generation.pk])
        return cursor.fetchone()[0]


def test_postgres_writes_the_document_with_the_row_and_again_when_the_prompt_changes(project):
    fox = clip(project, "Foxes running through snow")
    assert document(fox) == "'fox':1 'run':2 'snow':4"
    Generation.objects.filter(pk=fox.pk).update(prompt="A kite")
    assert document(fox) == "'kite':2"
    Generation.objects.filter(pk=fox.pk).update(prompt="")
    assert document(fox) == ""


def statements_of(client, q, **params) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/gallery/", {"q": q, **params})
    assert response.status_code == 200
    return [query["sql"] for query in queries.captured_queries]


def assert_reads_the_document(sql: list[str]):
    assert [s for s in sql if "prompt_document" in s], sql
    assert not [s for s in sql if "to_tsvector" in s], sql


def test_a_ranked_search_reads_documents_in_its_probe_match_and_rank(member_client, project):
    clip(project, "A fox, a fox in the snow", minutes_ago=3)
    clip(project, "Snow on the roofs", minutes_ago=0)
    sql = statements_of(member_client, "fox")
    assert_reads_the_document(sql)
    assert [s for s in sql if "ts_rank" in s and "prompt_document" in s.split("ts_rank")[1]]


def test_common_words_read_newest_first_test_the_stored_document(
    member_client, project, monkeypatch
):
    monkeypatch.setattr(search, "PROBE", 2)
    for n in range(4):
        clip(project, f"Fox {n}", minutes_ago=n)
    sql = statements_of(member_client, "fox")
    assert [s for s in sql if "SET LOCAL" in s]  # the newest-first walk was taken
    assert_reads_the_document(sql)


def test_a_rare_word_in_a_long_history_and_its_next_page_read_the_document(
    member_client, project, monkeypatch
):
    monkeypatch.setattr(search, "PROBE", 2)
    monkeypatch.setattr(search, "RANKED_AT_MOST", 1)
    clip(project, "Fox one", minutes_ago=10)
    clip(project, "Fox two", minutes_ago=9)
    clip(project, "Waves", minutes_ago=1)
    clip(project, "Rain", minutes_ago=0)
    assert_reads_the_document(statements_of(member_client, "fox"))
    assert_reads_the_document(statements_of(member_client, "fox", cursor="r24-1764460800000"))


def test_the_index_over_the_document_serves_a_search(project):
    clip(project, "A fox in the snow")
    queryset = Generation.objects.annotate(document=search._Document()).filter(
        document=search._ts_query(["fox"])
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = queryset.values("pk").query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "generation_prompt_document" in plan
    assert list(queryset.values_list("prompt", flat=True)) == ["A fox in the snow"]


def test_more_matches_than_can_be_ranked_among_fewer_clips_than_the_probe_come_newest_first(
    member_client, project, monkeypatch
):
    """The probe read every clip the team has, and more of them match than RANKED_AT_MOST
    (possible only with PROBE above it): newest first, not a server error."""
    monkeypatch.setattr(search, "PROBE", 10)
    monkeypatch.setattr(search, "RANKED_AT_MOST", 2)
    for n in range(3):
        clip(project, f"Fox {n}", minutes_ago=n)
    response = member_client.get("/gallery/", {"q": "fox"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Newest first: more clips match than can be ranked." in html
    assert [html.index(f"Fox {n}") for n in range(3)] == sorted(
        html.index(f"Fox {n}") for n in range(3)
    )
