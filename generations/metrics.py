"""What /metrics reads from the database and the task broker at each scrape: jobs by
state, the queue, the oldest check that is due, the sweeper's lag, holds pending, and
the clips stored. Counted from shared state, so any web process reports the same."""

import logging

from django.conf import settings
from django.db.models import Count, Min, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from billing.models import Hold
from billing.models.ledger import HoldStatus
from generations.models import Clip, Generation, State, WorkerLease
from generations.tasks import SWEEPER, queue_size

log = logging.getLogger(__name__)


class GenerationsCollector:
    def collect(self):
        now = timezone.now()
        jobs = GaugeMetricFamily("seedance_jobs", "Generations by state.", labels=["state"])
        counted = dict(Generation.objects.values_list("state").annotate(n=Count("id")).order_by())
        for state in State.values:
            jobs.add_metric([state], counted.get(state, 0))
        yield jobs

        oldest = (
            Generation.objects.active()
            .filter(next_check_at__lte=now)
            .aggregate(due=Min("next_check_at"))["due"]
        )
        yield GaugeMetricFamily(
            "seedance_oldest_due_check_seconds",
            "How long the most overdue check of a job has been waiting (0: none is due).",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "seedance_sweep_lag_seconds",
            "Seconds since a sweeper last took or renewed its lease.",
            value=_sweep_lag(now),
        )
        holds = Hold.objects.filter(status=HoldStatus.PENDING).aggregate(
            n=Count("id"), micros=Sum("amount")
        )
        yield GaugeMetricFamily(
            "seedance_holds_pending", "Holds not yet settled.", value=holds["n"]
        )
        yield GaugeMetricFamily(
            "seedance_holds_pending_micros",
            "Money on hold, in micro-dollars.",
            value=holds["micros"] or 0,
        )
        clips = Clip.objects.aggregate(n=Count("id"), size=Sum("bytes"))
        yield CounterMetricFamily("seedance_clips_stored", "Clips stored.", value=clips["n"])
        yield CounterMetricFamily(
            "seedance_clip_stored_bytes", "Bytes of clips stored.", value=clips["size"] or 0
        )
        yield from _queue_depth()


def _sweep_lag(now) -> float:
    lease = WorkerLease.objects.filter(name=SWEEPER).first()
    if lease is None:
        return 0.0
    # A running sweeper holds the lease SWEEP_LEASE_SECONDS ahead; a finished one sets it now.
    if lease.until > now:
        last = lease.until.timestamp() - settings.SWEEP_LEASE_SECONDS
    else:
        last = lease.until.timestamp()
    return max(0.0, now.timestamp() - last)


def _queue_depth():
    try:
        depth = queue_size()
    except Exception:
        log.exception("Could not read the length of the task queue")
        return
    yield GaugeMetricFamily("seedance_queue_depth", "Tasks waiting in the broker.", value=depth)
