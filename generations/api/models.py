"""Team API tokens, idempotent submits, and outgoing webhooks with their delivery log."""

import base64
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone

from billing.models import Membership, Role
from generations.operators import crypto
from seedance_site.tokens import hash_token

TOKEN_PREFIX = "sds_"  # noqa: S105 (a label, not a secret)
# A token's last use is written at most this often: every request writing it would
# serialise a busy script's calls on one row.
LAST_USED_EVERY_SECONDS = 60


class ApiAuditAction(models.TextChoices):
    """What the API app writes to billing's audit log. Values are stored: never change one."""

    TOKEN_CREATED = "api_token_created", "API token created"
    TOKEN_REVOKED = "api_token_revoked", "API token revoked"
    WEBHOOK_SET = "webhook_set", "Webhook endpoint set"
    WEBHOOK_REMOVED = "webhook_removed", "Webhook endpoint removed"


class Scope(models.TextChoices):
    READ = "read", "Read only"
    GENERATE = "generate", "Generate"


# The most a scope lets a token do, as a team role; the creator's own role caps it too.
SCOPE_ROLE = {Scope.READ: Role.VIEWER, Scope.GENERATE: Role.MEMBER}


class ApiTokenQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("billing.Team", models.CASCADE, related_name="api_tokens")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=80)
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.READ)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so a person can tell their tokens apart; never enough to use.
    prefix = models.CharField(max_length=12, editable=False)
    created = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, team, user, name: str, scope: str) -> tuple["ApiToken", str]:
        """A new token and its secret, which is shown once and kept only as a hash."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            team=team,
            created_by=user,
            name=name,
            scope=scope,
            token_hash=hash_token(secret),
            prefix=secret[:10],
        )
        return token, secret

    @classmethod
    def for_secret(cls, secret: str) -> "ApiToken | None":
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        return (
            cls.objects.live()
            .select_related("team", "created_by")
            .filter(token_hash=hash_token(secret))
            .first()
        )

    def note_use(self) -> None:
        now = timezone.now()
        stale = now - timezone.timedelta(seconds=LAST_USED_EVERY_SECONDS)
        if self.last_used_at is None or self.last_used_at < stale:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


@receiver(post_delete, sender=Membership)
def revoke_tokens_of_a_departed_member(sender, instance, **kwargs):
    """A member who leaves or is removed loses their tokens for that team for good: an
    inert token would come back to life, perhaps in other hands, if they were invited
    back."""
    ApiToken.objects.live().filter(team_id=instance.team_id, created_by_id=instance.user_id).update(
        revoked_at=timezone.now()
    )


class IdempotentSubmit(models.Model):
    """The first answer to a submit sent with an Idempotency-Key, to give a retry."""

    team = models.ForeignKey("billing.Team", models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    body_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "key"], name="one_submit_per_idempotency_key")
        ]

    def __str__(self):
        return f"{self.key} ({self.status})"


class Event(models.TextChoices):
    SUCCEEDED = "generation.succeeded", "A clip is ready"
    FAILED = "generation.failed", "A job failed"
    CANCELLED = "generation.cancelled", "A job was cancelled"
    NEEDS_ATTENTION = "generation.needs_attention", "A job needs an operator"
    BATCH_FINISHED = "batch.finished", "Every job of a batch run ended"
    BALANCE_LOW = "balance.low", "The balance fell below the warning"


class WebhookEndpoint(models.Model):
    """Where a team's own systems are told what happened; one per team."""

    team = models.OneToOneField("billing.Team", models.CASCADE, related_name="webhook")
    url = models.URLField(max_length=500)
    # Kept encrypted (as vendor keys are): signing needs the secret itself.
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.team}: {self.url}"

    @staticmethod
    def new_secret() -> str:
        """A secret as Standard Webhooks writes it: whsec_ and base64 of random bytes."""
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret)
        self.secret_last4 = secret[-4:]

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SUCCEEDED = "succeeded", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one endpoint, tried until it is taken or a day has passed."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("billing.Team", models.CASCADE, related_name="webhook_deliveries")
    url = models.URLField(max_length=500)
    event = models.CharField(max_length=40, choices=Event.choices)
    # The webhook-id header: the same on every retry, so a receiver can drop duplicates.
    message_id = models.CharField(max_length=100)
    payload = models.JSONField()
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # deliver_due_webhooks: pending deliveries whose next attempt is due.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(state="pending"),
            ),
            # The team's delivery log, newest first.
            models.Index(fields=["team", "-created", "-id"], name="webhook_delivery_recent"),
        ]
        constraints = [
            # One event is one message: a second announcement of it (two variants ending
            # at once both finding their batch finished) adds nothing.
            models.UniqueConstraint(fields=["team", "message_id"], name="one_delivery_per_message")
        ]

    def __str__(self):
        return f"{self.event} → {self.url} ({self.state})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, models.CASCADE, related_name="attempt_log")
    created = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    milliseconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self):
        return f"{self.status_code or self.error}"


class BatchState(models.TextChoices):
    PREVIEW = "preview", "Checked, waiting for confirmation"
    SUBMITTED = "submitted", "Submitted"


class Batch(models.Model):
    """A CSV of shots: checked row by row, then submitted all at once or not at all."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey("billing.Team", models.CASCADE, related_name="batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    name = models.CharField(max_length=200)
    state = models.CharField(max_length=10, choices=BatchState.choices, default=BatchState.PREVIEW)
    # Each row as read and checked: {"number", "fields", "data", "errors", "hold", "expected"}.
    rows = models.JSONField(default=list)
    created = models.DateTimeField(default=timezone.now)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["team", "-created", "-id"], name="batch_team_recent")]

    def __str__(self):
        return self.name

    @property
    def valid(self) -> bool:
        return bool(self.rows) and not any(row["errors"] for row in self.rows)


class BatchItem(models.Model):
    """One job a batch row made (a row with variants makes several)."""

    batch = models.ForeignKey(Batch, models.CASCADE, related_name="items")
    row = models.PositiveIntegerField()
    generation = models.OneToOneField(
        "generations.Generation", models.CASCADE, related_name="batch_item"
    )

    class Meta:
        ordering = ["row", "id"]

    def __str__(self):
        return f"{self.batch} row {self.row}"
