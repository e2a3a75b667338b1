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
    the window ends when the lock is ours: a submission that waited for another's counts
    from then, not from when it began waiting."""
    limit = settings.GENERATE_RATE_PER_MINUTE
    if clips > limit:
        raise TooFast(f"You may start at most {limit} clips a minute; ask for fewer variants.")
    now, started = _started_in_window(member, lock)
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


# The member's user row, locked, then the times they started clips since a moment:
# written, where the ORM took about 1 ms to build the two. Two statements, not one: a
# statement reads the rows other transactions had committed when it began, so the count
# must begin after the lock is ours (the racing submissions test starts six at once).
# FOR NO KEY UPDATE: a plain FOR UPDATE would also block every other transaction that
# inserts a row pointing at this user (a capture's transfer for one of their clips), and
# a capture waiting here while this submit waits on it is a deadlock. SQLite locks the
# whole database for a write transaction anyway and has no such clause.
LOCK_MEMBER = "SELECT id FROM {users} WHERE id = %s FOR NO KEY UPDATE"
STARTED_SINCE = (
    "SELECT created FROM generations_generation "
    "WHERE created_by_id = %s AND created > %s ORDER BY created"
)


def _started_in_window(member, lock: bool) -> tuple:
    """(now, the times `member` started clips in the WINDOW before now)."""
    field = Generation._meta.get_field("created")
    with connection.cursor() as cursor:
        if lock and connection.features.has_select_for_no_key_update:
            cursor.execute(LOCK_MEMBER.format(users=written.table(get_user_model())), [member.pk])
        now = timezone.now()
        since = field.get_db_prep_value(now - WINDOW, connection)
        cursor.execute(STARTED_SINCE, [member.pk, since])
        return now, [written.stored_time(value) for (value,) in cursor.fetchall()]


@contextmanager
def starting(member, clips: int):
    """Around the creation of a member's clips: raises TooFast, or lets them be created
    in a transaction that holds the member's place until they exist."""
    with transaction.atomic():
        check(member, clips, lock=True)
        yield
