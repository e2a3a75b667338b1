"""Counters and timings recorded inside any process (web or worker), for /metrics.

Plain prometheus_client instruments, no Django: vendor adapters and the downloader use
them. With PROMETHEUS_MULTIPROC_DIR set (one folder per machine, shared by its gunicorn
workers and its django-q2 cluster), every process of the machine writes its numbers
there and the machine's /metrics adds them up.
"""

import functools
import time

from prometheus_client import Counter, Histogram

VENDOR_CALL_SECONDS = Histogram(
    "seedance_vendor_call_seconds",
    "Time of one call to a vendor's API, by vendor and outcome (ok or error).",
    ["vendor", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30),
)
VENDOR_ERRORS = Counter(
    "seedance_vendor_errors",
    "Failed calls to a vendor's API, by vendor and kind of error.",
    ["vendor", "kind"],
)
DOWNLOADS = Counter(
    "seedance_clip_downloads", "Clip downloads from vendors, by outcome.", ["outcome"]
)
DOWNLOAD_BYTES = Counter("seedance_clip_download_bytes", "Bytes of clips downloaded from vendors.")


def timed_vendor_call(send):
    """Wraps an adapter's `send`: its time, and the kind of any error it raises."""

    @functools.wraps(send)
    def timed(adapter, *args, **kwargs):
        started = time.perf_counter()
        outcome = "ok"
        try:
            return send(adapter, *args, **kwargs)
        except Exception as exc:
            outcome = "error"
            kind = getattr(exc, "kind", None)
            VENDOR_ERRORS.labels(adapter.protocol, getattr(kind, "value", kind) or "bug").inc()
            raise
        finally:
            VENDOR_CALL_SECONDS.labels(adapter.protocol, outcome).observe(
                time.perf_counter() - started
            )

    return timed


def counted_download(fetch):
    """Wraps the clip downloader: downloads by outcome, and the bytes that arrived."""

    @functools.wraps(fetch)
    def counted(*args, **kwargs):
        try:
            fetched = fetch(*args, **kwargs)
        except Exception:
            DOWNLOADS.labels("failed").inc()
            raise
        DOWNLOADS.labels("ok").inc()
        DOWNLOAD_BYTES.inc(fetched.bytes)
        return fetched

    return counted
