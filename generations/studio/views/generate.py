"""Generate: the form, its live quote, and submitting it."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from billing import ledger
from billing.models import Role
from billing.teams.access import role_required
from generations import access, lifecycle
from generations.studio import presenters, ratelimit, services
from generations.studio.forms import GenerateForm, initial_from
from seedance_site.web import money_moved


@role_required(Role.MEMBER)
@vary_on_headers("HX-Request")
def generate(request):
    if request.method == "POST":
        form = GenerateForm(request.POST, team=request.team, user=request.user)
        if request.POST.get("intent") == "refresh":
            form.hush()
        elif form.is_valid():
            try:
                created = services.submit_generations(request.team, request.user, form.cleaned_data)
            except (ratelimit.TooFast, lifecycle.SubmitRefused, ledger.Refused) as exc:
                form.add_error(None, str(exc))
            else:
                message = _submitted_message(created)
                messages.success(request, message)
                if request.htmx:
                    return money_moved(HttpResponseClientRedirect(reverse("jobs")))
                return redirect("jobs")
    else:
        form = GenerateForm(
            team=request.team, user=request.user, initial=_generate_initial(request)
        )
    context = {"form": form, "quote": presenters.quote_for(form)}
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
        "quote": presenters.quote_for(form),
        "oob": request.POST.get("options_key") != form.options_key,
    }
    return render(request, "generations/generate.html#quote", context)
