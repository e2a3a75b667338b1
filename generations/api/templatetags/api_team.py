"""The Team page's API sections, rendered by the API app so billing's view stays its own."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django import template
from django.db import connection

from generations.api.forms import TokenForm
from generations.api.models import Scope
from generations.api.views import NEW_TOKEN_SESSION_KEY
from seedance_site import fragments
from seedance_site.web import uuid_path
from seedance_site.written import stored_time, stored_uuid

register = template.Library()

SCOPE_LABELS = dict(Scope.choices)

# ApiToken.objects.live() of the team, newest first, as written: the ORM's compile of it
# cost the Team page more than running it.
LIVE_TOKENS = """
SELECT t.uuid, t.name, t.prefix, t.scope, u.username, t.last_used_at
FROM api_apitoken t INNER JOIN auth_user u ON u.id = t.created_by_id
WHERE t.team_id = %s AND t.revoked_at IS NULL
ORDER BY t.created DESC
"""


@dataclass(frozen=True)
class TokenRow:
    uuid: UUID
    name: str
    prefix: str
    scope_label: str
    made_by: str
    last_used_at: datetime | None
    revoke_url: str


@register.inclusion_tag("api/team_tokens.html", takes_context=True)
def api_tokens_section(context):
    request = context["request"]
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "tokens": token_rows(request.team),
        # The form's fields are kept as markup under the digest of the choices they offer;
        # the template calls the class (makes the form) only when they are not kept yet.
        "token_form": TokenForm,
        "token_fields": fragments.digest(Scope.choices),
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
    }


def token_rows(team) -> list[TokenRow]:
    """The team's live tokens, newest first: only the values the section shows."""
    with connection.cursor() as cursor:
        cursor.execute(LIVE_TOKENS, [team.pk])
        rows = cursor.fetchall()
    tokens = []
    for stored, name, prefix, scope, made_by, last_used_at in rows:
        uuid = stored_uuid(stored)
        tokens.append(
            TokenRow(
                uuid=uuid,
                name=name,
                prefix=prefix,
                scope_label=SCOPE_LABELS.get(scope, scope),
                made_by=made_by,
                last_used_at=stored_time(last_used_at),
                revoke_url=uuid_path("revoke_api_token", uuid),
            )
        )
    return tokens
