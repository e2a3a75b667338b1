"""A seeded fault campaign: many jobs through the real lifecycle and the sandbox, then invariants.

`run_campaign(jobs, seed, base_url=..., team=..., member=..., project=...)` creates one
sandbox vendor account per protocol (sometimes a second one of a protocol, so jobs fail
over), submits `jobs` jobs through `lifecycle.submit()` (some with two variants), each
with faults drawn by `random.Random(seed)` from FAULT_TABLE, and drives them as the
workers would: `lifecycle.sweep()` and `sandbox_tick()` in a loop, with the submits and
checks that `generations.tasks` would enqueue run on a small pool of its own. The
sandbox calls back over real HTTP into `generations/hooks.py`.

Each job carries a tag (`#c00042`) in its prompt, so the sandbox task(s) made for it are
found by prompt. Faults are of two sorts:

* prompt markers the sandbox acts on (`[[fault:lost]]`, `[[fault:gateway:504]]`, ...).
  A marker the sandbox does not know yet is ignored by it, as a vendor would; the table
  flags such rows with "(not in sandbox)" so a reader knows they ran as a happy path;
* the harness's own: a worker that dies (`SimulatedCrash`, a BaseException, raised from
  a seam at the job's n-th call of it, leaving the row claimed for the lease to
  recover), forged callbacks, a deadline moved mid-flight, a member's cancel.

A job that needs attention is settled by a simulated operator (through
`lifecycle.resolve_attach` / `resolve_failed`, when they exist) for half of those jobs;
the rest are left to the system's own deadline handling.

Then the invariants are checked (`INVARIANTS`); every break names its jobs, their final
state and their events. `CampaignResult.table` is the printed summary: per fault, the
jobs, their final states, their ledger outcome and the invariants they broke.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from unittest import mock
from urllib.parse import urlsplit

import httpx
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from billing import ledger
from billing.models import Hold, HoldStatus, Transfer, TransferKind
from generations import lifecycle, tasks
from generations.media import fetch
from generations.models import Clip, Generation, State, TeamRouting
from generations.sandbox import engine
from generations.sandbox import faults as sandbox_faults
from generations.sandbox.models import SandboxTask, hash_key
from generations.vendors import VendorAdapter, VideoRequest
from tests.factories import UserFactory
from tests.generations.conftest import PROTOCOLS, make_account

# Vendors that call back (the others refuse a loopback callback URL, so they are polled).
CALLBACK_PROTOCOLS = ("kinovi", "seedance2_ink", "byteplus_ark", "fal", "replicate")
# The protocols with a cancel endpoint.
CANCEL_PROTOCOLS = ("seedance2_ink", "byteplus_ark", "fal", "replicate")
# Vendors whose answers carry the charge; aigptimage, fal and Replicate report none, ever.
CHARGE_REPORTING = ("kinovi", "seedance2_ink", "seedanceapi_org", "evolink", "byteplus_ark")
# Of those, the ones that say the charge only in their answer to the create ("creditsCharged
# is calculated when the task is accepted"): when that answer is lost (a read timeout on a
# busy machine, a worker dying after the create), nobody can know it, and the account's
# price is right.
CHARGE_ONLY_WHEN_ACCEPTED = ("seedance2_ink",)
# A reported charge beyond this many times the account's own quote is not believed.
ABSURD_CHARGE_FACTOR = 10

TAG = re.compile(r"#c\d{5}")
SCENES = [
    "A lighthouse keeper climbs the spiral stairs at dusk",
    "A red fox runs through fresh snow, low tracking shot",
    "Rain on a tram window at night, neon reflections",
    "A paper boat drifts down a gutter after a storm",
    "Two astronauts play chess in a quiet space station",
    "A baker shapes dough at dawn, flour in the light",
]
TERMINAL = set(Generation.FINISHED)
# What an operator's action may answer instead of acting (when the lifecycle has it).
REFUSALS = tuple(
    getattr(lifecycle, name) for name in ("ResolveRefused",) if hasattr(lifecycle, name)
)


def public_id(task: SandboxTask) -> str:
    """The id the vendor handed out ([[fault:long_task_id]] stretches it), when the sandbox
    knows the difference."""
    return getattr(task, "public_id", task.task_id)


class SimulatedCrash(BaseException):
    """The worker process died here. Not an Exception: nothing in the product may catch it."""


@dataclass(frozen=True)
class Fault:
    """One row of the fault table.

    `markers`: prompt text for the sandbox. `needs`: the sandbox fault names the row
    depends on (checked against `generations.sandbox.faults.FAULTS` at run time).
    `pin`: protocols the job must run at for the fault to mean anything.
    `harness`: what the harness does itself (crash:<seam>, forged, deadline:<how>, cancel).
    """

    label: str
    markers: str = ""
    weight: int = 1
    needs: tuple[str, ...] = ()
    pin: tuple[str, ...] = ()
    harness: str = ""


def _marker(spec: str, *, pin=(), weight=1, extra="") -> Fault:
    name = spec.partition(":")[0]
    needs = (name,) + tuple(m.partition(":")[0] for m in extra.split() if m)
    markers = f"[[fault:{spec}]]" + "".join(f" [[fault:{m}]]" for m in extra.split())
    label = spec if not extra else f"{spec} + {extra}"
    return Fault(label, markers, weight, needs, tuple(pin))


FAULT_TABLE: list[Fault] = [
    Fault("none", weight=8),
    # Refusals at create: nothing stored, the job may go elsewhere.
    _marker("429"),
    _marker("402"),
    _marker("500"),
    # The create went through but its answer did not come back whole.
    _marker("timeout:2"),
    _marker("malformed"),
    *(_marker(f"gateway:{code}") for code in (502, 504, 520, 522, 524)),
    # Queries that fail for a while, or for good.
    _marker("query_500:2"),
    _marker("query_429:1"),
    _marker("query_malformed:1"),
    _marker("query_404:2"),
    _marker("query_404_at:2"),
    _marker("lost"),
    _marker("unknown_status:2"),
    _marker("regress"),
    _marker("never_finishes"),
    # The task ends badly, or its answer is odd.
    _marker("fail_after:0.3"),
    _marker("long_error:5000", extra="fail_after:0.3"),
    _marker("no_output"),
    _marker("wrong_types"),
    _marker("long_url:2500"),
    _marker("long_task_id:300"),
    _marker("oversized:3000000"),
    *(_marker(f"charge:{amount}") for amount in ("-5", "0", "12345678901", "37.5")),
    # Callbacks that come twice, late, early or as garbage.
    _marker("dup_callback", pin=CALLBACK_PROTOCOLS),
    _marker("late_callback:1", pin=CALLBACK_PROTOCOLS),
    _marker("early_callback", pin=CALLBACK_PROTOCOLS),
    _marker("callback_garbage", pin=CALLBACK_PROTOCOLS),
    # The clip itself.
    _marker("output_404"),
    _marker("output_html"),
    _marker("video_size:2600x2"),
    _marker("slow_download:6"),
    _marker("truncated_download"),
    Fault("latency:0.3", "[[latency:0.3]]", 1, ("latency",)),
    # Cancelling at a vendor whose cancel endpoint fails.
    Fault("cancel_500", "[[fault:cancel_500]]", 1, ("cancel_500",), CANCEL_PROTOCOLS, "cancel"),
    # The harness's own faults.
    *(
        Fault(f"crash:{seam}", harness=f"crash:{seam}", weight=2)
        for seam in ("create-before", "create-after", "query", "fetch", "capture", "log")
    ),
    Fault("forged-callback", harness="forged", weight=2, pin=CALLBACK_PROTOCOLS),
    Fault("deadline:past", harness="deadline:past", weight=2),
    Fault("deadline:soon", harness="deadline:soon", weight=2),
    Fault("cancel", harness="cancel", weight=3),
]


@dataclass
class Job:
    number: int
    tag: str
    faults: list[Fault]
    prompt: str
    variants: int
    pinned: object = None  # a VendorAccount or None
    generations: list[int] = field(default_factory=list)
    refused: str = ""
    # Harness plans, in seconds after the campaign started.
    crash_seam: str = ""
    crash_on_call: int = 1
    crash_calls: int = 0
    crashed: bool = False
    forge_after: float | None = None
    forged: bool = False
    skew_after: float | None = None
    skew: str = ""
    skew_to: float = 0.0
    skewed: bool = False
    cancel_after: float | None = None
    cancelled: bool = False
    operator_resolves: bool = False

    @property
    def labels(self) -> list[str]:
        return [fault.label for fault in self.faults]


@dataclass
class CampaignResult:
    seed: int
    jobs: list[Job]
    breaks: dict[str, list[str]]
    table: str
    seconds: float
    notes: list[str]
    counts: dict
    stories: list[str] = field(default_factory=list)

    def broken(self) -> dict[str, list[str]]:
        return {name: found for name, found in self.breaks.items() if found}

    def report(self) -> str:
        lines = [f"Fault campaign, seed {self.seed}: invariants broken:"]
        for name, found in self.broken().items():
            lines.append(f"\n{name} — {len(found)} break(s):")
            lines.extend(f"  - {line}" for line in found[:25])
            if len(found) > 25:
                lines.append(f"  ... and {len(found) - 25} more")
        return "\n".join(lines)


INVARIANTS = {
    1: "(1) every job is terminal by its deadline plus the grace",
    2: "(2) every hold is captured or released exactly once",
    3: "(3) a success is charged the vendor's plausible charge, else its own account's price",
    4: "(4) at most one vendor task per generation",
    5: "(5) a job that failed but was charged says the vendor keeps the charge",
    6: "(6) billing.ledger.problems() is empty",
    7: "(7) no exception escaped a worker step (sweep, submit, check, cancel, resolve), "
    "nor was one caught as a step_failed event",
    8: "(8) each success has exactly one clip, and its file exists",
    9: "(9) a forged callback is refused or only prompts a check",
}


class Campaign:
    def __init__(self, jobs, seed, *, base_url, team, member, project, operator, options):
        self.rng = random.Random(seed)
        self.seed = seed
        self.job_count = jobs
        self.base_url = base_url.rstrip("/")
        self.team = team
        self.member = member
        self.project = project
        self.operator = operator
        self.options = options
        self.jobs: list[Job] = []
        self.by_tag: dict[str, Job] = {}
        self.by_uuid: dict[str, Job] = {}
        self.accounts = []
        self.keys: dict[int, str] = {}
        self.lock = threading.Lock()
        self.armed = False  # crashes only once every job is submitted
        self.escaped: list[str] = []
        self.forgery_breaks: list[str] = []
        self.notes: list[str] = []
        self.looked_at: set[int] = set()
        self.held_back: list[int] = []
        self.counts = Counter()
        self.pool = ThreadPoolExecutor(
            max_workers=options["worker_threads"], thread_name_prefix="campaign-worker"
        )
        self.known = set(sandbox_faults.FAULTS)

    # --- setting up ------------------------------------------------------------------

    def make_accounts(self):
        for protocol in PROTOCOLS:
            self.add_account(protocol, "")
        if self.rng.random() < 0.75:
            self.add_account(self.rng.choice(PROTOCOLS), " (second key)")
        policy = self.rng.choice(["priority", "cheapest"])
        TeamRouting.set_policy(self.team, policy)
        self.notes.append(
            f"routing {policy}; accounts: "
            + ", ".join(f"{a.label} p{a.priority} max{a.max_concurrent}" for a in self.accounts)
        )

    def add_account(self, protocol, suffix):
        key = f"sk-sandbox-campaign-{self.seed}-{len(self.accounts)}"
        account = make_account(
            protocol,
            self.base_url,
            label=f"{protocol}{suffix}",
            key=key,
            priority=self.rng.randint(1, 9) * 10,
            max_concurrent=self.rng.randint(*self.options["max_concurrent"]),
        )
        self.accounts.append(account)
        self.keys[account.pk] = key

    def plan_jobs(self):
        weights = [fault.weight for fault in FAULT_TABLE]
        for number in range(self.job_count):
            faults = self.rng.choices(FAULT_TABLE, weights)
            if self.rng.random() < 0.15:
                other = self.rng.choices(FAULT_TABLE, weights)[0]
                if other.label not in ("none", faults[0].label) and faults[0].label != "none":
                    faults.append(other)
            tag = f"#c{number:05d}"
            markers = " ".join(fault.markers for fault in faults if fault.markers)
            prompt = f"{self.rng.choice(SCENES)} {tag} {markers}".strip()
            job = Job(number, tag, faults, prompt, variants=2 if self.rng.random() < 0.2 else 1)
            pins = next((fault.pin for fault in faults if fault.pin), ())
            candidates = [a for a in self.accounts if not pins or a.protocol in pins]
            if pins or self.rng.random() < 0.4:
                job.pinned = self.rng.choice(candidates)
            for fault in faults:
                self.plan_harness(job, fault.harness)
            job.operator_resolves = self.rng.random() < 0.5
            self.jobs.append(job)
            self.by_tag[tag] = job

    def plan_harness(self, job, harness):
        rng = self.rng
        if harness.startswith("crash:"):
            job.crash_seam = harness.partition(":")[2]
            job.crash_on_call = rng.randint(1, 4) if job.crash_seam == "log" else 1
        elif harness == "forged":
            job.forge_after = rng.uniform(0.2, 3.0)
        elif harness.startswith("deadline:"):
            job.skew = harness.partition(":")[2]
            job.skew_after = rng.uniform(0.2, 4.0)
            # The new deadline, from the moment it is moved: a second ago, or soon.
            job.skew_to = -1.0 if job.skew == "past" else rng.uniform(1.0, 4.0)
        elif harness == "cancel":
            job.cancel_after = rng.uniform(0.0, 5.0)

    def submit_all(self):
        for job in self.jobs:
            request = VideoRequest(
                family="seedance-2.0",
                prompt=job.prompt,
                duration=5,
                resolution=self.rng.choice(["720p", "720p", "480p"]),
                aspect_ratio="16:9",
            )
            try:
                made = lifecycle.submit(
                    team=self.team,
                    member=self.member,
                    project=self.project,
                    request=request,
                    pinned=job.pinned,
                    variants=job.variants,
                )
            except (lifecycle.SubmitRefused, ledger.Refused) as exc:
                job.refused = str(exc)
                continue
            job.generations = [g.pk for g in made]
            for generation in made:
                self.by_uuid[str(generation.uuid)] = job

    # --- the seams a crash comes from ---------------------------------------------------

    def maybe_crash(self, job: Job | None, seam: str):
        if job is None or not self.armed or job.crash_seam.partition("-")[0] != seam:
            return
        name = threading.current_thread().name
        if not (name.startswith(("generation-sweep", "campaign-worker")) or name == "MainThread"):
            return  # a web request thread (a callback): not a worker
        with self.lock:
            if job.crashed:
                return
            job.crash_calls += 1
            if job.crash_calls < job.crash_on_call:
                return
            job.crashed = True
            self.counts["crashes"] += 1
        raise SimulatedCrash(f"{job.tag}: worker died in {seam}")

    def job_for_prompt(self, text) -> Job | None:
        found = TAG.search(text or "")
        return self.by_tag.get(found.group()) if found else None

    def job_for_generation(self, **lookup) -> Job | None:
        uuid = Generation.objects.filter(**lookup).values_list("uuid", flat=True).first()
        return self.by_uuid.get(str(uuid)) if uuid else None

    def patches(self):
        campaign = self
        real_create, real_query = VendorAdapter.create, VendorAdapter.query
        real_fetch, real_capture = fetch.fetch_to_file, ledger.capture
        real_log = Generation.log

        def create(adapter, request, callback_url=None):
            job = campaign.job_for_prompt(request.prompt)
            if job is not None and job.crash_seam == "create-before":
                campaign.maybe_crash(job, "create")
            created = real_create(adapter, request, callback_url)
            if job is not None and job.crash_seam == "create-after":
                campaign.maybe_crash(job, "create")
            return created

        def query(adapter, task_id):
            campaign.maybe_crash(campaign.job_for_generation(vendor_task_id=task_id), "query")
            return real_query(adapter, task_id)

        def fetch_to_file(url, out, **kwargs):
            token = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".mp4")
            task = SandboxTask.objects.filter(output_token=token).only("prompt").first()
            campaign.maybe_crash(campaign.job_for_prompt(task.prompt if task else ""), "fetch")
            return real_fetch(url, out, **kwargs)

        def capture(hold, actual, *args, **kwargs):
            uuid = (hold.reference or "").removeprefix("generation:")
            campaign.maybe_crash(campaign.by_uuid.get(uuid), "capture")
            return real_capture(hold, actual, *args, **kwargs)

        def log(generation, kind, message, **data):
            campaign.maybe_crash(campaign.by_uuid.get(str(generation.uuid)), "log")
            return real_log(generation, kind, message, **data)

        def enqueue_submit(pk):
            campaign.counts["enqueued submits"] += 1
            if not campaign.armed:  # still submitting: the workers start once all are in
                campaign.held_back.append(pk)
                return
            campaign.run_step(lifecycle.run_submit, pk, background=True)

        def enqueue_check(pk):
            # As the real one: the sweep sees it at once, and a worker checks it now.
            if hasattr(lifecycle, "request_check"):
                lifecycle.request_check(pk)
            campaign.counts["enqueued checks"] += 1
            campaign.run_step(lifecycle.check, pk, background=True)

        def enqueue_finalize(pk):
            campaign.counts["enqueued finalizes"] += 1
            campaign.run_step(lifecycle.finalize, pk, background=True)

        patches = [
            mock.patch.object(VendorAdapter, "create", create),
            mock.patch.object(VendorAdapter, "query", query),
            mock.patch.object(fetch, "fetch_to_file", fetch_to_file),
            mock.patch.object(ledger, "capture", capture),
            mock.patch.object(Generation, "log", log),
            mock.patch("generations.tasks.enqueue_submit", enqueue_submit),
            mock.patch("generations.tasks.enqueue_check", enqueue_check),
        ]
        if hasattr(tasks, "enqueue_finalize"):  # newer lifecycles hand saves to a worker
            patches.append(mock.patch.object(tasks, "enqueue_finalize", enqueue_finalize))
        return patches

    # --- driving -------------------------------------------------------------------

    def run_step(self, function, *args, background=False, what=None):
        """One worker step; a SimulatedCrash is the worker dying, anything else escaped."""
        what = what or getattr(function, "__name__", str(function))

        def step():
            try:
                return function(*args)
            except SimulatedCrash:
                self.counts[f"crashed in {what}"] += 1
            except REFUSALS as exc:
                self.counts[f"{what} refused: {str(exc)[:50]}"] += 1
            except Exception as exc:
                with self.lock:
                    self.escaped.append(f"{what}{args!r}: {type(exc).__name__}: {exc}"[:500])
            finally:
                if background:
                    connection.close()
            return None

        if background:
            self.pool.submit(step)
            return None
        return step()

    def generations_of(self, job):
        return list(Generation.objects.filter(pk__in=job.generations).select_related("hold"))

    def harness_actions(self, elapsed):
        for job in self.jobs:
            if not job.generations:
                continue
            if job.skew and not job.skewed and elapsed >= job.skew_after:
                job.skewed = True
                moved = timezone.now() + timedelta(seconds=job.skew_to)
                Generation.objects.filter(pk__in=job.generations).update(expires_at=moved)
            if job.forge_after is not None and not job.forged:
                states = set(
                    Generation.objects.filter(pk__in=job.generations).values_list(
                        "state", flat=True
                    )
                )
                if State.RUNNING in states or elapsed >= job.forge_after + 5:
                    job.forged = True
                    self.forge(job)
            if job.cancel_after is not None and not job.cancelled and elapsed >= job.cancel_after:
                job.cancelled = True
                for generation in self.generations_of(job):
                    self.run_step(self.cancel, generation, what="cancel")
        self.operator_rounds()

    def cancel(self, generation):
        try:
            said = lifecycle.cancel(generation, self.member)
            self.counts["cancel: " + said.split(";")[0][:60]] += 1
        except lifecycle.CannotCancel as exc:
            self.counts["cannot cancel: " + str(exc)[:60]] += 1

    def forge(self, job):
        """Three forged callbacks: a wrong token; another task; 'succeeded' when it is not."""
        other = (
            Generation.objects.exclude(pk__in=job.generations)
            .exclude(vendor_task_id="")
            .values_list("vendor_task_id", flat=True)
            .first()
        ) or "task_forged_0000"
        evil = "http://evil.example/forged.mp4"
        for generation in self.generations_of(job):
            good = lifecycle.callback_url(generation)
            wrong = good.rstrip("/").rsplit("/", 1)[0] + "/" + "0" * 64 + "/"
            if not good.endswith("/"):
                wrong = wrong.rstrip("/")
            before = generation.events.count()
            state = generation.state
            with httpx.Client(timeout=10) as client:
                for url, task_id in (
                    (wrong, generation.vendor_task_id),
                    (good, other),
                    (good, generation.vendor_task_id or "task_unknown"),
                ):
                    body = {
                        "code": 200,
                        "message": "success",
                        "data": {
                            "taskId": task_id,
                            "status": "success",
                            "output": [{"url": evil}],
                            "creditsUsed": 1,
                        },
                        "taskId": task_id,
                        "task_id": task_id,
                        "id": task_id,
                        "requestId": task_id,
                        "status": "succeeded",
                        "video_url": evil,
                    }
                    try:
                        response = client.post(url, json=body)
                    except httpx.HTTPError as exc:
                        self.forgery_breaks.append(
                            f"{job.tag} g{generation.pk}: the callback endpoint did not "
                            f"answer: {type(exc).__name__}"
                        )
                        continue
                    if url == wrong and response.status_code != 404:
                        self.forgery_breaks.append(
                            f"{job.tag} g{generation.pk}: a wrong token got HTTP "
                            f"{response.status_code}, not 404"
                        )
                    elif url != wrong and response.status_code >= 500:
                        self.forgery_breaks.append(
                            f"{job.tag} g{generation.pk}: a forged body got HTTP "
                            f"{response.status_code}"
                        )
                    # Only a finished job stands still: a live one may move on by itself
                    # (its own callbacks, the sweep) while the forged request is answered.
                    if url == wrong and state in TERMINAL:
                        generation.refresh_from_db()
                        if generation.events.count() != before or generation.state != state:
                            self.forgery_breaks.append(
                                f"{job.tag} g{generation.pk}: a callback with a wrong token "
                                "left an event or moved the job"
                            )
            self.counts["forged callbacks"] += 3

    def operator_rounds(self):
        waiting = Generation.objects.filter(
            state=State.NEEDS_ATTENTION,
            pk__in=[pk for job in self.jobs if job.operator_resolves for pk in job.generations],
        ).select_related("vendor_account")
        for generation in waiting:
            if generation.pk in self.looked_at:
                continue
            if not (hasattr(lifecycle, "resolve_attach") and hasattr(lifecycle, "resolve_failed")):
                continue
            self.looked_at.add(generation.pk)
            job = self.by_uuid[str(generation.uuid)]
            task = self.task_for(job, generation)
            if task is not None:
                self.counts["operator attached"] += 1
                self.run_step(
                    lifecycle.resolve_attach, generation, public_id(task), self.operator,
                    what="resolve_attach",
                )  # fmt: skip
            else:
                self.counts["operator failed"] += 1
                self.run_step(
                    lifecycle.resolve_failed, generation, self.operator, what="resolve_failed"
                )

    def task_for(self, job, generation):
        """The operator's look at the vendor's task list: this job's task not yet followed."""
        if generation.vendor_account_id is None:
            return None
        taken = Generation.objects.filter(pk__in=job.generations).exclude(pk=generation.pk)
        return (
            SandboxTask.objects.filter(
                prompt__contains=job.tag,
                protocol=generation.vendor_account.protocol,
                key_hash=hash_key(self.keys[generation.vendor_account_id]),
            )
            .exclude(task_id__in=taken.values_list("vendor_task_id", flat=True))
            .order_by("created")
            .first()
        )

    def drive(self):
        started = time.monotonic()
        budget = self.options["budget_seconds"]
        grace = self.grace()
        last_tick = 0.0
        while True:
            elapsed = time.monotonic() - started
            self.harness_actions(elapsed)
            if time.monotonic() - last_tick >= 0.3:
                last_tick = time.monotonic()
                self.run_step(engine.sandbox_tick, what="sandbox_tick")
            self.sweep()
            pending = Generation.objects.filter(pk__in=self.all_generations()).exclude(
                state__in=TERMINAL
            )
            if not pending.exists():
                break
            latest = max(pending.values_list("expires_at", flat=True))
            if timezone.now() > latest + timedelta(seconds=grace):
                self.notes.append("stopped: the unfinished jobs are past their deadline + grace")
                break
            if elapsed > budget:
                self.notes.append(f"stopped: the {budget:g} s budget ran out")
                break
            time.sleep(self.options["sweep_pause"])
        self.pool.shutdown(wait=True)
        engine.wait_for_background(timeout=10)
        return time.monotonic() - started

    def sweep(self):
        self.counts["sweeps"] += 1
        try:
            lifecycle.sweep()
        except SimulatedCrash:
            self.counts["crashed in sweep"] += 1
        except Exception as exc:
            self.escaped.append(f"sweep(): {type(exc).__name__}: {exc}"[:500])
        finally:
            connection.close()

    def all_generations(self):
        return [pk for job in self.jobs for pk in job.generations]

    def grace(self) -> float:
        """How long past its deadline a job may take to end: the grace the campaign gives
        the product to settle, a save's lease, and a little for the sweep's cadence."""
        return (
            self.options["grace_seconds"]
            + lifecycle.finalize_lease().total_seconds()
            + self.options["slack_seconds"]
        )

    # --- checking ------------------------------------------------------------------

    def check(self) -> dict[str, list[str]]:
        breaks = {text: [] for text in INVARIANTS.values()}
        grace = timedelta(seconds=self.grace())
        holds = {h.pk: h for h in Hold.objects.filter(team=self.team)}
        transfers = defaultdict(Counter)
        for hold_id, kind in Transfer.objects.filter(hold__team=self.team).values_list(
            "hold_id", "kind"
        ):
            transfers[hold_id][kind] += 1
        self.per_generation_breaks = defaultdict(set)

        def broke(number, job, generation, why):
            story = self.story(generation) if generation else ""
            where = f"{job.tag} [{', '.join(job.labels)}]"
            if generation is not None:
                where += f" g{generation.pk} {generation.state}"
                self.per_generation_breaks[generation.pk].add(number)
            breaks[INVARIANTS[number]].append(f"{where}: {why}{story}")
            job_breaks[job.number].add(number)

        job_breaks = defaultdict(set)
        self.job_breaks = job_breaks
        now = timezone.now()
        for job in self.jobs:
            generations = list(
                Generation.objects.filter(pk__in=job.generations).select_related(
                    "vendor_account", "hold"
                )
            )
            for g in generations:
                # (1) terminal by the deadline plus the grace
                if g.state not in TERMINAL:
                    late = now - g.expires_at
                    broke(
                        1, job, g,
                        f"not finished, {late.total_seconds():+.0f} s after its deadline",
                    )  # fmt: skip
                elif g.finished_at and g.finished_at > g.expires_at + grace:
                    over = (g.finished_at - g.expires_at).total_seconds()
                    broke(1, job, g, f"finished {over:.0f} s after its deadline")
                # (2) one settlement per hold
                hold = holds.get(g.hold_id)
                moved = transfers[g.hold_id] if hold else Counter()
                if hold is None:
                    broke(2, job, g, "has no hold")
                else:
                    if g.state in TERMINAL and hold.status == HoldStatus.PENDING:
                        broke(2, job, g, "finished but its hold is still pending")
                    if g.state not in TERMINAL and hold.status != HoldStatus.PENDING:
                        broke(2, job, g, f"not finished but its hold is {hold.status}")
                    if (
                        moved[TransferKind.CAPTURE] > 1
                        or moved[TransferKind.RETURN] > 1
                        or moved[TransferKind.OVERAGE] > 1
                    ):
                        broke(2, job, g, f"hold settled more than once: {dict(moved)}")
                    if hold.status == HoldStatus.RELEASED and (
                        moved[TransferKind.CAPTURE] or moved[TransferKind.OVERAGE]
                    ):
                        broke(2, job, g, f"hold both captured and released: {dict(moved)}")
                    if (
                        hold.status == HoldStatus.CAPTURED
                        and hold.captured_amount
                        and moved[TransferKind.CAPTURE] + moved[TransferKind.OVERAGE] == 0
                    ):
                        broke(2, job, g, "hold says captured but no money went to the vendor")
                    if g.state == State.SUCCEEDED and hold.status != HoldStatus.CAPTURED:
                        broke(2, job, g, f"succeeded but its hold is {hold.status}")
                # (3) the charge of a success
                if g.state == State.SUCCEEDED and hold is not None:
                    expected, why = self.expected_charge(g)
                    paid = (hold.captured_amount or 0) + hold.shortfall
                    if expected is not None and (paid != expected or g.charge_micros != expected):
                        broke(
                            3, job, g,
                            f"charged {paid} µ$ (charge_micros {g.charge_micros}) but expected "
                            f"{expected} µ$: {why}",
                        )  # fmt: skip
                # (5) a failure that was charged says so
                if (
                    g.state in (State.FAILED, State.EXPIRED, State.CANCELLED)
                    and hold is not None
                    and hold.status == HoldStatus.CAPTURED
                    and not g.events.filter(kind="charged").exists()
                ):
                    broke(5, job, g, "hold captured with no 'charged' event")
                # (8) one clip, on disk
                if g.state == State.SUCCEEDED:
                    clip = Clip.objects.filter(generation=g).first()
                    if clip is None:
                        broke(8, job, g, "succeeded without a clip")
                    elif not clip.file or not clip.file.storage.exists(clip.file.name):
                        broke(8, job, g, f"its clip file {clip.file.name!r} is missing")
                # (7) a step that failed unexpectedly (the lifecycle records what it caught)
                failed_steps = list(
                    g.events.filter(kind="step_failed").values_list("message", flat=True)
                )
                if failed_steps:
                    first = failed_steps[0][:300]
                    broke(7, job, g, f"{len(failed_steps)} step_failed event(s), first: {first}")
                # (9) a forged output address never sticks
                if "evil.example" in (g.output_url or ""):
                    broke(9, job, g, f"took the forged output URL {g.output_url}")
            # (4) tasks per job: one per generation, unless the vendor lost an earlier one
            made = list(SandboxTask.objects.filter(prompt__contains=job.tag))
            lost = sum(1 for t in made if "lost" in (t.faults or {}))
            if job.generations and len(made) > len(job.generations) + lost:
                ids = ", ".join(f"{t.protocol} {t.task_id}" for t in made)
                followed = ", ".join(g.vendor_task_id or "-" for g in generations)
                broke(
                    4, job, generations[0] if len(generations) == 1 else None,
                    f"{len(made)} vendor tasks for {len(job.generations)} generation(s): "
                    f"{ids}; following {followed}",
                )  # fmt: skip
        # (6) the ledger reconciles
        breaks[INVARIANTS[6]].extend(ledger.problems())
        # (7) nothing escaped a step
        breaks[INVARIANTS[7]].extend(self.escaped)
        breaks[INVARIANTS[9]].extend(self.forgery_breaks)
        return breaks

    def expected_charge(self, g) -> tuple[int | None, str]:
        account = g.vendor_account
        if account is None:
            return None, "no account"
        task = self.followed_task(g)
        price = account.credits_to_micros(account.quote_credits(g.video_request))
        reported = None
        if (
            account.protocol in CHARGE_ONLY_WHEN_ACCEPTED
            and not g.events.filter(kind="accepted").exists()
        ):
            return price, (
                f"{account.label} says its charge only when it accepts a task, and that answer "
                f"never reached us; its price is {price} µ$"
            )
        if task is not None and account.protocol in CHARGE_REPORTING:
            if hasattr(task, "reported_charge"):
                reported = task.reported_charge()
            else:
                reported = task.faults.get("charge", task.charge)
        if reported is None or reported is True:
            return price, f"{account.label} reported no charge; its price is {price} µ$"
        try:
            credits = Decimal(str(reported))
        except InvalidOperation:
            return price, f"{account.label} reported {reported!r}; its price is {price} µ$"
        quote = account.quote_credits(g.video_request)
        if 0 < credits <= quote * ABSURD_CHARGE_FACTOR:
            micros = account.credits_to_micros(credits)
            return micros, f"{account.label} reported {credits} credits = {micros} µ$"
        return price, (
            f"{account.label} reported an implausible {credits} credits; its own price is "
            f"{price} µ$"
        )

    def followed_task(self, g):
        """The sandbox task a generation follows (by the id the vendor handed out)."""
        job = self.by_uuid[str(g.uuid)]
        for task in SandboxTask.objects.filter(
            prompt__contains=job.tag, protocol=g.vendor_account.protocol
        ):
            if g.vendor_task_id and g.vendor_task_id in (task.task_id, public_id(task)):
                return task
        return None

    def story(self, generation) -> str:
        events = list(generation.events.values_list("kind", "message"))
        kinds = " > ".join(kind for kind, _ in events[-14:])
        last = events[-1][1][:160] if events else ""
        account = generation.vendor_account.label if generation.vendor_account_id else "-"
        return f" [at {account}; events: {kinds}; last: {last!r}]"

    # --- the table -----------------------------------------------------------------

    def table(self) -> str:
        rows = {}
        order = [fault.label for fault in FAULT_TABLE]
        for job in self.jobs:
            generations = self.generations_of(job)
            for label in job.labels:
                row = rows.setdefault(
                    label,
                    {"jobs": 0, "states": Counter(), "ledger": Counter(), "breaks": Counter()},
                )
                row["jobs"] += 1
                if job.refused:
                    row["states"]["refused at submit"] += 1
                for g in generations:
                    row["states"][g.state] += 1
                    status = g.hold.status if g.hold else "no hold"
                    row["ledger"][str(status)] += 1
                for number in sorted(self.job_breaks.get(job.number, ())):
                    row["breaks"][f"({number})"] += 1
        missing = {
            fault.label
            for fault in FAULT_TABLE
            if any(name not in self.known for name in fault.needs)
        }

        def show(counter):
            return ", ".join(f"{k} {n}" for k, n in counter.most_common()) or "-"

        header = ("fault", "jobs", "final states", "ledger", "invariant breaks")
        lines = []
        for label in sorted(rows, key=lambda name: order.index(name)):
            row = rows[label]
            name = label + (" (not in sandbox)" if label in missing else "")
            lines.append(
                (
                    name,
                    str(row["jobs"]),
                    show(row["states"]),
                    show(row["ledger"]),
                    show(row["breaks"]) if row["breaks"] else "-",
                )
            )
        totals = {
            "jobs": len(self.jobs),
            "states": Counter(),
            "ledger": Counter(),
            "breaks": Counter(),
        }
        for job in self.jobs:
            if job.refused:
                totals["states"]["refused at submit"] += 1
            for g in self.generations_of(job):
                totals["states"][g.state] += 1
                totals["ledger"][str(g.hold.status) if g.hold else "no hold"] += 1
            for number in sorted(self.job_breaks.get(job.number, ())):
                totals["breaks"][f"({number})"] += 1
        lines.append(("", "", "", "", ""))
        lines.append(
            (
                "all jobs",
                str(totals["jobs"]),
                show(totals["states"]),
                show(totals["ledger"]),
                show(totals["breaks"]),
            )
        )
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        out.append("-+-".join("-" * w for w in widths))
        out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
        return "\n".join(out)


