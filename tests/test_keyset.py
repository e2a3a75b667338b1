"""seedance_site.keyset: the one way every long list pages, newest first."""

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.models import AuditAction, AuditEntry
from seedance_site import keyset

pytestmark = pytest.mark.django_db

MOMENT = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def entries(count, same_time=False):
    for n in range(count):
        AuditEntry.objects.create(
            action=AuditAction.CREDITS_GRANTED,
            target=f"Entry {n:02d}",
            # Rows at one instant are what a plain "created <" cursor gets wrong.
            created=MOMENT if same_time else MOMENT + timedelta(seconds=n),
        )
    return AuditEntry.objects.all()


def summaries(rows):
    return [row.target for row in rows]


@pytest.mark.parametrize("same_time", [False, True])
def test_pages_cover_every_row_once_in_order(same_time):
    query = entries(7, same_time=same_time)
    seen, position, pages = [], None, 0
    while True:
        page = keyset.page(query, 3, position)
        seen += summaries(page.rows)
        pages += 1
        assert page.paged == (position is not None)
        if page.next_cursor is None:
            break
        position = keyset.decode(page.next_cursor)
    assert pages == 3
    newest_first = sorted(summaries(query), reverse=True)
    assert seen == newest_first  # same_time: the id breaks the tie, newest id first


def test_the_last_page_has_no_next_url_and_a_full_one_does():
    query = entries(4)
    first = keyset.page(query, 4)
    assert first.next_cursor is None and first.next_url("/audit/") is None
    short = keyset.page(query, 3)
    assert short.next_url("/audit/") == f"/audit/?cursor={short.next_cursor}"
    assert short.next_url("/billing/", "since=2026-01-01&vendor=kinovi") == (
        f"/billing/?since=2026-01-01&vendor=kinovi&cursor={short.next_cursor}"
    )
    assert short.next_url("", "mine=1", name="before") == f"?mine=1&before={short.next_cursor}"


def test_a_cursor_round_trips_in_any_time_zone():
    row = AuditEntry(pk=42, created=datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=5))))
    created, pk = keyset.decode(keyset.encode(row))
    assert (created, pk) == (row.created, 42) and created.tzinfo == UTC


def raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "nonsense!",
        "1795258020_17",  # an older shape
        raw("2026-11-21T09:30:00|12"),  # no time zone
        raw("2026-11-21T09:30:00+00:00|²"),  # a digit int() refuses
        raw("2026-11-21T09:30:00+00:00|-1"),
        raw("0001-01-01T00:00:00+05:00|1"),  # before the calendar once in UTC
        raw("no bar here"),
        "\udcff",
    ],
)
def test_a_mangled_cursor_is_none(cursor):
    assert keyset.decode(cursor) is None


@given(st.text(max_size=80))
def test_decode_never_raises(text):
    result = keyset.decode(text)
    assert result is None or (result[0].tzinfo == UTC and result[1] >= 0)


def test_a_cursor_whose_id_is_past_64_bits_does_not_parse():
    """No row has such an id, and a written query handed one fails in SQLite's driver."""
    stamp = "2026-01-01T00:00:00+00:00"
    raw = lambda pk: base64.urlsafe_b64encode(f"{stamp}|{pk}".encode()).decode()  # noqa: E731
    assert keyset.decode(raw(2**63 - 1)) is not None
    assert keyset.decode(raw(2**63)) is None
