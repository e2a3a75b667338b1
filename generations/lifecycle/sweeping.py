"""The sweep: one pass over everything that is due, what the minute schedule cannot do."""

import logging
import os
import secrets
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from queue import Empty, SimpleQueue

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from generations.lifecycle.deadlines import expire
from generations.lifecycle.follow import CALLED_BACK, check
from generations.lifecycle.saving import finalize
from generations.lifecycle.sending import run_submit
from generations.lifecycle.steps import finalize_lease, grace, lease, set_state, stopping
from generations.models import Generation, State

log = logging.getLogger(__name__)


def due_checks(limit=200, called_back=False) -> list[int]:
    """Running jobs due a check, the longest due first; `called_back`: only those a
    vendor called back about (see follow.request_check)."""
    now = timezone.now()
    due = Q(next_check_at=CALLED_BACK) if called_back else Q(next_check_at__lte=now)
    return list(
        Generation.objects.filter(due, state=State.RUNNING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease()))
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:limit]
    )


def _past_deadline(now) -> list[int]:
    """Jobs past their deadline that nobody is working on; the oldest first."""
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease())
    return list(
        Generation.objects.active()
        .filter(
            # A running job past its deadline is handled by its next check (check()).
            Q(expires_at__lte=now, state=State.QUEUED) | Q(expires_at__lte=now - grace())
        )
        .filter(free | Q(state=State.NEEDS_ATTENTION))
        .order_by("expires_at")
        .values_list("pk", flat=True)[:100]
    )


def _abandoned_sends(now) -> None:
    """A worker died during the create call: the vendor may have the task."""
    # A claim that ran out, or none at all: a stopping worker handed the row back.
    stale = Generation.objects.filter(state=State.SUBMITTING).filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease())
    )
    for generation in stale:
        if generation.vendor_account_id is None:
            set_state(generation, [State.SUBMITTING], State.QUEUED, next_check_at=now)
            continue
        message = (
            "A worker stopped while sending this job to the vendor, so we don't know whether "
            "the vendor has it. It was not resent: an operator must check with the vendor."
        )
        with transaction.atomic():
            if set_state(
                generation,
                [State.SUBMITTING],
                State.NEEDS_ATTENTION,
                error_message=message,
                error_kind="unknown_outcome",
            ):
                generation.log("needs_attention", message)


def sweep(dispatch=None) -> dict:
    """One pass over everything that is due; returns what it did, by kind.

    Checks run here on the pool's threads (and save a clip they find finished). Sends, and
    saves to try again, can wait on a vendor for long: `dispatch(function, pks)` hands
    them to other workers; without it they run here too. One row that fails never stops
    the pass, and a pass takes no new step after SWEEP_PASS_SECONDS (what is left is due
    again at the next), so a sweeper task ends within that plus one step's longest wait.
    """
    now = timezone.now()
    counts = {"submitted": 0, "checked": 0, "finalized": 0, "expired": 0, "stuck": 0}
    steps = []
    for part in (_abandoned_sends,):
        try:
            part(now)
        except Exception:
            log.exception("The sweep could not look for abandoned sends")
    try:
        expiring = _past_deadline(now)
        counts["expired"] = len(expiring)
        steps += [(expire, pk) for pk in expiring]
        queued, finalizing = _due_sends_and_saves(now, expiring, dispatch is not None)
        counts["submitted"] = len(queued)
        counts["finalized"] = len(finalizing)
        long_steps = [(run_submit, queued), (finalize, finalizing)]
        if dispatch is None:
            steps += [(function, pk) for function, pks in long_steps for pk in pks]
        else:
            for function, pks in long_steps:
                _dispatch(dispatch, function, pks, now)
        # Claimed one by one as the threads get to them: a callback's own check task may
        # still take one first, at once, instead of waiting behind the whole pass.
        due = [pk for pk in due_checks() if pk not in expiring]
        counts["checked"] = len(due)
        # A check that finds the clip finished saves it at once, on this thread: handed
        # to the queue instead, the save would wait behind every task queued before it.
        steps += [(check, pk) for pk in due]
    except Exception:
        log.exception("The sweep could not list what is due")
    _run_on_pool(steps)
    return counts


def _due_sends_and_saves(now, expiring, handing_out) -> tuple[list[int], list[int]]:
    """Queued jobs due a send, longest waiting first; finished jobs due a save.

    `handing_out`: the sends go to the queue, where a new job's own send (queued when it
    was submitted) may still wait; a second one would only lose the claim, at the cost
    of a whole task, and lengthen the queue in a burst. So a job never tried is left to
    its own task for a lease, as the sends this sweep hands out are.
    """
    due = Q(state=State.QUEUED, next_check_at__lte=now)
    if handing_out:
        due &= Q(submit_attempts__gt=0) | Q(created__lt=now - lease())
    queued = list(
        Generation.objects.filter(due)
        .exclude(pk__in=expiring)
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:100]
    )
    finalizing = list(
        Generation.objects.filter(state=State.FINALIZING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - finalize_lease()))
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .exclude(pk__in=expiring)
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:50]
    )
    return queued, finalizing


def _dispatch(dispatch, function, pks, now) -> None:
    """Hand `pks` to `dispatch`, marking them so the next passes do not hand them again
    while they wait in the queue; the step's own claim decides who runs them."""
    if not pks:
        return
    Generation.objects.filter(pk__in=pks).update(next_check_at=now + lease())
    dispatch(function, pks)


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=settings.SWEEP_THREADS, thread_name_prefix="generation-sweep"
    )


