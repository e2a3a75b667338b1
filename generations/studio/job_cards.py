"""The jobs page's cards, read in one hand-written query: the jobs in flight and a page of
finished ones, each with what its card shows (templates/generations/jobs.html#job-card);
and a job's own page, its card and its events in one query too.

Built by the ORM, the page's three queries (the jobs in flight, the finished page, then the
cards by id, and their accounts) cost more to compile than PostgreSQL took to answer them.
A card here is a row of plain values: a finished card whose markup is kept needs only the
digest of that row, and works out its words and addresses only when it is rendered."""

import json
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

from django.db import connection
from django.http import Http404
from django.utils import timezone

from generations import access, lifecycle
from generations.models import Generation, State
from generations.studio.presenters import Costs
from generations.vendors import REGISTRY, family_label
from seedance_site import fragments
from seedance_site.written import stored_time, stored_uuid

# What a card shows of a job and of the rows beside it. The rows beside it are read by
# subqueries, not joins: PostgreSQL weighs every order of eight joined tables, and planned
# so the query took 3 to 7 ms to plan against half a millisecond this way.
_CARD_COLUMNS = (
    *("g.id", "g.uuid", "g.state", "g.progress", "g.prompt", "g.family", "g.request"),
    *("g.created", "g.created_by_id", "g.error_message", "g.error_kind", "g.vendor_done_at"),
    *("g.expires_at", "g.quote_micros", "g.quote_credits", "g.charge_micros"),
    *("g.charge_credits", "g.hold_id"),
    "(SELECT uuid FROM generations_project WHERE id = g.project_id)",
    "(SELECT name FROM generations_project WHERE id = g.project_id)",
    "(SELECT title FROM generations_scene WHERE id = g.scene_id)",
    "(SELECT username FROM auth_user WHERE id = g.created_by_id)",
    "(SELECT amount FROM billing_hold WHERE id = g.hold_id)",
    "(SELECT status FROM billing_hold WHERE id = g.hold_id)",
    *("c.id", "c.width", "c.height"),
    "(SELECT label FROM generations_vendoraccount WHERE id = g.vendor_account_id)",
    "(SELECT protocol FROM generations_vendoraccount WHERE id = g.vendor_account_id)",
    "(SELECT label FROM generations_vendoraccount WHERE id = g.pinned_account_id)",
)
CARD_WIDTH = len(_CARD_COLUMNS)  # where what is read with a card starts
CARD_COLUMNS = ", ".join(_CARD_COLUMNS)

CARD_JOINS = "LEFT JOIN generations_clip c ON c.generation_id = g.id "

# The finished states, written as the partial indexes on jobs in flight are (constants).
_FINISHED = ", ".join(f"'{state}'" for state in Generation.FINISHED)
_ACTIVE_WHERE = f"team_id = %s AND NOT (state IN ({_FINISHED}))"
_FINISHED_WHERE = f"team_id = %s AND state IN ({_FINISHED})"
_MINE = " AND created_by_id = %s"
# created <= the cursor's lets the (team, created) index start there (as keyset.after).
_BEFORE = " AND created <= %s AND (created < %s OR (created = %s AND id < %s))"
_NEWEST = " ORDER BY created DESC, id DESC LIMIT %s"


def _listing_sql(mine: bool, paged: bool) -> str:
    """Which jobs a page shows, with their cards: in flight (part 0, on the first page
    only), then finished (part 1). Each part is its own LIMIT over an index; SQLite takes
    a LIMIT inside a compound only in a subquery, hence the wrapping. Built once, of the
    constants above only (no value ever goes into the text)."""
    who = _MINE if mine else ""
    before = _BEFORE if paged else ""
    finished = f"SELECT id, 1 AS part FROM (SELECT id FROM generations_generation WHERE {_FINISHED_WHERE}{who}{before}{_NEWEST}) AS finished"  # noqa: E501, S608
    active = f"SELECT id, 0 AS part FROM (SELECT id FROM generations_generation WHERE {_ACTIVE_WHERE}{who}{_NEWEST}) AS active UNION ALL "  # noqa: E501, S608
    picked = finished if paged else active + finished
    return (
        f"SELECT picked.part, {CARD_COLUMNS} FROM ({picked}) AS picked "  # noqa: S608
        f"JOIN generations_generation g ON g.id = picked.id {CARD_JOINS}"
        "ORDER BY picked.part, g.created DESC, g.id DESC"
    )


# Four fixed statements: {(mine, paged): sql}. Only the parameters vary.
LISTING = {
    (mine, paged): _listing_sql(mine, paged) for mine in (False, True) for paged in (False, True)
}


def listing(request, mine: bool, position, active_limit: int, page_limit: int):
    """(cards in flight, finished cards) of the request's team, newest first: at most
    `active_limit` in flight (none on a later page, `position` from keyset.decode), and
    `page_limit` finished after `position`. One query."""
    team, user = request.team.pk, request.user.pk
    params: list = []
    if position is None:
        params += [team, *([user] if mine else []), active_limit]
    params += [team, *([user] if mine else [])]
    if position is not None:
        created, pk = position
        created = connection.ops.adapt_datetimefield_value(created)
        params += [created, created, created, pk]
    params.append(page_limit)
    with connection.cursor() as cursor:
        cursor.execute(LISTING[mine, position is not None], params)
        rows = cursor.fetchall()
    membership = request.membership
    active = [JobCard(row[1:], membership) for row in rows if row[0] == 0]
    finished = [JobCard(row[1:], membership) for row in rows if row[0] == 1]
    return active, finished


