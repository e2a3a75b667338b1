"""Teams, their members and roles, and the invitations that add people to them."""

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from seedance_site.tokens import hash_token

INVITATION_LIFETIME = timedelta(days=7)


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Each role can do everything the roles after it can.
ROLE_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Team(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
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
