"""The audit log.

Who changed what, and when: credit grants, caps, roles and invitations here, and
whatever other apps register (generations: vendor accounts, project caps, jobs). Entries are written by billing.audit.record and never edited; a
secret (a vendor API key) appears only as its last four characters.
"""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from billing.models.teams import Team

# Every app's audit actions, value -> label, filled by billing.audit.register_actions()
# from each AppConfig.ready(): billing knows its own actions and no other app's.
ACTION_LABELS: dict[str, str] = {}


def action_choices() -> list[tuple[str, str]]:
    """AuditEntry.action's choices, read when used, so any app can add its own."""
    return list(ACTION_LABELS.items())


class AuditAction(models.TextChoices):
    """Billing's own actions: money, caps, roles and invitations."""

    CREDITS_GRANTED = "credits_granted", "Credits granted"
    BALANCE_ADJUSTED = "balance_adjusted", "Balance adjusted"
    MEMBER_CAP_SET = "member_cap_set", "Member cap set"
    THRESHOLD_SET = "threshold_set", "Low-balance warning set"
    ROLE_CHANGED = "role_changed", "Role changed"
    MEMBER_REMOVED = "member_removed", "Member removed"
    MEMBER_LEFT = "member_left", "Member left"
    INVITATION_CREATED = "invitation_created", "Invitation created"
    INVITATION_REVOKED = "invitation_revoked", "Invitation withdrawn"
    INVITATION_ACCEPTED = "invitation_accepted", "Invitation accepted"


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
    # Stored as the action's value; the label comes from whichever app registered it.
    action = models.CharField(max_length=30, choices=action_choices)
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
