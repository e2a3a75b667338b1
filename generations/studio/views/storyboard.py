"""A project's storyboard: its chosen takes in order, as a zip or one joined MP4."""

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.teams.access import team_required
from generations import access
from generations.media import exports
from generations.media.files import stored_file_response


def _storyboard_context(request, p, scenes=None):
    scenes = exports.storyboard_scenes(p) if scenes is None else scenes
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
    # access.get_project and the scenes, in one written query.
    p, scenes = exports.storyboard_of(request.team.pk, access.public_id_param(uuid))
    if p is None:
        raise Http404("No such object.")
    context = _storyboard_context(request, p, scenes)
    return render(request, "generations/storyboard.html", context)


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
    return stored_file_response(
        request,
        exports.export_file(status),
        "video/mp4",
        filename=f"{slugify(p.name) or 'storyboard'}-storyboard.mp4",
        download=request.GET.get("download") == "1",
        etag=status.get("fingerprint"),
    )
