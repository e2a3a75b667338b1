"""CPU seconds per lifecycle step, for the lifecycle benchmark: what each job costs.

`install(SPOTS)` wraps each named function so that the CPU time of the calling thread
(time.thread_time) is added to its label, less the time of metered calls nested in it:
a check that saves the clip it finds finished counts the save under "finalize", and the
save's download under "download". Every reference to the function in a loaded module is
replaced, so callers that imported it by name are metered too.

Worker processes cannot hand their totals back, so with `METER_DIR` set each process
writes its own to METER_DIR/<pid>.json every second; `read_totals` adds them up. With
`METER_PROFILE` set, each outermost metered call also runs under cProfile (CPU time),
written beside them as <pid>-<thread>.pstats for `pstats` to read.

`python -m tests.perf.meter qcluster` is `manage.py qcluster` with the meter installed
(the benchmark's cluster fixture starts it so); worker processes are forked from it and
inherit the wrapped functions.
"""

import cProfile
import functools
import importlib
import json
import os
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

# label -> "module:attribute" or "module:Class.attribute"; the steps first, then the
# parts they are made of. Billing's functions are measured, not changed.
SPOTS = {
    "submit": "generations.lifecycle.sending:submit",
    "hold (billing)": "billing.ledger:hold",
    "route": "generations.routing:route",
    "send": "generations.lifecycle.sending:run_submit",
    "check": "generations.lifecycle.follow:check",
    "finalize": "generations.lifecycle.saving:finalize",
    "expire": "generations.lifecycle.deadlines:expire",
    "sweep (listing what is due)": "generations.lifecycle.sweeping:sweep",
    "vendor HTTP call": "generations.vendors.http:VendorHttp.send",
    "download": "generations.media.fetch:fetch_to_file",
    "probe": "generations.media.video:probe",
    "poster": "generations.media.video:poster_jpeg",
    "capture (billing)": "billing.ledger:capture",
    "event rows": "generations.models:Generation.log",
    "enqueue (django-q2)": "django_q.tasks:async_task",
    "sandbox tick": "generations.sandbox.engine:sandbox_tick",
    "django-q2: take from the queue": "django_q.brokers.orm:ORM.dequeue",
    "django-q2: read the task": "django_q.signing:SignedPackage.loads",
    "django-q2: store the result": "django_q.monitor:save_task",
    "django-q2: acknowledge": "django_q.brokers.orm:ORM.acknowledge",
}

_lock = threading.Lock()
_local = threading.local()
_totals: dict = defaultdict(lambda: [0, 0.0])  # label -> [calls, CPU seconds]
_writer = {"pid": None}


def _add(label: str, seconds: float) -> None:
    with _lock:
        entry = _totals[label]
        entry[0] += 1
        entry[1] += seconds
    if os.environ.get("METER_DIR") and _writer["pid"] != os.getpid():
        _start_writer()


def _metered(function, label: str):
    @functools.wraps(function)
    def metered(*args, **kwargs):
        stack = _local.__dict__.setdefault("stack", [])
        outermost = not stack
        profile = _profile() if outermost else None
        if profile is not None:
            profile.enable()
        started = time.thread_time()
        stack.append(0.0)
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.thread_time() - started
            nested = stack.pop()
            if stack:
                stack[-1] += spent
            if profile is not None:
                profile.disable()
                _dump_profile(profile)
            _add(label, spent - nested)

    metered.metered = function
    return metered


def _profile():
    if not os.environ.get("METER_PROFILE"):
        return None
    if getattr(_local, "profile", None) is None:
        _local.profile = cProfile.Profile(time.thread_time)
        _local.dumped = time.monotonic()
    return _local.profile


def _dump_profile(profile) -> None:
    if time.monotonic() - _local.dumped < 2:
        return
    _local.dumped = time.monotonic()
    name = f"{os.getpid()}-{threading.get_ident()}.pstats"
    profile.dump_stats(Path(os.environ["METER_DIR"]) / name)


def _resolve(spot: str):
    module_name, _, attribute = spot.partition(":")
    owner = importlib.import_module(module_name)
    *classes, name = attribute.split(".")
    for class_name in classes:
        owner = getattr(owner, class_name)
    return owner, name


def install(spots=SPOTS):
    """Meter every spot; returns a function that puts the originals back."""
    undo = []
    for label, spot in spots.items():
        owner, name = _resolve(spot)
        original = getattr(owner, name)
        wrapper = _metered(original, label)
        if isinstance(owner, type):
            setattr(owner, name, wrapper)
            undo.append((owner, name, original))
            continue
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", {})
            for key, value in list(namespace.items()):
                if value is original:
                    setattr(module, key, wrapper)
                    undo.append((module, key, original))

    def uninstall():
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)

    return uninstall


def totals() -> dict:
    with _lock:
        return {label: list(entry) for label, entry in _totals.items()}


def reset() -> None:
    with _lock:
        _totals.clear()


def _start_writer() -> None:
    """One thread per process writes its totals every second (a fork has none yet)."""
    with _lock:
        if _writer["pid"] == os.getpid():
            return
        _writer["pid"] = os.getpid()
    threading.Thread(target=_write_forever, daemon=True, name="meter-writer").start()


def _write_forever() -> None:
    folder = Path(os.environ["METER_DIR"])
    path = folder / f"{os.getpid()}.json"
    while True:
        partial = path.with_suffix(".part")
        partial.write_text(json.dumps(totals()))
        partial.replace(path)
        time.sleep(1.0)


def read_totals(folder) -> dict:
    """Every process's totals in `folder`, added up by label."""
    summed: dict = defaultdict(lambda: [0, 0.0])
    for path in Path(folder).glob("*.json"):
        for label, (calls, seconds) in json.loads(path.read_text()).items():
            summed[label][0] += calls
            summed[label][1] += seconds
    return dict(summed)


if __name__ == "__main__":
    import django
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seedance_site.settings")
    django.setup()
    install()
    execute_from_command_line(["manage.py", *sys.argv[1:]])
