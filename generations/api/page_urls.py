"""The pages beside the API: the Team page's tokens and webhook."""

from django.urls import path

from generations.api import views

urlpatterns = [
    path("team/api-tokens/", views.create_token, name="create_api_token"),
    path("team/api-tokens/<uuid:uuid>/revoke/", views.revoke_token, name="revoke_api_token"),
]
