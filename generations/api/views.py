"""The API's pages: its reference, and the Team page's tokens (create, revoke)."""

import functools

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from billing import audit
from billing.models import Role
from billing.teams.access import role_required
from generations.api.api import api
from generations.api.errors import error_body, respond
from generations.api.forms import TokenForm
from generations.api.models import ApiAuditAction, ApiToken

NEW_TOKEN_SESSION_KEY = "new_api_token"  # noqa: S105 (a session key name)


def not_found(request, *args, **kwargs):
    body = error_body("not_found", "There is no such address in this API; see /api/v1/reference/.")
    return JsonResponse(body, status=404)


def json_not_allowed(view):
    """django-ninja answers a method an address does not take with a text/html 405; the
    API's errors are JSON, that one too."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if not isinstance(response, HttpResponseNotAllowed):
            return response
        allowed = response["Allow"]
        answer = respond(
            405, "method_not_allowed", f"This address takes {allowed}, not {request.method}."
        )
        answer["Allow"] = allowed
        return answer

    return wrapper


@require_GET
def reference(request):
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    operations = [
        {"path": path, "method": method.upper(), **operation}
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    return render(
        request,
        "api/reference.html",
        {"schema": schema, "operations": operations, "components": schema["components"]},
    )


@role_required(Role.ADMIN)
@require_POST
def create_token(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Name the token and choose its scope.")
        return redirect("team")
    with transaction.atomic():
        token, secret = ApiToken.issue(
            request.team, request.user, form.cleaned_data["name"], form.cleaned_data["scope"]
        )
        audit.record(
            request.user,
            ApiAuditAction.TOKEN_CREATED,
            team=request.team,
            target=f"API token {token.name}",
            changes={"scope": [None, token.get_scope_display()]},
        )
    # Shown once, on the next page: only its hash is kept.
    request.session[NEW_TOKEN_SESSION_KEY] = secret
    return redirect("team")


@role_required(Role.ADMIN)
@require_POST
def revoke_token(request, uuid):
    token = get_object_or_404(ApiToken.objects.live(), team=request.team, uuid=uuid)
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
        audit.record(
            request.user,
            ApiAuditAction.TOKEN_REVOKED,
            team=request.team,
            target=f"API token {token.name}",
            changes={"status": ["live", "revoked"]},
        )
    messages.info(request, f"The token {token.name} no longer works.")
    return redirect("team")
