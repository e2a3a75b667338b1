"""The sandbox's clockwork: accepting tasks, rendering their clips, sending callbacks.

Nothing here keeps state that matters in memory. A task's state comes from its stored
timestamps and from whether its clip is on disk; whatever is still owed (a render
that died with its process, a callback not yet sent) is picked up by `advance()`,
which every query calls, and by `sandbox_tick()`, which anything may call (the app's
workers do). While `SANDBOX_AUTOTICK` is on, timers in this process also tick each
task when it ends, so callbacks go out on time for a client that only waits for them.

For tests and the demo: `sandbox_tick()`, `backdate()` to move a task back in time,
`wait_for_background()` to let renders and callbacks finish, and
`reset_process_state()` to forget everything held in memory, as a restart would.
"""

import json
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from . import callbacks, media, rendering
from . import faults as fault_rules
from .media import MediaSpec
from .models import KEY_PREFIX, SandboxTask, Snapshot, State, hash_key, media_root
from .protocols import PROTOCOLS
from .protocols.base import SandboxProtocol, TaskSpec

logger = logging.getLogger(__name__)

_render_pool = ThreadPoolExecutor(
    max_workers=settings.SANDBOX_RENDER_WORKERS,
    thread_name_prefix="sandbox-render",
)
_callback_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sandbox-callback")
_lock = threading.Lock()
_futures: set[Future] = set()
_rendering: set[str] = set()  # output tokens this process is rendering
_timers: dict[tuple[int, datetime], threading.Timer] = {}


def run_seconds() -> float:
    """How long a task runs once started (benchmarks vary it per task)."""
    return float(settings.SANDBOX_RUN_SECONDS)


def api_key(request, scheme: str = "bearer") -> str:
    """The key of a request in the vendor's Authorization scheme, or "" when there is none."""
    given, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if given.lower() == scheme else ""


