"""Money as numbers and as text: micro-dollars, the one unit every app counts in.

Nothing here touches the database, so any module (the audit log, templates,
generations' prices) can use it without importing the ledger's writes.
"""

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.utils import timezone

# Micro-dollars in a dollar: amounts are whole micro-dollars everywhere.
MICROS = 1_000_000
# Far beyond any real balance, well inside a signed 64-bit integer.
MAX_AMOUNT = 10**9 * MICROS


def dollars(micro: int) -> str:
    """1_200_000 -> "$1.20"; sub-cent amounts keep their digits: 1_234_500 -> "$1.2345"."""
    sign = "-" if micro < 0 else ""
    whole, fraction = divmod(abs(int(micro)), MICROS)
    decimals = f"{fraction:06d}".rstrip("0").ljust(2, "0")
    return f"{sign}${whole:,}.{decimals}"


def parse_dollars(text) -> int:
    """ "12.50", "$1,000" or "0.0045" -> micro-dollars; ValueError with a reason otherwise."""
    cleaned = str(text).strip().replace(",", "").replace(" ", "").replace("$", "", 1)
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter an amount in dollars, like 12.50.") from None
    if not value.is_finite():
        raise ValueError("Enter an amount in dollars, like 12.50.")
    if abs(value) > MAX_AMOUNT // MICROS:
        raise ValueError(f"That is more than {dollars(MAX_AMOUNT)}.")
    micro = value * MICROS
    if micro != micro.to_integral_value():
        raise ValueError("Use at most six decimal places (a millionth of a dollar).")
    return int(micro)


def cap_text(cap) -> str:
    """A spending cap in micro-dollars as the pages and the audit log write it."""
    return "no cap" if cap is None else dollars(cap)


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """The first instant of the current calendar month, in UTC."""
    now = (now or timezone.now()).astimezone(dt.UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
