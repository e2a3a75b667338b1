from django.urls import path

from generations.assets import views

urlpatterns = [
    path("projects/<uuid:uuid>/assets/", views.library, name="asset_library"),
    path("assets/<uuid:uuid>/file", views.asset_file, name="asset_file"),
    path("assets/<uuid:uuid>/thumbnail.jpg", views.asset_thumbnail, name="asset_thumbnail"),
    path("assets/<uuid:uuid>/delete/", views.delete_asset, name="asset_delete"),
    # Vendors fetch inputs here: the token is the only key (no session, no listing).
    path("inputs/<str:token>", views.signed, name="asset_signed"),
    path("clips/<uuid:uuid>/to-asset/", views.clip_to_asset, name="clip_to_asset"),
    path("clips/<uuid:uuid>/continue/", views.continue_clip, name="continue_clip"),
]
