"""How fast a member may start clips: GENERATE_RATE_PER_MINUTE in any 60 seconds, each
variant counted as a clip of its own.

Counted from the member's Generation rows, so every web process sees the same count
with no shared cache. The member's user row is locked from the count until their new
rows are created, so two submissions racing at the limit cannot both pass it.
"""

import math
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from generations.models import Generation
from seedance_site import written

WINDOW = timedelta(seconds=60)


class TooFast(Exception):
    """Starting these clips now would pass the member's rate; the message says how long to wait."""


def _seconds(n: int) -> str:
    return f"{n} second" if n == 1 else f"{n} seconds"


def check(member, clips: int, *, lock: bool = False) -> None:
    """Raise TooFast if `member` starting `clips` more now would pass their rate.

    With `lock`, the member's user row is locked first (in the caller's transaction), and
    a refusal is decided on the window that ends once the lock is ours: a submission that
    waited for another's is not refused for clips that left the window meanwhile."""
    limit = settings.GENERATE_RATE_PER_MINUTE
    if clips > limit:
        raise TooFast(f"You may start at most {limit} clips a minute; ask for fewer variants.")
    if _count_in_window(member, lock) + clips <= limit:
        return
    # Over, counted from a moment before the lock was surely ours: reaching further back,
    # that count is as large or larger. Read again behind the lock, from now, with when
    # each started, which says how long to wait.
    now = timezone.now()
    started = _started_since(member, now - WINDOW)
    excess = len(started) + clips - limit
    if excess <= 0:
        return
    # There is room for `clips` more once the `excess` oldest have left the window.
    wait = _seconds(max(1, math.ceil((started[excess - 1] + WINDOW - now).total_seconds())))
    if len(started) >= limit:
        raise TooFast(
            f"You've started {len(started)} clips in the last minute; "
            f"wait {wait} before starting more."
        )
    raise TooFast(
        f"You've started {len(started)} clips in the last minute, and {limit} is the most "
        f"in a minute; wait {wait} before starting {clips} more, or ask for fewer variants."
    )


# The member's user row, locked, then how many clips they started since a moment:
# written, where the ORM took about 1 ms to build the two. Two statements, not one: a
# statement reads the rows other transactions had committed when it began, so the count
# must begin after the lock is ours (the racing submissions test starts six at once).
# On PostgreSQL they go in one round trip with the transaction's BEGIN (pipelined: the
# server still runs them one after the other, the count after the lock is held).
# FOR NO KEY UPDATE: a plain FOR UPDATE would also block every other transaction that
# inserts a row pointing at this user (a capture's transfer for one of their clips), and
# a capture waiting here while this submit waits on it is a deadlock. SQLite locks the
# whole database for a write transaction anyway and has no such clause.
LOCK_MEMBER = "SELECT id FROM {users} WHERE id = %s FOR NO KEY UPDATE"
COUNT_SINCE = (
    "SELECT count(*) FROM generations_generation WHERE created_by_id = %s AND created > %s"
)
STARTED_SINCE = (
    "SELECT created FROM generations_generation "
    "WHERE created_by_id = %s AND created > %s ORDER BY created"
)


def _count_in_window(member, lock: bool) -> int:
    """How many clips `member` started in the WINDOW before now, `now` read just before
    the statements go (pipelined, they do not wait for the lock's answer)."""
    with connection.cursor() as cursor:
        with written.pipelined():
            if lock and connection.features.has_select_for_no_key_update:
                cursor.execute(
                    LOCK_MEMBER.format(users=written.table(get_user_model())), [member.pk]
                )
            cursor.execute(COUNT_SINCE, [member.pk, _stored(timezone.now() - WINDOW)])
        return cursor.fetchone()[0]


def _started_since(member, since) -> list:
    with connection.cursor() as cursor:
        cursor.execute(STARTED_SINCE, [member.pk, _stored(since)])
        return [written.stored_time(value) for (value,) in cursor.fetchall()]


def _stored(moment):
    return Generation._meta.get_field("created").get_db_prep_value(moment, connection)


@contextmanager
def starting(member, clips: int):
    """Around the creation of a member's clips: raises TooFast, or lets them be created
    in a transaction that holds the member's place until they exist."""
    with transaction.atomic():
        check(member, clips, lock=True)
        yield
