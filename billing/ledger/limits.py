"""The limits a spend must fit: the team's balance, the member's monthly cap, the project's cap."""

from django.db.models import BigIntegerField, Subquery, Sum
from django.db.models.functions import Coalesce

from billing.ledger.errors import Refused
from billing.ledger.money import dollars, month_start
from billing.ledger.reports import balances
from billing.models import SPEND_KINDS, Hold, HoldStatus, Membership, Role, Team, Transfer


def refusal(team, member, project, amount, available=None) -> Refused | None:
    """Why a hold of `amount` would be refused now, or None.

    For quotes: the same checks and words as `hold`, with nothing locked or moved.
    """
    if available is None:
        available = balances(team).available
    try:
        check_limits(team, member, project, amount, available)
    except Refused as refused:
        return refused
    return None


def check_limits(team, member, project, amount, available) -> None:
    if amount > available:
        raise Refused(
            f"This needs {dollars(amount)}; the team has {dollars(available)} available.",
            limit="team",
            needed=amount,
            left=available,
        )
    if member is not None:
        # One query: the membership with what already counts against its cap.
        row = (
            Membership.objects.filter(team=team, user=member)
            .order_by()
            .annotate(**_member_usage(team, member))
            .values_list("role", "monthly_cap", "spent", "pending")
            .first()
        )
        if row is None:
            raise Refused(f"Only members of {team.name} can spend its credits.", limit="role")
        role, cap, spent, pending = row
        if role == Role.VIEWER:
            raise Refused("Viewers cannot spend the team's credits.", limit="role")
        if cap is not None:
            left = max(cap - spent - pending, 0)
            if amount > left:
                raise Refused(
                    f"This needs {dollars(amount)}; your monthly cap leaves "
                    f"{dollars(left)} of {dollars(cap)}.",
                    limit="member",
                    needed=amount,
                    left=left,
                )
    cap = getattr(project, "spend_cap", None) if project is not None else None
    if cap is not None:
        left = max(cap - project_usage(team, project.uuid), 0)
        if amount > left:
            raise Refused(
                f"This needs {dollars(amount)}; the project “{project.name}” has "
                f"{dollars(left)} left of its {dollars(cap)} cap.",
                limit="project",
                needed=amount,
                left=left,
            )


def _total(query) -> Coalesce:
    """SUM(amount) of one team's rows as a scalar subquery, 0 when there are none."""
    sums = query.order_by().values("team").annotate(total=Sum("amount")).values("total")
    return Coalesce(Subquery(sums), 0, output_field=BigIntegerField())


def _member_usage(team, user) -> dict:
    return {
        "spent": _total(
            Transfer.objects.filter(
                team=team, member=user, kind__in=SPEND_KINDS, created__gte=month_start()
            )
        ),
        "pending": _total(Hold.objects.filter(team=team, member=user, status=HoldStatus.PENDING)),
    }


def _project_usage(team, project_uuid) -> dict:
    return {
        "spent": _total(
            Transfer.objects.filter(team=team, project_uuid=project_uuid, kind__in=SPEND_KINDS)
        ),
        "pending": _total(
            Hold.objects.filter(team=team, project_uuid=project_uuid, status=HoldStatus.PENDING)
        ),
    }


def _usage(team, expressions) -> int:
    row = (
        Team.objects.filter(pk=team.pk)
        .order_by()
        .annotate(**expressions)
        .values_list("spent", "pending")
        .first()
    )
    return sum(row) if row else 0


def member_usage_this_month(team, user) -> int:
    """What counts against the member's monthly cap: spent this month plus pending holds."""
    return _usage(team, _member_usage(team, user))


def project_usage(team, project_uuid) -> int:
    """What counts against a project's cap: all it has spent plus its pending holds."""
    return _usage(team, _project_usage(team, project_uuid))


def members_usage_this_month(team) -> dict[int, int]:
    """member_usage_this_month for every member at once: {user_id: micro-dollars}."""
    usage: dict[int, int] = {}
    spent = (
        Transfer.objects.filter(team=team, kind__in=SPEND_KINDS, created__gte=month_start())
        .exclude(member=None)
        .values_list("member")
        .annotate(total=Sum("amount"))
    )
    pending = (
        Hold.objects.filter(team=team, status=HoldStatus.PENDING)
        .exclude(member=None)
        .values_list("member")
        .annotate(total=Sum("amount"))
    )
    for user_id, total in [*spent, *pending]:
        usage[user_id] = usage.get(user_id, 0) + total
    return usage
