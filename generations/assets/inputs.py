"""A generation's inputs: which assets, in which roles, and the request a vendor gets
with their signed addresses, built when the job is sent so they are fresh and valid
until past its deadline."""

import dataclasses
from datetime import timedelta

from django.conf import settings
from django.urls import reverse

from generations.assets.models import ROLE_ORDER, Asset, GenerationInput, Role
from generations.assets.signed import signed_url

# The request's URL lists each role goes to. Modes never mix frames with references:
# "image" sends (first,), "first_last" (first, last), "reference" the references.
URL_FIELDS = {
    Role.FIRST_FRAME: "image_urls",
    Role.LAST_FRAME: "image_urls",
    Role.REFERENCE_IMAGE: "image_urls",
    Role.REFERENCE_VIDEO: "video_urls",
    Role.REFERENCE_AUDIO: "audio_urls",
}


def url_deadline(expires_at):
    return expires_at + timedelta(minutes=settings.ASSET_URL_GRACE_MINUTES)


def with_urls(request, chosen, until):
    """`request` with the signed addresses of `chosen` ((role, asset) pairs), valid until
    `until`, in role order (first frame before last frame) and their own order within.
    Without assets, the request keeps the addresses its caller gave it."""
    if not chosen:
        return request
    lists = {"image_urls": [], "video_urls": [], "audio_urls": []}
    ordered = sorted(enumerate(chosen), key=lambda p: (ROLE_ORDER.index(p[1][0]), p[0]))
    for _, (role, asset) in ordered:
        lists[URL_FIELDS[role]].append(signed_url(asset, until))
    return dataclasses.replace(request, **lists)


def without_urls(request):
    """What is stored on the generation: the mode, never addresses that will expire."""
    return dataclasses.replace(request, image_urls=(), video_urls=(), audio_urls=())


def lock_chosen(chosen) -> list[str]:
    """Lock the rows of the assets in `chosen` until the transaction ends; the names of
    those deleted since they were chosen.

    Asset.delete_unless_in_use locks the same row before it looks for jobs that use it,
    so a delete and a submission of the same asset never both go ahead."""
    wanted = {asset.pk: asset for _, asset in chosen}
    if not wanted:  # a text-to-video job, most of them: not even a query to build
        return []
    found = set(
        Asset.objects.select_for_update()
        .filter(pk__in=wanted)
        .order_by("pk")  # one order for every locker: no deadlock between two submissions
        .values_list("pk", flat=True)
    )
    return [asset.name for pk, asset in wanted.items() if pk not in found]


def missing_roles(generation) -> list[str]:
    """The roles of a generation's inputs whose asset was deleted since it was submitted."""
    rows = generation.inputs.filter(asset__isnull=True).order_by("role", "position")
    return [Role(row.role).label.lower() for row in rows]


def record(generation, chosen) -> None:
    """Keep which assets `generation` uses, in their roles and order."""
    positions: dict[str, int] = {}
    rows = []
    for role, asset in chosen:
        position = positions.get(role, 0)
        positions[role] = position + 1
        rows.append(
            GenerationInput(generation=generation, asset=asset, role=role, position=position)
        )
    GenerationInput.objects.bulk_create(rows)


def chosen_for(generation) -> list:
    """The (role, asset) pairs of a generation, for sending, remixing or running again;
    an input whose asset was deleted since is left out."""
    rows = generation.inputs.select_related("asset").order_by("role", "position")
    pairs = [(row.role, row.asset) for row in rows if row.asset is not None]
    return sorted(pairs, key=lambda pair: ROLE_ORDER.index(pair[0]))


def request_for_sending(generation):
    """The request to send to a vendor now: its inputs at addresses valid until past the
    job's deadline."""
    return with_urls(
        generation.video_request, chosen_for(generation), url_deadline(generation.expires_at)
    )


def on_cards(cards) -> list:
    """Give the gallery's cards of clips made from inputs their inputs' names and
    thumbnails, from one query (none when every card is text-to-video)."""
    wanted = {card.uuid: card for card in cards if card.mode != "text"}
    if not wanted:
        return cards
    rows = (
        GenerationInput.objects.filter(generation__uuid__in=list(wanted), asset__isnull=False)
        .order_by("role", "position")
        .values_list("generation__uuid", "role", "asset__uuid", "asset__name")
    )
    for generation_uuid, role, asset_uuid, name in rows:
        thumbnail = reverse("asset_thumbnail", args=[asset_uuid])
        wanted[str(generation_uuid)].inputs.append((Role(role).label, thumbnail, name))
    return cards
