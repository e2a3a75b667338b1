"""The versioned JSON API: one NinjaAPI, its routers, its errors."""

from ninja import NinjaAPI

from generations.api import errors
from generations.api.auth import TokenAuth
from generations.api.endpoints import account, batches, catalog
from generations.api.endpoints import generations as generation_endpoints

api = NinjaAPI(
    title="Seedance Studio API",
    version="1",
    urls_namespace="api-1",
    auth=TokenAuth(),
    docs_url=None,  # the reference page is ours: server-rendered, no script under the CSP
    description=(
        "Generate video clips from prompts with your team's credits. Authenticate with a "
        "team API token: `Authorization: Bearer <token>`. Every error is JSON with a "
        "`code`, a `message` a person understands, and the `field` it is about. Amounts "
        "are integers in micro-dollars ($1 = 1,000,000)."
    ),
)
errors.install(api)
api.add_router("", catalog.router)
api.add_router("", generation_endpoints.router)
api.add_router("", account.router)
api.add_router("", batches.router)
