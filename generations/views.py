"""The pages a team lives in: Generate, Jobs, Gallery, Clip, Projects and scenes.

Each view checks access through generations.access, validates a form, calls one or two
functions of lifecycle / exports, and renders a whole page, or the named partial of the
same template when htmx asks (STYLE.md).
"""

import re
from itertools import groupby

from django.contrib import messages
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header, url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, push_url, trigger_client_event

from billing import audit, ledger
from billing.models import HoldStatus, Role
from billing.teams.access import demand_role, role_required, team_required
from generations import access, exports, lifecycle, ratelimit
from generations.forms import (
    GalleryFilterForm,
    GenerateForm,
    ProjectCapForm,
    ProjectForm,
    SceneForm,
    add_scene,
    credits_text,
    initial_from,
)
from generations.models import Favourite, Generation, GenerationsAuditAction, Project, State
from generations.vendors import REGISTRY
from seedance_site import keyset

GALLERY_PAGE = 24
RECENT_JOBS = 30


def _next_url(request, default):
    """Where to go back to after a plain form post: `next` when it is ours."""
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _money_moved(response, message=None, level="success"):
    trigger_client_event(response, "balanceChanged")
    if message:
        trigger_client_event(response, "toast", {"message": message, "level": level})
    return response


class Costs:
    """What a generation cost, or is expected to, as the pages write it."""

    def __init__(self, g):
        self.expected = ledger.dollars(g.quote_micros)
        self.expected_credits = credits_text(g.quote_credits)
        hold = g.hold if g.hold_id else None
        self.held = (
            ledger.dollars(hold.amount) if hold and hold.status == HoldStatus.PENDING else ""
        )
        self.released = bool(hold and hold.status == HoldStatus.RELEASED)
        self.charged = ledger.dollars(g.charge_micros) if g.charge_micros is not None else ""
        self.charged_credits = credits_text(g.charge_credits) if self.charged else ""
        self.difference = ""
        if g.charge_micros is not None and g.charge_micros != g.quote_micros:
            delta = g.charge_micros - g.quote_micros
            more_or_less = "more" if delta > 0 else "less"
            self.difference = f"{ledger.dollars(abs(delta))} {more_or_less} than quoted"

    @property
    def summary(self) -> str:
        if self.charged:
            credits = f" ({self.charged_credits} credits)" if self.charged_credits else ""
            return f"Charged {self.charged}{credits}"
        if self.held:
            return f"Expected {self.expected} · {self.held} held"
        if self.released:
            return "Nothing charged"
        return f"Expected {self.expected}"


def present(g, membership=None):
    """Attach what the cards show but the model does not know: money in words, may I cancel."""
    g.costs = Costs(g)
    g.can_cancel = g.state in (State.QUEUED, State.RUNNING) and access.may_cancel(membership, g)
    # A job that needs attention ends by itself after its deadline's grace (lifecycle.expire).
    g.settle_by = g.expires_at + lifecycle.grace() if g.state == State.NEEDS_ATTENTION else None
    # Whether cancelling a running job stops it at the vendor, or it runs on and is charged.
    account = g.vendor_account
    g.vendor_cancels = bool(
        account and account.protocol in REGISTRY and account.adapter_class.supports_cancel
    )
    return g


# --- Generate ------------------------------------------------------------------------


@role_required(Role.MEMBER)
@vary_on_headers("HX-Request")
def generate(request):
    if request.method == "POST":
        form = GenerateForm(request.POST, team=request.team, user=request.user)
        if request.POST.get("intent") == "refresh":
            form.hush()
        elif form.is_valid():
            try:
                with ratelimit.starting(request.user, form.cleaned_data["variants"]):
                    created = form.submit()
            except (ratelimit.TooFast, lifecycle.SubmitRefused, ledger.Refused) as exc:
                form.add_error(None, str(exc))
            else:
                message = _submitted_message(created)
                messages.success(request, message)
                if request.htmx:
                    return _money_moved(HttpResponseClientRedirect(reverse("jobs")))
                return redirect("jobs")
    else:
        form = GenerateForm(
            team=request.team, user=request.user, initial=_generate_initial(request)
        )
    context = {"form": form, "quote": form.quote()}
    if request.htmx and request.method == "POST":
        return render(request, "generations/generate.html#generate-form", context)
    return render(request, "generations/generate.html", context)


def _generate_initial(request) -> dict:
    source = request.GET.get("from")
    if source:
        return initial_from(access.get_generation(request, source))
    initial = {
        key: request.GET[key] for key in ("project", "family", "account") if key in request.GET
    }
    if request.GET.get("scene"):
        scene = access.get_scene(request, request.GET["scene"])
        initial["project"] = str(scene.project.uuid)
        initial["scene"] = str(scene.uuid)
    return initial


