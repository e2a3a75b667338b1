from decimal import ROUND_CEILING, Decimal
from uuid import uuid4

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from billing.ledger.money import MICROS
from generations import journal
from generations.clip_counts import KeepsClipCount
from generations.operators import crypto
from generations.vendors import REGISTRY, VideoRequest, family_label, get_adapter, pricing
from seedance_site import written


class GenerationsAuditAction(models.TextChoices):
    """What generations writes to billing's audit log (registered in GenerationsConfig.ready).

    The values are stored in every entry: never change one.
    """

    VENDOR_ADDED = "vendor_added", "Vendor account added"
    VENDOR_CHANGED = "vendor_changed", "Vendor account changed"
    VENDOR_KEY_CHANGED = "vendor_key_changed", "Vendor key replaced"
    VENDOR_PRICES_CHANGED = "vendor_prices_changed", "Vendor prices changed"
    VENDOR_ENABLED = "vendor_enabled", "Vendor account enabled"
    VENDOR_DISABLED = "vendor_disabled", "Vendor account disabled"
    VENDOR_DELETED = "vendor_deleted", "Vendor account deleted"
    PROJECT_CAP_SET = "project_cap_set", "Project cap set"
    GENERATION_FAILED_BY_OPERATOR = "generation_failed_by_operator", "Job marked failed"
    GENERATION_ATTACHED = "generation_attached", "Vendor task attached to a job"
    GENERATION_FINISHED_BY_OPERATOR = "generation_marked_finished", "Job marked finished"


class VendorAccountQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(enabled=True).filter(
            Q(cooldown_until__isnull=True) | Q(cooldown_until__lte=now)
        )


class VendorAccount(models.Model):
    """One API key at one vendor, with its prices: what the router chooses from."""

    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    protocol = models.CharField(max_length=40)
    label = models.CharField(max_length=100)
    base_url = models.URLField(blank=True, help_text="Empty means the vendor's own API address.")
    api_key_encrypted = models.TextField(editable=False)
    api_key_last4 = models.CharField(max_length=4, editable=False)
    enabled = models.BooleanField(default=True)
    priority = models.PositiveIntegerField(
        default=100, help_text="Lower goes first when a team routes by priority."
    )
    max_concurrent = models.PositiveIntegerField(
        default=10, help_text="Jobs this account may have at the vendor at once."
    )
    credit_value = models.DecimalField(
        max_digits=16,
        decimal_places=8,
        help_text="US dollars one vendor credit is worth.",
    )
    price_rules = models.JSONField(help_text="Vendor credits per request, as rules.")
    # Model (or endpoint) id per family where an account picks its own (ModelArk).
    model_ids = models.JSONField(default=dict, blank=True)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    consecutive_errors = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    objects = VendorAccountQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "label"]

    def __str__(self):
        return f"{self.label} ({self.protocol})"

    # The key is write-only: set it, use it to call the vendor, show its last 4.
    def set_api_key(self, plaintext: str) -> None:
        self.api_key_encrypted = crypto.encrypt(plaintext)
        self.api_key_last4 = plaintext[-4:]

    @property
    def masked_key(self) -> str:
        return f"••••{self.api_key_last4}" if self.api_key_last4 else "not set"

    def adapter(self, client=None):
        key, base_url = crypto.decrypt(self.api_key_encrypted), self.base_url or None
        return get_adapter(self.protocol, key, base_url, client, self.model_ids)

    @property
    def adapter_class(self):
        return REGISTRY[self.protocol]

    def quote_credits(self, request) -> Decimal:
        return pricing.quote_credits(request, self.price_rules)

    def credits_to_micros(self, credits: Decimal) -> int:
        micros = Decimal(credits) * self.credit_value * MICROS
        return int(micros.to_integral_value(rounding=ROUND_CEILING))

    def in_flight(self) -> int:
        return self.generations.filter(state__in=Generation.AT_VENDOR).count()

    def note_error(self, message: str, cooldown_seconds: float | None = None) -> None:
        now = timezone.now()
        updates = {
            "consecutive_errors": models.F("consecutive_errors") + 1,
            "last_error": message[:1000],
            "last_error_at": now,
        }
        if cooldown_seconds:
            # A day at most, whatever a vendor asked for.
            seconds = min(float(cooldown_seconds), 86400.0)
            updates["cooldown_until"] = now + timezone.timedelta(seconds=seconds)
        VendorAccount.objects.filter(pk=self.pk).update(**updates)

    def note_success(self) -> None:
        if self.consecutive_errors:
            VendorAccount.objects.filter(pk=self.pk).update(consecutive_errors=0)

    @property
    def cooling_down(self) -> bool:
        return bool(self.cooldown_until and self.cooldown_until > timezone.now())


