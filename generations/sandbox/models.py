"""What the sandbox remembers: the keys that carry faults, and every task it accepted.

A task's state is never stored: it is read off its timestamps (queued until
`starts_at`, running until `ends_at`, then its planned `outcome`), so a restarted
process answers exactly as the old one would have.
"""

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from . import faults as fault_rules
from .rendering import rendered_size

KEY_PREFIX = "sk-sandbox-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def sandbox_root() -> Path:
    return Path(settings.SANDBOX_ROOT or Path(settings.MEDIA_ROOT) / "sandbox")


def media_root() -> Path:
    """Where the images tasks were given are kept (see media.py)."""
    return sandbox_root() / "media"


class SandboxKey(models.Model):
    key_prefix = models.CharField(
        max_length=200,
        unique=True,
        help_text="Applies to every sandbox API key that starts with this text, e.g. "
        "'sk-sandbox-flaky-'. When several match, the longest wins.",
    )
    label = models.CharField(max_length=100, blank=True)
    faults = models.JSONField(
        default=dict,
        blank=True,
        help_text="Faults for every task of these keys, in the prompt markers' words: "
        '{"latency": 1.5, "429": 5, "fail_after": 2, "dup_callback": true}.',
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key_prefix"]

    def __str__(self):
        return self.label or self.key_prefix

    def clean(self):
        if not self.key_prefix.startswith(KEY_PREFIX):
            raise ValidationError({"key_prefix": f"Sandbox keys start with {KEY_PREFIX!r}."})
        try:
            self.faults = fault_rules.clean_faults(self.faults)
        except ValueError as exc:
            raise ValidationError({"faults": str(exc)}) from None

    @classmethod
    def faults_for(cls, key: str) -> dict:
        matches = [row for row in cls.objects.all() if key.startswith(row.key_prefix)]
        if not matches:
            return {}
        best = max(matches, key=lambda row: len(row.key_prefix))
        try:
            return fault_rules.clean_faults(best.faults)
        except ValueError:
            return {}


class State(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = {State.SUCCEEDED, State.FAILED, State.CANCELLED}


@dataclass(frozen=True)
class Snapshot:
    """A task as of one instant; each protocol turns it into the vendor's words."""

    state: str
    progress: int
    finished_at: datetime | None = None

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL


class SandboxTask(models.Model):
    protocol = models.CharField(max_length=20)
    task_id = models.CharField(max_length=64)
    key_hash = models.CharField(max_length=64)
    request = models.JSONField(help_text="The create body exactly as it was sent.")

    # The request as the vendor understood it, defaults applied.
    model = models.CharField(max_length=64)
    prompt = models.TextField()
    duration = models.FloatField()
    aspect_ratio = models.CharField(max_length=10)
    resolution = models.CharField(max_length=10)
    audio = models.BooleanField(default=False)
    callback_url = models.CharField(max_length=2048, blank=True)
    charge = models.IntegerField(null=True, blank=True, help_text="Vendor credits.")
    faults = models.JSONField(default=dict, blank=True)
    media = models.JSONField(
        default=dict,
        blank=True,
        help_text="The request's media URLs by role (first_frame, last_frame, "
        "reference_images, videos, audios), downloaded when the task starts.",
    )

    # The timeline, fixed at creation.
    created = models.DateTimeField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    outcome = models.CharField(
        max_length=10, choices=[(State.SUCCEEDED, "succeeded"), (State.FAILED, "failed")]
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)

    output_token = models.CharField(max_length=40, unique=True)
    query_count = models.PositiveIntegerField(default=0)
    callback_sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Finished, output ready, callback sent: nothing left to do.",
    )

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "task_id"], name="sandbox_task_id_unique_per_protocol"
            )
        ]
        indexes = [
            # Serves sandbox_tick(): the tasks that still have something to do.
            models.Index(
                fields=["created"],
                condition=Q(settled_at__isnull=True),
                name="sandbox_task_unsettled",
            )
        ]

    def __str__(self):
        return f"{self.protocol} {self.task_id}"

    @staticmethod
    def new_output_token() -> str:
        return secrets.token_urlsafe(18)

    @property
    def output_path(self) -> Path:
        return sandbox_root() / f"{self.output_token}.mp4"

    @property
    def public_id(self) -> str:
        """The id the vendor hands out: its own, or one stretched by [[fault:long_task_id]]."""
        size = fault_rules.length(self.faults, "long_task_id")
        return self.task_id if size is None else fault_rules.long_task_id(self.task_id, size)

    @property
    def media_failure_path(self) -> Path:
        """Written when the task's media could not be downloaded: {code, message}."""
        return sandbox_root() / f"{self.output_token}.media-failed.json"

    def media_failure(self) -> tuple[str, str] | None:
        """(code, message) of a download that failed, or None."""
        try:
            failure = json.loads(self.media_failure_path.read_text())
            return str(failure["code"]), str(failure["message"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @property
    def needs_render(self) -> bool:
        return self.outcome == State.SUCCEEDED and not any(
            name in self.faults
            for name in ("output_404", "output_html", "no_output", "never_finishes")
        )

    @property
    def clip_size(self) -> tuple[int, int]:
        """The clip's pixel size: the vendor's, scaled, unless [[fault:video_size]] says."""
        return fault_rules.video_size(self.faults) or rendered_size(
            self.resolution, self.aspect_ratio
        )

    def reported_charge(self, billed: bool = True) -> int | float | None:
        """The charge an answer reports: the task's, 0 for one not billed, or [[fault:charge]]'s."""
        if "charge" in self.faults:
            return fault_rules.charge(self.faults)
        return self.charge if billed else 0

    def error_words(self, code: str, message: str) -> tuple[str, str]:
        """A failure's code and message (the media's, when they could not be had),
        stretched by [[fault:long_error:N]] to N and 10×N."""
        failure = self.media_failure() if self.media else None
        if failure is not None:
            code, message = failure
        size = fault_rules.length(self.faults, "long_error")
        if size is None:
            return code, message
        return fault_rules.stretch(code, size, "_"), fault_rules.stretch(message, 10 * size)

    def output_ready(self) -> bool:
        return not self.needs_render or self.output_path.exists()

    def snapshot(self, at: datetime | None = None) -> Snapshot:
        at = at or timezone.now()
        if self.cancelled_at:
            return Snapshot(State.CANCELLED, 0, self.cancelled_at)
        if at < self.starts_at:
            return Snapshot(State.QUEUED, 0)
        if self.media and self.media_failure_path.exists():
            # A vendor fails a task whose media it cannot download as the task starts.
            return Snapshot(State.FAILED, 0, self.starts_at)
        if at < self.ends_at or "never_finishes" in self.faults:
            span = (self.ends_at - self.starts_at).total_seconds()
            done = (at - self.starts_at).total_seconds() / span if span else 1
            return Snapshot(State.RUNNING, min(99, max(1, int(done * 100))))
        if self.outcome == State.FAILED:
            return Snapshot(State.FAILED, 0, self.ends_at)
        # Done on the clock but the clip is not on disk yet: still running, as a
        # vendor would be until its upload finished.
        if not self.output_ready():
            return Snapshot(State.RUNNING, 99)
        return Snapshot(State.SUCCEEDED, 100, self.ends_at)

    def callback_due_at(self, snapshot: Snapshot) -> datetime | None:
        """When the end-of-task callback should go out, or None if there is none to send."""
        if not self.callback_url or not snapshot.terminal or "lost" in self.faults:
            return None
        delay = fault_rules.arg(self.faults, "late_callback") or 0
        return snapshot.finished_at + timedelta(seconds=delay)

    def count_query(self) -> int:
        """Count this query and return its number (1 for the first)."""
        SandboxTask.objects.filter(pk=self.pk).update(query_count=F("query_count") + 1)
        self.refresh_from_db(fields=["query_count"])
        return self.query_count

    @property
    def seconds(self) -> int | float:
        """The duration as the vendors print it: 5, not 5.0."""
        return int(self.duration) if float(self.duration).is_integer() else self.duration
