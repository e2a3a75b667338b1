"""Adversarial review of stop 27 in Chromium: the submit button outside #quote, redrawn by
a live quote only when what it shows changed (submit_key).

Three defects were found here and fixed:
- a quote that changed only the label ("Generate 2 clips", after the Variants select)
  still replaced the button; answered under a press, the press made no click (static/js/
  studio.js now writes the label into the button that is there);
- Back to Generate: the browser put the Variants select back at 2 while the server drew
  "Generate clip" for 1, and a press made two clips (studio.js asks for a quote on Back);
- a file chosen while a quote was in flight waited in the grid's "queue last" and the next
  quote dropped it (templates/assets/inputs.html: the upload has its own queue).
The other tests pin what held. Some hold a quote's answer back (page.route) so that it
lands where a slow network would put it: under a press, after a submission's answer.
"""

import pytest
from playwright.sync_api import expect

from billing import ledger
from billing.models import Hold
from generations.assets.models import Asset
from generations.models import Generation
from tests.assets.media import image_bytes
from tests.browser.test_generate_click import generate_page as open_generate
from tests.browser.test_generate_click import mouse_down_on, press

pytestmark = pytest.mark.browser
QUOTE = "**/generate/quote/"
ONE_CLIP = 1_000_000  # $1.00: one Evolink clip is $0.79, two are not


def generate_page(chromium, studio, team, operator, money, errors):
    """test_generate_click's Generate page with a prompt typed, the typing's quote and
    the blur's quote answered."""
    page, _, _ = open_generate(chromium, studio, team, operator, money, errors)
    expect(page.locator("#submit-row button")).to_be_enabled()
    with page.expect_response(lambda r: "/generate/quote/" in r.url):  # after the typing
        page.locator("#id_prompt").fill("Red dawn over the harbour, slow push in")
    with page.expect_response(lambda r: "/generate/quote/" in r.url):  # the prompt's change
        page.locator("#id_prompt").blur()
    return page