class RoutingPolicy(models.TextChoices):
    CHEAPEST = "cheapest", "Cheapest quote first"
    PRIORITY = "priority", "Operator's priority order"


class TeamRouting(models.Model):
    """How a team's jobs choose among vendor accounts; a team without a row routes by price."""

    team = models.OneToOneField("billing.Team", models.CASCADE, related_name="routing")
    policy = models.CharField(
        max_length=20, choices=RoutingPolicy.choices, default=RoutingPolicy.CHEAPEST
    )

    class Meta:
        verbose_name = "team routing"

    def __str__(self):
        return f"{self.team}: {self.get_policy_display()}"

    POLICY_OF_TEAM = "SELECT policy FROM generations_teamrouting WHERE team_id = %s"

    @classmethod
    def policy_for(cls, team) -> str:  # written out: on every quote, and the ORM is slower
        return written.one_value(cls.POLICY_OF_TEAM, [team.pk]) or RoutingPolicy.CHEAPEST

    @classmethod
    def set_policy(cls, team, policy: str) -> "TeamRouting":
        routing, _ = cls.objects.update_or_create(team=team, defaults={"policy": policy})
        return routing


class Project(KeepsClipCount, models.Model):
    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    team = models.ForeignKey("billing.Team", models.CASCADE, related_name="projects")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    spend_cap = models.BigIntegerField(
        null=True, blank=True, help_text="Micro-dollars this project may spend in all."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    # Finished clips, counted as each job succeeds (lifecycle.set_state), so that the
    # projects list and a project's page never count a long history row by row.
    clip_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def next_scene_number(self) -> int:
        last = self.scenes.aggregate(n=models.Max("number"))["n"]
        return (last or 0) + 1


class Scene(KeepsClipCount, models.Model):
    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, models.CASCADE, related_name="scenes")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    notes = models.TextField(blank=True)
    chosen_take = models.ForeignKey(
        "Generation", models.SET_NULL, null=True, blank=True, related_name="+"
    )
    clip_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["project", "number"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="scene_numbers_are_unique")
        ]

    def __str__(self):
        return f"{self.number}. {self.title}"

    @property
    def team_id(self):
        return self.project.team_id


class State(models.TextChoices):
    QUEUED = "queued", "Queued"
    SUBMITTING = "submitting", "Sending to vendor"
    RUNNING = "running", "Generating"
    FINALIZING = "finalizing", "Saving clip"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"


class GenerationQuerySet(models.QuerySet):
    def active(self):
        return self.exclude(state__in=Generation.FINISHED)


