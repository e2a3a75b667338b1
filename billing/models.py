import hashlib
import json
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

INVITATION_LIFETIME = timedelta(days=7)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Each role can do everything the roles after it can.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class RoutingPolicy(models.TextChoices):
    CHEAPEST = "cheapest", "Cheapest quote first"
    PRIORITY = "priority", "Operator's priority order"


class Team(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    routing_policy = models.CharField(
        max_length=20, choices=RoutingPolicy.choices, default=RoutingPolicy.CHEAPEST
    )
    low_balance_threshold = models.BigIntegerField(
        default=5_000_000, help_text="Micro-dollars; below this the team sees a warning."
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def owners(self):
        return self.memberships.filter(role=Role.OWNER)


class Membership(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    monthly_cap = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Micro-dollars this member may spend per calendar month; empty means no cap.",
    )
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team"),
        ]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]

    @property
    def can_generate(self) -> bool:
        return self.has_role(Role.MEMBER)

    @property
    def can_manage(self) -> bool:
        return self.has_role(Role.ADMIN)

    def is_last_owner(self) -> bool:
        return self.role == Role.OWNER and self.team.owners().count() == 1

    def change_role(self, role: str) -> None:
        """Set a new role, refusing to leave the team without an owner."""
        with transaction.atomic():
            # Lock the team's owner rows so two admins demoting the two last
            # owners at once cannot both succeed.
            owners = list(
                Membership.objects.select_for_update()
                .filter(team_id=self.team_id, role=Role.OWNER)
                .values_list("pk", flat=True)
            )
            if self.role == Role.OWNER and role != Role.OWNER and owners == [self.pk]:
                raise ValidationError(
                    "This is the team's last owner. Make someone else an owner first."
                )
            self.role = role
            self.save(update_fields=["role"])

    def leave(self) -> None:
        with transaction.atomic():
            owners = list(
                Membership.objects.select_for_update()
                .filter(team_id=self.team_id, role=Role.OWNER)
                .values_list("pk", flat=True)
            )
            if self.role == Role.OWNER and owners == [self.pk]:
                raise ValidationError(
                    "You are the team's last owner. Make someone else an owner before you leave."
                )
            self.delete()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires__gt=timezone.now()
        )


