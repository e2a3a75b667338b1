from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generations.api"
    label = "api"
    verbose_name = "API and webhooks"

    def ready(self):
        from billing import audit
        from generations.api.models import ApiAuditAction

        audit.register_actions(ApiAuditAction)
        # Connects the job-state receiver that queues outgoing webhooks.
        from generations.api import tasks

        post_migrate.connect(lambda **kwargs: tasks.ensure_schedule(), sender=self, weak=False)
