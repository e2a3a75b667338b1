from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"


class StudioAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the studio's site (billing.teams.auth.StudioAdminSite)."""

    default = False  # named in INSTALLED_APPS in place of "django.contrib.admin"
    default_site = "billing.teams.auth.StudioAdminSite"