def _submitted_message(created) -> str:
    first = created[0]
    count = len(created)
    what = f"{count} variants" if count > 1 else "Your clip"
    held = sum(g.hold.amount for g in created if g.hold)
    return (
        f"{what} queued with {first.family_label}: expected "
        f"{ledger.dollars(first.quote_micros * count)}, {ledger.dollars(held)} on hold."
    )


@role_required(Role.MEMBER)
@require_POST
def generate_quote(request):
    """The live quote as the form stands; the options too when the model or vendor changed."""
    form = GenerateForm(request.POST, team=request.team, user=request.user).hush()
    context = {
        "form": form,
        "quote": form.quote(),
        "oob": request.POST.get("options_key") != form.options_key,
    }
    return render(request, "generations/generate.html#quote", context)


# --- Jobs ------------------------------------------------------------------------------


@team_required
@vary_on_headers("HX-Request")
def jobs(request):
    queryset = access.generations(request).prefetch_related("events")
    mine = request.GET.get("mine") == "1"
    if mine:
        queryset = queryset.filter(created_by=request.user)
    active = [
        present(g, request.membership) for g in queryset.active().order_by("-created", "-pk")[:200]
    ]
    finished = queryset.filter(state__in=Generation.FINISHED)
    page = keyset.page(finished, RECENT_JOBS, keyset.decode(request.GET.get("before", "")))
    context = {
        "active": active,
        "recent": [present(g, request.membership) for g in page.rows],
        "mine": mine,
        "older": page.next_url("", "mine=1" if mine else "", name="before"),
        "paged": page.paged,
    }
    return render(request, "generations/jobs.html", context)


def _card_context(request, generation):
    return {"g": present(generation, request.membership)}


@team_required
def job(request, uuid):
    generation = access.get_generation(request, uuid)
    context = _card_context(request, generation) | {"open_timeline": True}
    return render(request, "generations/job.html", context)


@team_required
@vary_on_headers("HX-Request")
def job_card(request, uuid):
    generation = access.get_generation(request, uuid)
    if not request.htmx:
        return redirect("job", uuid=generation.uuid)
    response = render(request, "generations/jobs.html#job-card", _card_context(request, generation))
    if generation.finished:
        # The last answer to a poll: finishing charged the hold or returned it.
        _money_moved(response)
    return response


@require_POST
@team_required
def cancel_job(request, uuid):
    generation = access.get_generation_for_cancel(request, uuid)
    try:
        message, level = lifecycle.cancel(generation, request.user), "success"
    except lifecycle.CannotCancel as exc:
        message, level = str(exc), "error"
    generation = access.get_generation(request, uuid)
    if request.htmx:
        # The toast below says what happened; the page need not announce the finish again.
        context = _card_context(request, generation) | {"cancelled_here": True}
        response = render(request, "generations/jobs.html#job-card", context)
        return _money_moved(response, message, level)
    getattr(messages, level)(request, message)
    return redirect(_next_url(request, reverse("jobs")))


# --- Gallery -----------------------------------------------------------------------------


def gallery_queryset(request):
    """The team's finished clips, newest first, with all a card shows in one query."""
    favourite = Favourite.objects.filter(user=request.user, generation=OuterRef("pk"))
    return (
        Generation.objects.filter(team=request.team, state=State.SUCCEEDED, clip__isnull=False)
        .select_related("clip", "project", "scene", "vendor_account", "created_by")
        .annotate(is_favourite=Exists(favourite))
        .order_by("-created", "-pk")
    )


@team_required
@vary_on_headers("HX-Request", "HX-Target")
def gallery(request):
    form = GalleryFilterForm(request.GET, team=request.team)
    queryset = form.filter(gallery_queryset(request), request.user)
    page = keyset.page(queryset, GALLERY_PAGE, keyset.decode(request.GET.get("cursor", "")))
    next_url = page.next_url("", form.query_string())
    context = {"form": form, "clips": page.rows, "next_url": next_url, "paged": page.paged}
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == "gallery-results":
            response = render(request, "generations/gallery.html#results", context)
            # The address bar shows the filters in use, not every empty field of the form.
            filters = form.query_string()
            return push_url(response, reverse("gallery") + (f"?{filters}" if filters else ""))
        if page.paged:
            return render(request, "generations/gallery.html#cards", context)
    return render(request, "generations/gallery.html", context)


# --- Clip ----------------------------------------------------------------------------------


