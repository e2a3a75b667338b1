"""The statement's rows as the Billing page writes them (billing/money/presenters.py)."""

import datetime as dt

from django.contrib.auth.models import User
from django.template import Context, Template
from django.utils.html import format_html

from billing import ledger
from billing.models import Transfer, TransferKind
from billing.money.presenters import (
    MEMO,
    ROW,
    StatementRow,
    rows_html,
    statement_row,
    statement_rows,
)

USD = 1_000_000


def row_for(available=0, on_hold=0, spent=0, **fields):
    transfer = Transfer(created=dt.datetime(2026, 3, 7, 14, 5, 9, 250, tzinfo=dt.UTC), **fields)
    return statement_row(ledger.StatementLine(transfer, available, on_hold, spent))


def test_a_charge_is_written_with_its_member_project_vendor_and_amounts():
    row = row_for(
        on_hold=-3 * USD,
        spent=2_512_345,
        kind=TransferKind.CAPTURE,
        member=User(username="mateo"),
        memo="Drone shot",
        project_name="Trailer",
        vendor="ark",
        vendor_label="BytePlus ModelArk",
    )

    assert row == StatementRow(
        created_iso="2026-03-07T14:05:09.000250+00:00",
        created="Mar 7, 2026 14:05",
        entry="Spend",
        memo="Drone shot",
        member="mateo",
        project="Trailer",
        vendor="BytePlus ModelArk",
        available="",
        on_hold="-$3.00",
        spent="$2.512345",
    )


def test_what_an_entry_lacks_is_a_dash_and_no_change_is_empty():
    row = row_for(available=20 * USD, kind=TransferKind.GRANT, memo="Welcome credits")

    assert (row.entry, row.member, row.project, row.vendor) == ("Credit grant", "—", "—", "—")
    assert (row.available, row.on_hold, row.spent) == ("+$20.00", "", "")


def test_a_vendor_without_a_label_is_named_by_its_key_and_times_are_utc():
    paris = dt.timezone(dt.timedelta(hours=1))
    transfer = Transfer(
        kind=TransferKind.HOLD,
        vendor="ark",
        created=dt.datetime(2026, 1, 1, 0, 30, tzinfo=paris),
    )
    row = statement_row(ledger.StatementLine(transfer, -USD, USD, 0))

    assert row.vendor == "ark"
    assert (row.created_iso, row.created) == ("2025-12-31T23:30:00+00:00", "Dec 31, 2025 23:30")
    assert (row.available, row.on_hold) == ("-$1.00", "+$1.00")


def test_rows_of_one_page_share_each_days_words_and_keep_their_own_times():
    times = [
        dt.datetime(2026, 3, 7, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 7, 0, 1, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 6, 9, 0, tzinfo=dt.UTC),
    ]
    lines = [
        ledger.StatementLine(Transfer(kind=TransferKind.HOLD, created=t), 0, 0, 0) for t in times
    ]

    rows = statement_rows(lines)

    assert [r.created for r in rows] == [
        "Mar 7, 2026 23:59",
        "Mar 7, 2026 00:01",
        "Mar 6, 2026 09:00",
    ]
    assert rows == [statement_row(line) for line in lines]


def test_a_row_writes_its_own_table_row_with_every_value_escaped():
    row = row_for(
        spent=USD,
        kind=TransferKind.CAPTURE,
        member=User(username="<i>mateo</i>"),
        memo='Drone <shot> & "more"',
    )

    html = Template("{% for row in rows %}{{ row.html }}{% endfor %}").render(
        Context({"rows": [row]})
    )

    assert html.startswith("<tr>\n") and html.endswith("</tr>")
    assert (
        '<td><time datetime="2026-03-07T14:05:09.000250+00:00">Mar 7, 2026 14:05</time></td>'
        in html
    )
    assert (
        '<td>Spend<br><small class="muted">Drone &lt;shot&gt; &amp; &quot;more&quot;</small></td>'
        in html
    )
    assert "<td>&lt;i&gt;mateo&lt;/i&gt;</td>" in html
    assert '<td class="num"></td>\n            <td class="num">$1.00</td>' in html
    assert "<br>" not in row_for(kind=TransferKind.GRANT).html()


def test_rows_html_is_the_template_loop_over_the_rows_with_format_html():
    rows = [
        row_for(available=USD, kind=TransferKind.GRANT, memo='It\'s <b>"free"</b> & more'),
        row_for(on_hold=-USD, spent=USD, kind=TransferKind.CAPTURE, vendor="a&b", memo=""),
    ]

    def by_format_html(row):
        memo = format_html(MEMO, row.memo) if row.memo else ""
        return format_html(ROW, **(vars(row) | {"memo": memo}))

    looped = Template("{% for row in rows %}\n          {{ row }}\n        {% endfor %}").render(
        Context({"rows": [by_format_html(row) for row in rows]})
    )
    assert rows_html(rows) == looped
    assert "It&#x27;s &lt;b&gt;&quot;free&quot;&lt;/b&gt; &amp; more" in looped
    assert rows_html([]) == ""
