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
from generations.assets.forms import InputsForm, initial_inputs, take_uploads
from generations.studio import generate_html, presenters, ratelimit, services
from generations.studio.forms import GenerateForm, initial_from
from seedance_site.web import money_moved


@role_required(Role.MEMBER)
@vary_on_headers("HX-Request")
def generate(request):
    if request.method == "POST":
        data = request.POST.copy()
        form = GenerateForm(data, team=request.team, user=request.user)
        # Files dropped or picked in a slot become assets first, chosen in their slot.
        refused = take_uploads(data, request.FILES, form.project_value, request.user)
        inputs = InputsForm(data, project=form.project_value, refused=refused)
        if request.POST.get("intent") in ("refresh", "upload"):
            form.hush()
            inputs.hush()
        elif all([form.is_valid(), inputs.is_valid()]):
            try:
                created = services.submit_generations(
                    request.team,
                    request.user,
                    form.cleaned_data,
                    inputs.cleaned_data,
                    accounts=form.accounts,
                )
            except (ratelimit.TooFast, lifecycle.SubmitRefused, ledger.Refused) as exc:
                form.add_error(None, str(exc))
            else:
                message = _submitted_message(created)
                messages.success(request, message)
                if request.htmx:
                    return money_moved(HttpResponseClientRedirect(reverse("jobs")))
                return redirect("jobs")
    else:
        initial = _generate_initial(request)
        form = GenerateForm(team=request.team, user=request.user, initial=initial)
        inputs = InputsForm(project=form.project_value, initial=initial)
    context = {
        "form": form,
        "inputs": inputs,
        "quote": presenters.quote_for(form, inputs),
        "kept": generate_html.kept_key(form, inputs),
    }
    if request.htmx and request.method == "POST":
        return render(request, "generations/generate.html#generate-form", context)
    return render(request, "generations/generate.html", context)


# What a link may fill in (Continue from the last frame sends most of them).
INITIAL_KEYS = (
    "project",
    "family",
    "account",
    "duration",
    "aspect_ratio",
    "resolution",
    "new_scene",
    "mode",
    "first_frame",
)


def _generate_initial(request) -> dict:
    source = request.GET.get("from")
    if source:
        generation = access.get_generation(request, source)
        return initial_from(generation) | initial_inputs(generation)
    initial = {key: request.GET[key] for key in INITIAL_KEYS if key in request.GET}
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
    inputs = InputsForm(request.POST, project=form.project_value).hush()
    quote = presenters.quote_for(form, inputs)
    context = {
        "form": form,
        "inputs": inputs,
        "quote": quote,
        "oob": request.POST.get("options_key") != form.options_key,
        # The button is redrawn only when what it shows changed: redrawn under a press
        # (the prompt's change event fires as the press begins), the click would be lost.
        "submit_oob": request.POST.get("submit_key") != quote.submit_key,
        # The key the row had when asked: an answer for a row redrawn since is not written.
        # Only a key this page could have drawn is echoed: nothing posted is reflected.
        "posted_submit_key": _drawn_key(request.POST.get("submit_key", "")),
    }
    return render(request, "generations/generate.html#quote", context)


def _drawn_key(posted: str) -> str:
    """`posted` when it is a submit_key the page draws ("ok-1", "refused-2"), else ""."""
    return posted if posted in presenters.SUBMIT_KEYS else ""
