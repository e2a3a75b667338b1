"""Prompt search for the gallery.

On PostgreSQL: full-text search over to_tsvector('english', prompt), which the GIN
index of migration 0005 serves. Every word must match, stemmed and as a prefix, so
"boats" finds "boat" and the word still being typed ("lightho") already finds
"lighthouse".

The planner cannot tell a word in every prompt from a word in one (prefixes defeat its
statistics), and the two need opposite plans, so the search measures first: it tries
the words on the team's PROBE newest clips. Words found in at least one in DENSE of them
are common: the page is read newest first from the team's index, testing each prompt,
and fills within a few rows. Rarer words go through the GIN index; when at most
RANKED_AT_MOST clips match they come best match first (ts_rank, then newest), past that
newest first. Ranking a common word's thousands of matches would read them all on every
page, so common words come newest first, and the page says so.

On SQLite, which has no such index, each word must appear in the prompt (icontains);
results are newest first.
"""

import datetime as dt
import re
from contextlib import nullcontext
from dataclasses import dataclass

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import BooleanField, Func, Subquery

from seedance_site.keyset import Page

CONFIG = "english"
RANKED_AT_MOST = 200
MAX_WORDS = 12
PROBE = 100
NO_WORDS = "Search for words: letters or digits."
DENSE = 20  # one clip in twenty: a page of 24 is then found within ~500 newest rows


class Order:
    BEST = "best"  # best match first
    NEWEST = "newest"  # newest first, because too many match to rank


def words(text: str) -> list[str]:
    # \w+ keeps letters and digits of any script and drops every tsquery operator.
    return re.findall(r"\w+", text.lower())[:MAX_WORDS]


def _raw(found: list[str]) -> str:
    # Only the last word is a prefix: it may be the one still being typed, and a prefix of
    # a common word ("take:*") makes the index read every clip that has it.
    return " & ".join(found[:-1] + [f"{found[-1]}:*"])


def _ts_query(found: list[str]) -> SearchQuery:
    return SearchQuery(_raw(found), search_type="raw", config=CONFIG)


def _vector() -> SearchVector:
    return SearchVector("prompt", config=CONFIG)


class _Tested(Func):
    """`prompt matches` as a test of each row the plan reads, never a use of the index."""

    template = "(%(expressions)s) IS TRUE"
    output_field = BooleanField()


def _tested(query):
    return _Tested(Func(_vector(), query, template="%(expressions)s", arg_joiner=" @@ "))


def _has_lexemes(found: list[str]) -> bool:
    """False when every word is a stop word ("the", "of"): the tsquery would match nothing."""
    with connection.cursor() as cursor:
        sql = "SELECT numnode(to_tsquery(%s::regconfig, %s))"
        cursor.execute(sql, [CONFIG, _raw(found)])
        return cursor.fetchone()[0] > 0


# The probe, and whether the words have a lexeme at all, in one round trip: the ORM's
# aggregate took longer to build than to answer. {newest} is the SQL of the ids of the
# PROBE newest clips the filters select; the test is _tested's, written out.
PROBE_SQL = """
SELECT numnode(to_tsquery(%s::regconfig, %s)), count(*), count(*) FILTER (
    WHERE (to_tsvector(%s::regconfig, COALESCE(g.prompt, '')) @@ to_tsquery(%s::regconfig, %s))
        IS TRUE
)
FROM generations_generation AS g
WHERE g.id IN ({newest})
"""


def _probe(queryset, found: list[str]) -> tuple[bool, int, int]:
    """(has lexemes, rows read, rows matching) among the PROBE newest of `queryset`."""
    newest = queryset.order_by("-created", "-pk").values("pk")[:PROBE]
    try:
        sql, params = newest.query.sql_with_params()
    except EmptyResultSet:  # filters that select nothing: no clip to read
        return _has_lexemes(found), 0, 0
    raw = _raw(found)
    with connection.cursor() as cursor:
        cursor.execute(PROBE_SQL.format(newest=sql), [CONFIG, raw, CONFIG, CONFIG, raw, *params])
        lexemes, read, hits = cursor.fetchone()
    return lexemes > 0, read, hits


@dataclass
class Found:
    clips: object  # a queryset; for Order.BEST the ranked list of (pk, created) rows
    order: str = ""  # "" newest first as always; Order.NEWEST or Order.BEST
    read_newest_first: bool = False  # hold the planner to the newest-first index walk
    problem: str = ""  # why nothing was searched for


def _best_first(matches, query) -> Found:
    """At most RANKED_AT_MOST + 1 matches, ranked, as a list: the index finds them, and only
    they are ranked. One more than that means too many to rank (Found.clips is None)."""
    some = matches.order_by().values("pk")[: RANKED_AT_MOST + 1]
    ranked = list(
        matches.model.objects.filter(pk__in=Subquery(some))
        .annotate(rank=SearchRank(_vector(), query))
        .order_by("-rank", "-created", "-pk")
        .only("pk", "created")
    )
    return Found(ranked if len(ranked) <= RANKED_AT_MOST else None, Order.BEST)


