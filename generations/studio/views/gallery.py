"""Gallery and clips: the team's finished clips, one clip's page, its files, favourites."""

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from billing.teams.access import team_required
from generations import access
from generations.assets import inputs as asset_inputs
from generations.media.files import stored_file_response
from generations.models import Favourite, Generation, State
from generations.studio import clip_row, search
from generations.studio.cards import card
from generations.studio.gallery_filters import GalleryFilterForm
from generations.studio.presenters import present
from seedance_site import fragments, keyset, written
from seedance_site.web import back_to, uuid_path

GALLERY_PAGE = 24
CARD_FIELDS = [
    "uuid",
    "prompt",
    "family",
    "created",
    "project__name",
    "scene__title",
    "vendor_account__label",
    "created_by__username",
    "clip__width",
    "clip__height",
    "clip__duration",
]


def gallery_queryset(request):
    """The team's finished clips, newest first."""
    return Generation.objects.filter(
        team=request.team, state=State.SUCCEEDED, clip__isnull=False
    ).order_by("-created", "-pk")


# What a card shows (CARD_FIELDS, is_favourite and the job's mode), as one constant query:
# the ORM took longer to build it (the Exists, the JSON key, five joins) than the
# database took to answer it. {chosen} is the SQL of the ids of the clips to show. The
# names beside a clip are read by subqueries, not joins: PostgreSQL weighed every order
# of the six joined tables and took 2.5 ms to plan what it ran in half a millisecond.
CARDS = """
SELECT g.id, EXISTS (
           SELECT 1 FROM generations_favourite AS mine
           WHERE mine.generation_id = g.id AND mine.user_id = %s
       ),
       g.uuid, g.prompt, g.family, g.created,
       (SELECT name FROM generations_project WHERE id = g.project_id),
       (SELECT title FROM generations_scene WHERE id = g.scene_id),
       (SELECT label FROM generations_vendoraccount WHERE id = g.vendor_account_id),
       (SELECT username FROM auth_user WHERE id = g.created_by_id),
       clip.width, clip.height, clip.duration, {mode}
FROM generations_generation AS g
LEFT JOIN generations_clip AS clip ON clip.generation_id = g.id
WHERE g.id IN ({chosen})
"""
# The job's mode, NULL when the request has none (or says null) on both databases.
MODE = {"postgresql": "g.request ->> 'mode'", "sqlite": "json_extract(g.request, '$.mode')"}
CARD_COLUMNS = ["pk", "is_favourite", *CARD_FIELDS, "mode"]
NOT_HELD = search.Found(None)  # a page read as it is planned


def _card_rows(request, chosen: str, params: list, found=NOT_HELD) -> list[dict]:
    """The cards of the clips `chosen` (SQL of their ids, with its `params`), in no order,
    as the dicts values() gave: each Card and its digest read them so. (`found`: the
    search, whose page of common words is read with the planner held, search.page_rows.)"""
    sql = CARDS.format(mode=MODE[connection.vendor], chosen=chosen)
    read = search.page_rows(found, sql, [request.user.pk, *params])
    rows = [dict(zip(CARD_COLUMNS, row, strict=True)) for row in read]
    if connection.vendor == "sqlite":
        for row in rows:
            # SQLite answers a raw query with what it stores: 0 or 1, 32 hex digits and
            # a naive UTC time, where the ORM (and PostgreSQL) give these.
            row["is_favourite"] = bool(row["is_favourite"])
            row["uuid"] = written.stored_uuid(row["uuid"])
            row["created"] = written.stored_time(row["created"])
    return rows


def with_cards(request, rows) -> list:
    """The cards of `rows` (with pk), in their order, from one query.

    A page is chosen on the bare table first: joins and the favourite test then run for
    its 24 rows, never for every clip a filter or a search matched. The query reads what
    a card shows and no more, as plain values: no model instances to build for six tables
    (nor a vendor account's key, a user's password hash or a job's signed URLs)."""
    pks = [row.pk for row in rows]
    found = {row["pk"]: row for row in _card_rows(request, ", ".join(["%s"] * len(pks)), pks)}
    cards = [card(found[pk]) for pk in pks if pk in found]
    # Clips made from inputs show them: one more query, and none for a page of text-only.
    return asset_inputs.on_cards(cards)


def _newest_first(row: dict) -> tuple:
    return row["created"], row["pk"]


def cards_after(request, found, position) -> keyset.Page:
    """A page of cards of the `found` clips after `position`, newest first, in one query:
    the page is chosen on the bare table in a subquery (its LIMIT has the database pick
    the rows first), and only its rows are joined and tested for a favourite."""
    chosen = keyset.after(found.clips, position).values("pk")[: GALLERY_PAGE + 1]
    try:
        sql, params = chosen.query.sql_with_params()
    except EmptyResultSet:  # filters that select nothing (an invalid form, no words)
        rows = []
    else:
        rows = _card_rows(request, sql, list(params), found)
    # Newest first, sorted here: an ORDER BY could have a search's planner fence
    # (search.page_rows: no sorts) walk every clip to avoid sorting 25 rows.
    rows.sort(key=_newest_first, reverse=True)
    cards = asset_inputs.on_cards([card(row) for row in rows[:GALLERY_PAGE]])
    more = len(rows) > GALLERY_PAGE
    return keyset.Page(cards, keyset.encode(cards[-1]) if more else None, position is not None)