@team_required
def clip(request, uuid):
    generation = access.get_generation(request, uuid)
    if generation.state != State.SUCCEEDED or not hasattr(generation, "clip"):
        return redirect("job", uuid=generation.uuid)
    context = {
        "g": present(generation, request.membership),
        "c": generation.clip,
        "is_favourite": Favourite.objects.filter(user=request.user, generation=generation).exists(),
        "remixes": generation.remixes.filter(team=request.team).count(),
    }
    return render(request, "generations/clip.html", context)


@team_required
def clip_video(request, uuid):
    c = access.get_clip(request, uuid)
    name = f"{slugify(c.generation.prompt[:40]) or 'clip'}-{str(uuid)[:8]}.mp4"
    return ranged_file_response(
        request,
        c.file,
        "video/mp4",
        filename=name,
        download=request.GET.get("download") == "1",
        etag=c.sha256,
    )


@team_required
def clip_poster(request, uuid):
    c = access.get_clip(request, uuid)
    return ranged_file_response(
        request, c.poster, "image/jpeg", filename=f"poster-{str(uuid)[:8]}.jpg"
    )


@require_POST
@team_required
def favourite(request, uuid):
    # A favourite is a personal bookmark that moves no money and changes nothing anyone
    # else sees, so viewers may keep favourites too.
    generation = access.get_generation(request, uuid)
    mine = Favourite.objects.filter(user=request.user, generation=generation)
    if mine.exists():
        mine.delete()
        is_favourite = False
    else:
        Favourite.objects.get_or_create(user=request.user, generation=generation)
        is_favourite = True
    if request.htmx:
        context = {"g": generation, "is_favourite": is_favourite}
        return render(request, "generations/clip.html#favourite", context)
    return redirect(_next_url(request, reverse("clip", args=[generation.uuid])))


# --- Projects and scenes -------------------------------------------------------------------


@team_required
def projects(request):
    form = ProjectForm()
    if request.method == "POST":
        demand_role(request, Role.MEMBER)
        form = ProjectForm(request.POST)
        if form.is_valid():
            project = form.save(commit=False)
            project.team = request.team
            project.created_by = request.user
            project.save()
            messages.success(request, f"Project “{project.name}” created. Add its first scene.")
            return redirect("project", uuid=project.uuid)
    succeeded = Q(generations__state=State.SUCCEEDED)
    rows = (
        Project.objects.filter(team=request.team)
        .annotate(
            scene_count=Count("scenes", distinct=True),
            take_count=Count("generations", filter=succeeded, distinct=True),
            last_activity=Max("generations__created"),
        )
        .order_by("name")
    )
    return render(request, "generations/projects.html", {"projects": rows, "form": form})


def _scene_takes(project, scene=None) -> dict:
    """Each scene's takes worth showing (finished clips and jobs still running), oldest first."""
    takes = Generation.objects.filter(project=project, scene__isnull=False)
    if scene is not None:
        takes = takes.filter(scene=scene)
    takes = (
        takes.exclude(state__in=[State.FAILED, State.CANCELLED, State.EXPIRED])
        .select_related("clip", "created_by")
        .order_by("scene_id", "created", "pk")
    )
    return {scene_id: list(group) for scene_id, group in groupby(takes, key=lambda g: g.scene_id)}


@team_required
def project(request, uuid):
    p = access.get_project(request, uuid)
    return render(request, "generations/project.html", _project_context(request, p))