def matching(queryset, text: str, continuing: str = "") -> Found:
    """The clips of `queryset` whose prompt matches `text`, and how they are ordered.

    `continuing` is the order of the page before (Order.BEST or Order.NEWEST, from its
    cursor): a search keeps the order it started in while it is scrolled, though clips
    finishing meanwhile would have tipped the choice the other way."""
    if connection.vendor != "postgresql":
        # SQLite folds the case of ASCII letters only: the words go as typed.
        typed = re.findall(r"\w+", text)[:MAX_WORDS]
        if not typed:
            return Found(queryset.none(), problem=NO_WORDS)
        for word in typed:
            queryset = queryset.filter(prompt__icontains=word)
        return Found(queryset)
    found = words(text)
    if not found:
        return Found(queryset.none(), problem=NO_WORDS)
    too_common = Found(
        queryset.none(),
        problem=f"“{text.strip()}” is too common to search for: add a word that says more.",
    )
    query = _ts_query(found)
    if continuing == Order.BEST:
        if not _has_lexemes(found):
            return too_common
        ranked = _best_first(queryset.annotate(document=_vector()).filter(document=query), query)
        # Past RANKED_AT_MOST now: the ranked list cannot go on; the page says to search again.
        return ranked if ranked.clips is not None else Found([], Order.BEST)
    lexemes, read, hits = _probe(queryset, found)
    if not lexemes:
        return too_common
    if read < PROBE and not continuing:  # the probe read every clip there is: rank them
        return _best_first(queryset.filter(_tested(query)), query)
    if hits * DENSE >= read:  # common words: read newest first, testing each prompt
        return Found(queryset.filter(_tested(query)), Order.NEWEST, read_newest_first=True)
    matches = queryset.annotate(document=_vector()).filter(document=query)
    ranked = None if continuing else _best_first(matches, query)
    return ranked if ranked and ranked.clips is not None else Found(matches, Order.NEWEST)


# The planner settings that hold a page of common words to the newest-first walk (it
# would otherwise test every prompt and sort), SET LOCAL by HOLD and, inside an outer
# transaction (where SET LOCAL would outlast the page), put back by LIFT. Written out
# by name: reading them from the pg_settings view took 0.5 ms of the page's time.
HELD = {
    "enable_sort": "off",
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "max_parallel_workers_per_gather": "0",
}
HOLD = "".join(f"SET LOCAL {name} = {value};\n" for name, value in HELD.items())
# DEFAULT is the value a RESET would give (the server's, the role's or the database's),
# which is what the page found: the app never SETs these for a session.
LIFT = ";\n" + ";\n".join(f"SET LOCAL {name} TO DEFAULT" for name in HELD)


def page_rows(found: Found, sql: str, params: list) -> list[tuple]:
    """The rows of the page query `sql`. For common words on PostgreSQL (Found's
    read_newest_first) the planner is held to the newest-first walk in the same round
    trip: HOLD, the page and (in a transaction) LIFT go as one string, which PostgreSQL
    runs statement by statement, planning each after the one before it has run, and as
    one transaction of their own when none is open, so the settings end with the page.
    (Four statements before: BEGIN, the settings, the page, COMMIT. Django's client-side
    binding cursor, the default, sends such a string as it is; with server-side binding
    PostgreSQL could not prepare it: a test pins the project's settings to the default.)"""
    with connection.cursor() as cursor:
        if not found.read_newest_first:
            cursor.execute(sql, params)
            return cursor.fetchall()
        # Any transaction, atomic() or one opened with set_autocommit(False): SET LOCAL
        # would outlast the page in it.
        nested = not connection.get_autocommit()
        # In a transaction, a savepoint: a failing page then takes the settings back with
        # its own rollback, and leaves the outer transaction usable.
        with transaction.atomic() if nested else nullcontext():
            cursor.execute(HOLD + sql + (LIFT if nested else ""), params)
            while cursor.description is None:  # past each SET to the page's rows
                if not cursor.nextset():
                    return []  # Unreachable: the page is a SELECT
            return cursor.fetchall()


@dataclass(frozen=True)
class RankedCursor:
    """Where a ranked list's next page starts ("r48-1764460800000"): an offset, and the
    instant its first page was read, so that clips finishing while it is scrolled do not
    join the list and shift every later page onto rows already shown."""

    offset: int
    as_of: dt.datetime

    def __str__(self):
        return f"r{self.offset}-{int(self.as_of.timestamp() * 1000)}"

    @classmethod
    def parse(cls, cursor: str) -> "RankedCursor | None":
        if not (found := re.fullmatch(r"r(\d{1,4})-(\d{1,15})", cursor)):
            return None
        try:
            as_of = dt.datetime.fromtimestamp(int(found[2]) / 1000, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return cls(int(found[1]), as_of)


def ranked_page(ranked: list, size: int, cursor: RankedCursor) -> Page:
    """One page of the ranked matches. Their cursor is an offset: there are at most
    RANKED_AT_MOST of them, and a rank is no column a keyset could start from."""
    rows = ranked[cursor.offset : cursor.offset + size + 1]
    more = len(rows) > size
    following = RankedCursor(cursor.offset + size, cursor.as_of)
    return Page(rows[:size], str(following) if more else None, cursor.offset > 0)
