"""Money in templates: `{{ micro|dollars }}` and the Billing page's inline SVG charts.

The charts are plain SVG computed here, each bar's markup written here too, and
framed by two small templates, so they need no JavaScript and no inline styles
(the CSP forbids both): colours are SVG presentation attributes, and each bar
carries a <title> with its value.
"""

import math

from django import template
from django.utils.html import format_html

from billing import ledger

register = template.Library()

BAR = "#1d4ed8"
INK = "#16181d"
MUTED = "#5d6470"
GRID = "#e1e4ea"


@register.filter
def dollars(micro):
    """Micro-dollars as "$1.20"; empty for None."""
    if micro is None or micro == "":
        return ""
    return ledger.dollars(int(micro))


@register.filter
def signed_dollars(micro):
    """ "+$1.20" / "-$1.20" for a change, "" for no change."""
    if not micro:
        return ""
    return ("+" if micro > 0 else "") + ledger.dollars(int(micro))


def short_dollars(micro: int) -> str:
    """Axis labels: "$5" rather than "$5.00"."""
    text = ledger.dollars(micro)
    return text[:-3] if text.endswith(".00") else text


def nice_scale(largest: int, intervals: int = 4) -> tuple[int, int]:
    """(top, step) for an axis from zero: step is 1, 2, 2.5 or 5 times a power of ten."""
    wanted = max(largest, 10_000) / intervals  # At least a cent, so an empty chart has an axis.
    power = 10 ** math.floor(math.log10(wanted))
    step = next(int(m * power) for m in (1, 2, 2.5, 5, 10) if m * power >= wanted)
    return step * intervals, step


# Each bar's SVG, written in Python: as template tags and variables, the bars of the four
# charts were a large share of the Billing page's rendering. Every value is escaped.
DAY_BAR = '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="2" fill="{fill}"><title>{title}</title></rect>'
DAY_VALUE = (
    '<text x="{x}" y="{y}" text-anchor="middle" fill="{fill}" font-weight="600">{text}</text>'
)
DAY_LABEL = '<text x="{x}" y="{y}" text-anchor="middle" fill="{fill}">{text}</text>'
TICK = (
    '<line x1="{left}" x2="{right}" y1="{y}" y2="{y}" stroke="{grid}" stroke-width="1"/>\n  '
    '<text x="{x}" y="{y}" text-anchor="end" dominant-baseline="middle" fill="{fill}">{label}</text>'
)
ROW_BAR = """<g>
    <title>{full}: {value}</title>
    <text x="{label_x}" y="{text_y}" text-anchor="end" dominant-baseline="middle" fill="{ink}">{label}</text>
    <rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" rx="2" fill="{bar}"/>
    <text x="{value_x}" y="{text_y}" dominant-baseline="middle" fill="{muted}" font-weight="600">{value}</text>
  </g>"""


def day_marks(days, left, top, plot_w, plot_h, scale) -> list[str]:
    """The SVG of each day's bar, its value if it is the largest, and every seventh date."""
    largest = max((total for _, total in days), default=0)
    band = plot_w / max(len(days), 1)
    marks = []
    for i, (day, total) in enumerate(days):
        h = max(total / scale * plot_h, 1.5) if total else 0
        label = f"{day:%b} {day.day}"
        cx = round(left + i * band + band / 2, 2)
        if h:
            marks.append(
                format_html(
                    DAY_BAR,
                    x=round(left + i * band + band * 0.15, 2),
                    y=round(top + plot_h - h, 2),
                    w=round(band * 0.7, 2),
                    h=round(h, 2),
                    fill=BAR,
                    title=f"{label}: {ledger.dollars(total)}",
                )
            )
        if total and total == largest:
            value_y = round(top + plot_h - h - 5, 2)
            text = ledger.dollars(total)
            marks.append(format_html(DAY_VALUE, x=cx, y=value_y, fill=INK, text=text))
        # A date under every seventh bar, counting back from today.
        if (len(days) - 1 - i) % 7 == 0:
            label_y = top + plot_h + 18
            marks.append(format_html(DAY_LABEL, x=cx, y=label_y, fill=MUTED, text=label))
    return marks


@register.inclusion_tag("billing/money/chart_days.html")
def day_chart(days, chart_id="spend-by-day"):
    """Vertical bars of spend per day; `days` is ledger.spend_by_day()."""
    # Drawn at the size of a full-width card and never scaled: on a phone it
    # scrolls sideways inside .table-wrap, like a wide table, instead of
    # shrinking its labels to nothing.
    width, height = 1060, 240
    left, right, top, bottom = 56, 8, 22, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = max((total for _, total in days), default=0)
    scale, step = nice_scale(largest)
    ticks = [
        format_html(
            TICK,
            left=left,
            right=width - right,
            y=round(top + plot_h - v / scale * plot_h, 2),
            grid=GRID,
            x=left - 8,
            fill=MUTED,
            label=short_dollars(v),
        )
        for v in range(0, scale + 1, step)
    ]
    total = sum(t for _, t in days)
    peak = max(days, key=lambda d: d[1]) if largest else None
    desc = f"{ledger.dollars(total)} in the last {len(days)} days"
    if peak:
        desc += f"; the most, {ledger.dollars(peak[1])}, on {peak[0]:%B} {peak[0].day}."
    else:
        desc += "."
    return {
        "id": chart_id,
        "width": width,
        "height": height,
        "left": left,
        "center_x": left + plot_w / 2,
        "empty_y": top + plot_h / 2,
        "right_edge": width - right,
        "baseline": top + plot_h,
        "marks": day_marks(days, left, top, plot_w, plot_h, scale),
        "ticks": ticks,
        "desc": desc,
        "empty": not largest,
        "colors": {"muted": MUTED},
    }


@register.inclusion_tag("billing/money/chart_bars.html")
def bar_chart(rows, title, chart_id, limit=7):
    """Horizontal bars for (label, micro-dollars) rows, largest first; the rest as "Others"."""
    rows = list(rows)
    if len(rows) > limit + 1:
        rows = rows[:limit] + [("Others", sum(total for _, total in rows[limit:]))]
    # Sized for a third of the page, where it is usually shown.
    width, row_h, label_w, value_w = 330, 26, 118, 70
    bar_w = width - label_w - value_w
    largest = max((total for _, total in rows), default=0)
    bars = []
    for i, (label, total) in enumerate(rows):
        w = max(total / largest * bar_w, 1.5) if largest and total else 0
        bars.append(
            format_html(
                ROW_BAR,
                full=label,
                value=ledger.dollars(total),
                label=label if len(label) <= 15 else label[:14].rstrip() + "…",
                label_x=label_w - 8,
                label_w=label_w,
                y=i * row_h + 4,
                text_y=i * row_h + 4 + row_h / 2 - 2,
                w=round(w, 2),
                bar_h=row_h - 10,
                value_x=round(label_w + w + 6, 2),
                ink=INK,
                bar=BAR,
                muted=MUTED,
            )
        )
    total = sum(t for _, t in rows)
    return {
        "id": chart_id,
        "title": title,
        "width": width,
        "height": len(rows) * row_h + 8,
        "bars": bars,
        "desc": ", ".join(f"{label}: {ledger.dollars(t)}" for label, t in rows)
        + f". Total {ledger.dollars(total)}.",
    }
