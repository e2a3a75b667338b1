"""Projects' and scenes' finished-clip counters.

A job that succeeds adds one to its project and its scene in the transaction that
marks it done (lifecycle.steps.set_state); `recount` sets them from the generations
themselves: the backfill of migration 0005, and a repair for rows written around the
lifecycle (bulk loads). It takes the model classes so that a migration can pass its own.
"""

from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

SUCCEEDED = "succeeded"


def _count_of(generations, field):
    counted = (
        generations.objects.filter(**{field: OuterRef("pk")}, state=SUCCEEDED)
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), Value(0))


def recount(project_model, scene_model, generation_model, projects=None) -> None:
    project_rows = project_model.objects.all()
    scene_rows = scene_model.objects.all()
    if projects is not None:
        project_rows = project_rows.filter(pk__in=[p.pk for p in projects])
        scene_rows = scene_rows.filter(project__in=[p.pk for p in projects])
    project_rows.update(clip_count=_count_of(generation_model, "project"))
    scene_rows.update(clip_count=_count_of(generation_model, "scene"))


def uncount_clip(generation) -> None:
    """A finished clip's job was deleted (an operator, in the admin): one less."""
    from generations.models import Project, Scene

    less = {"clip_count": Greatest(F("clip_count") - 1, Value(0))}
    Project.objects.filter(pk=generation.project_id).update(**less)
    if generation.scene_id is not None:
        Scene.objects.filter(pk=generation.scene_id).update(**less)


class KeepsClipCount:
    """For Project and Scene: saving a whole row (a form, the admin) leaves clip_count alone.

    The counter moves only by UPDATE … + 1 as a job succeeds; writing back the number a
    page read would lose every clip that finished in between."""

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "clip_count"
            ]
        return super().save(*args, **kwargs)


def count_clip(generation) -> None:
    """One more finished clip for the generation's project and scene (inside its transaction)."""
    from generations.models import Project, Scene

    Project.objects.filter(pk=generation.project_id).update(clip_count=F("clip_count") + 1)
    if generation.scene_id is not None:
        Scene.objects.filter(pk=generation.scene_id).update(clip_count=F("clip_count") + 1)
