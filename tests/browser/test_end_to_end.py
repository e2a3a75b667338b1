"""Issue #6: a member's day in Chromium, from logging in to a storyboard export.

Everything after seeding happens through the pages, as a person would do it; the
database is only read, to know what the pages should say. A screenshot of every
page goes to tests/screenshots/ (the README shows the gallery).
"""

import io
import re
import time
import zipfile
from pathlib import Path

import pytest
from django.template.defaultfilters import filesizeformat, floatformat
from playwright.sync_api import expect

from billing import ledger
from billing.teams.demo import DEMO_PASSWORD, seed_people
from generations import demo as generations_demo
from generations import routing
from generations.media.video import probe
from generations.models import Generation, Scene, State
from generations.vendors import VideoRequest
from tests.browser.conftest import SCREENSHOTS

pytestmark = pytest.mark.browser

PROMPT = "A lighthouse keeper climbs a spiral staircase at dusk, warm lamplight, slow crane shot"
SAMPLES_SECONDS = 40
JOB_MS = 30_000
EXPORT_MS = 40_000
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def demo(studio, qcluster):
    """The demo's team, people, sandbox vendors and budget, and its three sample clips,
    made by the cluster as `manage.py demo` has them made."""
    team, _ = seed_people()
    generations_demo.seed(team)
    deadline = time.monotonic() + SAMPLES_SECONDS
    samples = Generation.objects.filter(team=team)
    while samples.exclude(state=State.SUCCEEDED).exists():
        states = list(samples.values_list("state", flat=True))
        assert not set(states) & ({*Generation.FINISHED, State.NEEDS_ATTENTION} - {State.SUCCEEDED})
        assert time.monotonic() < deadline, f"the sample clips are still {states}"
        time.sleep(0.2)
    return team


class Visit:
    """One browser tab through the studio: screenshots, the balance badge, and every
    JavaScript error or console error any page shows."""

    def __init__(self, page):
        self.page = page
        self.errors = []
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on(
            "console",
            lambda message: (
                message.type == "error" and self.errors.append(f"{page.url}: {message.text}")
            ),
        )

    def shot(self, name):
        # A full-page shot draws the sticky header where the window is scrolled to.
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    def nav(self, name):
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()

    def badge(self) -> int:
        badge = self.page.locator("#balance-badge a.badge")
        expect(badge).to_contain_text("$")
        return ledger.parse_dollars(re.search(r"\$[\d,.]+", badge.inner_text()).group())

    def posters(self):
        """Wait until every poster on the page has loaded (they load lazily)."""
        for image in self.page.locator(".clip-thumb img").element_handles():
            image.scroll_into_view_if_needed()
            self.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)

    def fact(self, term):
        """The value of one line of a page's facts list."""
        return self.page.locator(f'.facts dt:text-is("{term}") + dd')


def first_route(team, **asked):
    asked = {"family": "seedance-2.0", "duration": 5, "aspect_ratio": "16:9"} | asked
    asked.setdefault("resolution", "720p")
    return routing.route(team, VideoRequest(prompt=PROMPT, **asked)).first


def price(team, **asked) -> str:
    """What the quote should say for `asked`, from the same pricing the page uses."""
    return ledger.dollars(first_route(team, **asked).micros)