class _Feed:
    """What a pass takes besides its own list. Jobs a vendor called back about while it
    runs, between its own steps, as they come (looking twice a second). And once its own
    list is all taken, checks that came due since it was made (looking at most every
    REFILL_SECONDS), but not one this pass has queued and not yet finished: a pass made
    long by a busy machine would otherwise leave every check that came due meanwhile
    waiting for the next pass, seconds late. A thread waits for the next look while a
    step of the pass's own list runs on; the pass is done when a look finds nothing after
    that list is done, or a look fails; no step starts after SWEEP_PASS_SECONDS. (A job
    is due again at once after its check only when its vendor called back meanwhile: a
    vendor's Retry-After counts from at least GENERATION_POLL_FIRST_SECONDS, see
    follow._after_failed_check.)

    A lookup that fails (the database) is logged and not tried again in this pass: the
    pass's own list still runs, and the pass still waits for all its threads."""

    REFILL_SECONDS = 0.25

    def __init__(self, listed, steps):
        self.lock = threading.Lock()
        self.pending: deque[int] = deque()
        self.seen = set(listed)
        self.taken = set(self.seen)  # checks this pass has queued and not yet finished
        self.looked = self.refilled = time.monotonic()
        self.own_left = steps  # steps of the pass's own list not yet finished
        self.broken = False
        self.exhausted = False  # a look found nothing after the pass's own list was done

    def _lookup(self, *args, **kwargs) -> list[int]:
        if self.broken:
            return []
        try:
            return due_checks(*args, **kwargs)
        except Exception:
            self.broken = True
            log.exception("The sweep could not look for checks that came due")
            connection.close()  # it may be unusable now
            return []

    def called_back(self) -> int | None:
        with self.lock:
            if not self.pending and time.monotonic() - self.looked >= 0.5:
                self.looked = time.monotonic()
                found = [pk for pk in self._lookup(50, called_back=True) if pk not in self.seen]
                self.seen.update(found)
                self.taken.update(found)
                self.pending.extend(found)
            return self.pending.popleft() if self.pending else None

    def came_due(self) -> list[int] | None:
        """Checks that came due, not queued by this pass; None when it looked too lately."""
        with self.lock:
            if time.monotonic() - self.refilled < self.REFILL_SECONDS or self.broken:
                return None
            self.refilled = time.monotonic()
            found = [pk for pk in self._lookup() if pk not in self.taken]
            self.taken.update(found)
            self.seen.update(found)  # queued: not handed out again as called back
            return found

    def nothing_more(self, found) -> bool:
        """Whether a thread with nothing queued is done: the lookups failed, or a look
        found nothing once the pass's own list was done (then for every thread: each
        looking once more on its own would keep the pass open a quarter second each)."""
        with self.lock:
            if found == [] and self.own_left == 0:
                self.exhausted = True
            return self.broken or self.exhausted

    def finished(self, function, pk, own) -> None:
        with self.lock:
            if function is check:
                self.taken.discard(pk)
            if own:
                self.own_left -= 1

    def next_step(self, waiting: SimpleQueue, on_time) -> tuple:
        """(function, pk, one of the pass's own steps) for a thread; Empty when it is done,
        or when the pass must end (a stop, or its time) however long a look took."""
        while True:
            step, found = self._ready(waiting)
            if not on_time():
                raise Empty  # what it found is left to the next pass, as the rest is
            if step is not None:
                return step
            if self.nothing_more(found):
                raise Empty
            time.sleep(self.REFILL_SECONDS / 2)

    def _ready(self, waiting: SimpleQueue) -> tuple[tuple | None, list[int] | None]:
        """A step to take now, if any, and what this thread's look for checks that came
        due found (None when it did not look)."""
        pk = self.called_back()
        if pk is not None:
            return (check, pk, False), None
        try:
            return waiting.get_nowait(), None
        except Empty:
            pass
        # Its own list is all taken: this thread takes what comes due meanwhile, and
        # waits for the next look while a step of that list runs on.
        found = self.came_due()
        for pk in found or ():
            waiting.put((check, pk, False))
        try:
            return waiting.get_nowait(), found
        except Empty:
            return None, found


def _run_on_pool(steps) -> None:
    """Run (function, pk) steps on the pool's threads, each taking the next as it frees up.

    A slow check holds up one thread, not the checks queued behind it, and a step that
    fails is logged without stopping the rest. Each thread keeps one database connection
    for the whole pass. When the worker is stopping, steps not yet started are left for
    the next sweeper.
    """
    if not steps:
        return
    until = time.monotonic() + settings.SWEEP_PASS_SECONDS
    waiting = SimpleQueue()
    for function, pk in steps:
        waiting.put((function, pk, True))
    feed = _Feed((pk for function, pk in steps if function is check), len(steps))

    def on_time():
        return not stopping.is_set() and time.monotonic() < until

    def drain(_):
        try:
            while on_time():
                try:
                    function, pk, own = feed.next_step(waiting, on_time)
                except Empty:
                    return
                try:
                    function(pk)
                except Exception:
                    log.exception("%s of generation %s failed", function.__name__, pk)
                    connection.close()  # it may be unusable now
                finally:
                    feed.finished(function, pk, own)
        finally:
            connection.close()

    # Every thread, however short the list: what comes due while it runs is theirs too.
    list(_pool().map(drain, range(settings.SWEEP_THREADS)))


def new_lease_holder() -> str:
    return f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(4)}"
