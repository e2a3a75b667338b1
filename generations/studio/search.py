"""Prompt search for the gallery.

On PostgreSQL: full-text search over to_tsvector('english', prompt), which the GIN
index of migration 0005 serves. Every word must match, stemmed and as a prefix, so
"boats" finds "boat", and the word still being typed ("lightho") already finds
"lighthouse". When few clips match (at most RANKED_AT_MOST) they come best match
first (ts_rank, then newest); past that, ranking would read every match on every page,
so they come newest first like the rest of the gallery, and the page says so.

On SQLite, which has no such index, each word must appear in the prompt (icontains);
results are newest first.
"""

import re

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection

from seedance_site.keyset import Page

CONFIG = "english"
RANKED_AT_MOST = 200
MAX_WORDS = 12


def words(text: str) -> list[str]:
    # \w+ keeps letters and digits of any script and drops every tsquery operator.
    return re.findall(r"\w+", text.lower())[:MAX_WORDS]


def _full_text() -> bool:
    return connection.vendor == "postgresql"


def _ts_query(found: list[str]) -> SearchQuery:
    return SearchQuery(" & ".join(f"{w}:*" for w in found), search_type="raw", config=CONFIG)


def _has_lexemes(found: list[str]) -> bool:
    """False when every word is a stop word ("the", "of"): the tsquery would match nothing."""
    with connection.cursor() as cursor:
        sql = "SELECT numnode(to_tsquery(%s::regconfig, %s))"
        cursor.execute(sql, [CONFIG, " & ".join(f"{w}:*" for w in found)])
        return cursor.fetchone()[0] > 0


def matching(queryset, text: str):
    """`queryset` narrowed to the prompts that match `text`, and whether full text was used."""
    found = words(text)
    if not found:
        return queryset.filter(prompt__icontains=text.strip()), False
    if _full_text() and _has_lexemes(found):
        vector = SearchVector("prompt", config=CONFIG)
        return queryset.annotate(document=vector).filter(document=_ts_query(found)), True
    for word in found:
        queryset = queryset.filter(prompt__icontains=word)
    return queryset, False


def best_first(queryset, text: str):
    """The matches ranked best first, if there are few enough to rank; None otherwise."""
    if queryset.order_by()[: RANKED_AT_MOST + 1].count() > RANKED_AT_MOST:
        return None
    rank = SearchRank(SearchVector("prompt", config=CONFIG), _ts_query(words(text)))
    return queryset.annotate(rank=rank).order_by("-rank", "-created", "-pk")


def ranked_page(ranked, size: int, cursor: str) -> Page:
    """One page of ranked matches. Their cursor is an offset ("r48"): there are at most
    RANKED_AT_MOST of them, and a rank is no column a keyset could start from."""
    offset = int(cursor[1:]) if re.fullmatch(r"r\d{1,4}", cursor) else 0
    rows = list(ranked[offset : offset + size + 1])
    more = len(rows) > size
    return Page(rows[:size], f"r{offset + size}" if more else None, offset > 0)
