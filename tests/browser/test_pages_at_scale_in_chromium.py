"""The pages reshaped for long histories, in Chromium: a finished job's timeline is fetched
when it is opened, a scene shows its newest takes and leads to the rest in the gallery,
the search box narrows the gallery as one types, and a card's favourite button works.
Screenshots go to tests/screenshots/scale-*.png."""

import re

import pytest
from playwright.sync_api import expect

from generations.models import Scene
from generations.studio.views.projects import SCENE_TAKES
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_attention_in_chromium import signed_in
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def history(team, member):
    """Made before Chromium starts (Playwright's loop would give the ORM its own connection)."""
    account = VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    project = ProjectFactory(team=team, name="Harbour lights", created_by=member)
    scene = SceneFactory(project=project, title="The lighthouse at dusk")
    takes = [
        GenerationFactory(
            project=project,
            scene=scene,
            succeeded=True,
            vendor_account=account,
            created_by=member,
            prompt=f"Beam sweeping over the lighthouse rocks, take {n}",
        )
        for n in range(SCENE_TAKES + 2)
    ]
    GenerationFactory(
        project=project,
        succeeded=True,
        vendor_account=account,
        created_by=member,
        prompt="Gulls over the pier at noon",
    )
    takes[-1].log("submitted", "Sent to Kinovi main.")
    takes[-1].log("succeeded", "Clip saved. Charged $0.20.")
    Scene.objects.filter(pk=scene.pk).update(chosen_take=takes[0])
    return {"project": project, "scene": scene, "takes": takes}


def test_the_reshaped_pages_work_in_chromium(chromium, studio, member, history):
    errors = []
    page = signed_in(chromium, studio, member.username, errors)

    page.goto(f"{studio}/jobs/")
    newest = history["takes"][-1]
    card = page.locator(f"#job-{newest.uuid}")
    expect(card.get_by_text("Clip saved. Charged $0.20.")).to_have_count(0)
    card.locator("summary", has_text="Timeline").click()
    expect(card.get_by_text("Clip saved. Charged $0.20.")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "scale-jobs-timeline.png", full_page=True)

    page.goto(f"{studio}/projects/{history['project'].uuid}/")
    scene = page.locator(f"#scene-{history['scene'].uuid}")
    # The chosen take (the oldest) and the newest SCENE_TAKES.
    expect(scene.locator("li.take")).to_have_count(SCENE_TAKES + 1)
    expect(scene.locator("li.take.chosen")).to_contain_text("Chosen")
    page.screenshot(path=SCREENSHOTS / "scale-project.png", full_page=True)
    scene.get_by_role("link", name=f"See all {SCENE_TAKES + 2} finished takes").click()
    page.wait_for_url(f"**/gallery/?scene={history['scene'].uuid}")
    expect(page.locator("li.clip-card")).to_have_count(SCENE_TAKES + 2)

    page.goto(f"{studio}/gallery/")
    expect(page.locator("li.clip-card")).to_have_count(SCENE_TAKES + 3)
    page.get_by_label("Search prompts").fill("gull")
    expect(page.locator("li.clip-card")).to_have_count(1)
    # Leaving the box is a change of the form too: let that refresh land before clicking.
    page.get_by_label("Search prompts").blur()
    page.wait_for_load_state("networkidle")
    expect(page.locator("li.clip-card")).to_contain_text("Gulls over the pier at noon")
    star = page.locator("li.clip-card button.favourite")
    expect(star).to_have_attribute("aria-pressed", "false")
    star.click()
    pressed = page.locator("li.clip-card button.favourite")
    expect(pressed).to_have_attribute("aria-pressed", "true")
    expect(pressed).to_have_class(re.compile(r"\bicon\b"))  # still the card's icon
    # Without JavaScript the same button posts the page's favourite form.
    expect(pressed).to_have_attribute("form", "favourite-form")
    page.screenshot(path=SCREENSHOTS / "scale-gallery-search.png", full_page=True)
    assert errors == []
