"""An operator settles a stuck job in Chromium: the count in the navigation, the list, the
job's page, a refused task id shown next to its field, then the job failed and its hold
returned. Screenshots go to tests/screenshots/attention*.png."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing import ledger
from generations.models import State
from tests.browser.conftest import SCREENSHOTS
from tests.generations.factories import GenerationFactory, ProjectFactory, VendorAccountFactory

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery"  # tests.factories.UserFactory's


@pytest.fixture
def stuck(team, owner, member, operator, other_team, outsider):
    """Made before Chromium starts (Playwright's loop would give the ORM its own connection)."""
    ledger.grant(team, 20_000_000, by=operator, memo="Budget", key="budget")
    ledger.grant(other_team, 20_000_000, by=operator, memo="Budget", key="budget")
    kinovi = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    evolink = VendorAccountFactory(protocol="evolink", label="Evolink backup")
    jobs = []
    for team_, who, account, kind, task_id, message, prompt in [
        (
            team,
            member,
            kinovi,
            "unknown_outcome",
            "kv-task-8841",
            "Kinovi main did not answer the create within 60 s. An operator must check with "
            "the vendor.",
            "A night ferry leaves the harbour, lights smearing on the water, slow dolly out",
        ),
        (
            other_team,
            outsider,
            evolink,
            "quarantined",
            None,
            "Set aside after 5 failed attempts to save the finished clip. Last error: "
            "OSError: No space left on device.",
            "Gulls circle the lighthouse in a storm, spray on the lens",
        ),
    ]:
        project = ProjectFactory(team=team_, name="Harbour lights", created_by=who)
        job = GenerationFactory(
            project=project,
            created_by=who,
            prompt=prompt,
            state=State.NEEDS_ATTENTION,
            vendor_account=account,
            error_kind=kind,
            error_message=message,
        )
        job.hold = ledger.hold(team_, who, project, 1_250_000, "Job", f"generation:{job.uuid}")
        job.save(update_fields=["hold"])
        job.log("submitted", f"Submitted {job.family_label}, 5 s at 720p.")
        job.log("needs_attention", message, **({"vendor_task_id": task_id} if task_id else {}))
        waiting = timezone.now() - timedelta(minutes=40 * (len(jobs) + 1))
        job.events.update(created=waiting)
        jobs.append(job)
    return jobs[0]


def signed_in(chromium, studio, username, errors):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{studio}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    return page


def test_an_operator_settles_a_stuck_job(chromium, studio, stuck, team):
    errors = []
    page = signed_in(chromium, studio, "ops", errors)

    page.goto(f"{studio}/vendors/")
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Needs attention")
    expect(link).to_contain_text("2")
    link.click()
    expect(page.get_by_role("heading", name="2 jobs waiting")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "attention.png", full_page=True)

    page.get_by_role("link", name="A night ferry leaves the harbour").click()
    expect(page.get_by_label("Vendor task id")).to_have_value("kv-task-8841")
    page.screenshot(path=SCREENSHOTS / "attention-job.png", full_page=True)

    page.get_by_label("Vendor task id").fill("kv task 8841")
    page.get_by_role("button", name="Attach it and follow it").click()
    expect(page.locator("#id_task_id_error")).to_contain_text("no spaces")
    expect(page.get_by_label("Vendor task id")).to_have_value("kv task 8841")

    page.get_by_label("I checked: the vendor has no task for this job").check()
    page.get_by_role("button", name="Fail it and return the money").click()
    expect(page.locator(".msg.success")).to_contain_text(f"$1.25 went back to {team.name}")
    expect(page.get_by_role("heading", name="1 job waiting")).to_be_visible()

    # The other team's owner reads why its money is held, and can do nothing about it.
    page = signed_in(chromium, studio, "oscar", errors)
    page.goto(f"{studio}/jobs/")
    note = page.locator(".attention-note")
    expect(note).to_contain_text("This job kept failing at one step")
    expect(note).to_contain_text("Its $1.25 stays on hold until they settle it")
    expect(page.get_by_role("link", name="Needs attention")).to_have_count(0)
    page.screenshot(path=SCREENSHOTS / "attention-owner.png", full_page=True)
    assert errors == []
