"""What the Billing page writes for each statement entry, worked out once in Python.

The statement is the page's hot loop: as template filters and lookups (a date twice,
three signed amounts, a default chain per name), its 50 rows took most of the time
the page spent rendering. The rows write their own <tr>s too (`{{ rows_html }}` in
the template), one template node instead of a dozen per row.
"""

import datetime as dt
from dataclasses import dataclass
from html import escape

from django.utils import dateformat
from django.utils.safestring import mark_safe

from billing import ledger
from billing.templatetags.money import signed_dollars

NONE = "—"

# The statement table's row; every value goes in escaped (StatementRow.html()).
ROW = """<tr>
            <td><time datetime="{created_iso}">{created}</time></td>
            <td>{entry}{memo}</td>
            <td>{member}</td>
            <td>{project}</td>
            <td>{vendor}</td>
            <td class="num">{available}</td>
            <td class="num">{on_hold}</td>
            <td class="num">{spent}</td>
          </tr>"""
MEMO = '<br><small class="muted">{}</small>'


@dataclass(frozen=True)
class StatementRow:
    created_iso: str  # as the `date:"c"` filter writes it
    created: str  # "Mar 7, 2026 14:05", in UTC
    entry: str
    memo: str
    member: str
    project: str
    vendor: str
    available: str  # "+$1.20", "-$1.20", or "" for no change
    on_hold: str
    spent: str  # "$1.20", or "" for none

    def html(self) -> str:
        """The row's <tr>, every value escaped as format_html() would."""
        # html.escape is what django.utils.html.escape() calls, without its per-call
        # check for lazy strings: these values are all plain str.
        values = {name: escape(value) for name, value in vars(self).items()}
        values["memo"] = MEMO.format(values["memo"]) if self.memo else ""
        return mark_safe(ROW.format(**values))  # noqa: S308 (every value escaped above)


def rows_html(rows: list[StatementRow]) -> str:
    """The rows' <tr>s with the whitespace `{% for row in rows %}` put between them, so
    the template writes the statement as one node rather than one per row."""
    return mark_safe("".join(f"\n          {row.html()}\n        " for row in rows))  # noqa: S308


def statement_rows(lines) -> list[StatementRow]:
    """A StatementRow per StatementLine, each day's words written once for them all."""
    days = {}  # A page's entries share a few days.
    return [statement_row(line, days) for line in lines]


def statement_row(line: ledger.StatementLine, days: dict | None = None) -> StatementRow:
    t = line.transfer
    return make_row(
        t.created,
        t.get_kind_display(),
        t.memo,
        t.member.username if t.member else "",
        t.project_name,
        t.vendor_label or t.vendor,
        line.available,
        line.on_hold,
        line.spent,
        {} if days is None else days,
    )


def make_row(
    created, entry, memo, member, project, vendor, available, on_hold, spent, days
) -> StatementRow:
    """The row of an entry, from its parts (billing/money/statement.py reads them as SQL rows)."""
    created = created.astimezone(dt.UTC)
    return StatementRow(
        created_iso=created.isoformat(),
        created=_when(created, days),
        entry=entry,
        memo=memo,
        member=member or NONE,
        project=project or NONE,
        vendor=vendor or NONE,
        available=signed_dollars(available),
        on_hold=signed_dollars(on_hold),
        spent=ledger.dollars(spent) if spent else "",
    )


def _when(created: dt.datetime, days: dict) -> str:
    """As the date filter's "M j, Y H:i"; `days` keeps each day's "M j, Y" for the next."""
    day = created.date()
    if day not in days:
        days[day] = dateformat.format(created, "M j, Y")
    return f"{days[day]} {created:%H:%M}"