class Generation(models.Model):
    FINISHED = (State.SUCCEEDED, State.FAILED, State.CANCELLED, State.EXPIRED)
    AT_VENDOR = (State.SUBMITTING, State.RUNNING, State.FINALIZING)
    # State only moves forward along this order (NEEDS_ATTENTION sits beside it).
    ORDER = {
        State.QUEUED: 0,
        State.SUBMITTING: 1,
        State.NEEDS_ATTENTION: 2,
        State.RUNNING: 3,
        State.FINALIZING: 4,
        State.SUCCEEDED: 5,
        State.FAILED: 5,
        State.CANCELLED: 5,
        State.EXPIRED: 5,
    }

    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    team = models.ForeignKey("billing.Team", models.CASCADE, related_name="generations")
    project = models.ForeignKey(Project, models.PROTECT, related_name="generations")
    scene = models.ForeignKey(
        Scene, models.SET_NULL, null=True, blank=True, related_name="generations"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="generations"
    )
    batch = models.UUIDField(default=uuid4, help_text="Variants submitted together.")
    remix_of = models.ForeignKey(
        "self", models.SET_NULL, null=True, blank=True, related_name="remixes"
    )
    request = models.JSONField(help_text="The normalized request (VideoRequest.to_dict()).")
    family = models.CharField(max_length=40)
    prompt = models.TextField()  # PostgreSQL derives prompt_document from it: see 0007
    pinned_account = models.ForeignKey(
        VendorAccount, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    vendor_account = models.ForeignKey(
        VendorAccount, models.PROTECT, null=True, blank=True, related_name="generations"
    )
    vendor_task_id = models.CharField(max_length=500, blank=True)
    # Signed storage URLs run to kilobytes; the adapters refuse anything past MAX_URL_CHARS.
    output_url = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    error_kind = models.CharField(max_length=30, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)

    quote_micros = models.BigIntegerField(help_text="Expected cost at the first-choice vendor.")
    quote_credits = models.DecimalField(max_digits=14, decimal_places=4, null=True)
    hold = models.OneToOneField(
        "billing.Hold", models.PROTECT, null=True, blank=True, related_name="generation"
    )
    charge_micros = models.BigIntegerField(null=True, blank=True)
    charge_credits = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    price_micros = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="What the account that took the job asked for it when it took it: "
        "the charge when the vendor reports none we can believe.",
    )

    callback_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    next_check_at = models.DateTimeField(
        null=True, blank=True, help_text="When a worker should next submit, poll or resume it."
    )
    poll_count = models.PositiveIntegerField(default=0)
    submit_attempts = models.PositiveIntegerField(default=0)
    # Consecutive not-found answers: one passing 404 must not fail a live job.
    not_found_checks = models.PositiveSmallIntegerField(default=0)
    # Consecutive attempts of the current step that ended in an unexpected error; past
    # GENERATION_STEP_ATTEMPTS the job is quarantined in NEEDS_ATTENTION.
    step_failures = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)

    created = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)
    vendor_done_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [
            # poll_due_generations: active rows whose next check is due.
            models.Index(
                fields=["next_check_at"],
                name="generation_due_for_check",
                condition=~Q(state__in=["succeeded", "failed", "cancelled", "expired"]),
            ),
            # The gallery and jobs pages: a team's generations, newest first.
            models.Index(fields=["team", "-created", "-id"], name="generation_team_recent"),
            # Each of the gallery's filters reads its own index newest first, so a filter
            # that matches a few clips in a long history does not walk the history; the
            # project and scene ones also serve a project's page (its scenes' newest takes).
            models.Index(fields=["project", "-created", "-id"], name="generation_project_recent"),
            models.Index(fields=["scene", "-created", "-id"], name="generation_scene_recent"),
            models.Index(
                fields=["team", "family", "-created", "-id"], name="generation_family_recent"
            ),
            models.Index(
                fields=["vendor_account", "-created", "-id"], name="generation_account_recent"
            ),
            models.Index(fields=["created_by", "-created", "-id"], name="generation_member_recent"),
            # Jobs still in flight are few whatever the history: the jobs page's "In flight",
            # the operators' Needs attention count and each vendor's jobs at work.
            models.Index(
                fields=["team", "-created", "-id"],
                name="generation_team_active",
                condition=~Q(state__in=["succeeded", "failed", "cancelled", "expired"]),
            ),
            models.Index(
                fields=["state", "vendor_account"],
                name="generation_active_state",
                condition=~Q(state__in=["succeeded", "failed", "cancelled", "expired"]),
            ),
            # PostgreSQL: a GIN index over the generated prompt_document (migration 0007).
        ]
        constraints = [
            # One vendor task is one job: never two jobs following (and paying for) it.
            models.UniqueConstraint(
                fields=["vendor_account", "vendor_task_id"],
                condition=~Q(vendor_task_id=""),
                name="one_job_per_vendor_task",
            )
        ]

    def __str__(self):
        return f"{self.prompt[:40]} ({self.get_state_display()})"

    @property
    def video_request(self):
        return VideoRequest.from_dict(self.request)

    @property
    def finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def family_label(self) -> str:
        return family_label(self.family)

    def log(self, kind: str, message: str, **data) -> "GenerationEvent":
        event = GenerationEvent(generation=self, kind=kind, message=message, data=data)
        journal.append(event)
        if kind in GenerationEvent.ERROR_KINDS and self.vendor_account_id:
            # The vendors page names an account's last trouble from here once the
            # event is older than the day it reads (it never searches all history).
            VendorAccount.objects.filter(pk=self.vendor_account_id).update(
                last_error=message[:1000], last_error_at=event.created
            )
        return event


class Clip(models.Model):
    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    generation = models.OneToOneField(Generation, models.CASCADE, related_name="clip")
    file = models.FileField(upload_to="clips/", max_length=300)
    poster = models.FileField(upload_to="posters/", max_length=300)
    duration = models.FloatField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    fps = models.FloatField()
    codec = models.CharField(max_length=40)
    has_audio = models.BooleanField()
    bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Clip of {self.generation_id}"


class Favourite(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    generation = models.ForeignKey(Generation, models.CASCADE, related_name="favourites")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "generation"], name="one_favourite_each")
        ]

    def __str__(self):
        return f"{self.user_id} likes {self.generation_id}"


class GenerationEvent(models.Model):
    """The append-only story of a generation."""

    # Events that tell of a vendor account's trouble with a job it had.
    ERROR_KINDS = ("check_failed", "failed", "needs_attention", "download_failed", "expired")

    generation = models.ForeignKey(Generation, models.CASCADE, related_name="events")
    created = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40)
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created", "id"]
        indexes = [
            # The vendors page: errors of each kind in the last 24 hours.
            models.Index(fields=["kind", "-created"], name="event_kind_recent"),
        ]

    def __str__(self):
        return f"{self.kind}: {self.message[:60]}"


class WorkerLease(models.Model):
    """A named lease so that one sweeper runs at a time across every machine."""

    name = models.CharField(max_length=60, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    until = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.name} held by {self.holder or 'nobody'} until {self.until}"
