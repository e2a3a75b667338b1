"""The Jobs page follows its cards in flight with one request every two seconds, whatever
their number, swaps in only the cards that changed, and stops asking once none is left in
flight. Screenshot: tests/screenshots/jobs-live.png."""

import threading

import pytest
from django.db import connection
from playwright.sync_api import expect

from generations.models import Generation, State
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_attention_in_chromium import signed_in
from tests.generations.factories import GenerationFactory, ProjectFactory, VendorAccountFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def flying(team, member):
    """Made before Chromium starts (Playwright's loop would give the ORM its own connection)."""
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    project = ProjectFactory(team=team, name="Harbour lights", created_by=member)
    return [
        GenerationFactory(
            project=project,
            running=True,
            progress=10,
            vendor_account=account,
            created_by=member,
            prompt=f"Lantern number {n} drifting out to sea",
        )
        for n in range(4)
    ]


def update(generation, **fields):
    """As a worker would, from outside the browser's thread."""

    def write():
        Generation.objects.filter(pk=generation.pk).update(**fields)
        connection.close()

    worker = threading.Thread(target=write)
    worker.start()
    worker.join()


def test_the_jobs_page_follows_its_cards_with_one_poll(chromium, studio, member, flying):
    errors = []
    page = signed_in(chromium, studio, member.username, errors)
    polls, card_polls = [], []
    page.on("request", lambda r: "/jobs/in-flight/" in r.url and polls.append(r.url))
    page.on("request", lambda r: "/card/" in r.url and card_polls.append(r.url))
    page.goto(f"{studio}/jobs/")
    first, second, *rest = flying
    cards = {g.pk: page.locator(f"#job-{g.uuid}") for g in flying}

    update(first, progress=70)
    expect(cards[first.pk].locator("progress.job-progress")).to_have_attribute("value", "70")
    expect(cards[second.pk].locator("progress.job-progress")).to_have_attribute("value", "10")
    # Every card in flight is named in each poll.
    assert all(url.count("seen=") == len(flying) for url in polls)

    update(first, state=State.FAILED, error_message="Kinovi refused the prompt.")
    expect(cards[first.pk].locator(".state")).to_have_text("Failed")
    expect(cards[first.pk]).to_contain_text("Kinovi refused the prompt.")
    for g in [second, *rest]:
        update(g, state=State.CANCELLED)
    for g in [second, *rest]:
        expect(cards[g.pk].locator(".state")).to_have_text("Cancelled")
    toasts = page.locator("#toasts")
    expect(toasts).to_contain_text("Your job failed: “Lantern number 0 drifting out to sea”")
    expect(toasts).to_contain_text("Your job was cancelled: “Lantern number 1")
    page.screenshot(path=SCREENSHOTS / "jobs-live.png", full_page=True)

    # Nothing is in flight: the page stops asking, and no card ever asked for itself.
    expect(page.locator("#in-flight-poll")).not_to_have_attribute("hx-trigger", "every 2s")
    asked = len(polls)
    page.wait_for_timeout(4_500)
    assert len(polls) == asked
    assert card_polls == []
    assert errors == []
