from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class BillingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "billing"

    def ready(self):
        # Models are loaded only now, so these imports cannot run at module level.
        from billing import audit
        from billing.models import AuditAction

        audit.register_actions(AuditAction)


class StudioAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the studio's site (billing.teams.auth.StudioAdminSite)."""

    default = False  # named in INSTALLED_APPS in place of "django.contrib.admin"
    default_site = "billing.teams.auth.StudioAdminSite"
