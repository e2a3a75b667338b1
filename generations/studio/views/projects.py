"""Projects and scenes: the list, one project's scenes and takes, its spending cap."""

from functools import partial

from django.contrib import messages
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_POST

from billing import audit, ledger
from billing.models import Role
from billing.teams.access import demand_role, role_required, team_required
from generations import access
from generations.models import Generation, GenerationsAuditAction, Project, Scene, State
from generations.studio import services, takes
from generations.studio.forms import ProjectCapForm, ProjectForm, SceneForm
from generations.studio.takes import SCENE_TAKES  # noqa: F401 (how many takes a scene shows)
from seedance_site import fragments


@team_required
def projects(request):
    form = ProjectForm()
    if request.method == "POST":
        demand_role(request, Role.MEMBER)
        form = ProjectForm(request.POST)
        if form.is_valid():
            project = services.create_project(request.team, request.user, **form.cleaned_data)
            messages.success(request, f"Project “{project.name}” created. Add its first scene.")
            return redirect("project", uuid=project.uuid)
    rows = _project_rows(request.team)
    for row in rows:  # "3 minutes": the list's words, and its digest's
        row["ago"] = fragments.ago(row["last_activity"]) if row["last_activity"] else ""
    # The list's markup is kept by what it shows; the new project's empty fields too.
    context = {
        "projects": rows,
        "list_digest": fragments.digest(tuple(tuple(row.items()) for row in rows)),
        "form": form,
        "form_kept": not form.is_bound,
    }
    return render(request, "generations/projects.html", context)


def _project_rows(team) -> list[dict]:
    """What the list shows of each project, as plain values: counters and one index probe
    per project; the history is never counted row by row."""
    newest = Generation.objects.filter(project=OuterRef("pk")).order_by("-created", "-pk")
    return list(
        Project.objects.filter(team=team)
        .annotate(
            scene_count=Count("scenes"),
            last_activity=Subquery(newest.values("created")[:1]),
        )
        .order_by("name")
        .values("uuid", "name", "description", "clip_count", "scene_count", "last_activity")
    )


@team_required
def project(request, uuid):
    p = _project_with_usage(request, uuid)
    return render(request, "generations/project.html", _project_context(request, p))


# One of the team's projects and what counts against its cap (as ledger.project_usage
# counts it: all it has spent plus its pending holds; one usage row per project), read
# as written: built by the ORM, the two lookups cost the page more than running them.
PROJECT_AND_USAGE = """
SELECT p.*, COALESCE(u.pending + u.spent, 0) AS cap_used
FROM generations_project p
LEFT JOIN billing_projectusage u ON u.team_id = p.team_id AND u.project_uuid = p.uuid
WHERE p.team_id = %s AND p.uuid = %s
"""


def _project_with_usage(request, uuid) -> Project:
    """access.get_project, with `cap_used`: the project of the request's team, or 404."""
    params = [request.team.pk, access.public_id_param(uuid)]
    found = list(Project.objects.raw(PROJECT_AND_USAGE, params))
    if not found:
        raise Http404("No such object.")
    return found[0]


PROJECT_SCENES = """
SELECT id, uuid, project_id, number, title, notes, chosen_take_id, clip_count
FROM generations_scene WHERE project_id = %s ORDER BY number
"""


def _project_context(request, p, cap_form=None) -> dict:
    # Read as written: built by the ORM, this plain query took twice as long.
    scenes = list(Scene.objects.raw(PROJECT_SCENES, [p.pk]))
    takes.present(scenes)
    for scene in scenes:
        scene.project = p
        # Built only if its fields are rendered: they are mostly read back (takes.present).
        scene.edit_form = SimpleLazyObject(
            partial(SceneForm, instance=scene, prefix=f"scene-{scene.uuid}")
        )
    # A deleted scene's clips stay counted in the project: they are the loose ones.
    loose = max(p.clip_count - sum(s.clip_count for s in scenes), 0)
    spent = getattr(p, "cap_used", None)
    if spent is None:
        spent = ledger.project_usage(request.team, p.uuid)
    return {
        "project": p,
        "scenes": scenes,
        "scenes_digest": takes.page_digest(scenes),
        "scene_form": SceneForm(prefix="new"),
        "loose": loose,
        "spent_text": ledger.dollars(spent),
        "cap_text": ledger.dollars(p.spend_cap) if p.spend_cap is not None else "",
        "chosen_count": sum(1 for s in scenes if s.chosen_take_id),
        "cap_form": cap_form or ProjectCapForm(initial={"spend_cap": p.spend_cap}),
        # An empty cap form shows the cap and nothing else: its markup is kept by it.
        "cap_digest": "" if cap_form else fragments.digest(p.spend_cap),
    }


