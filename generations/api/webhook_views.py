"""The team's webhook page: its endpoint and secret, and the delivery log with replay."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from billing import audit
from billing.models import Role
from billing.teams.access import role_required
from generations.api import tasks, webhooks
from generations.api.forms import WebhookForm
from generations.api.models import ApiAuditAction, WebhookDelivery, WebhookEndpoint
from seedance_site import keyset

NEW_SECRET_SESSION_KEY = "new_webhook_secret"  # noqa: S105 (a session key name)
PAGE_SIZE = 30


# no-store: it shows a new signing secret once, and Back must not show it again.
@never_cache
@role_required(Role.ADMIN)
def webhook(request):
    endpoint = WebhookEndpoint.objects.filter(team=request.team).first()
    form = WebhookForm(request.POST or None, initial={"url": endpoint.url if endpoint else ""})
    if request.method == "POST" and form.is_valid():
        refusal = webhooks.endpoint_refusal(form.cleaned_data["url"])
        if refusal:
            form.add_error("url", refusal)
        else:
            _save_endpoint(request, endpoint, form.cleaned_data["url"])
            return redirect("team_webhook")
    rows = WebhookDelivery.objects.filter(team=request.team).prefetch_related("attempt_log")
    page = keyset.page(rows, PAGE_SIZE, keyset.decode(request.GET.get("cursor", "")))
    context = {
        "form": form,
        "endpoint": endpoint,
        "new_secret": request.session.pop(NEW_SECRET_SESSION_KEY, None),
        "deliveries": page.rows,
        "next_url": page.next_url(reverse("team_webhook")),
    }
    return render(request, "api/webhook.html", context)


def _save_endpoint(request, endpoint, url) -> None:
    """Set the URL; a new endpoint, or a rotation asked for, gets a new secret shown once."""
    rotate = endpoint is None or request.POST.get("rotate") == "1"
    endpoint = endpoint or WebhookEndpoint(team=request.team)
    before = {"url": endpoint.url or None, "secret": audit.masked(endpoint.secret_last4)}
    endpoint.url = url
    if rotate:
        secret = WebhookEndpoint.new_secret()
        endpoint.set_secret(secret)
        request.session[NEW_SECRET_SESSION_KEY] = secret
    with transaction.atomic():
        endpoint.save()
        after = {"url": url, "secret": audit.masked(endpoint.secret_last4)}
        audit.record(
            request.user,
            ApiAuditAction.WEBHOOK_SET,
            team=request.team,
            target="Webhook endpoint",
            changes=audit.diff(before, after),
        )
    messages.success(request, "The webhook endpoint is saved.")


@role_required(Role.ADMIN)
@require_POST
def remove_webhook(request):
    endpoint = get_object_or_404(WebhookEndpoint, team=request.team)
    with transaction.atomic():
        endpoint.delete()
        audit.record(
            request.user,
            ApiAuditAction.WEBHOOK_REMOVED,
            team=request.team,
            target="Webhook endpoint",
            changes={"url": [endpoint.url, None]},
        )
    messages.info(request, "Events are no longer sent.")
    return redirect("team_webhook")


@role_required(Role.ADMIN)
@require_POST
def replay_delivery(request, uuid):
    delivery = get_object_or_404(WebhookDelivery, team=request.team, uuid=uuid)
    webhooks.replay(delivery)
    transaction.on_commit(lambda: tasks.enqueue_replay(delivery.pk))
    messages.info(request, f"{delivery.get_event_display()}: sent again.")
    return redirect("team_webhook")
