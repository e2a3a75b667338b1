from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


class GenerationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "generations"

    def ready(self):
        from billing import audit
        from generations.models import GenerationsAuditAction

        audit.register_actions(GenerationsAuditAction)
        # Connects the cluster start-up signal, so a restarted cluster sweeps at once.
        from generations import tasks  # noqa: F401
        from generations.metrics import GenerationsCollector
        from seedance_site import metrics

        metrics.register(GenerationsCollector())
        post_migrate.connect(_ensure_schedules, sender=self)
        post_delete.connect(_uncount_clip, sender="generations.Generation")
        from generations.journal import log_event

        post_save.connect(log_event, sender="generations.GenerationEvent")

    def ledger_problems(self) -> list[str]:
        """What `manage.py reconcile_ledger` finds wrong between jobs and their holds."""
        from generations.reconcile import job_problems

        return job_problems()


def _ensure_schedules(**kwargs):
    from generations.tasks import ensure_schedules

    ensure_schedules()


def _uncount_clip(instance, **kwargs):
    # An operator deleting a finished job in the admin: its clip no longer counts.
    if instance.state == "succeeded":
        from generations import clip_counts

        clip_counts.uncount_clip(instance)