# One job's card and its story (each event a row; a job with none has one row of NULLs).
# The card once, then its events (each of whose rows would otherwise repeat the card's
# prompt and request: a job polled for half an hour has some two hundred events).
_NO_CARD = ", ".join(["NULL"] * CARD_WIDTH)
_THE_JOB = "g.team_id = %s AND g.uuid = %s"
ONE_WITH_EVENTS = f"""
SELECT 0, {CARD_COLUMNS}, NULL, NULL, NULL, NULL
FROM generations_generation g {CARD_JOINS}
WHERE {_THE_JOB}
UNION ALL
SELECT 1, {_NO_CARD}, e.id, e.created, e.kind, e.message
FROM generations_generationevent e JOIN generations_generation g ON g.id = e.generation_id
WHERE {_THE_JOB}
ORDER BY 1, {CARD_WIDTH + 3}, {CARD_WIDTH + 2}
"""  # noqa: S608 - constants only


def one(request, uuid):
    """The card of the team's job `uuid` (as access.get_generation: 404 for anything
    else), its events read with it, in their order, for its timeline."""
    value = access.public_id_param(uuid)
    with connection.cursor() as cursor:
        cursor.execute(ONE_WITH_EVENTS, [request.team.pk, value] * 2)
        rows = cursor.fetchall()
    if not rows or rows[0][0] != 0:
        raise Http404("No such object.")
    card = JobCard(rows[0][1 : CARD_WIDTH + 1], request.membership)
    card.events = Events(
        Event(pk, stored_time(created), kind, message)
        for pk, created, kind, message in (row[CARD_WIDTH + 1 :] for row in rows[1:])
    )
    return card


class Event(NamedTuple):
    """An event of a job's timeline, as the timeline shows it."""

    pk: int
    created: datetime
    kind: str
    message: str


class Events(list):
    """A job's events as its timeline reads them: `g.events.all`, as of a Generation."""

    def all(self):
        return self


_STATE_LABELS = dict(State.choices)


class _Shown:
    """A related row as a card reads it (its project, scene, author, clip, accounts)."""

    def __init__(self, **values):
        self.__dict__.update(values)


class _Account(_Shown):
    @property
    def adapter_class(self):
        return REGISTRY[self.protocol]


def _decimal(value):
    return value if value is None or isinstance(value, Decimal) else Decimal(str(value))


class JobCard:
    """A job's card from one row of CARD_COLUMNS; read by the template as a Generation
    given present() is (the same names), and by the digest as the row itself."""

    def __init__(self, row: tuple, membership):
        self.row = row
        self.membership = membership
        (self.pk, uuid, self.state, self.progress, self.prompt, self.family) = row[:6]
        self.created = stored_time(row[7])
        self.created_by_id = row[8]
        self.uuid = stored_uuid(uuid)

    @property
    def id(self) -> int:
        return self.pk

    @cached_property
    def ago(self) -> str:
        return fragments.ago(self.created)  # "3 minutes": the card's words, and its digest's

    def digest_for(self, user) -> str:
        """What the card shows, as its kept markup's key: its row, how long ago it was
        made, the time zone its times are written in, and who is looking (is it theirs,
        may they run it again, are they staff)."""
        membership = self.membership
        return fragments.digest(
            self.row,
            self.ago,
            timezone.get_current_timezone_name(),
            self.created_by_id == user.pk,
            bool(membership and membership.can_generate),
            user.is_staff,
        )

    @property
    def finished(self) -> bool:
        return self.state in Generation.FINISHED

    def get_state_display(self) -> str:
        return _STATE_LABELS.get(self.state, self.state)

    @property
    def family_label(self) -> str:
        return family_label(self.family)

    @cached_property
    def request(self) -> dict:
        value = self.row[6]
        return json.loads(value) if isinstance(value, str) else value

    @property
    def error_message(self) -> str:
        return self.row[9]

    @property
    def error_kind(self) -> str:
        return self.row[10]

    @property
    def vendor_done_at(self):
        return stored_time(self.row[11])

    @property
    def quote_micros(self) -> int:
        return self.row[13]

    @property
    def quote_credits(self):
        return _decimal(self.row[14])

    @property
    def charge_micros(self):
        return self.row[15]

    @property
    def charge_credits(self):
        return _decimal(self.row[16])

    @property
    def hold_id(self):
        return self.row[17]

    @cached_property
    def project(self) -> _Shown:
        return _Shown(uuid=stored_uuid(self.row[18]), name=self.row[19])

    @cached_property
    def scene(self):
        return _Shown(title=self.row[20]) if self.row[20] is not None else None

    @cached_property
    def created_by(self):
        return _Shown(username=self.row[21]) if self.row[21] is not None else None

    @cached_property
    def hold(self):
        return _Shown(amount=self.row[22], status=self.row[23]) if self.hold_id else None

    @cached_property
    def clip(self):
        return _Shown(width=self.row[25], height=self.row[26]) if self.row[24] else None

    @cached_property
    def vendor_account(self):
        label, protocol = self.row[27], self.row[28]
        return _Account(label=label, protocol=protocol) if label is not None else None

    @cached_property
    def pinned_account(self):
        return _Shown(label=self.row[29]) if self.row[29] is not None else None

    # What present() attaches to a Generation, worked out the same way.

    @cached_property
    def costs(self) -> Costs:
        return Costs(self)

    @cached_property
    def can_cancel(self) -> bool:
        running = self.state in (State.QUEUED, State.RUNNING)
        return running and access.may_cancel(self.membership, self)

    @cached_property
    def settle_by(self):
        if self.state != State.NEEDS_ATTENTION:
            return None
        return stored_time(self.row[12]) + lifecycle.grace()

    @cached_property
    def vendor_cancels(self) -> bool:
        account = self.vendor_account
        return bool(
            account and account.protocol in REGISTRY and account.adapter_class.supports_cancel
        )
