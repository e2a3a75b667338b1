"""The audit log.

Who changed what, and when: vendor accounts, credit grants, caps, roles and
invitations. Entries are written by billing.audit.record and never edited; a
secret (a vendor API key) appears only as its last four characters.
"""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from billing.models.teams import Team


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
