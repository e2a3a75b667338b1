"""Small pieces every app's views use: access decorators, safe `next` redirects, htmx replies.

Nothing here knows about teams or money: an app builds its own decorators on
`login_then()` (billing.teams.access.team_required, role_required).
"""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import trigger_client_event


def login_then(check):
    """A view decorator: log in, then `check(request)`.

    `check` raises (PermissionDenied, Http404) or returns a response to send instead
    of the view's (a redirect); None lets the view run.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            refusal = check(request)
            if refusal is not None:
                return refusal
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _demand_staff(request):
    if not request.user.is_staff:
        raise PermissionDenied("This page is for operators.")


# Django staff only; anyone else gets 403 (operators need not belong to a team).
operator_required = login_then(_demand_staff)


def safe_next(request, target: str, default: str) -> str:
    """`target` when it is an address on this site, else `default` (for redirect())."""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def back_to(request, default: str) -> str:
    """Where to go after a plain form post: the `next` it carries when that is ours."""
    return safe_next(request, request.POST.get("next") or request.GET.get("next"), default)


def money_moved(response, message=None, level="success"):
    """Tell the page the balance changed (the badge refreshes itself), with a toast if asked."""
    trigger_client_event(response, "balanceChanged")
    if message:
        trigger_client_event(response, "toast", {"message": message, "level": level})
    return response
