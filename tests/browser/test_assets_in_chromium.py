"""Issue #14 in Chromium: a member drops an image into the first-frame slot of the
Generate page, asks for image-to-video, and the sandbox makes the clip; the clip's
page shows its input.

The sandbox on this branch takes the request's image URL without fetching it; fetching
and rendering from the image is the vendor side's work (branch media-vendors)."""

import pytest
from playwright.sync_api import expect

from billing import ledger
from generations import lifecycle
from generations.assets.models import Asset, GenerationInput, Role
from generations.models import Generation, Project, State
from tests.assets.media import image_bytes
from tests.browser.conftest import SCREENSHOTS
from tests.factories import MembershipFactory
from tests.generations.conftest import drive, make_account

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"


def test_a_member_uploads_a_first_frame_and_gets_image_to_video(
    chromium, studio, team, operator, tmp_path
):
    membership = MembershipFactory(team=team, user__username="mia")
    membership.user.set_password(PASSWORD)
    membership.user.save()
    ledger.grant(team, 50_000_000, by=operator, memo="Budget", key="assets-browser")
    project = Project.objects.create(team=team, name="Harbour")
    make_account("evolink", studio)
    still = tmp_path / "harbour.png"
    still.write_bytes(image_bytes((960, 540)))
    errors = []

    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{studio}/login/")
    page.get_by_label("Username").fill("mia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)

    page.goto(f"{studio}/generate/?project={project.uuid}")
    page.get_by_label("Image to video (first frame)").check()
    expect(page.locator("#id_first_frame_file")).to_be_visible()
    expect(page.locator("#id_reference_videos_file")).to_be_hidden()
    page.locator("#id_prompt").fill("The harbour at dawn, boats rocking, slow push in")
    page.locator("#id_first_frame_file").set_input_files(str(still))
    expect(page.locator(".slot-chosen")).to_contain_text("harbour.png")
    asset = Asset.objects.get()
    expect(page.locator("#id_first_frame")).to_have_value(str(asset.uuid))
    expect(page.locator("#id_prompt")).to_have_value(
        "The harbour at dawn, boats rocking, slow push in"
    )
    page.screenshot(path=SCREENSHOTS / "generate-first-frame.png", full_page=True)
    page.get_by_role("button", name="Generate clip").click()
    page.wait_for_url(lambda url: "/jobs/" in url)

    generation = Generation.objects.get()
    assert generation.request["mode"] == "image"
    assert GenerationInput.objects.get().role == Role.FIRST_FRAME
    lifecycle.run_submit(generation.pk)
    assert drive(generation, seconds=40).state == State.SUCCEEDED, list(
        generation.events.values_list("message", flat=True)
    )
    page.goto(f"{studio}/clips/{generation.uuid}/")
    expect(page.locator(".inputs-list")).to_contain_text("harbour.png")
    expect(page.locator(".inputs-list")).to_contain_text("First frame")
    page.screenshot(path=SCREENSHOTS / "clip-with-input.png", full_page=True)
    assert errors == []


def test_several_files_upload_at_once_with_their_results(chromium, studio, team, tmp_path):
    membership = MembershipFactory(team=team, user__username="mia")
    membership.user.set_password(PASSWORD)
    membership.user.save()
    project = Project.objects.create(team=team, name="Harbour")
    make_account("evolink", studio)
    good = tmp_path / "boats.png"
    good.write_bytes(image_bytes((800, 600)))
    hostile = tmp_path / "notes.png"
    hostile.write_bytes(b"<!DOCTYPE html><html><body>not an image</body></html>")
    errors = []

    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(15_000)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{studio}/login/")
    page.get_by_label("Username").fill("mia")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)

    page.goto(f"{studio}/projects/{project.uuid}/assets/")
    page.locator("#id_files").set_input_files([str(good), str(hostile)])
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-results")).to_contain_text("Added “boats.png”")
    expect(page.locator("#upload-results")).to_contain_text("notes.png: refused.")
    expect(page.locator("#asset-list")).to_contain_text("boats.png")
    assert page.url.endswith("/assets/")  # no page load: the script uploaded them
    assert list(Asset.objects.values_list("name", flat=True)) == ["boats.png"]
    page.screenshot(path=SCREENSHOTS / "asset-library.png", full_page=True)
    assert errors == []
