"""The asset library of a project, an asset's files for members, the signed address
vendors fetch from, and turning a clip into assets (a frame, the clip, a continuation)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.models import Role
from billing.teams.access import role_required, team_required
from generations import access
from generations.assets import checks, services
from generations.assets.models import Asset, AssetInUse
from generations.assets.signed import asset_extension, read_token
from generations.media.files import ranged_file_response, stored_file_response

CLIP_ACTIONS = {
    "last_frame": "Its last frame is now an image asset",
    "frame": "The frame at the playhead is now an image asset",
    "video": "The clip is now a reference video asset",
}


@team_required
@vary_on_headers("HX-Request")
def library(request, uuid):
    """A project's assets, searchable; a POST of files adds them (several at once)."""
    project = access.get_project(request, uuid)
    added, refused = [], []
    if request.method == "POST":
        project = access.get_project_for_write(request, uuid)
        for upload in request.FILES.getlist("files"):
            try:
                added.append(services.add_upload(project, request.user, upload))
            except checks.Rejected as exc:
                refused.append((upload.name, str(exc)))
        if not added and not refused:
            refused.append(("", "Choose or drop at least one file."))
    query = request.GET.get("q", "")[:200]
    assets = project.assets.search(query).select_related("created_by")
    context = {"project": project, "assets": assets, "q": query, "added": added}
    context["refused"] = refused
    if request.htmx and request.method == "POST":
        return render(request, "assets/library.html#upload-answer", context)
    if request.htmx:
        return render(request, "assets/library.html#asset-list", context)
    return render(request, "assets/library.html", context, status=400 if refused else 200)


@role_required(Role.MEMBER)
@require_POST
def delete_asset(request, uuid):
    asset = access.get_asset_for_write(request, uuid)
    try:
        asset.delete_unless_in_use()
    except AssetInUse as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Deleted “{asset.name}”.")
    return redirect("asset_library", asset.project.uuid)


@team_required
@require_GET
def asset_file(request, uuid):
    asset = access.get_asset(request, uuid)
    download = bool(request.GET.get("download"))
    # Members are sent to the bucket (a presigned address) when media live in one;
    # vendors get the bytes from this server (signed below), redirects or not.
    return stored_file_response(
        request,
        asset.file,
        asset.content_type,
        filename=asset.name,
        download=download,
        etag=asset.sha256,
    )


@team_required
@require_GET
def asset_thumbnail(request, uuid):
    asset = access.get_asset(request, uuid)
    return stored_file_response(
        request, asset.thumbnail, "image/jpeg", filename=f"{asset.uuid}.jpg"
    )


@require_GET
def signed(request, token):
    """What a vendor fetches: one asset, by a valid unexpired token, never by session."""
    found = read_token(token)
    if found is None:
        raise Http404("No such file.")
    asset_hex, extension = found
    asset = Asset.objects.filter(uuid=asset_hex).first()
    if asset is None or asset_extension(asset) != extension:
        raise Http404("No such file.")
    response = ranged_file_response(
        request,
        asset.file,
        asset.content_type,
        filename=f"{asset.uuid.hex}.{extension}",
        etag=asset.sha256,
    )
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@role_required(Role.MEMBER)
@require_POST
def clip_to_asset(request, uuid):
    """Keep the clip's last frame, the frame at the playhead, or the clip, as an asset."""
    generation = access.get_generation_for_write(request, uuid)
    clip = access.get_clip(request, uuid)
    what = request.POST.get("what", "")
    if what not in CLIP_ACTIONS:
        raise Http404("No such action.")
    try:
        at = float(request.POST.get("at") or 0)
    except ValueError:
        at = 0.0
    generation.clip = clip
    try:
        asset = services.asset_from_clip(generation, request.user, what, at)
    except checks.Rejected as exc:
        messages.error(request, f"That could not become an asset: {exc}")
        return redirect("clip", generation.uuid)
    messages.success(request, f"{CLIP_ACTIONS[what]}: “{asset.name}”.")
    return redirect("asset_library", generation.project.uuid)


@role_required(Role.MEMBER)
@require_POST
def continue_clip(request, uuid):
    """Generate, filled in to continue this clip from its last frame: same project,
    model and ratio, the next scene (or a new one)."""
    generation = access.get_generation_for_write(request, uuid)
    generation.clip = access.get_clip(request, uuid)
    try:
        frame = services.asset_from_clip(generation, request.user, "last_frame")
    except checks.Rejected as exc:
        messages.error(request, f"Its last frame could not become an asset: {exc}")
        return redirect("clip", generation.uuid)
    query = services.continuation(generation, frame)
    return redirect(reverse("generate") + "?" + urlencode(query))