class Invitation(models.Model):
    """A single-use link that adds whoever opens it to a team with a chosen role.

    Only a hash of the token is stored: the link itself is shown once, to the
    person who created it.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    note = models.CharField(max_length=200, blank=True, help_text="Who the link is for.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return f"Invitation to {self.team} as {self.role}"

    @classmethod
    def create(cls, team, role, invited_by, note="") -> tuple["Invitation", str]:
        token = secrets.token_urlsafe(32)
        invitation = cls.objects.create(
            team=team,
            role=role,
            note=note,
            invited_by=invited_by,
            token_hash=hash_token(token),
            expires=timezone.now() + INVITATION_LIFETIME,
        )
        return invitation, token

    @classmethod
    def for_token(cls, token: str) -> "Invitation | None":
        return cls.objects.select_related("team").filter(token_hash=hash_token(token)).first()

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires <= timezone.now():
            return "expired"
        return "pending"

    def problem_for(self, user) -> str | None:
        """Why this user cannot accept the invitation now, or None."""
        status = self.status
        if status == "accepted":
            return "This invitation has already been used. Ask for a new link."
        if status == "revoked":
            return "This invitation was withdrawn. Ask for a new link."
        if status == "expired":
            return "This invitation has expired. Ask for a new link."
        if user.is_authenticated and self.team.memberships.filter(user=user).exists():
            return f"You are already a member of {self.team.name}."
        return None

    def accept(self, user) -> Membership:
        with transaction.atomic():
            # Claim the invitation with a conditional update so two people
            # opening the same link at once cannot both join.
            claimed = (
                Invitation.objects.pending()
                .filter(pk=self.pk)
                .update(accepted_at=timezone.now(), accepted_by=user)
            )
            problem = self.problem_for(user)
            if not claimed:
                self.refresh_from_db()
                raise ValidationError(self.problem_for(user) or "This invitation can't be used.")
            if problem:
                raise ValidationError(problem)
            return Membership.objects.create(team=self.team, user=user, role=self.role)


# --- The ledger ---
#
# Double-entry and immutable: money only moves by a Transfer that debits one
# account and credits another, so the sum of all balances is always zero. Each
# account caches its balance; billing/ledger.py changes it in the same
# transaction that writes the transfer, and `manage.py reconcile_ledger` proves
# the cache equals the transfers. Amounts are integers in micro-dollars.
# Corrections are new transfers, never edits.


class AccountKind(models.TextChoices):
    AVAILABLE = "available", "Available"
    HOLDS = "holds", "On hold"
    GRANTS = "grants", "Operator grants"
    ADJUSTMENTS = "adjustments", "Adjustments"
    VENDOR_SPEND = "vendor_spend", "Vendor spend"


TEAM_ACCOUNT_KINDS = (AccountKind.AVAILABLE, AccountKind.HOLDS)


class Account(models.Model):
    """A balance: one AVAILABLE and one HOLDS per team, and system accounts.

    GRANTS is where operators' credits come from, so it goes negative; ADJUSTMENTS
    is the source and sink of corrections. VENDOR_SPEND is keyed by an opaque
    vendor key the caller passes at capture: billing knows nothing of vendors.
    """

    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    team = models.ForeignKey(
        Team, models.PROTECT, null=True, blank=True, related_name="ledger_accounts"
    )
    vendor = models.CharField(max_length=100, blank=True, default="")
    vendor_label = models.CharField(max_length=200, blank=True, default="")
    may_go_negative = models.BooleanField(default=False)
    balance = models.BigIntegerField(default=0)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # The last guard: ledger.py checks the balance first, under a row lock.
            models.CheckConstraint(
                condition=models.Q(may_go_negative=True) | models.Q(balance__gte=0),
                name="account_balance_not_below_zero",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind__in=TEAM_ACCOUNT_KINDS, team__isnull=False, vendor="")
                    | models.Q(
                        kind__in=[AccountKind.GRANTS, AccountKind.ADJUSTMENTS],
                        team__isnull=True,
                        vendor="",
                    )
                    | (
                        models.Q(kind=AccountKind.VENDOR_SPEND, team__isnull=True)
                        & ~models.Q(vendor="")
                    )
                ),
                name="account_kind_matches_owner",
            ),
            models.CheckConstraint(
                condition=models.Q(may_go_negative=False)
                | models.Q(kind__in=[AccountKind.GRANTS, AccountKind.ADJUSTMENTS]),
                name="only_system_sources_go_negative",
            ),
            models.UniqueConstraint(
                fields=["team", "kind"],
                condition=models.Q(team__isnull=False),
                name="one_account_per_team_and_kind",
            ),
            models.UniqueConstraint(
                fields=["kind", "vendor"],
                condition=models.Q(team__isnull=True),
                name="one_system_account_per_kind_and_vendor",
            ),
        ]

    def __str__(self):
        if self.team_id:
            return f"{self.team} · {self.get_kind_display()}"
        if self.kind == AccountKind.VENDOR_SPEND:
            return f"Vendor spend · {self.vendor_label or self.vendor}"
        return self.get_kind_display()


class TransferKind(models.TextChoices):
    GRANT = "grant", "Credit grant"
    ADJUSTMENT = "adjustment", "Adjustment"
    HOLD = "hold", "Hold"
    CAPTURE = "capture", "Spend"
    OVERAGE = "overage", "Spend beyond hold"
    RETURN = "return", "Hold returned"


# Transfers that credit a VENDOR_SPEND account: what "spent" means everywhere.
SPEND_KINDS = (TransferKind.CAPTURE, TransferKind.OVERAGE)


class Transfer(models.Model):
    """Money moving from `debit` (its balance goes down) to `credit` (goes up).

    Immutable once written. The team, member, project and vendor are copied in
    so that a statement is one indexed query and survives renames.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    debit = models.ForeignKey(Account, models.PROTECT, related_name="debits")
    credit = models.ForeignKey(Account, models.PROTECT, related_name="credits")
    amount = models.BigIntegerField()
    kind = models.CharField(max_length=20, choices=TransferKind.choices)
    memo = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(Team, models.PROTECT, related_name="transfers")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    project_uuid = models.UUIDField(null=True, blank=True)
    project_name = models.CharField(max_length=200, blank=True, default="")
    vendor = models.CharField(max_length=100, blank=True, default="")
    vendor_label = models.CharField(max_length=200, blank=True, default="")
    reference = models.CharField(max_length=200, blank=True, default="")
    hold = models.ForeignKey(
        "Hold", models.PROTECT, null=True, blank=True, related_name="transfers"
    )
    # Only grants and adjustments carry a key; a hold's key lives on the Hold.
    idempotency_key = models.CharField(max_length=200, blank=True, default="")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="transfer_amount_positive"
            ),
            models.CheckConstraint(
                condition=~models.Q(debit=models.F("credit")), name="transfer_between_two_accounts"
            ),
            models.UniqueConstraint(
                fields=["team", "kind", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="one_transfer_per_team_kind_and_key",
            ),
        ]
        indexes = [
            # The statement: a team's transfers, newest first, keyset-paginated.
            models.Index(fields=["team", "-created", "-id"], name="transfer_statement"),
            # A member's spend this month, for the monthly cap.
            models.Index(
                fields=["team", "member", "created"],
                condition=models.Q(kind__in=SPEND_KINDS),
                name="transfer_member_spend",
            ),
            # A project's lifetime spend, for the project cap.
            models.Index(
                fields=["team", "project_uuid"],
                condition=models.Q(kind__in=SPEND_KINDS),
                name="transfer_project_spend",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.amount} µ$ ({self.debit_id} → {self.credit_id})"

    def save(self, *args, **kwargs):
        if self.pk and not self._state.adding:
            raise ValueError("Transfers are immutable; record a correction instead.")
        super().save(*args, **kwargs)


class HoldStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CAPTURED = "captured", "Captured"
    RELEASED = "released", "Released"


class Hold(models.Model):
    """Money set aside for a job: a pending transfer later captured or released.

    The status moves away from PENDING exactly once, by a conditional update
    under a row lock (ledger.capture / ledger.release).
    """

    Status = HoldStatus

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.PROTECT, related_name="holds")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    project_uuid = models.UUIDField(null=True, blank=True)
    project_name = models.CharField(max_length=200, blank=True, default="")
    amount = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=HoldStatus.choices, default=HoldStatus.PENDING)
    captured_amount = models.BigIntegerField(null=True, blank=True)
    # What the vendor charged beyond the hold that the team's balance could not cover.
    shortfall = models.BigIntegerField(default=0)
    memo = models.CharField(max_length=500, blank=True, default="")
    reference = models.CharField(max_length=200, blank=True, default="")
    idempotency_key = models.CharField(max_length=200)
    created = models.DateTimeField(default=timezone.now)
    resolved = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        status=HoldStatus.PENDING,
                        resolved__isnull=True,
                        captured_amount__isnull=True,
                    )
                    | models.Q(
                        status=HoldStatus.RELEASED,
                        resolved__isnull=False,
                        captured_amount__isnull=True,
                    )
                    | models.Q(
                        status=HoldStatus.CAPTURED, resolved__isnull=False, captured_amount__gte=0
                    )
                ),
                name="hold_status_matches_resolution",
            ),
            models.CheckConstraint(
                condition=models.Q(shortfall__gte=0), name="hold_shortfall_not_negative"
            ),
            models.UniqueConstraint(
                fields=["team", "idempotency_key"], name="one_hold_per_team_and_key"
            ),
        ]
        indexes = [
            # Pending holds of a member and of a project count against their caps.
            models.Index(
                fields=["team", "member"],
                condition=models.Q(status=HoldStatus.PENDING),
                name="hold_pending_by_member",
            ),
            models.Index(
                fields=["team", "project_uuid"],
                condition=models.Q(status=HoldStatus.PENDING),
                name="hold_pending_by_project",
            ),
        ]

    def __str__(self):
        return f"Hold {self.uuid} ({self.status}, {self.amount} µ$)"

    @property
    def is_pending(self) -> bool:
        return self.status == HoldStatus.PENDING


