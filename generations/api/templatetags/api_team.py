"""The Team page's API sections, rendered by the API app so billing's view stays its own."""

from django import template

from generations.api.forms import TokenForm
from generations.api.models import ApiToken
from generations.api.views import NEW_TOKEN_SESSION_KEY

register = template.Library()


@register.inclusion_tag("api/team_tokens.html", takes_context=True)
def api_tokens_section(context):
    request = context["request"]
    tokens = ApiToken.objects.live().filter(team=request.team).select_related("created_by")
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "tokens": tokens,
        "token_form": TokenForm(),
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
    }
