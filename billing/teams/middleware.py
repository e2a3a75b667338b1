from django.utils.functional import SimpleLazyObject

from billing.teams.access import current_membership


class CurrentTeamMiddleware:
    """Attach `request.membership` (and `request.team`) for the team the user works in now.

    The choice lives in the session; it falls back to the user's first team.
    Both are lazy so that static files and anonymous pages cost no query.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = SimpleLazyObject(lambda: current_membership(request))
        request.team = SimpleLazyObject(
            lambda: request.membership.team if request.membership else None
        )
        return self.get_response(request)
