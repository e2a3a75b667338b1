"""The Billing page's SVG charts (billing/templatetags/money.py): each bar's markup."""

import datetime as dt

from billing.templatetags.money import bar_chart, day_chart

USD = 1_000_000
TODAY = dt.date(2026, 3, 17)


def days(spend: dict[int, int]):
    """30 days ending TODAY; `spend` maps days back from today to micro-dollars."""
    return [(TODAY - dt.timedelta(days=29 - n), spend.get(29 - n, 0)) for n in range(30)]


def test_a_day_with_spend_is_a_bar_with_its_title_and_the_largest_carries_its_value():
    chart = day_chart(days({0: 2 * USD, 3: USD}))
    marks = "\n".join(chart["marks"])

    assert marks.count("<rect ") == 2
    assert "<title>Mar 17: $2.00</title>" in marks and "<title>Mar 14: $1.00</title>" in marks
    assert 'font-weight="600">$2.00</text>' in marks
    assert ">$1.00</text>" not in marks
    assert chart["desc"] == "$3.00 in the last 30 days; the most, $2.00, on March 17."


def test_every_seventh_day_back_from_today_is_labelled_and_an_empty_month_has_no_bars():
    chart = day_chart(days({}))
    labels = [m for m in chart["marks"] if "<text" in m]

    assert "<rect" not in "".join(chart["marks"])
    assert [m.split(">")[1].split("<")[0] for m in labels] == [
        "Feb 17", "Feb 24", "Mar 3", "Mar 10", "Mar 17",
    ]  # fmt: skip
    assert chart["empty"]
    assert len(chart["ticks"]) == 5 and ">$0</text>" in chart["ticks"][0]


def test_bars_escape_their_labels_shorten_long_ones_and_gather_the_rest_as_others():
    rows = [("<b>mateo</b>", 5 * USD), ("a-very-long-member-name", 4 * USD)]
    rows += [(f"member {n}", USD) for n in range(7)]
    chart = bar_chart(rows, "Spend by member", "by-member")
    bars = chart["bars"]

    assert len(bars) == 8
    assert "<title>&lt;b&gt;mateo&lt;/b&gt;: $5.00</title>" in bars[0]
    assert "<b>" not in bars[0]
    assert ">a-very-long-me…</text>" in bars[1]
    assert "<title>a-very-long-member-name: $4.00</title>" in bars[1]
    assert "<title>Others: $2.00</title>" in bars[-1]
    assert 'width="142.0"' in bars[0]  # the largest spans the bar area
    assert chart["height"] == 8 * 26 + 8