def hold_first_quote(page):
    """Hold the next quote's request back; later ones go through. Returns the held list."""
    held = []

    def handler(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(QUOTE, handler)
    return held


def wait_for(page, held, count=1, seconds=15):
    """Until `count` requests are held, for `seconds` at most."""
    for _ in range(seconds * 100):
        if len(held) >= count:
            return
        page.wait_for_timeout(10)
    raise AssertionError(f"{len(held)} of {count} requests held after {seconds} s")


def row_state(page):
    """What the row shows, and whether what the disabled button points at exists."""
    return page.evaluate(
        """() => { const b = document.querySelector('#submit-row button');
        const to = b.getAttribute('aria-describedby');
        return {key: document.querySelector('[name=submit_key]').value, label: b.textContent.trim(),
                disabled: b.disabled, describedby: to, target: !!(to && document.getElementById(to)),
                refused: document.querySelector('#quote').classList.contains('refused')}; }"""
    )


def two_clips_answered_under_a_press(page):
    """Variants set to 2, the quote for it held back until the mouse is down on the
    button, then answered: the mouse is still down when this returns."""
    held = hold_first_quote(page)
    page.get_by_label("Variants").select_option("2")
    wait_for(page, held)
    mouse_down_on(page, page.locator("#submit-row button"))
    with page.expect_response(lambda r: "/generate/quote/" in r.url):
        held[0].continue_()


def test_a_press_while_a_quote_relabels_the_button_makes_the_jobs(chromium, studio, team, operator):
    """Defect (fixed): the quote for Variants 2 (ok-1 -> ok-2) answered between mouse down
    and up replaced the button, and the press made no job. Fails without studio.js's
    htmx:oobBeforeSwap listener."""
    errors = []
    page = generate_page(chromium, studio, team, operator, 50_000_000, errors)
    two_clips_answered_under_a_press(page)
    expect(page.locator("#submit-row button")).to_have_text("Generate 2 clips")
    page.mouse.up()
    page.wait_for_url(lambda url: "/jobs/" in url)
    assert Generation.objects.filter(team=team).count() == 2
    assert Hold.objects.filter(team=team).count() == 2
    assert errors == []


def test_a_press_while_a_quote_refuses_makes_nothing(chromium, studio, team, operator):
    """Held: a quote that refuses (money for one clip, Variants 2) answered under a press
    replaces the button with a disabled one; no click, nothing made or held, and the
    disabled button points at reasons that are on the page."""
    errors = []
    page = generate_page(chromium, studio, team, operator, ONE_CLIP, errors)
    two_clips_answered_under_a_press(page)
    page.mouse.up()
    page.wait_for_timeout(400)
    state = row_state(page)
    assert state["disabled"] and state["key"] == "refused-2" and state["target"]
    assert state["label"] == "Generate 2 clips"
    assert "/generate/" in page.url
    assert not Generation.objects.exists() and not Hold.objects.exists()
    assert errors == []


@pytest.mark.parametrize("milliseconds", [60, 250])
def test_one_press_right_after_changing_variants_makes_the_jobs_once(
    chromium, studio, team, operator, milliseconds
):
    """A person's press right after the Variants select, at the server's own speed: one
    submission of two clips (before the fix about one press in two made nothing)."""
    errors = []
    page = generate_page(chromium, studio, team, operator, 50_000_000, errors)
    page.locator("#id_prompt").fill("Red dawn over the harbour, slow push in, gulls")
    page.get_by_label("Variants").select_option("2")
    press(page, page.locator("#submit-row button"), milliseconds)
    page.wait_for_url(lambda url: "/jobs/" in url)
    page.wait_for_timeout(300)
    assert Generation.objects.filter(team=team).count() == 2
    assert Hold.objects.filter(team=team).count() == 2
    assert errors == []


def test_back_to_generate_quotes_the_choices_the_browser_put_back(chromium, studio, team, operator):
    """Defect (fixed): Back put the Variants select back at 2 while the page said
    "Generate clip", and one press made two clips. Fails without the pageshow listener."""
    errors = []
    page = generate_page(chromium, studio, team, operator, 50_000_000, errors)
    page.get_by_label("Variants").select_option("2")
    expect(page.locator("#submit-row button")).to_have_text("Generate 2 clips")
    page.get_by_role("link", name="Jobs").first.click()
    page.wait_for_url(lambda url: "/jobs/" in url)
    page.go_back()
    expect(page.get_by_label("Variants")).to_have_value("2")
    expect(page.locator("#submit-row button")).to_have_text("Generate 2 clips")
    expect(page.locator("[name=submit_key]")).to_have_value("ok-2")
    page.locator("#submit-row button").click()
    page.wait_for_url(lambda url: "/jobs/" in url)
    assert Generation.objects.filter(team=team).count() == 2
    assert errors == []


def test_a_quote_answered_after_a_refused_submission_changes_nothing(
    chromium, studio, team, operator
):
    """Held: the press's quote (worked out while the money was there) answers after the
    submission, refused because the money went meanwhile. htmx drops the answer of a
    grid the submission's answer replaced: the button stays disabled beside its reasons."""
    errors = []
    page = generate_page(chromium, studio, team, operator, ONE_CLIP, errors)
    page.locator("#id_prompt").fill("Red dawn over the harbour, slow push in, gulls")
    answers = []
    page.route(QUOTE, lambda route: answers.append((route, route.fetch())))
    mouse_down_on(page, page.locator("#submit-row button"))  # the prompt's change: a quote
    wait_for(page, answers)
    ledger.adjust(team, -900_000, by=operator, reason="Spent elsewhere", key="stop27-drain")
    with page.expect_response(lambda r: r.url.endswith("/generate/")):
        page.mouse.up()
    expect(page.locator(".form-errors")).to_contain_text("the team has $0.10 available")
    route, answer = answers[0]
    with page.expect_response(lambda r: "/generate/quote/" in r.url):
        route.fulfill(response=answer)
    page.wait_for_timeout(300)
    state = row_state(page)
    assert state["disabled"] and state["refused"] and state["target"]
    assert state["key"] == "refused-1"
    assert not Generation.objects.exists() and not Hold.objects.exists()
    assert errors == []


def test_a_file_chosen_while_a_quote_is_in_flight_is_uploaded(
    chromium, studio, team, operator, tmp_path
):
    """Defect (fixed): the upload waited in the grid's "queue last" behind the quote in
    flight, and the next change's quote took its place: the file was never sent. Fails
    without hx-sync="this:queue all" on the slot's file input."""
    still = tmp_path / "harbour.png"
    still.write_bytes(image_bytes((960, 540)))
    errors = []
    page = generate_page(chromium, studio, team, operator, 50_000_000, errors)
    page.get_by_label("Image to video (first frame)").check()
    page.wait_for_timeout(500)
    held = hold_first_quote(page)
    page.get_by_label("Variants").select_option("2")
    wait_for(page, held)
    page.locator("#id_first_frame_file").set_input_files(str(still))
    page.wait_for_timeout(300)
    page.get_by_label("Variants").select_option("3")
    page.wait_for_timeout(200)
    held[0].continue_()
    expect(page.locator(".slot-chosen")).to_contain_text("harbour.png")
    assert Asset.objects.count() == 1
    assert errors == []


@pytest.mark.parametrize("milliseconds", [60, 250])
def test_one_press_right_after_a_file_is_taken_makes_one_job(
    chromium, studio, team, operator, tmp_path, milliseconds
):
    """Held: a file chosen re-renders the whole form (intent=upload); the press that
    follows as soon as the button is enabled makes one image-to-video job, held once."""
    still = tmp_path / "harbour.png"
    still.write_bytes(image_bytes((960, 540)))
    errors = []
    page = generate_page(chromium, studio, team, operator, 50_000_000, errors)
    page.get_by_label("Image to video (first frame)").check()
    page.locator("#id_prompt").fill("The harbour at dawn, boats rocking")
    page.locator("#id_first_frame_file").set_input_files(str(still))
    expect(page.locator(".slot-chosen")).to_contain_text("harbour.png")
    expect(page.locator("#submit-row button")).to_be_enabled()
    press(page, page.locator("#submit-row button"), milliseconds)
    page.wait_for_url(lambda url: "/jobs/" in url)
    page.wait_for_timeout(300)
    [generation] = Generation.objects.filter(team=team)
    assert generation.request["mode"] == "image"
    assert Hold.objects.filter(team=team).count() == 1
    assert Asset.objects.count() == 1
    assert errors == []
