from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("generations.api.urls")),
    path("billing/", include("billing.money.urls")),
    path("", include("billing.urls")),
    path("", include("generations.urls")),
    path("", include("generations.assets.urls")),
    path("", include("generations.api.page_urls")),
]

if settings.SANDBOX_ENABLED:
    urlpatterns.append(path("sandbox/", include("generations.sandbox.urls")))
