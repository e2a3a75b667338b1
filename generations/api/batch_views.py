"""Batch pages: upload a CSV, check its preview, confirm, follow, cancel, download results."""

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.models import Role
from billing.teams.access import demand_role, role_required, team_required
from generations.api import batches
from generations.api.endpoints.batches import batch_out
from generations.api.models import Batch

MAX_UPLOAD_BYTES = batches.MAX_CSV_CHARS


class BatchUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV of shots",
        help_text="Columns: " + ", ".join(batches.COLUMNS) + ". One row per shot.",
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The CSV is larger than 1 MB; split it.")
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError("Save the CSV as UTF-8 text.") from None


def _batch(request, uuid) -> Batch:
    return get_object_or_404(Batch, team=request.team, uuid=uuid)


@team_required
def batch_list(request):
    form = BatchUploadForm()
    if request.method == "POST":
        demand_role(request, Role.MEMBER)
        form = BatchUploadForm(request.POST, request.FILES)
        if form.is_valid():
            name = request.FILES["file"].name
            try:
                batch = batches.check(request.team, request.user, name, form.cleaned_data["file"])
            except batches.BatchRefused as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("batch", uuid=batch.uuid)
    recent = Batch.objects.filter(team=request.team)[:20]
    return render(request, "api/batches.html", {"form": form, "batches": recent})


@team_required
@require_GET
@vary_on_headers("HX-Request")
def batch(request, uuid):
    b = _batch(request, uuid)
    context = {"batch": b, "summary": batch_out(request, b)}
    if request.htmx:
        return render(request, "api/batch.html#batch-progress", context)
    return render(request, "api/batch.html", context)


@role_required(Role.MEMBER)
@require_POST
def confirm_batch(request, uuid):
    b = _batch(request, uuid)
    try:
        batches.confirm(b.pk, request.user)
    except batches.BatchRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{b.name}: every row was submitted.")
    return redirect("batch", uuid=b.uuid)


@role_required(Role.MEMBER)
@require_POST
def cancel_batch(request, uuid):
    b = _batch(request, uuid)
    cancelled = batches.cancel_waiting(b, request.membership)
    messages.info(request, f"{cancelled} waiting job{'s' if cancelled != 1 else ''} cancelled.")
    return redirect("batch", uuid=b.uuid)


@team_required
@require_GET
def batch_results(request, uuid):
    b = _batch(request, uuid)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="batch-{str(b.uuid)[:8]}.csv"'
    batches.write_results(b, response, request.build_absolute_uri)
    return response
