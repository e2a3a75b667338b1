"""Small answers the studio views share: where to go back to, and "money moved"."""

from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import trigger_client_event


def next_url(request, default):
    """Where to go back to after a plain form post: `next` when it is ours."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def money_moved(response, message=None, level="success"):
    """Tell the page the balance changed (the badge refreshes itself), with a toast."""
    trigger_client_event(response, "balanceChanged")
    if message:
        trigger_client_event(response, "toast", {"message": message, "level": level})
    return response