@team_required
@vary_on_headers("HX-Request", "HX-Target")
def gallery(request):
    form = GalleryFilterForm(request.GET, team=request.team)
    page, found = _clips_page(request, form)
    next_url = page.next_url("", form.query_string())
    context = {
        "form": form,
        "clips": page.rows,
        "next_url": next_url,
        "paged": page.paged,
        "order": found.order,
        "search_problem": found.problem,
    }
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target == "gallery-results":
            response = render(request, "generations/gallery.html#results", context)
            # The address bar shows the filters in use, not every empty field of the form.
            filters = form.query_string()
            return push_url(response, reverse("gallery") + (f"?{filters}" if filters else ""))
        if page.paged:
            return render(request, "generations/gallery.html#cards", context)
    return render(request, "generations/gallery.html", context)


def _clips_page(request, form):
    """One page of the clips the filters and search select, and how they are ordered."""
    queryset = form.filter(gallery_queryset(request), request.user).only("pk", "created")
    cursor = request.GET.get("cursor", "")
    ranked_cursor = search.RankedCursor.parse(cursor)
    position = keyset.decode(cursor)
    if cursor and ranked_cursor is None and position is None:
        # A page after one that cannot be read: nothing, rather than the first page again.
        return keyset.Page([], None, True), search.Found(queryset.none())
    text = form.cleaned_data.get("q", "") if form.is_valid() else ""
    continuing = (
        search.Order.BEST if ranked_cursor is not None else search.Order.NEWEST if cursor else ""
    )
    if ranked_cursor is not None:
        queryset = queryset.filter(finished_at__lte=ranked_cursor.as_of)
    found = search.matching(queryset, text, continuing) if text else search.Found(queryset)
    if found.order == search.Order.BEST:
        start = ranked_cursor or search.RankedCursor(0, timezone.now())
        page = search.ranked_page(found.clips, GALLERY_PAGE, start)
    elif ranked_cursor is not None:
        page = keyset.Page([], None, True)  # a ranked cursor outside a search
    else:
        # For common words the planner is held to the newest-first walk (search.page_rows).
        return cards_after(request, found, position), found
    page.rows = with_cards(request, page.rows) if page.rows else []
    return page, found


# The clip page's two annotations, written out: as Exists() and Subquery() the ORM took
# longer to build them than the database took to answer them.
@team_required
def clip(request, uuid):
    # The clip's row with its favourite and remix count: one statement (clip_row.py).
    generation = clip_row.clip_row(request, uuid)
    if generation.state != State.SUCCEEDED or not hasattr(generation, "clip"):
        return redirect("job", uuid=generation.uuid)
    # A text-to-video clip has no inputs (as on the gallery's cards): no query for them.
    made_from_inputs = ((generation.request or {}).get("mode") or "text") != "text"
    inputs = list(
        generation.inputs.select_related("asset").order_by("role", "position")
        if made_from_inputs
        else []
    )
    context = {
        "g": present(generation, request.membership),
        "c": generation.clip,
        "inputs": inputs,
        "is_favourite": generation.is_favourite,
        "remixes": generation.remix_count,
        "details_digest": _details_digest(generation, inputs),
    }
    return render(request, "generations/clip.html", context)


def _details_digest(g, inputs) -> str:
    """What the clip page's kept markup shows (templates/generations/clip.html): the job's
    row and the rows read with it, its accounts' names, its events, its inputs and the time
    zone its dates are written in. Nothing about who is looking: it is the same for all."""
    clip_row.attach_events(g)  # the timeline's, read once for both
    events = tuple((e.pk, e.created, e.kind, e.message) for e in g.events.all())
    accounts = tuple(
        (account.pk, account.label, account.protocol) if account else None
        for account in (
            g.vendor_account if g.vendor_account_id else None,
            g.pinned_account if g.pinned_account_id else None,
        )
    )
    shown_inputs = tuple(
        (row.role, row.position, fragments.row(row.asset) if row.asset_id else None)
        for row in inputs
    )
    zone = timezone.get_current_timezone_name()
    return fragments.digest(
        fragments.row(g, skip=("vendor_account", "pinned_account")),
        accounts,
        events,
        shown_inputs,
        zone,
    )


@team_required
def clip_video(request, uuid):
    c = access.get_clip(request, uuid)
    name = f"{slugify(c.generation.prompt[:40]) or 'clip'}-{str(uuid)[:8]}.mp4"
    return stored_file_response(
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
    return stored_file_response(
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
        context = {
            "favourite_url": uuid_path("favourite", generation.uuid),
            "is_favourite": is_favourite,
            # A card's button is an icon; it stays one when it is answered.
            "compact": request.POST.get("compact") == "1",
        }
        return render(request, "generations/gallery.html#favourite", context)
    return redirect(back_to(request, reverse("clip", args=[generation.uuid])))
