from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing import audit
from billing.models import Membership, Role
from generations.api.models import ApiAuditAction, ApiToken, Scope


class Command(BaseCommand):
    help = "Create a team API token for automation and print it (it is shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("--team", required=True, help="The team's name.")
        parser.add_argument("--user", required=True, help="The username the token acts as.")
        parser.add_argument("--name", default="automation", help="A label for the token.")
        parser.add_argument("--read-only", action="store_true", help="A read-only token.")

    def handle(self, *args, team, user, name, read_only, **options):
        membership = (
            Membership.objects.select_related("team", "user")
            .filter(team__name=team, user__username=user)
            .first()
        )
        if membership is None:
            raise CommandError(f"{user} is not a member of a team named {team!r}.")
        if not membership.has_role(Role.ADMIN):
            raise CommandError(f"Only owners and admins make tokens; {user} is {membership.role}.")
        scope = Scope.READ if read_only else Scope.GENERATE
        with transaction.atomic():
            token, secret = ApiToken.issue(membership.team, membership.user, name, scope)
            audit.record(
                membership.user,
                ApiAuditAction.TOKEN_CREATED,
                team=membership.team,
                target=f"API token {token.name}",
                changes={"scope": [None, token.get_scope_display()]},
            )
        self.stdout.write(secret)