def key_is_valid(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and len(key) > len(KEY_PREFIX)


def output_url(task: SandboxTask) -> str:
    """The clip's URL as the vendor reports it; "" under [[fault:no_output]]."""
    if "no_output" in task.faults:
        return ""
    path = reverse("sandbox:file", args=[task.output_token])
    url = settings.PUBLIC_BASE_URL.rstrip("/") + path
    size = fault_rules.length(task.faults, "long_url")
    return url if size is None else fault_rules.padded_url(url, size)


def create_task(vendor: SandboxProtocol, key: str, body: dict, spec: TaskSpec, faults: dict):
    now = timezone.now()
    starts_at = now + timedelta(seconds=float(settings.SANDBOX_QUEUE_SECONDS))
    ends_at = starts_at + timedelta(seconds=run_seconds())
    outcome = State.SUCCEEDED
    fail_after = fault_rules.arg(faults, "fail_after")
    if fail_after is not None:
        ends_at = now + timedelta(seconds=fail_after)
        starts_at = min(starts_at, ends_at)
        outcome = State.FAILED
    for attempt in range(5):
        try:
            # Ids are random; on the rare clash draw another.
            with transaction.atomic():
                task = SandboxTask.objects.create(
                    protocol=vendor.name,
                    task_id=vendor.new_task_id(),
                    key_hash=hash_key(key),
                    request=body,
                    model=spec.model,
                    prompt=spec.prompt,
                    duration=spec.duration,
                    aspect_ratio=spec.aspect_ratio,
                    resolution=spec.resolution,
                    audio=spec.audio,
                    callback_url=spec.callback_url,
                    charge=spec.charge,
                    faults=faults,
                    media=spec.media.as_dict() if spec.media else {},
                    created=now,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    outcome=outcome,
                    output_token=SandboxTask.new_output_token(),
                )
            break
        except IntegrityError:
            if attempt == 4:
                raise
    ensure_render(task)
    if task.callback_url:
        _schedule_tick(task.pk, task.ends_at)
        if "early_callback" in faults:
            _announce_success_early(task)
    return task


def find_task(vendor: SandboxProtocol, key: str, task_id: str) -> SandboxTask | None:
    """The caller's own task; another key's task is as absent as a made-up id."""
    task = SandboxTask.objects.filter(
        protocol=vendor.name, task_id=fault_rules.own_task_id(task_id), key_hash=hash_key(key)
    ).first()
    # The vendor knows a task only by the id it handed out, stretched or not.
    return task if task is not None and task.public_id == task_id else None


def advance(task: SandboxTask) -> Snapshot:
    """Do whatever the task is owed as of now, and return its snapshot."""
    snap = task.snapshot()
    if not snap.terminal:
        # Also resumes a render that died with a restarted process.
        ensure_render(task)
        return snap
    due = task.callback_due_at(snap)
    if due is not None and task.callback_sent_at is None:
        if due > timezone.now():
            _schedule_tick(task.pk, due)
            return snap
        _send_callback(task, snap)
    if task.settled_at is None:
        SandboxTask.objects.filter(pk=task.pk, settled_at__isnull=True).update(
            settled_at=timezone.now()
        )
    return snap


def cancel(task: SandboxTask) -> bool:
    """Cancel a task the vendor still lets go (one not ended); False if it may not."""
    if not PROTOCOLS[task.protocol].can_cancel(task.snapshot()):
        return False
    now = timezone.now()
    updated = SandboxTask.objects.filter(pk=task.pk, cancelled_at__isnull=True).update(
        cancelled_at=now
    )
    if not updated:
        return False
    task.cancelled_at = now
    advance(task)
    return True


def sandbox_tick(limit: int = 500) -> int:
    """Advance every task that still has something to do; return how many were looked at.

    Only where the sandbox is served: a process told it lives elsewhere (SANDBOX_BASE_URL)
    would otherwise render its clips and send its callbacks on that process's CPU.
    """
    if not settings.SANDBOX_ENABLED or settings.SANDBOX_BASE_URL:
        return 0
    tasks = list(SandboxTask.objects.filter(settled_at__isnull=True).order_by("created")[:limit])
    for task in tasks:
        try:
            advance(task)
        except Exception:
            logger.exception("sandbox: could not advance %s", task)
    return len(tasks)


def ensure_render(task: SandboxTask) -> None:
    """Start rendering the task's clip unless it exists or this process renders it already.

    Two processes may both render one clip (say a web process and a worker after a
    restart); each writes a private file and renames it into place, so that is only
    wasted work.
    """
    if not task.needs_render or task.output_path.exists():
        return
    if task.media and task.media_failure_path.exists():
        return
    with _lock:
        if task.output_token in _rendering:
            return
        _rendering.add(task.output_token)
    width, height = task.clip_size
    job = {
        "path": task.output_path,
        "width": width,
        "height": height,
        "duration": task.duration,
        "fps": int(settings.SANDBOX_RENDER_FPS),
        "text": task.prompt,
        "audio": task.audio,
    }
    tick_at = task.ends_at if task.callback_url else None
    media_job = None
    if task.media:
        # What to download, the vendor's failure code, where a failure is left for the
        # task to read (see SandboxTask.media_failure), and when it is announced.
        code = PROTOCOLS[task.protocol].media_failure_code
        announce = task.starts_at if task.callback_url else None
        media_job = (task.media, code, task.media_failure_path, announce)
    _submit(_render_pool, _render, task.pk, task.output_token, job, tick_at, media_job)


@cache
def _render_processes() -> ProcessPoolExecutor:
    # Spawned, not forked: a fork of a threaded server may inherit a lock held mid-use.
    return ProcessPoolExecutor(
        max_workers=settings.SANDBOX_RENDER_PROCESSES,
        mp_context=multiprocessing.get_context("spawn"),
    )


def _render_clip(job: dict) -> None:
    """Render on this thread, or in a process of the pool: drawing holds the GIL, and a
    serving process's requests then wait on every render in progress."""
    if settings.SANDBOX_RENDER_PROCESSES:
        _render_processes().submit(rendering.render_job, job).result()
    else:
        rendering.render_job(job)


def _render(pk: int, token: str, job: dict, tick_at: datetime | None, media_job=None) -> None:
    started = time.monotonic()
    try:
        drawable = True
        if media_job is not None:
            drawable, tick_at = _download_media(job, token, media_job, tick_at)
        if drawable:
            _render_clip(job)
            logger.info(
                "sandbox: rendered %s in %.2fs", job["path"].name, time.monotonic() - started
            )
    except Exception:
        logger.exception("sandbox: could not render %s", job["path"])
    finally:
        with _lock:
            _rendering.discard(token)
    if tick_at is not None:
        _schedule_tick(pk, tick_at)


def _download_media(job: dict, token: str, media_job, tick_at):
    """Add the task's downloaded images to `job`: (True, tick_at). When they cannot be
    had, leave the vendor's failure where the task will read it: (False, when to tell)."""
    stored, code, failed_path, fail_tick_at = media_job
    try:
        job |= media.collect(MediaSpec.from_dict(stored), media_root(), token)
    except media.MediaFailure as exc:
        logger.info("sandbox: task media could not be had: %s", exc.message)
        # Written whole or not at all: a reader never sees half a failure.
        partial = failed_path.with_name(f".{failed_path.name}.{os.getpid()}.part")
        partial.write_text(json.dumps({"code": code, "message": exc.message[:500]}))
        os.replace(partial, failed_path)
        return False, fail_tick_at
    return True, tick_at


def _send_callback(task: SandboxTask, snap: Snapshot) -> None:
    now = timezone.now()
    # The claim makes the callback go out once however many processes tick.
    claimed = SandboxTask.objects.filter(pk=task.pk, callback_sent_at__isnull=True).update(
        callback_sent_at=now
    )
    if not claimed:
        return
    task.callback_sent_at = now
    vendor = PROTOCOLS[task.protocol]
    if "callback_garbage" in task.faults:
        # A leading 0xFF is never JSON (nor UTF-8), whatever random bytes follow.
        body = b"\xff" + os.urandom(63)
    else:
        body = json.dumps(vendor.callback_body(task, snap, output_url(task))).encode()
    _post_callback(task, body, copies=2 if "dup_callback" in task.faults else 1)


def _announce_success_early(task: SandboxTask) -> None:
    """[[fault:early_callback]]: success announced at creation; the real callback follows."""
    vendor = PROTOCOLS[task.protocol]
    succeeded = Snapshot(State.SUCCEEDED, 100, task.created)
    body = vendor.callback_body(task, succeeded, output_url(task))
    _post_callback(task, json.dumps(body).encode())


def _post_callback(task: SandboxTask, body: bytes, copies: int = 1) -> None:
    vendor = PROTOCOLS[task.protocol]
    timeout = vendor.callback_timeout or float(settings.SANDBOX_CALLBACK_TIMEOUT)
    _submit(
        _callback_pool,
        callbacks.deliver,
        task.callback_url,
        body,
        headers=vendor.callback_headers(task, body),
        timeout=timeout,
        retry_delays=vendor.callback_retry_delays,
        copies=copies,
        label=str(task),
    )


def _schedule_tick(pk: int, at: datetime) -> None:
    if not settings.SANDBOX_AUTOTICK:
        return
    delay = max(0.0, (at - timezone.now()).total_seconds()) + 0.05
    with _lock:
        if (pk, at) in _timers:
            return
        timer = threading.Timer(delay, _tick_one, (pk, at))
        timer.daemon = True
        _timers[(pk, at)] = timer
    timer.start()


def _tick_one(pk: int, at: datetime) -> None:
    with _lock:
        _timers.pop((pk, at), None)
    try:
        task = SandboxTask.objects.filter(pk=pk, settled_at__isnull=True).first()
        if task is not None:
            advance(task)
    except Exception:
        # Typically the database went away under a test; the next tick catches up.
        logger.debug("sandbox: timer tick for task %s failed", pk, exc_info=True)
    finally:
        connection.close()


def _submit(pool: ThreadPoolExecutor, fn, *args, **kwargs) -> Future:
    future = pool.submit(_logged, fn, *args, **kwargs)
    with _lock:
        _futures.add(future)
    future.add_done_callback(_forget)
    return future


def _logged(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception:
        logger.exception("sandbox: background job %s failed", getattr(fn, "__name__", fn))


def _forget(future: Future) -> None:
    with _lock:
        _futures.discard(future)


# Helpers for tests and the demo.


def wait_for_background(timeout: float = 15.0) -> bool:
    """Wait until every render and callback started so far has finished."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            pending = [future for future in _futures if not future.done()]
        remaining = deadline - time.monotonic()
        if not pending:
            return True
        if remaining <= 0:
            return False
        wait_for_futures(pending, timeout=remaining)


def reset_process_state() -> None:
    """Forget what this process holds in memory, as a restart would."""
    with _lock:
        for timer in _timers.values():
            timer.cancel()
        _timers.clear()
        _rendering.clear()


def backdate(task: SandboxTask | str, seconds: float) -> SandboxTask:
    """Move a task `seconds` into the past, as if that much time had gone by."""
    if not isinstance(task, SandboxTask):
        task = SandboxTask.objects.get(task_id=task)
    shift = timedelta(seconds=seconds)
    for field in ("created", "starts_at", "ends_at", "cancelled_at"):
        moment = getattr(task, field)
        if moment is not None:
            setattr(task, field, moment - shift)
    task.save(update_fields=["created", "starts_at", "ends_at", "cancelled_at"])
    return task