@require_POST
@role_required(Role.ADMIN)
def set_project_cap(request, uuid):
    p = access.get_project(request, uuid)
    form = ProjectCapForm(request.POST)
    if not form.is_valid():
        context = _project_context(request, p, cap_form=form)
        return render(request, "generations/project.html", context)
    audit.save_field(
        request.user,
        GenerationsAuditAction.PROJECT_CAP_SET,
        p,
        "spend_cap",
        form.cleaned_data["spend_cap"],
        team=p.team,
        target=p.name,
        as_text=ledger.cap_text,
    )
    if p.spend_cap is None:
        messages.success(request, f"“{p.name}” has no spending cap.")
    else:
        messages.success(request, f"“{p.name}” may spend {ledger.dollars(p.spend_cap)} in all.")
    return redirect("project", uuid=p.uuid)


@require_POST
@team_required
def create_scene(request, uuid):
    p = access.get_project_for_write(request, uuid)
    form = SceneForm(request.POST, prefix="new")
    if form.is_valid():
        scene = services.add_scene(p, form.cleaned_data["title"], form.cleaned_data["notes"])
        messages.success(request, f"Scene {scene.number} added.")
        return redirect(reverse("project", args=[p.uuid]) + f"#scene-{scene.uuid}")
    messages.error(request, "A scene needs a title.")
    return redirect(reverse("project", args=[p.uuid]) + "#new-scene")


def _render_scene(request, scene, edit_form=None, chosen_count=None):
    takes.present([scene])
    scene.edit_form = edit_form or SceneForm(instance=scene, prefix=f"scene-{scene.uuid}")
    # A form sent back with errors stays open, with what was typed in it.
    scene.edit_open = edit_form is not None
    context = {"scene": scene, "project": scene.project}
    if chosen_count is not None:
        # The page head counts the scenes with a chosen take: it comes along out of band.
        context |= {"oob": True, "chosen_count": chosen_count}
    return render(request, "generations/project.html#scene", context)


@require_POST
@team_required
def edit_scene(request, uuid):
    scene = access.get_scene_for_write(request, uuid)
    form = SceneForm(request.POST, instance=scene, prefix=f"scene-{scene.uuid}")
    if form.is_valid():
        # Only what the form edits: a take chosen meanwhile stays chosen.
        form.save(commit=False).save(update_fields=["title", "notes"])
        if not request.htmx:
            messages.success(request, f"Scene {scene.number} saved.")
    elif not request.htmx:
        messages.error(request, "A scene needs a title.")
    if request.htmx:
        scene.refresh_from_db()
        return _render_scene(request, scene, None if form.is_valid() else form)
    return redirect(reverse("project", args=[scene.project.uuid]) + f"#scene-{scene.uuid}")


@require_POST
@team_required
def choose_take(request, uuid):
    scene = access.get_scene_for_write(request, uuid)
    take = request.POST.get("take", "")
    if take:
        uuid = access.parse_uuid(take)
        chosen = uuid and (
            scene.generations.filter(state=State.SUCCEEDED, clip__isnull=False, uuid=uuid).first()
        )
        if chosen is None:
            raise Http404("That take is not a finished clip of this scene.")
        scene.chosen_take = chosen
    else:
        scene.chosen_take = None
    scene.save(update_fields=["chosen_take"])
    if request.htmx:
        chosen_count = scene.project.scenes.filter(chosen_take__isnull=False).count()
        return _render_scene(request, scene, chosen_count=chosen_count)
    messages.success(
        request,
        f"Scene {scene.number} now uses this take."
        if take
        else f"Scene {scene.number} has no take chosen.",
    )
    return redirect(reverse("project", args=[scene.project.uuid]) + f"#scene-{scene.uuid}")
