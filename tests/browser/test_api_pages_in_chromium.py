"""Issue #16's pages in Chromium: an owner makes an API token on the Team page (shown
once) and a script uses it; a member checks a CSV shot list on the Batches page, sees the
bad row named, then submits a good one whole and follows its progress.
Screenshots: tests/screenshots/api-token.png, batch-preview-errors.png, batch-progress.png."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from billing import ledger
from generations.api.models import ApiToken, Batch
from generations.models import Generation
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_attention_in_chromium import signed_in
from tests.generations.factories import ProjectFactory, VendorAccountFactory

pytestmark = pytest.mark.browser

HEADER = "prompt,project,scene,model,duration,ratio,resolution,variants\n"


@pytest.fixture
def ready(team, owner, operator):
    """Made before Chromium starts (Playwright's loop would give the ORM its own connection)."""
    ledger.grant(team, 50_000_000, by=operator, memo="Budget", key="api-pages")
    VendorAccountFactory(protocol="kinovi", label="Kinovi main")
    return ProjectFactory(team=team, name="Harbour", created_by=owner)


def test_a_token_made_on_the_team_page_works_once_shown(chromium, studio, owner, ready):
    errors = []
    page = signed_in(chromium, studio, owner.username, errors)
    page.goto(f"{studio}/team/")
    page.get_by_label("Token name").fill("render farm")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_label("New API token")
    expect(shown).to_be_visible()
    token = shown.input_value()
    assert token.startswith("sds_")
    page.screenshot(path=SCREENSHOTS / "api-token.png", full_page=True)
    answer = httpx.get(f"{studio}/api/v1/balance", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    # Shown once: the next visit lists the token by name, never its secret.
    page.goto(f"{studio}/team/")
    expect(page.get_by_role("cell", name=re.compile("^render farm"))).to_be_visible()
    assert token not in page.content()
    assert ApiToken.objects.get().name == "render farm"
    assert errors == []


def test_a_shot_list_is_checked_then_submitted_whole(chromium, studio, member, ready, tmp_path):
    errors = []
    page = signed_in(chromium, studio, member.username, errors)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER
        + "Boats leave at dawn,Harbour,Dawn,seedance-2.0,5,16:9,720p,1\n"
        + "A gull takes off,Harbour,Dawn,seedance-2.0,99,16:9,720p,1\n"
    )
    page.goto(f"{studio}/batches/")
    page.get_by_label("CSV of shots").set_input_files(str(bad))
    page.get_by_role("button", name="Check the rows").click()
    expect(page.locator("main")).to_contain_text("99")
    expect(page.get_by_role("button", name="Submit all")).to_have_count(0)
    page.screenshot(path=SCREENSHOTS / "batch-preview-errors.png", full_page=True)

    good = tmp_path / "good.csv"
    good.write_text(
        HEADER
        + "Boats leave at dawn,Harbour,Dawn,seedance-2.0,5,16:9,720p,1\n"
        + "A gull takes off,Harbour,Dawn,seedance-2.0,5,16:9,720p,2\n"
    )
    page.goto(f"{studio}/batches/")
    page.get_by_label("CSV of shots").set_input_files(str(good))
    page.get_by_role("button", name="Check the rows").click()
    page.get_by_role("button", name="Submit all 3 clips").click()
    expect(page.get_by_role("heading", name="Progress")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "batch-progress.png", full_page=True)
    batch = Batch.objects.exclude(items__isnull=True).latest("created")
    assert Generation.objects.filter(team=ready.team).count() == 3
    assert batch.name
    assert errors == []
