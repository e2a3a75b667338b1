"""Small pieces every app's views use: access decorators, safe `next` redirects, htmx replies.

Nothing here knows about teams or money: an app builds its own decorators on
`login_then()` (billing.teams.access.team_required, role_required).
"""

from functools import lru_cache, wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.urls import get_script_prefix, reverse
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


# One of a row's addresses, for pages that list many rows: `{% url %}` runs Django's
# resolver for each (a page of 24 clip cards made 150 of them); the address of one uuid
# is the address of another with the uuid swapped, so each name is reversed once.
_PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


@lru_cache(maxsize=256)
def _uuid_path_pattern(name: str, prefix: str) -> str:
    return reverse(name, args=[_PLACEHOLDER])


def uuid_path(name: str, value) -> str:
    """reverse(name, args=[value]) for a URL whose one argument is a uuid."""
    return _uuid_path_pattern(name, get_script_prefix()).replace(_PLACEHOLDER, str(value))
