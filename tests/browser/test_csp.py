"""Issue #7: every page works in Chromium under the Content-Security-Policy.

Signs in through the login form as a team's owner, then as an operator, visits every
page (the Django admin too), makes a few htmx requests, and collects each violation
Chromium reports: its console messages and the `securitypolicyviolation` events of
each document. Screenshots go to tests/screenshots/csp-*.png.
"""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.pages import furnish

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's

# Runs in every document before its own scripts, so no violation goes unheard.
LISTEN_FOR_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.effectiveDirective} refused ${event.blockedURI}` +
    ` (${event.sourceFile || "the page"}:${event.lineNumber})`
  );
});
"""


class Browsing:
    """One tab, and every CSP violation reported in it, page by page."""

    def __init__(self, browser, base_url):
        self.base = base_url
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.set_default_timeout(10_000)
        self.page.add_init_script(LISTEN_FOR_VIOLATIONS)
        self.violations = []
        self.page.on(
            "console",
            lambda message: (
                "Content Security Policy" in message.text
                and self.violations.append(f"{self.page.url}: console: {message.text}")
            ),
        )
        self.page.on("pageerror", lambda error: self.violations.append(f"{self.page.url}: {error}"))

    def reported(self) -> list[str]:
        """The current document's violation events (the listener's list)."""
        return self.page.evaluate("window.cspViolations || []")

    def collect(self):
        self.violations += [f"{self.page.url}: {v}" for v in self.reported()]

    def visit(self, path, shot=None):
        response = self.page.goto(self.base + path, wait_until="networkidle")
        assert response.status == 200, f"{path} answered {response.status}"
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, path
        if shot:
            self.page.screenshot(path=SCREENSHOTS / f"csp-{shot}.png", full_page=True)
        self.collect()

    def sign_in(self, username):
        self.visit("/login/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Log in").click()
        self.page.wait_for_url(lambda url: "/login/" not in url)
        self.collect()

    def sign_out(self):
        self.visit("/account/password/")  # any signed-in person has this page and its menu
        self.page.locator("details.menu summary").click()
        self.page.get_by_role("button", name="Log out").click()
        self.page.wait_for_url("**/login/")
        self.collect()


@pytest.fixture
def pages(studio, team, owner, member, operator):
    # Made before Chromium starts: Playwright's event loop in this thread would give
    # the ORM calls a connection of their own, which outlives the test.
    return furnish(team, owner, member, operator)


@pytest.fixture
def tab(studio, chromium):
    browsing = Browsing(chromium, studio)
    yield browsing
    browsing.page.close()


def shot_name(path: str) -> str:
    """/projects/<uuid>/storyboard/ -> projects-one-storyboard"""
    words = ["one" if "-" in w or w.isdigit() else w for w in path.strip("/").split("/")]
    return "-".join(words)


def test_every_page_works_under_the_policy(pages, tab, team):

    tab.sign_in("olivia")
    for path in pages.team_pages:
        tab.visit(path, shot=shot_name(path))

    # htmx at work: the live quote, the gallery's active search, the jobs page's poll.
    tab.visit("/generate/")
    tab.page.locator("#id_prompt").fill("A tram crosses a bridge at dawn")
    expect(tab.page.locator("#quote")).to_contain_text("$")
    tab.collect()
    tab.visit("/gallery/")
    with tab.page.expect_response(lambda r: "/gallery/?" in r.url and r.ok, timeout=30_000):
        tab.page.locator("#id_q").fill("ferry")
    expect(tab.page.locator("#gallery-results")).to_contain_text("ferry")
    tab.collect()
    tab.visit("/jobs/")
    tab.page.wait_for_event("response", lambda r: "/jobs/in-flight/" in r.url and r.ok)
    tab.collect()
    tab.sign_out()

    tab.sign_in("ops")
    for path in pages.operator_pages:
        tab.visit(path, shot=shot_name(path))
    # The admin's widgets at work: the user autocomplete (select2) and a calendar.
    tab.visit(f"/admin/billing/team/{team.pk}/change/")
    tab.page.locator(".select2-selection").first.click()
    expect(tab.page.locator(".select2-results__option", has_text="olivia")).to_be_visible()
    tab.page.keyboard.press("Escape")
    tab.page.locator("#calendarlink0").click()
    expect(tab.page.locator("#calendarbox0")).to_be_visible()
    tab.collect()
    tab.sign_out()

    assert tab.violations == []


def test_the_listener_hears_what_the_policy_refuses(tab):
    """The check above would see a violation if there were one."""
    tab.visit("/login/")
    assert tab.reported() == []
    tab.page.evaluate(
        """document.body.insertAdjacentHTML("beforeend", '<p style="color: red">inline</p>')"""
    )
    tab.page.wait_for_function("window.cspViolations.length > 0")
    assert tab.reported()[0].startswith("style-src-attr refused inline")
    expect(tab.page.locator("p", has_text="inline")).not_to_have_css("color", "rgb(255, 0, 0)")
