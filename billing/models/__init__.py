"""Billing's models, one module per concern; everything is importable from `billing.models`."""

from billing.models.audit import AuditAction, AuditEntry
from billing.models.ledger import (
    SPEND_KINDS,
    TEAM_ACCOUNT_KINDS,
    Account,
    AccountKind,
    DailySpend,
    Hold,
    HoldStatus,
    MemberUsage,
    ProjectUsage,
    Transfer,
    TransferKind,
)
from billing.models.teams import (
    INVITATION_LIFETIME,
    ROLE_RANK,
    Invitation,
    InvitationQuerySet,
    Membership,
    Role,
    Team,
)

__all__ = [
    "INVITATION_LIFETIME",
    "ROLE_RANK",
    "SPEND_KINDS",
    "TEAM_ACCOUNT_KINDS",
    "Account",
    "AccountKind",
    "DailySpend",
    "AuditAction",
    "AuditEntry",
    "Hold",
    "HoldStatus",
    "Invitation",
    "InvitationQuerySet",
    "MemberUsage",
    "Membership",
    "ProjectUsage",
    "Role",
    "Team",
    "Transfer",
    "TransferKind",
]
