"""Signing in, and reading the signed-in user with their teams."""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from billing.models import Membership, Team
from seedance_site import written


def teams_of(user_id):
    """The user's memberships, their teams and the user, in one query, by team name."""
    found = written.instances(_teams_sql(), [user_id], Membership, Team, get_user_model())
    for membership, team, user in found:
        membership.team = team
        membership.user = user
    return [membership for membership, _, _ in found]


@cache
def _teams_sql() -> str:
    # Written once: on every signed-in request, the ORM took longer to build this join
    # than the database took to answer it.
    user = get_user_model()
    # Names from the models' own metadata; the user's id goes as a parameter.
    selected = ", ".join(
        written.columns(model, alias)
        for model, alias in ((Membership, "m"), (Team, "t"), (user, "u"))
    )
    return (
        f"SELECT {selected} "  # noqa: S608
        f"FROM {written.table(Membership)} AS m "
        f"JOIN {written.table(Team)} AS t ON t.id = m.team_id "
        f"JOIN {written.table(user)} AS u ON u.id = m.user_id "
        "WHERE m.user_id = %s ORDER BY t.name, m.id"
    )


class MembershipsBackend(ModelBackend):
    """Django's ModelBackend, but a request's user comes with their memberships.

    Every team page needs both: the user the session names, and their teams (the page
    head lists them to switch between; the current one scopes everything). Read as one
    join they cost one round trip instead of two. A user with no team is read alone.
    billing.teams.access.current_membership takes the memberships from the user."""

    def get_user(self, user_id):
        memberships = teams_of(user_id)
        if not memberships:
            user = super().get_user(user_id)
            if user is not None:
                user.team_memberships = []  # known to be none: not asked again
            return user
        user = memberships[0].user
        for membership in memberships:
            membership.user = user
        user.team_memberships = memberships
        return user if self.user_can_authenticate(user) else None