DEFAULTS = {
    "deadline_seconds": 45.0,  # a job's deadline after submit
    "budget_seconds": 150.0,  # the drive loop stops here whatever is left
    "grace_seconds": 10.0,  # GENERATION_GRACE_MINUTES: settling past the deadline
    # The sweep's cadence on a loaded machine: with 1,000 jobs in flight on 2 cores a pass
    # over everything due takes seconds, so a job may be reached that much after its grace.
    "slack_seconds": 30.0,
    "worker_threads": 4,  # the harness's own workers for enqueued submits and checks
    "sweep_pause": 0.1,
    "max_concurrent": (6, 16),
}


def campaign_settings(deadline_seconds: float, grace_seconds: float) -> dict:
    return {
        "SANDBOX_QUEUE_SECONDS": 0.1,
        "SANDBOX_RUN_SECONDS": 0.5,
        "SANDBOX_RENDER_SCALE": 0.05,
        "SANDBOX_RENDER_FPS": 4,
        "SANDBOX_HANG_SECONDS": 3,
        "SANDBOX_CALLBACK_TIMEOUT": 3.0,
        "GENERATION_POLL_FIRST_SECONDS": 0.2,
        "GENERATION_POLL_MAX_SECONDS": 1.0,
        "GENERATION_CALLBACK_POLL_SECONDS": 2.0,
        # Small, so a crashed worker's row is taken over quickly; above the read timeout,
        # so a live worker inside a slow vendor call is not taken for dead.
        "GENERATION_LEASE_SECONDS": 2.0,
        "GENERATION_REQUEUE_SECONDS": 0.5,
        "GENERATION_DEADLINE_MINUTES": deadline_seconds / 60,
        "GENERATION_GRACE_MINUTES": grace_seconds / 60,
        "GENERATION_STEP_RETRY_SECONDS": 0.5,
        "VENDOR_COOLDOWN_SECONDS": 0.5,
        "VENDOR_ACCOUNT_PROBLEM_COOLDOWN_SECONDS": 3.0,
        "VENDOR_READ_TIMEOUT_SECONDS": 1.0,
        "CLIP_DOWNLOAD_SECONDS": 4,
    }


