"""The pages beside the API: the Team page's tokens and webhook."""

from django.urls import path

from generations.api import batch_views, views, webhook_views

urlpatterns = [
    path("team/api-tokens/", views.create_token, name="create_api_token"),
    path("team/api-tokens/<uuid:uuid>/revoke/", views.revoke_token, name="revoke_api_token"),
    path("batches/", batch_views.batch_list, name="batches"),
    path("batches/<uuid:uuid>/", batch_views.batch, name="batch"),
    path("batches/<uuid:uuid>/confirm/", batch_views.confirm_batch, name="confirm_batch"),
    path("batches/<uuid:uuid>/cancel/", batch_views.cancel_batch, name="cancel_batch"),
    path("batches/<uuid:uuid>/results.csv", batch_views.batch_results, name="batch_results"),
    path("team/webhook/", webhook_views.webhook, name="team_webhook"),
    path("team/webhook/remove/", webhook_views.remove_webhook, name="remove_webhook"),
    path(
        "team/webhook/deliveries/<uuid:uuid>/replay/",
        webhook_views.replay_delivery,
        name="replay_webhook_delivery",
    ),
]
