"""Keyset pages, newest first, for every long list (statement, grants, audit, jobs, gallery).

Rows are ordered by (created, pk), so a page boundary is exact even when timestamps
collide, and the thousandth page costs what the first does. The cursor is opaque to
people and checked on the way in: a mangled one is None, never a 500.
"""

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Q
from django.utils import timezone


def encode(row) -> str:
    """A token for the position just after `row`."""
    raw = f"{row.created.isoformat()}|{row.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


BIGGEST_ID = 2**63 - 1


def decode(cursor: str) -> tuple[datetime, int] | None:
    """(created, pk) of the last row seen; None for a cursor that does not parse."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, pk = raw.split("|")
        created = datetime.fromisoformat(stamp)
        if timezone.is_naive(created):
            return None
        # The database compares in UTC: a time at the calendar's edge with an offset
        # would overflow there, as a 500, instead of here.
        created = created.astimezone(UTC)
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        return None
    # str.isdigit() also accepts "²", which int() refuses.
    if not (pk.isascii() and pk.isdigit()):
        return None
    # No row's id is past a 64-bit integer; a written query handed a larger one would
    # fail in the driver (SQLite's refuses it) rather than find nothing. Its length is
    # looked at first: int() refuses a string of over 4,300 digits, with an error.
    if len(pk) > len(str(BIGGEST_ID)) or int(pk) > BIGGEST_ID:
        return None
    return created, int(pk)


def after(queryset, position: tuple[datetime, int] | None):
    """The rows older than `position`, newest first."""
    if position is not None:
        created, pk = position
        # created <= the cursor's is what an index on (…, created) can start from; the
        # OR alone would have the database read every newer row to throw it away.
        queryset = queryset.filter(
            Q(created__lt=created) | Q(created=created, pk__lt=pk), created__lte=created
        )
    return queryset.order_by("-created", "-pk")


@dataclass
class Page:
    rows: list
    next_cursor: str | None
    paged: bool  # not the first page

    def next_url(self, base: str, filters: str = "", name: str = "cursor") -> str | None:
        """`base` + the filters in use + this page's cursor; None on the last page."""
        if self.next_cursor is None:
            return None
        return f"{base}?{filters + '&' if filters else ''}{name}={self.next_cursor}"


def page(queryset, size: int, position: tuple[datetime, int] | None = None) -> Page:
    """One page of `size` rows after `position` (from decode(); None: the newest)."""
    rows = list(after(queryset, position)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, encode(rows[-1]) if more else None, position is not None)
