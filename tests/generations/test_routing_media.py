"""Routing by mode and media: only accounts that accept a request as given are routes,
the others say why, a pinned account that cannot take it is refused before anything is
held, and quotes follow the inputs where a vendor's rate does."""

import pytest

from billing import ledger
from billing.models import Hold
from generations import lifecycle, routing
from generations.models import Generation
from generations.studio.presenters import options_for
from generations.vendors import Family, VideoRequest
from tests.generations.factories import VendorAccountFactory

FIRST, LAST = "https://assets.example/first.png", "https://assets.example/last.png"
VIDEO = "https://assets.example/motion.mp4"


@pytest.fixture
def accounts(db):
    return {
        protocol: VendorAccountFactory(protocol=protocol, label=label, priority=number)
        for number, (protocol, label) in enumerate(
            [
                ("kinovi", "Kinovi"),
                ("seedanceapi_org", "SeedanceAPI.org"),
                ("evolink", "Evolink"),
                ("seedance2_ink", "Seedance2.ink"),
                ("aigptimage", "AIGPTImage"),
            ]
        )
    }


def first_last(**changes):
    return VideoRequest(
        **(
            {
                "family": "seedance-2.0",
                "prompt": "Sunrise to night skyline",
                "mode": "first_last",
                "image_urls": (FIRST, LAST),
            }
            | changes
        )
    )


def test_it_says_which_accounts_take_first_and_last_frames_and_why_the_others_do_not(accounts):
    found = {v.account.protocol: v for v in routing.verdicts(first_last())}
    assert [p for p, v in found.items() if v.accepts] == ["evolink", "seedance2_ink"]
    assert found["kinovi"].problems == ["Kinovi offers Seedance 2.0 only as text-to-video"]
    assert found["seedanceapi_org"].problems == [
        "SeedanceAPI.org offers Seedance 2.0 only as text-to-video or image-to-video"
    ]
    assert found["aigptimage"].problems == ["AIGPTImage offers Seedance 2.0 only as text-to-video"]
    assert found["evolink"].credits > 0 and found["evolink"].micros > 0


def test_routing_only_considers_accounts_that_take_the_mode(team, accounts):
    offer = routing.route(team, first_last())
    assert sorted(r.account.protocol for r in offer.routes) == ["evolink", "seedance2_ink"]
    assert "Kinovi offers Seedance 2.0 only as text-to-video" in offer.problems


def test_routing_leaves_out_accounts_whose_media_counts_do_not_fit(team, accounts):
    images = tuple(f"https://assets.example/{n}.png" for n in range(6))
    request = first_last(mode="reference", image_urls=images)
    offer = routing.route(team, request)
    # Evolink takes up to 9 reference images; seedance2.ink 5 files in all.
    assert [r.account.protocol for r in offer.routes] == ["evolink"]
    assert (
        "Seedance2.ink accepts 1 to 5 media files in all for reference-to-video, not 6"
        in offer.problems
    )


def test_a_pinned_account_that_cannot_take_the_mode_is_refused_before_any_hold(
    team, member, accounts
):
    ledger.grant(team, 50_000_000, by=member, memo="budget", key="grant-pinned")
    project = team.projects.create(name="Trailer", created_by=member)
    with pytest.raises(lifecycle.SubmitRefused) as refused:
        lifecycle.submit(
            team=team,
            member=member,
            project=project,
            request=first_last(),
            pinned=accounts["kinovi"],
        )
    assert str(refused.value) == (
        "The chosen vendor cannot take this request: Kinovi offers Seedance 2.0 only as "
        "text-to-video."
    )
    assert not Hold.objects.exists()
    assert not Generation.objects.exists()


def test_a_pinned_account_that_takes_the_mode_is_the_only_route(team, accounts):
    offer = routing.route(team, first_last(), pinned=accounts["seedance2_ink"])
    assert [r.account.protocol for r in offer.routes] == ["seedance2_ink"]


def test_a_mini_quote_with_reference_video_uses_the_documented_lower_rate(accounts):
    mini = {"family": "seedance-2.0-mini", "duration": 8, "resolution": "720p"}
    with_video = first_last(mode="reference", image_urls=(FIRST,), video_urls=(VIDEO,), **mini)
    images_only = first_last(mode="reference", image_urls=(FIRST,), **mini)
    account = [accounts["seedanceapi_org"]]
    [video_quote] = routing.verdicts(with_video, account)
    [image_quote] = routing.verdicts(images_only, account)
    # "720p with reference_video_urls ceil(18.75 × seconds)"; text / image ceil(30.75 × s).
    assert (video_quote.credits, image_quote.credits) == (150, 246)
    assert video_quote.micros < image_quote.micros


def test_the_generate_options_say_which_modes_are_offered_and_where(accounts):
    every = list(accounts.values())
    options = options_for(Family.SEEDANCE_2, None, every)
    assert [m.value for m in options.modes] == ["text", "image", "first_last", "reference"]
    assert options.notes["mode"] == (
        "Kinovi only text-to-video. SeedanceAPI.org only text-to-video or image-to-video. "
        "AIGPTImage only text-to-video."
    )
    assert options.notes["reference"] == (
        "Evolink takes up to 9 images, 3 videos and 3 audio clips, with at least one image "
        "or video; Seedance2.ink takes 1 to 5 files in all, HTTPS only; one or two images "
        "alone count as frames."
    )
    mini = options_for(Family.SEEDANCE_2_MINI, None, every)
    assert mini.notes["reference"] == (
        "SeedanceAPI.org takes up to 4 images plus reference videos and audio, for Mini only."
    )
    pinned = options_for(Family.SEEDANCE_2, accounts["kinovi"], every)
    assert [m.value for m in pinned.modes] == ["text"]
    assert "reference" not in pinned.notes
    assert pinned.notes["mode"] == (
        "Not offered for Seedance 2.0 at Kinovi: image-to-video, first + last frame or "
        "reference-to-video."
    )
