"""A person types a prompt and presses Generate: one press makes the job.

Pressing the button blurs the prompt, and the prompt's change event asks for a live quote
as the press begins. The quote's answer used to redraw the button before the press ended,
so the browser saw the press start on one button and end on another, and fired no click:
the member had to press twice. Playwright's own click presses for no time at all, which
hides this; these presses last as long as a person's do."""

import pytest
from playwright.sync_api import expect

from billing import ledger
from generations.models import Generation, Project
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_assets_in_chromium import mia, signed_in_as_mia
from tests.generations.conftest import make_account

pytestmark = pytest.mark.browser


def mouse_down_on(page, locator):
    """The mouse pressed (not released) in the middle of `locator`."""
    box = locator.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()


def press(page, locator, milliseconds):
    """Press and release `locator` with the mouse, `milliseconds` apart."""
    mouse_down_on(page, locator)
    page.wait_for_timeout(milliseconds)
    page.mouse.up()


def generate_page(chromium, studio, team, operator, budget, errors=None):
    """Mia signed in on the Generate page of a new project, Evolink's sandbox enabled and
    `budget` micro-dollars granted: the page, the project, the page's script errors (in
    `errors` when given)."""
    mia(team)
    ledger.grant(team, budget, by=operator, memo="Budget", key=f"press-{budget}")
    project = Project.objects.create(team=team, name="Harbour")
    make_account("evolink", studio)
    errors = [] if errors is None else errors
    page = signed_in_as_mia(chromium, studio, errors)
    page.goto(f"{studio}/generate/?project={project.uuid}")
    return page, project, errors


@pytest.mark.parametrize("milliseconds", [60, 250])
def test_one_press_on_generate_right_after_typing_makes_the_job(
    chromium, studio, team, operator, milliseconds
):
    page, project, errors = generate_page(chromium, studio, team, operator, 50_000_000)
    button = page.get_by_role("button", name="Generate clip")
    expect(button).to_be_enabled()

    with page.expect_response(lambda r: "/generate/quote/" in r.url):  # it follows the typing
        page.locator("#id_prompt").fill("Red dawn over the harbour, slow push in")
    with page.expect_response(lambda r: "/generate/quote/" in r.url):
        press(page, button, milliseconds)  # the quote that follows the prompt's blur

    page.wait_for_url(lambda url: "/jobs/" in url)
    assert Generation.objects.filter(team=team, project=project).count() == 1
    assert errors == []


def test_the_button_follows_the_quote_when_what_it_shows_changes(chromium, studio, team, operator):
    """Enough money for one clip ($0.79 at Evolink), not for two."""
    page, _, errors = generate_page(chromium, studio, team, operator, 1_000_000)
    expect(page.get_by_role("button", name="Generate clip")).to_be_enabled()

    page.get_by_label("Variants").select_option("2")
    expect(page.get_by_role("button", name="Generate 2 clips")).to_be_disabled()
    expect(page.locator("#quote-reasons")).to_contain_text("the team has $1.00 available")
    page.locator(".quote").screenshot(path=SCREENSHOTS / "generate-quote-refused.png")
    page.get_by_label("Variants").select_option("1")
    expect(page.get_by_role("button", name="Generate clip")).to_be_enabled()
    expect(page.locator("#quote-reasons")).to_have_count(0)
    assert errors == []
