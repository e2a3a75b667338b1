"""The limits a spend must fit: the team's balance, the member's monthly cap, the project's cap."""

from billing.ledger.errors import Refused
from billing.ledger.money import dollars
from billing.ledger.reports import balances
from billing.ledger.usage import membership_with_usage, project_usage
from billing.models import Role


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


def check_limits(team, member, project, amount, available, month=None) -> None:
    """Raise `Refused` naming the first limit `amount` passes: team, role, member, project.

    `hold` places a hold with guarded updates and comes here only when one of them
    stops, to say why, passing the `month` its guard counted in (the current one
    by default), so the two agree across midnight at a month's end; quotes come
    here through `refusal`.
    """
    if amount > available:
        raise Refused(
            f"This needs {dollars(amount)}; the team has {dollars(available)} available.",
            limit="team",
            needed=amount,
            left=available,
        )
    if member is not None:
        # One query: the membership with what already counts against its cap.
        row = membership_with_usage(team.pk, member.pk, month)
        if row is None:
            raise Refused(f"Only members of {team.name} can spend its credits.", limit="role")
        role, cap, used = row
        if role == Role.VIEWER:
            raise Refused("Viewers cannot spend the team's credits.", limit="role")
        if cap is not None:
            left = max(cap - used, 0)
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
