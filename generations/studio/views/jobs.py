"""Jobs: what is running and what finished, each job's card, cancelling."""

import uuid as uuid_module

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from billing.teams.access import team_required
from generations import access, lifecycle
from generations.models import Generation
from generations.studio import job_cards
from generations.studio.presenters import present
from seedance_site import fragments, keyset
from seedance_site.web import back_to, money_moved

RECENT_JOBS = 15
ACTIVE_SHOWN = 30


@team_required
@vary_on_headers("HX-Request")
def jobs(request):
    # Timelines are fetched when a card's is opened (job_timeline): a page of cards
    # would otherwise read every event of thirty jobs to show none of them.
    mine = request.GET.get("mine") == "1"
    position = keyset.decode(request.GET.get("before", ""))
    # The cards in flight (the page polls for them all at once): the newest ACTIVE_SHOWN,
    # and a page of finished ones, one more of each to know if there are more; one query.
    active, recent = job_cards.listing(request, mine, position, ACTIVE_SHOWN + 1, RECENT_JOBS + 1)
    active_total = len(active)
    if active_total > ACTIVE_SHOWN:
        # How many are in flight in all: the count reads the small index of jobs in flight.
        in_flight = Generation.objects.filter(team=request.team).active()
        if mine:
            in_flight = in_flight.filter(created_by=request.user)
        active, active_total = active[:ACTIVE_SHOWN], in_flight.count()
    page = keyset.Page(recent[:RECENT_JOBS], None, position is not None)
    if len(recent) > RECENT_JOBS:
        page.next_cursor = keyset.encode(page.rows[-1])
    recent = page.rows
    for g in recent:  # finished: their markup is kept by what it shows
        g.digest = g.digest_for(request.user)
    context = {
        "active": active,
        "active_total": active_total,
        "recent": recent,
        "mine": mine,
        "older": page.next_url("", "mine=1" if mine else "", name="before"),
        "paged": page.paged,
        "listed": True,
    }
    return render(request, "generations/jobs.html", context)


def _cards(request, pks) -> list:
    """The job cards of these generations, in their order: one query, and their accounts."""
    if not pks:
        return []
    found = access.generations(request).in_bulk(pks)
    shown = access.with_accounts([found[pk] for pk in pks if pk in found])
    return [present(g, request.membership) for g in shown]


@require_GET
@team_required
def jobs_in_flight(request):
    """The jobs page's one poll for its cards in flight: the cards that changed since."""
    seen = _seen(request.GET.getlist("seen"))
    bare = Generation.objects.filter(team=request.team, uuid__in=seen)
    now = list(bare.values_list("pk", "uuid", "state", "progress"))
    moved = [pk for pk, uuid, state, progress in now if seen[uuid] != (state, progress)]
    changed = _cards(request, moved)
    flying = any(state not in Generation.FINISHED for _, _, state, _ in now)
    context = {"changed": changed, "polling": flying, "listed": True}
    response = render(request, "generations/jobs.html#in-flight-update", context)
    if any(g.finished for g in changed):
        money_moved(response)  # finishing charged a hold or returned it
    return response


def _seen(values) -> dict:
    """`uuid:state:progress` of each card the page shows in flight (at most a page's worth;
    anything unreadable is left out): {uuid: (state, progress)}."""
    seen = {}
    for value in values[:ACTIVE_SHOWN]:
        key, _, rest = value.partition(":")
        state, _, progress = rest.partition(":")
        try:
            seen[uuid_module.UUID(key)] = (state, int(progress) if progress else None)
        except ValueError:
            continue
    return seen


def _card_context(request, generation):
    return {"g": present(generation, request.membership)}


@team_required
def job(request, uuid):
    g = job_cards.one(request, uuid)  # its card and its events, in one query
    context = {"g": g, "open_timeline": True}
    if g.finished:
        # A finished job's card, its timeline open, is kept by what it shows: the card's
        # values and its events.
        context["card_digest"] = fragments.digest(g.digest_for(request.user), tuple(g.events))
    return render(request, "generations/job.html", context)


@require_GET
@team_required
def job_timeline(request, uuid):
    generation = access.get_generation(request, uuid)
    return render(request, "generations/jobs.html#timeline", {"g": generation})


@team_required
@vary_on_headers("HX-Request")
def job_card(request, uuid):
    generation = access.get_generation(request, uuid)
    if not request.htmx:
        return redirect("job", uuid=generation.uuid)
    response = render(request, "generations/jobs.html#job-card", _card_context(request, generation))
    if generation.finished:
        # The last answer to a poll: finishing charged the hold or returned it.
        money_moved(response)
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
        context = _card_context(request, generation) | {
            "cancelled_here": True,
            "listed": request.POST.get("listed") == "1",
        }
        response = render(request, "generations/jobs.html#job-card", context)
        return money_moved(response, message, level)
    getattr(messages, level)(request, message)
    return redirect(back_to(request, reverse("jobs")))
