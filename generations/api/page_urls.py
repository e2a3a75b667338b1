"""The pages beside the API: the Team page's tokens and webhook."""

from django.urls import path

from generations.api import views, webhook_views

urlpatterns = [
    path("team/api-tokens/", views.create_token, name="create_api_token"),
    path("team/api-tokens/<uuid:uuid>/revoke/", views.revoke_token, name="revoke_api_token"),
    path("team/webhook/", webhook_views.webhook, name="team_webhook"),
    path("team/webhook/remove/", webhook_views.remove_webhook, name="remove_webhook"),
    path(
        "team/webhook/deliveries/<uuid:uuid>/replay/",
        webhook_views.replay_delivery,
        name="replay_webhook_delivery",
    ),
]