def _project_context(request, p, cap_form=None) -> dict:
    scenes = list(p.scenes.select_related("chosen_take__clip").order_by("number"))
    takes = _scene_takes(p)
    for scene in scenes:
        scene.project = p
        scene.takes = takes.get(scene.pk, [])
        scene.edit_form = SceneForm(instance=scene, prefix=f"scene-{scene.uuid}")
    loose = p.generations.filter(scene__isnull=True, state=State.SUCCEEDED).count()
    spent = ledger.project_usage(request.team, p.uuid)
    return {
        "project": p,
        "scenes": scenes,
        "scene_form": SceneForm(prefix="new"),
        "loose": loose,
        "spent_text": ledger.dollars(spent),
        "cap_text": ledger.dollars(p.spend_cap) if p.spend_cap is not None else "",
        "chosen_count": sum(1 for s in scenes if s.chosen_take_id),
        "cap_form": cap_form or ProjectCapForm(initial={"spend_cap": p.spend_cap}),
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
        scene = add_scene(p, form.cleaned_data["title"], form.cleaned_data["notes"])
        messages.success(request, f"Scene {scene.number} added.")
        return redirect(reverse("project", args=[p.uuid]) + f"#scene-{scene.uuid}")
    messages.error(request, "A scene needs a title.")
    return redirect(reverse("project", args=[p.uuid]) + "#new-scene")


def _render_scene(request, scene, edit_form=None, chosen_count=None):
    scene.takes = _scene_takes(scene.project, scene).get(scene.pk, [])
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
        form.save()
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


def _storyboard_context(request, p):
    scenes = exports.storyboard_scenes(p)
    chosen = exports.chosen_scenes(scenes)
    status = exports.read_status(p)
    fingerprint = exports.fingerprint(scenes)
    return {
        "project": p,
        "scenes": scenes,
        "chosen": chosen,
        "total": sum(s.chosen_take.clip.duration for s in chosen),
        "export": status,
        "export_current": bool(status and status.get("fingerprint") == fingerprint),
        "export_busy": exports.is_busy(status),
    }


@team_required
def storyboard(request, uuid):
    p = access.get_project(request, uuid)
    return render(request, "generations/storyboard.html", _storyboard_context(request, p))


@team_required
def storyboard_zip(request, uuid):
    p = access.get_project(request, uuid)
    scenes = exports.chosen_scenes(exports.storyboard_scenes(p))
    if not scenes:
        messages.error(request, "Choose a take for at least one scene first.")
        return redirect("storyboard", uuid=p.uuid)
    response = StreamingHttpResponse(
        exports.zip_storyboard(p, scenes), content_type="application/zip"
    )
    response["Content-Disposition"] = content_disposition_header(
        True, f"{slugify(p.name) or 'storyboard'}-takes.zip"
    )
    return response


@require_POST
@team_required
def storyboard_export(request, uuid):
    # Any member of the team may build the export: it is a download, and spends no credits.
    p = access.get_project(request, uuid)
    scenes = exports.storyboard_scenes(p)
    if not exports.chosen_scenes(scenes):
        messages.error(request, "Choose a take for at least one scene first.")
    elif exports.is_busy(exports.read_status(p)):
        messages.info(request, "The export is already being made.")
    else:
        exports.start_storyboard_export(p, request.user, scenes)
    if request.htmx:
        return render(
            request, "generations/storyboard.html#export-status", _storyboard_context(request, p)
        )
    return redirect("storyboard", uuid=p.uuid)


@require_GET
@team_required
@vary_on_headers("HX-Request")
def storyboard_export_status(request, uuid):
    p = access.get_project(request, uuid)
    if not request.htmx:
        return redirect("storyboard", uuid=p.uuid)
    return render(
        request, "generations/storyboard.html#export-status", _storyboard_context(request, p)
    )


@team_required
def storyboard_mp4(request, uuid):
    p = access.get_project(request, uuid)
    status = exports.read_status(p)
    if not status or status.get("state") != "done":
        raise Http404("No export has been made yet.")
    return ranged_file_response(
        request,
        exports.export_file(status),
        "video/mp4",
        filename=f"{slugify(p.name) or 'storyboard'}-storyboard.mp4",
        download=request.GET.get("download") == "1",
        etag=status.get("fingerprint"),
    )


# --- Files with HTTP ranges ------------------------------------------------------------

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def _parse_range(header: str, size: int):
    """(start, end) inclusive for one byte range; None to send it all; "bad" when unsatisfiable.

    Several ranges at once are answered with the whole file, which RFC 9110 allows.
    """
    match = RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        length = int(last)
        if length == 0 or size == 0:
            return "bad"
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "bad"
    return start, end


def _read(handle, remaining):
    try:
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def ranged_file_response(request, fieldfile, content_type, *, filename, download=False, etag=None):
    """Stream a stored file, honouring one `Range`, so players can seek and resume."""
    if not fieldfile or not fieldfile.name:
        raise Http404("No such file.")
    storage = fieldfile.storage
    try:
        size = storage.size(fieldfile.name)
    except (FileNotFoundError, OSError):
        raise Http404("The file is missing from storage.") from None
    tag = f'"{etag}"' if etag else None
    wanted = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if wanted and if_range and if_range != tag:
        wanted = None  # the client's copy is of another version: send it all
    span = _parse_range(wanted, size) if wanted else None
    if span == "bad":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        response["Accept-Ranges"] = "bytes"
        return response
    start, end = span or (0, size - 1)
    length = max(end - start + 1, 0)
    handle = storage.open(fieldfile.name, "rb")
    if start:
        handle.seek(start)
    response = StreamingHttpResponse(
        _read(handle, length), status=206 if span else 200, content_type=content_type
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if span:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    if tag:
        response["ETag"] = tag
    # Only the team may see it: browsers may keep it, shared caches may not.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = content_disposition_header(download, filename)
    return response
