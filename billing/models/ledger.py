"""The ledger.

Double-entry and immutable: money only moves by a Transfer that debits one
account and credits another, so the sum of all balances is always zero. Each
account caches its balance; billing.ledger changes it in the same
transaction that writes the transfer, and `manage.py reconcile_ledger` proves
the cache equals the transfers. Amounts are integers in micro-dollars.
Corrections are new transfers, never edits.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from billing.models.teams import Team


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


class MemberUsage(models.Model):
    """What counts against a member's monthly cap, kept up as the ledger moves money.

    `pending` is the sum of the member's pending holds in the team; `spent` is what
    they were charged in `month` (the first day of a UTC calendar month; spend in an
    earlier month no longer counts). The hold, capture or release that changes them
    updates this row in its own transaction, under the team's lock, so a cap check
    reads one row instead of summing the member's history on every hold;
    `reconcile_ledger` proves the row against the holds and transfers.
    """

    # The unique constraint below leads with the team, so the team needs no index of its own.
    team = models.ForeignKey(Team, models.PROTECT, related_name="+", db_index=False)
    # Gone with the user, as their holds and transfers forget them (SET_NULL).
    member = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="+")
    pending = models.BigIntegerField(default=0)
    month = models.DateField()
    spent = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "member"], name="one_usage_per_member"),
            models.CheckConstraint(
                condition=models.Q(pending__gte=0, spent__gte=0),
                name="member_usage_not_negative",
            ),
        ]

    def __str__(self):
        return (
            f"{self.member_id} in {self.team_id}: {self.pending} µ$ pending, {self.spent} µ$ spent"
        )


class ProjectUsage(models.Model):
    """What counts against a project's cap: its pending holds and all it has spent.

    Kept up like MemberUsage, for every project a hold names (capped or not), so the
    cap check and the project page read one row.
    """

    team = models.ForeignKey(Team, models.PROTECT, related_name="+", db_index=False)
    project_uuid = models.UUIDField()
    # As its first hold named it: the Billing page's project filter lists these rows.
    project_name = models.CharField(max_length=200, blank=True, default="")
    pending = models.BigIntegerField(default=0)
    spent = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "project_uuid"], name="one_usage_per_project"),
            models.CheckConstraint(
                condition=models.Q(pending__gte=0, spent__gte=0),
                name="project_usage_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.project_uuid}: {self.pending} µ$ pending, {self.spent} µ$ spent"


class DailySpend(models.Model):
    """A team's spend on one UTC day by one member, on one project, at one vendor.

    Every capture and overage adds its amount here in its own transaction
    (ledger.spend.record), so the Billing page's chart, its breakdowns and the month's
    spend read at most a row per day and combination, never the month's transfers.
    Two captures racing to start a day's row may both insert one: readers sum the rows.
    `reconcile_ledger` proves the rows against the transfers.
    """

    team = models.ForeignKey(Team, models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+"
    )
    project_uuid = models.UUIDField(null=True, blank=True)
    project_name = models.CharField(max_length=200, blank=True, default="")
    vendor = models.CharField(max_length=100, blank=True, default="")
    vendor_label = models.CharField(max_length=200, blank=True, default="")
    amount = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["team", "day"], name="daily_spend_team_day")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gte=0), name="daily_spend_not_negative"
            )
        ]

    def __str__(self):
        return f"{self.day}: {self.amount} µ$"
