"""Money in templates: `{{ micro|dollars }}` and the Billing page's inline SVG charts.

The charts are plain SVG computed here and drawn by two small templates, so
they need no JavaScript and no inline styles (the CSP forbids both): colours
are SVG presentation attributes, and each bar carries a <title> with its value.
"""

import math

from django import template

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


# Over 50 lines: one flat computation of the chart's geometry, checked best as a whole.
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
    band = plot_w / max(len(days), 1)
    bars = []
    for i, (day, total) in enumerate(days):
        h = total / scale * plot_h if total else 0
        h = max(h, 1.5) if total else 0
        label = f"{day:%b} {day.day}"
        bars.append(
            {
                "x": round(left + i * band + band * 0.15, 2),
                "y": round(top + plot_h - h, 2),
                "w": round(band * 0.7, 2),
                "h": round(h, 2),
                "cx": round(left + i * band + band / 2, 2),
                "title": f"{label}: {ledger.dollars(total)}",
                # A date under every seventh bar, counting back from today.
                "label": label if (len(days) - 1 - i) % 7 == 0 else "",
                "value": ledger.dollars(total) if total and total == largest else "",
                "value_y": round(top + plot_h - h - 5, 2),
            }
        )
    ticks = [
        {"y": round(top + plot_h - v / scale * plot_h, 2), "label": short_dollars(v)}
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
        "tick_x": left - 8,
        "center_x": left + plot_w / 2,
        "empty_y": top + plot_h / 2,
        "right_edge": width - right,
        "baseline": top + plot_h,
        "label_y": top + plot_h + 18,
        "bars": bars,
        "ticks": ticks,
        "desc": desc,
        "empty": not largest,
        "colors": {"bar": BAR, "ink": INK, "muted": MUTED, "grid": GRID},
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
        short = label if len(label) <= 15 else label[:14].rstrip() + "…"
        bars.append(
            {
                "y": i * row_h + 4,
                "text_y": i * row_h + 4 + row_h / 2 - 2,
                "w": round(w, 2),
                "label": short,
                "full": label,
                "value": ledger.dollars(total),
                "value_x": round(label_w + w + 6, 2),
            }
        )
    total = sum(t for _, t in rows)
    return {
        "id": chart_id,
        "title": title,
        "width": width,
        "height": len(rows) * row_h + 8,
        "label_w": label_w,
        "label_x": label_w - 8,
        "bar_h": row_h - 10,
        "bars": bars,
        "desc": ", ".join(f"{label}: {ledger.dollars(t)}" for label, t in rows)
        + f". Total {ledger.dollars(total)}.",
        "colors": {"bar": BAR, "ink": INK, "muted": MUTED, "grid": GRID},
    }
