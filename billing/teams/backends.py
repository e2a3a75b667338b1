"""Signing in, and reading the signed-in user with their teams."""

from django.contrib.auth.backends import ModelBackend

from billing.models import Membership


def teams_of(user_id):
    """The user's memberships, their teams and the user, in one query, by team name."""
    return list(
        Membership.objects.select_related("user", "team")
        .filter(user_id=user_id)
        .order_by("team__name")
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