def test_a_member_generates_a_clip_and_takes_it_to_a_storyboard_export(chromium, studio, demo):
    team = demo
    closing = Scene.objects.get(project__team=team, title="Closing shot")
    opening = Scene.objects.get(project__team=team, title="Opening")
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=studio)
    visit = Visit(context.new_page())
    page = visit.page

    # --- Log in as the demo member, from a link to the Generate page -------------------
    page.goto(f"{studio}/generate/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/generate/$"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    visit.shot("01-login")
    page.get_by_label("Username").fill("member")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{studio}/generate/")

    # --- Generate: type a prompt, pick the settings, watch the quote follow ------------
    balance_before = visit.badge()
    quote = page.locator("#quote")
    total = quote.locator(".quote-total .stat")
    expect(total).to_have_text(price(team))
    expect(visit.fact("Available")).to_have_text(ledger.dollars(balance_before))
    page.get_by_role("textbox", name="Prompt").fill(PROMPT)
    expect(page.locator("#prompt-count")).to_have_text(
        re.compile(rf"^{len(PROMPT)}\b.* characters$")
    )
    # A new model redraws the settings it allows; wait for them before changing one.
    page.locator("#options").evaluate("options => { options.dataset.stale = 'true'; }")
    page.get_by_label("Model").select_option("seedance-2.0-fast")
    expect(page.locator("#options:not([data-stale])")).to_be_attached()
    expect(total).to_have_text(price(team, family="seedance-2.0-fast"))
    page.get_by_label("Duration").select_option("6")
    expect(total).to_have_text(price(team, family="seedance-2.0-fast", duration=6))
    page.get_by_label("Resolution").select_option("480p")
    page.get_by_label("Generate audio").check()
    asked = {"family": "seedance-2.0-fast", "duration": 6, "resolution": "480p", "audio": True}
    expect(total).to_have_text(price(team, **asked))
    # Evolink, ModelArk and fal sell Seedance 2.0 Fast with generated audio; the
    # cheapest of them (ModelArk, at its seeded price per token) takes it.
    vendor = first_route(team, **asked).account.label
    assert vendor == "BytePlus ModelArk (sandbox)"
    expect(visit.fact("Vendor")).to_have_text(vendor)
    page.get_by_label("Scene", exact=True).select_option(label=str(closing))
    expect(page.get_by_label("Project", exact=True)).to_have_value(str(closing.project.uuid))
    visit.shot("02-generate")
    page.get_by_role("button", name="Generate clip").click()

    # --- Jobs: the new job is in flight; its own page follows it to the end -------------
    expect(page).to_have_url(f"{studio}/jobs/")
    expect(page.locator(".messages")).to_contain_text("Your clip queued with Seedance 2.0 Fast")
    generation = Generation.objects.get(team=team, prompt=PROMPT)
    card = page.locator(f"#job-{generation.uuid}")
    expect(card).to_contain_text("Seedance 2.0 Fast · 6 s · 480p 16:9 · audio")
    expect(card).to_contain_text("Launch trailer / Closing shot")
    visit.shot("03-jobs")

    # A fake clock that runs at the normal pace, so time can be skipped ahead later.
    page.clock.install()
    with page.expect_response(lambda r: "/billing/badge/" in r.url):  # as every page loads
        card.get_by_role("link", name=PROMPT).click()
    expect(page).to_have_url(f"{studio}/jobs/{generation.uuid}/")
    card = page.locator(f"#job-{generation.uuid}")
    expect(card).to_have_attribute("hx-trigger", "every 2s")
    assert visit.badge() == balance_before - generation.hold.amount
    # The card's last answer, the finished one, has the balance badge refresh itself.
    with page.expect_request(lambda r: "/billing/badge/" in r.url, timeout=JOB_MS):
        expect(card.locator(".state")).to_have_text("Generating", timeout=JOB_MS)
        expect(card.locator(".state")).to_have_text("Done", timeout=JOB_MS)
    expect(card.locator("progress.job-progress")).to_have_attribute("value", "100")
    expect(card).to_have_attribute("data-finished", "true")
    expect(card.get_by_role("link", name="Open clip")).to_be_visible()
    expect(page.locator("#toasts")).to_contain_text("Your clip is ready")
    # The job's page opens its timeline, and it stays open through every poll.
    expect(card.locator(".events")).to_be_visible()
    expect(card.locator(".events")).to_contain_text("Clip saved. Charged")
    generation.refresh_from_db()
    charge = ledger.dollars(generation.charge_micros)
    expect(card.locator(".job-cost")).to_contain_text(f"Charged {charge}")
    balance_after = ledger.dollars(balance_before - generation.charge_micros)
    expect(page.locator("#balance-badge")).to_contain_text(balance_after)
    visit.shot("04-job")
    # The finished card carries no trigger, so nothing asks for it again: skipping the
    # clock ten seconds ahead (a pending poll would fire in two) sends no request.
    expect(card).not_to_have_attribute("hx-trigger", re.compile(".*"))
    polls = []
    page.on("request", lambda r: "/card/" in r.url and polls.append(r.url))
    page.clock.run_for(10_000)
    page.wait_for_timeout(300)
    assert polls == []

    # --- Gallery: the clip is there with its poster and what made it --------------------
    clip = generation.clip
    visit.nav("Gallery")
    expect(page).to_have_url(f"{studio}/gallery/")
    cards = page.locator(".clip-card")
    expect(cards).to_have_count(4)  # the demo's three samples and ours, newest first
    card = cards.first
    expect(card.locator(".clip-prompt")).to_have_text(PROMPT)
    expect(card.locator(".clip-duration")).to_have_text(f"{floatformat(clip.duration, 0)} s")
    meta = card.locator(".clip-meta")
    expect(meta).to_contain_text("Launch trailer · Closing shot · Seedance 2.0 Fast")
    expect(meta).to_contain_text("member")
    expect(meta).to_contain_text(vendor)
    expect(card.locator(".clip-thumb img")).to_have_attribute(
        "src", f"/clips/{generation.uuid}/poster.jpg"
    )
    visit.posters()
    visit.shot("05-gallery")
    card.hover()
    expect(card.locator("video.preview")).to_be_attached()
    page.mouse.move(0, 0)
    expect(card.locator("video.preview")).not_to_be_attached()
    page.get_by_label("Search prompts").fill("lighthouse")
    expect(page).to_have_url(f"{studio}/gallery/?q=lighthouse")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".clip-prompt")).to_have_text(PROMPT)
    visit.shot("06-gallery-search")

    # --- Clip: play it, seek it, copy its prompt, read every detail ----------------------
    media_answers = []
    page.on(
        "response",
        lambda r: (
            "/video.mp4" in r.url
            and media_answers.append((r.status, r.headers.get("content-range", "")))
        ),
    )
    cards.first.locator(".clip-prompt").click()
    expect(page).to_have_url(f"{studio}/clips/{generation.uuid}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(PROMPT)
    video = page.locator(".player video").element_handle()
    page.evaluate("video => video.play()", video)
    page.wait_for_function("video => video.currentTime > 0", arg=video)
    page.evaluate("video => { video.currentTime = 4; }", video)
    page.wait_for_function("video => !video.seeking && video.currentTime >= 4", arg=video)
    assert any(status == 206 and span.startswith("bytes ") for status, span in media_answers)
    ranged = page.evaluate(
        """async url => {
            const answer = await fetch(url, {headers: {Range: "bytes=100-199"}});
            const body = await answer.arrayBuffer();
            return [answer.status, answer.headers.get("Content-Range"), body.byteLength];
        }""",
        f"/clips/{generation.uuid}/video.mp4",
    )
    assert ranged == [206, f"bytes 100-199/{clip.bytes}", 100]
    copy = page.locator(f'button[data-copy="{PROMPT}"]')
    expect(copy).to_have_text("Copy prompt")
    copy.click()
    expect(copy).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == PROMPT
    expect(visit.fact("Model")).to_have_text("Seedance 2.0 Fast")
    expect(visit.fact("Vendor account")).to_have_text(vendor)
    expect(visit.fact("Project")).to_contain_text("Launch trailer")
    expect(visit.fact("Project")).to_contain_text(str(closing.project.uuid))
    expect(visit.fact("Scene")).to_contain_text(str(closing))
    expect(visit.fact("Scene")).to_contain_text(str(closing.uuid))
    expect(visit.fact("Duration")).to_have_text(f"{floatformat(clip.duration, 2)} s (asked 6 s)")
    expect(visit.fact("Resolution")).to_contain_text(f"{clip.width}×{clip.height}")
    expect(visit.fact("Audio")).to_have_text("Yes")
    expect(visit.fact("Size")).to_have_text(filesizeformat(clip.bytes))
    expect(visit.fact("Cost")).to_contain_text(charge)
    expect(visit.fact("Made by")).to_have_text("member")

    # Favourite it, and find it under the favourites filter.
    favourite = page.locator(".clip-actions .fav")
    expect(favourite).to_have_attribute("aria-pressed", "false")
    favourite.click()
    expect(page.locator(".clip-actions .fav")).to_have_attribute("aria-pressed", "true")
    visit.shot("07-clip")
    visit.nav("Gallery")
    page.get_by_label("My favourites only").check()
    expect(page).to_have_url(f"{studio}/gallery/?favourites=on")
    expect(cards).to_have_count(1)
    expect(cards.first.locator(".clip-prompt")).to_have_text(PROMPT)
    expect(cards.first.locator(".fav")).to_have_attribute("aria-pressed", "true")
    visit.shot("08-gallery-favourites")

    # Remix: the form starts as the clip was asked for.
    cards.first.locator(".clip-prompt").click()
    page.get_by_role("link", name="Remix").click()
    expect(page).to_have_url(f"{studio}/generate/?from={generation.uuid}")
    expect(page.locator(".callout")).to_contain_text("Remixing an earlier clip")
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value(PROMPT)
    expect(page.get_by_label("Model")).to_have_value("seedance-2.0-fast")
    expect(page.get_by_label("Duration")).to_have_value("6")
    expect(page.get_by_label("Aspect ratio")).to_have_value("16:9")
    expect(page.get_by_label("Resolution")).to_have_value("480p")
    expect(page.get_by_label("Generate audio")).to_be_checked()
    expect(page.get_by_label("Scene", exact=True)).to_have_value(str(closing.uuid))
    expect(page.locator('input[name="remix_of"]')).to_have_value(str(generation.uuid))
    expect(total).to_have_text(price(team, **asked))
    visit.shot("09-generate-remix")

    # --- Project: choose takes, open the storyboard, export it ----------------------------
    visit.nav("Projects")
    expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    visit.shot("10-projects")
    page.get_by_role("link", name="Launch trailer").first.click()
    expect(page.get_by_role("heading", name="Launch trailer", level=1)).to_be_visible()
    for scene, take in ((closing, generation), (opening, opening.generations.get())):
        section = page.locator(f"#scene-{scene.uuid}")
        option = section.locator(".take").filter(has=page.locator(f'a[href$="/{take.uuid}/"]'))
        option.get_by_role("button", name="Use this take").click()
        chosen = page.locator(f"#scene-{scene.uuid} .take.chosen")
        expect(chosen.locator(".chosen-tag")).to_have_text("Chosen")
        expect(chosen.locator(f'a[href="/clips/{take.uuid}/"]')).to_be_attached()
    expect(page.locator(f"#scene-{closing.uuid} .take")).to_have_count(2)
    expect(page.locator("#chosen-count")).to_have_text("2 with a chosen take")
    visit.shot("11-project")

    page.get_by_role("link", name="Storyboard").click()
    expect(page).to_have_url(f"{studio}/projects/{closing.project.uuid}/storyboard/")
    expect(page.locator(".page-head")).to_contain_text("2 of 3 scenes with a chosen take")
    frames = page.locator(".board-frame")
    expect(frames).to_have_count(3)
    expect(frames.nth(2)).to_contain_text(PROMPT)
    expect(frames.nth(1)).to_contain_text("No take chosen")
    page.get_by_role("button", name="Make one MP4").click()
    export = page.locator("#export-status")
    expect(export.locator("progress")).to_be_visible()
    download_link = export.get_by_role("link", name="Download MP4")
    expect(download_link).to_be_visible(timeout=EXPORT_MS)
    visit.shot("12-storyboard")
    with page.expect_download() as download:
        download_link.click()
    joined = Path(download.value.path())
    assert download.value.suggested_filename == "launch-trailer-storyboard.mp4"
    takes = [opening.generations.get().clip, clip]
    assert abs(probe(joined).duration - sum(c.duration for c in takes)) < 0.3
    with page.expect_download() as download:
        page.get_by_role("link", name="Download takes (.zip)").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    assert archive.namelist() == ["01-opening.mp4", "03-closing-shot.mp4", "storyboard.txt"]
    assert archive.read("03-closing-shot.mp4") == Path(clip.file.path).read_bytes()
    assert f"prompt: {PROMPT}" in archive.read("storyboard.txt").decode()

    # --- Billing and Team: the balance moved by what the clip cost ------------------------
    visit.nav("Billing")
    expect(page.get_by_role("heading", name="Billing", level=1)).to_be_visible()
    expect(page.locator(".stat").first).to_have_text(balance_after)
    expect(page.locator("#statement")).to_contain_text(f"Clip by {vendor}")
    assert visit.badge() == balance_before - generation.charge_micros
    visit.shot("13-billing")
    visit.nav("Team")
    expect(page.get_by_role("heading", name="Demo Studio", level=1)).to_be_visible()
    for person in ("owner", "member", "viewer"):
        expect(page.locator("table")).to_contain_text(person)
    assert visit.badge() == balance_before - generation.charge_micros
    visit.shot("14-team")

    # --- A phone: the pages fit its width ---------------------------------------------
    phone = Visit(
        chromium.new_context(viewport=PHONE, storage_state=context.storage_state()).new_page()
    )
    for path, name in (("/generate/", "15-generate-phone"), ("/gallery/", "16-gallery-phone")):
        phone.page.goto(f"{studio}{path}")
        phone.badge()
        phone.posters()
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.shot(name)

    assert visit.errors + phone.errors == []
