from django.apps import AppConfig


class AssetsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generations.assets"
    label = "assets"
    verbose_name = "Assets"