def run_campaign(
    jobs: int, seed: int, *, base_url, team, member, project, operator=None, **options
) -> CampaignResult:
    """Submit `jobs` jobs with faults drawn from FAULT_TABLE, drive them, check INVARIANTS.

    `base_url` is the live server that serves the app and its sandbox (the `sandbox`
    fixture). The team is granted enough credit for every job here.
    """
    options = {**DEFAULTS, **options}
    if operator is None:
        operator = UserFactory(username="campaign-operator", operator=True)
    campaign = Campaign(
        jobs, seed, base_url=base_url, team=team, member=member, project=project,
        operator=operator, options=options,
    )  # fmt: skip
    with ExitStack() as stack:
        stack.enter_context(
            override_settings(
                **campaign_settings(options["deadline_seconds"], options["grace_seconds"])
            )
        )
        for patch in campaign.patches():
            stack.enter_context(patch)
        ledger.grant(
            team, jobs * 2 * 3_000_000 + 50_000_000, by=operator, memo="Fault campaign budget",
            key=f"campaign-{seed}-{jobs}",
        )  # fmt: skip
        campaign.make_accounts()
        campaign.plan_jobs()
        campaign.submit_all()
        campaign.armed = True
        for pk in campaign.held_back:
            campaign.run_step(lifecycle.run_submit, pk, background=True)
        seconds = campaign.drive()
        breaks = campaign.check()
        table = campaign.table()
        stories = [
            f"{job.tag} [{', '.join(job.labels)}] g{g.pk} {g.state}:{campaign.story(g)}"
            for job in campaign.jobs
            for g in campaign.generations_of(job)
        ]
    missing = sorted(
        {name for fault in FAULT_TABLE for name in fault.needs if name not in campaign.known}
    )
    if missing:
        campaign.notes.append("markers not in the sandbox yet: " + ", ".join(missing))
    campaign.notes.append(
        "harness: " + ", ".join(f"{k} {v}" for k, v in sorted(campaign.counts.items()))
    )
    refused = [job for job in campaign.jobs if job.refused]
    if refused:
        campaign.notes.append(f"{len(refused)} job(s) refused at submit: {refused[0].refused}")
    return CampaignResult(
        seed=seed,
        jobs=campaign.jobs,
        breaks=breaks,
        table=table,
        seconds=seconds,
        notes=campaign.notes,
        counts=dict(campaign.counts),
        stories=stories,
    )
