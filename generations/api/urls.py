from django.urls import path, re_path

from generations.api import views
from generations.api.api import api

# Not named app_name: include() would read that as this module's own namespace.
operations, ninja_app, ninja_namespace = api.urls
for pattern in operations:
    pattern.callback = views.json_not_allowed(pattern.callback)

urlpatterns = [
    path("reference/", views.reference, name="api_reference"),
    path("", (operations, ninja_app, ninja_namespace)),
    # Anything else under /api/v1/ is a JSON 404, never the site's HTML page.
    re_path(r"^.*$", views.not_found, name="api_not_found"),
]