# --- The audit log ---
#
# Who changed what, and when: vendor accounts, credit grants, caps, roles and
# invitations. Entries are written by billing.audit.record and never edited; a
# secret (a vendor API key) appears only as its last four characters.


class AuditAction(models.TextChoices):
    VENDOR_ADDED = "vendor_added", "Vendor account added"
    VENDOR_CHANGED = "vendor_changed", "Vendor account changed"
    VENDOR_KEY_CHANGED = "vendor_key_changed", "Vendor key replaced"
    VENDOR_PRICES_CHANGED = "vendor_prices_changed", "Vendor prices changed"
    VENDOR_ENABLED = "vendor_enabled", "Vendor account enabled"
    VENDOR_DISABLED = "vendor_disabled", "Vendor account disabled"
    VENDOR_DELETED = "vendor_deleted", "Vendor account deleted"
    CREDITS_GRANTED = "credits_granted", "Credits granted"
    BALANCE_ADJUSTED = "balance_adjusted", "Balance adjusted"
    MEMBER_CAP_SET = "member_cap_set", "Member cap set"
    PROJECT_CAP_SET = "project_cap_set", "Project cap set"
    THRESHOLD_SET = "threshold_set", "Low-balance warning set"
    ROLE_CHANGED = "role_changed", "Role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    MEMBER_LEFT = "member_left", "Member left"
    INVITATION_CREATED = "invitation_created", "Invitation created"
    INVITATION_REVOKED = "invitation_revoked", "Invitation withdrawn"
    INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted"
    GENERATION_FAILED_BY_OPERATOR = "generation_failed_by_operator", "Job marked failed"
    GENERATION_ATTACHED = "generation_attached", "Vendor task attached to a job"
    GENERATION_FINISHED_BY_OPERATOR = "generation_marked_finished", "Job marked finished"


class AuditEntry(models.Model):
    """One change someone made, as {field: [old, new]}; immutable once written."""

    # A team's entries outlive neither the team nor its ledger: teams are never deleted.
    team = models.ForeignKey(
        Team, models.PROTECT, null=True, blank=True, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Copied, so the log still says who after the user is deleted or renamed.
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=30, choices=AuditAction.choices)
    target = models.CharField(max_length=300, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            # The team's audit page: its entries, newest first, keyset-paginated.
            models.Index(fields=["team", "-created", "-id"], name="audit_team_recent"),
            # The operators' audit page: every entry, newest first.
            models.Index(fields=["-created", "-id"], name="audit_recent"),
        ]

    def __str__(self):
        return f"{self.actor_name or 'system'}: {self.get_action_display()} {self.target}".strip()

    def save(self, *args, **kwargs):
        if self.pk and not self._state.adding:
            raise ValueError("Audit entries are immutable.")
        super().save(*args, **kwargs)

    def change_lines(self) -> list[tuple[str, str, str]]:
        """(field, old, new) as the audit pages write them."""
        return [
            (name.replace("_", " "), _audit_text(old), _audit_text(new))
            for name, (old, new) in self.changes.items()
        ]


def _audit_text(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)
