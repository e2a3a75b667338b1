"""One page of the Billing page's statement, read with hand-written SQL.

The page shows 50 transfers. Through the ORM (ledger.statement() and keyset.page())
building the query and 50 Transfer and 50 User instances cost more than the
database took to answer, so the page reads plain rows: the same filters, the same
order and the same keyset bounds as those two, and each row's change to the team's
available and on-hold balances worked out by the database from the accounts it
joins (as ledger.statement_lines() works them out from the account ids). The CSV
export still streams through the ORM.
"""

import datetime as dt
from typing import NamedTuple

from django.core.cache import caches
from django.db import connection
from django.utils.safestring import mark_safe

from billing.models import SPEND_KINDS, AccountKind, Transfer, TransferKind
from billing.money.presenters import StatementRow, make_row, rows_html
from seedance_site import fragments, keyset
from seedance_site.written import stored_time

KIND_LABELS = dict(TransferKind.choices)
KEPT = "template_fragments"  # the cache {% cache %} keeps the page's other fragments in
KEEP_SECONDS = 86400
AVAILABLE, HOLDS = AccountKind.AVAILABLE.value, AccountKind.HOLDS.value

# Each row's change to the team's AVAILABLE and HOLDS accounts: the amount if one of
# them is the credit side, minus it if it is the debit side, else nothing.
SELECT = f"""
SELECT t.id, t.created, t.kind, t.memo, u.username, t.project_name, t.vendor_label,
  t.vendor, t.amount,
  CASE WHEN c.team_id = %s AND c.kind = '{AVAILABLE}' THEN t.amount
    WHEN d.team_id = %s AND d.kind = '{AVAILABLE}' THEN -t.amount ELSE 0 END,
  CASE WHEN c.team_id = %s AND c.kind = '{HOLDS}' THEN t.amount
    WHEN d.team_id = %s AND d.kind = '{HOLDS}' THEN -t.amount ELSE 0 END
FROM billing_transfer t
  INNER JOIN billing_account c ON c.id = t.credit_id
  INNER JOIN billing_account d ON d.id = t.debit_id
  LEFT OUTER JOIN auth_user u ON u.id = t.member_id
WHERE t.team_id = %s"""  # noqa: S608 (constants only; every value is a parameter)

# ledger.statement()'s filters, in its order; each takes one parameter.
FILTERS = {
    "since": " AND t.created >= %s",
    "until": " AND t.created < %s",
    "member": " AND t.member_id = %s",
    "project_uuid": " AND t.project_uuid = %s",
    "vendor": " AND t.vendor = %s",
}
# keyset.after(): created <= the cursor's lets the statement index start there.
AFTER = " AND (t.created < %s OR (t.created = %s AND t.id < %s)) AND t.created <= %s"
ORDER = " ORDER BY t.created DESC, t.id DESC LIMIT %s"

_created = Transfer._meta.get_field("created")
_project_uuid = Transfer._meta.get_field("project_uuid")


class Position(NamedTuple):
    """What keyset.encode() reads of the last row of a page."""

    created: dt.datetime
    pk: int


def _params(filters: dict) -> tuple[str, list]:
    sql, params = "", []
    for name, clause in FILTERS.items():
        value = filters.get(name)
        if not value:
            continue
        if name in ("since", "until"):
            value = _created.get_db_prep_value(value, connection)
        elif name == "member":
            value = value.pk
        elif name == "project_uuid":
            value = _project_uuid.get_db_prep_value(value, connection)
        sql += clause
        params.append(value)
    return sql, params


def read(team, filters: dict, size: int, position=None) -> tuple[list[tuple], str | None]:
    """The SQL rows of one page and the next page's cursor (None on the last page).

    `filters` are StatementFilterForm.statement_filters(); `position` a decoded cursor.
    """
    where, params = _params(filters)
    if position is not None:
        created, pk = position
        created = _created.get_db_prep_value(created, connection)
        where += AFTER
        params += [created, created, pk, created]
    with connection.cursor() as cursor:
        cursor.execute(SELECT + where + ORDER, [team.pk] * 5 + params + [size + 1])
        found = cursor.fetchall()
    if len(found) <= size:
        return found, None
    last = found[size - 1]
    return found[:size], keyset.encode(Position(stored_time(last[1]), last[0]))


def rows(found: list[tuple]) -> list[StatementRow]:
    days = {}  # A page's entries share a few days.
    return [_row(row, days) for row in found]


def page(team, filters: dict, size: int, position=None) -> tuple[list[StatementRow], str | None]:
    """read(), each row as the page writes it."""
    found, cursor = read(team, filters, size, position)
    return rows(found), cursor


def html(found: list[tuple], keep: bool) -> str:
    """The rows' <tr>s; with `keep`, from the copy kept for exactly these SQL rows.

    A transfer never changes once written, and each SQL row holds all its <tr> shows
    (the member's name too), so a digest of them keys the markup. Only the newest
    page without filters is kept (callers say so with `keep`): one entry per state of
    a team's statement, never one per cursor or filter a query string could name.
    """
    if not keep:
        return rows_html(rows(found))
    key = f"statement-rows:{fragments.digest(found)}"
    cache = caches[KEPT]
    kept = cache.get(key)
    if kept is None:
        kept = rows_html(rows(found))
        cache.set(key, str(kept), KEEP_SECONDS)
    return mark_safe(kept)  # noqa: S308 (rows_html()'s markup, every value escaped)


def _row(row, days) -> StatementRow:
    _pk, created, kind, memo, username, project, vendor_label, vendor, amount, avail, held = row
    return make_row(
        stored_time(created),
        KIND_LABELS.get(kind, kind),
        memo,
        username or "",
        project,
        vendor_label or vendor,
        int(avail),
        int(held),
        amount if kind in SPEND_KINDS else 0,
        days,
    )
