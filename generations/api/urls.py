from django.urls import path, re_path

from generations.api import views
from generations.api.api import api

urlpatterns = [
    path("reference/", views.reference, name="api_reference"),
    path("", api.urls),
    # Anything else under /api/v1/ is a JSON 404, never the site's HTML page.
    re_path(r"^.*$", views.not_found, name="api_not_found"),
]
