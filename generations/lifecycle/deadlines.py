"""Every job ends: deadlines for every state, and the grace after them."""

import logging

from django.utils import timezone

from generations.lifecycle.follow import expire_running
from generations.lifecycle.settle import finish_unsuccessfully
from generations.lifecycle.steps import claim, finalize_lease, grace, guarded, lease
from generations.models import Generation, State

log = logging.getLogger(__name__)


@guarded
def expire(pk) -> None:
    """End a job past its deadline, whatever state it is in, and settle its hold.

    A task still running at the vendor is cancelled there when the vendor can cancel,
    and followed through the grace when it cannot (see expire_running). A job that
    needs attention, or whose clip is still being saved, ends after the grace: the hold
    is returned unless the vendor is known to have finished (then it keeps the charge).
    """
    now = timezone.now()
    generation = Generation.objects.select_related("vendor_account", "hold").filter(pk=pk).first()
    if generation is None or generation.finished:
        return
    if generation.state == State.QUEUED:
        finish_unsuccessfully(
            generation,
            [State.QUEUED],
            State.EXPIRED,
            "No vendor took the job before its deadline; the hold was returned.",
        )
    elif generation.state == State.RUNNING:
        claimed = claim(pk, [State.RUNNING])
        if claimed:
            generation.claimed_at = claimed
            expire_running(generation)
    elif generation.expires_at + grace() <= now:
        _expire_after_grace(generation)


def _expire_after_grace(generation) -> None:
    from_states = [State.SUBMITTING, State.FINALIZING, State.NEEDS_ATTENTION]
    held_for = finalize_lease() if generation.state == State.FINALIZING else lease()
    if generation.claimed_at and generation.claimed_at > timezone.now() - held_for:
        return  # a worker is sending or saving it right now
    finished_at_vendor = generation.vendor_done_at is not None
    if finished_at_vendor:
        message = (
            "The vendor finished this clip, but it could not be saved before the deadline; "
            "the vendor keeps the charge."
        )
    else:
        message = (
            "Nobody could confirm in time whether the vendor made this clip; the job was "
            "ended and the hold returned to the team."
        )
    finish_unsuccessfully(
        generation, from_states, State.EXPIRED, message, keep_charge=finished_at_vendor
    )
