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
from django.db import transaction
from django.utils import timezone

from generations.models import Generation

WINDOW = timedelta(seconds=60)


class TooFast(Exception):
    """Starting these clips now would pass the member's rate; the message says how long to wait."""


def _seconds(n: int) -> str:
    return f"{n} second" if n == 1 else f"{n} seconds"


def check(member, clips: int) -> None:
    """Raise TooFast if `member` starting `clips` more now would pass their rate."""
    limit = settings.GENERATE_RATE_PER_MINUTE
    if clips > limit:
        raise TooFast(f"You may start at most {limit} clips a minute; ask for fewer variants.")
    now = timezone.now()
    started = list(
        Generation.objects.filter(created_by=member, created__gt=now - WINDOW)
        .order_by("created")
        .values_list("created", flat=True)
    )
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


@contextmanager
def starting(member, clips: int):
    """Around the creation of a member's clips: raises TooFast, or lets them be created
    in a transaction that holds the member's place until they exist."""
    with transaction.atomic():
        user_model = get_user_model()
        # FOR NO KEY UPDATE: a plain FOR UPDATE would also block every other transaction
        # that inserts a row pointing at this user (a capture's transfer for one of their
        # clips), and a capture waiting here while this submit waits on it is a deadlock.
        list(
            user_model.objects.select_for_update(no_key=True).filter(pk=member.pk).values_list("pk")
        )
        check(member, clips)
        yield
