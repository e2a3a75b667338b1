from django.conf import settings


def site(request):
    membership = getattr(request, "membership", None)
    return {
        "membership": membership,
        "current_team": membership.team if membership else None,
        # Filled in by billing.teams.access.current_membership when it found the team.
        "my_memberships": getattr(request, "memberships", []) if membership else [],
        "sandbox_enabled": settings.SANDBOX_ENABLED,
    }
