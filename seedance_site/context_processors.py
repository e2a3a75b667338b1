from django.conf import settings


def site(request):
    membership = getattr(request, "membership", None)
    return {
        "membership": membership,
        "current_team": membership.team if membership else None,
        "sandbox_enabled": settings.SANDBOX_ENABLED,
    }
