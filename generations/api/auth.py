"""Bearer tokens: which team a request acts for, and with what role.

A token acts as its creator, in its own team, with the lower of its scope's role and
the role its creator holds there now: demoting the creator narrows their tokens, and a
creator who left the team leaves their tokens with nothing to act as.
"""

from ninja.security import HttpBearer

from billing.models import ROLE_RANK, Membership, Role
from generations.api.models import SCOPE_ROLE, ApiToken


def effective_role(scope_role: str, member_role: str) -> str:
    return min(Role(scope_role), Role(member_role), key=lambda r: ROLE_RANK[r])


def authenticate(request, secret: str) -> ApiToken | None:
    """Attach the token's team, creator and membership to `request`; None when it is no good."""
    token = ApiToken.for_secret(secret or "")
    if token is None:
        return None
    membership = (
        Membership.objects.select_related("team", "user")
        .filter(team=token.team, user=token.created_by)
        .first()
    )
    if membership is None or not membership.user.is_active:
        return None
    # A copy that is never saved: the views' role checks read it as they read a session's.
    membership.role = effective_role(SCOPE_ROLE[token.scope], membership.role)
    request.user = membership.user
    request.membership = membership
    request.team = membership.team
    request.api_token = token
    token.note_use()
    return token


class TokenAuth(HttpBearer):
    openapi_scheme = "bearer"

    def authenticate(self, request, token):
        return authenticate(request, token)
