"""Saving a finished clip: download, probe, poster, then capture the hold. Safe to repeat."""

import logging
import os
import tempfile
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import ledger
from generations.lifecycle.settle import finish_unsuccessfully, settle_amount
from generations.lifecycle.steps import (
    by_worker,
    claim,
    describe_error,
    finalize_lease,
    guarded,
    quarantine,
    set_state,
)
from generations.media import fetch, video
from generations.media import storage as media_storage
from generations.models import Clip, Generation, State

log = logging.getLogger(__name__)


@guarded
def finalize(pk) -> None:
    """Store the clip, probe it, make its poster and capture the hold. Safe to repeat."""
    claimed = claim(pk, [State.FINALIZING], held_for=finalize_lease())
    if not claimed:
        return
    generation = Generation.objects.select_related("vendor_account", "hold", "team").get(pk=pk)
    generation.claimed_at = claimed
    step = by_worker(generation.claimed_at)
    if not Clip.objects.filter(generation=generation).exists():
        try:
            store_clip(generation)
        except (fetch.FetchRefused, video.NotAVideo) as exc:
            transient = getattr(exc, "transient", False)
            attempts = generation.events.filter(kind="download_failed").count() + 1
            generation.log("download_failed", str(exc), **step)
            if transient and attempts < settings.GENERATION_DOWNLOAD_ATTEMPTS:
                Generation.objects.filter(pk=pk).update(
                    claimed_at=None, next_check_at=timezone.now() + timedelta(seconds=5)
                )
                return
            if generation.events.filter(kind="result_attached").exists():
                # A typed address that does not work is for the operator to correct.
                quarantine(generation, f"The clip could not be saved from the address given: {exc}")
                return
            finish_unsuccessfully(
                generation,
                [State.FINALIZING],
                State.FAILED,
                f"The vendor finished, but the clip could not be saved: {exc}",
                keep_charge=True,
            )
            return
    _capture(generation, step)


def _capture(generation, step) -> None:
    """Charge the job and mark it done, in one transaction: the story never shows a job
    done without its ending, nor money taken for a job still saving."""
    account = generation.vendor_account
    with transaction.atomic():
        actual = settle_amount(generation)
        ledger.capture(
            generation.hold,
            actual,
            vendor=str(account.uuid),
            vendor_label=account.label,
            memo=f"Clip by {account.label}",
        )
        if set_state(
            generation, [State.FINALIZING], State.SUCCEEDED, charge_micros=actual, error_message=""
        ):
            credits = (
                f" ({generation.charge_credits.normalize():f} vendor credits)"
                if generation.charge_credits is not None and actual != generation.price_micros
                else ""
            )
            generation.log(
                "succeeded", f"Clip saved. Charged {ledger.dollars(actual)}{credits}.", **step
            )


def store_clip(generation) -> Clip:
    handle, path = tempfile.mkstemp(
        prefix=f"{video.SCRATCH_PREFIX}clip-", suffix=".mp4", dir=video.scratch_dir()
    )
    try:
        with os.fdopen(handle, "wb") as out:
            fetched = fetch.fetch_to_file(
                generation.output_url,
                out,
                max_bytes=settings.CLIP_MAX_BYTES,
                deadline_seconds=settings.CLIP_DOWNLOAD_SECONDS,
            )
        info = video.probe(path)
        try:
            poster = video.poster_jpeg(path, at_seconds=min(1.0, info.duration / 2))
        except Exception as exc:
            # A clip without a poster is still the clip the team paid for.
            log.exception("No poster for generation %s", generation.pk)
            generation.log("poster_failed", f"No poster could be made ({describe_error(exc)}).")
            poster = video.placeholder_poster()
        name = f"{generation.team.uuid}/{generation.uuid}"
        clip = Clip(
            generation=generation,
            duration=info.duration,
            width=info.width,
            height=info.height,
            fps=info.fps,
            codec=info.codec[:40],
            has_audio=info.has_audio,
            bytes=fetched.bytes,
            sha256=fetched.sha256,
        )
        _store_files(clip, path, name, poster)
        generation.log(
            "stored",
            f"Stored {info.width}×{info.height}, {info.duration:.1f} s at {info.fps:g} fps"
            f"{', with audio' if info.has_audio else ''} ({fetched.bytes / 2**20:.1f} MB).",
            **by_worker(generation.claimed_at),
        )
        return clip
    finally:
        if os.path.exists(path):
            os.unlink(path)


def _store_files(clip, path, name, poster) -> None:
    """Put the clip and its poster in storage and the row in the database, or none of it:
    an object whose row was never written would be paid-for storage nobody can find."""
    storage = clip.file.storage
    stored = []
    try:
        clip.file.name = media_storage.save_file(storage, f"clips/{name}.mp4", path)
        stored.append(clip.file.name)
        clip.poster.name = media_storage.save_bytes(storage, f"posters/{name}.jpg", poster)
        stored.append(clip.poster.name)
        with transaction.atomic():
            clip.save()
    except BaseException:
        # In a bucket the keys are the job's own, so a second worker saving the same job
        # (the first one's claim ran out) writes the objects the first one's row names:
        # those stay when this row is refused. Unsure (the database is down), keep them:
        # an orphan costs storage, a clip deleted from under its row costs the team's money.
        try:
            rows = Clip.objects.filter(Q(file__in=stored) | Q(poster__in=stored))
            kept = {key for row in rows.values_list("file", "poster") for key in row}
        except Exception:
            kept = set(stored)
        for stored_name in stored:
            if stored_name not in kept:
                storage.delete(stored_name)
        raise
