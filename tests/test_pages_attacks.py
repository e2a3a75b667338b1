"""Attacks on the pages reshaped for long histories, found in an adversarial review:
each test reproduced a problem (it failed before the fix named in its comment).
PostgreSQL-only ones are marked `postgres` (prompt search orders only differ there).
"""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from generations.lifecycle.steps import set_state
from generations.models import Generation, State
from generations.studio import search
from tests.generations.factories import (
    ClipFactory,
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    VendorAccountFactory,
)
from tests.generations.factories import (
    finished_clip as _clip,
)

pytestmark = pytest.mark.usefixtures("media")


def _prompts(html: str) -> list[str]:
    return re.findall(r'class="clip-prompt" href="[^"]*">([^<]*)</a>', html)


def _next_page(html: str) -> str:
    """The address the last card fetches when it is revealed (infinite scroll)."""
    return re.search(r'hx-get="(/gallery/\?[^"]*)"', html).group(1).replace("&amp;", "&")


# --- Search on SQLite: a word typed exactly as the prompt has it is not found ---------


def test_search_finds_a_capitalised_non_ascii_word_typed_exactly_as_in_the_prompt(
    member_client, team
):
    # words() lowercases every word, and SQLite's LIKE (icontains) folds ASCII only:
    # "überfahrt" never matches "Überfahrt". Before the change the text went to
    # icontains as typed and this search found the clip.
    _clip(ProjectFactory(team=team), "Überfahrt im Nebel, Ölfässer am Kai")
    for q in ["Überfahrt", "Ölfässer"]:
        html = member_client.get("/gallery/", {"q": q}).content.decode()
        assert _prompts(html) == ["Überfahrt im Nebel, Ölfässer am Kai"], q


# --- Search on PostgreSQL: the order can flip between two pages of one search ---------


@pytest.mark.postgres
def test_a_search_scrolled_while_one_more_clip_finishes_does_not_repeat_its_first_page(
    member_client, team, monkeypatch
):
    # Fewer clips than PROBE: ranked, best first, offset cursor "r3". One more clip
    # finishes: the probe now reads PROBE clips, all matching, so the same search is a
    # common word, newest first by keyset; "r3" is no keyset cursor, so page 2 is page 1
    # again, and as an infinite-scroll request with paged=False it is the whole page.
    from generations.studio.views import gallery

    monkeypatch.setattr(gallery, "GALLERY_PAGE", 3)
    monkeypatch.setattr(search, "PROBE", 6)
    project = ProjectFactory(team=team)
    for n in range(5):
        _clip(project, f"Fox number {n}", minutes_ago=10 + n)
    first = member_client.get("/gallery/", {"q": "fox"}).content.decode()
    assert "Best match first." in first
    page_one = _prompts(first)
    assert len(page_one) == 3

    _clip(project, "Fox number new", minutes_ago=0)
    response = member_client.get(_next_page(first), HTTP_HX_REQUEST="true")
    html = response.content.decode()

    assert not set(_prompts(html)) & set(page_one), _prompts(html)
    assert "<html" not in html, "a whole page was sent to be appended to the cards"


@pytest.mark.postgres
def test_a_common_word_search_scrolled_while_other_clips_finish_does_not_repeat(
    member_client, team, monkeypatch
):
    # A common word: newest first with a keyset cursor. Two newer clips without the word
    # finish, so the probe finds it rare, the index finds few and ranks them; the
    # keyset cursor is no "r<offset>", so ranked_page starts again from offset 0.
    from generations.studio.views import gallery

    monkeypatch.setattr(gallery, "GALLERY_PAGE", 2)
    monkeypatch.setattr(search, "PROBE", 2)
    project = ProjectFactory(team=team)
    for n in range(4):
        _clip(project, f"Fox number {n}", minutes_ago=10 + n)
    first = member_client.get("/gallery/", {"q": "fox"}).content.decode()
    assert "Newest first" in first
    page_one = _prompts(first)

    _clip(project, "Seagulls over the pier", minutes_ago=1)
    _clip(project, "Waves on the breakwater", minutes_ago=0)
    response = member_client.get(_next_page(first), HTTP_HX_REQUEST="true")
    html = response.content.decode()

    assert not set(_prompts(html)) & set(page_one), _prompts(html)
    assert "<html" not in html, "a whole page was sent to be appended to the cards"


# --- Counters: a scene edit writes back a stale clip_count ------------------------------


def test_editing_a_scene_while_one_of_its_takes_finishes_keeps_the_count(
    member_client, team, monkeypatch
):
    # edit_scene saves the whole Scene row (ModelForm.save() -> save() without
    # update_fields), clip_count included, as it was read at the start of the request.
    # A take that succeeds in between (set_state adds one in SQL) is lost for good.
    from generations.studio.views import projects as views

    project = ProjectFactory(team=team)
    scene = SceneFactory(project=project, title="Cliffs")
    GenerationFactory(project=project, scene=scene, succeeded=True, prompt="First take")
    racing = GenerationFactory(
        project=project, scene=scene, state=State.FINALIZING, prompt="Second take"
    )
    read_scene = views.access.get_scene_for_write

    def read_then_a_worker_finishes_the_take(request, uuid):
        found = read_scene(request, uuid)
        ClipFactory(generation=racing)
        assert set_state(racing, [State.FINALIZING], State.SUCCEEDED)
        return found

    monkeypatch.setattr(views.access, "get_scene_for_write", read_then_a_worker_finishes_the_take)
    prefix = f"scene-{scene.uuid}"
    response = member_client.post(
        f"/scenes/{scene.uuid}/edit/", {f"{prefix}-title": "Cliffs at dusk", f"{prefix}-notes": ""}
    )
    assert response.status_code == 302
    monkeypatch.undo()

    scene.refresh_from_db()
    html = member_client.get(f"/projects/{project.uuid}/").content.decode()
    assert scene.clip_count == Generation.objects.filter(scene=scene, state="succeeded").count()
    # What the page then says: a phantom loose clip, and the takes misnumbered.
    assert "belongs to no scene" not in html
    assert "Take 1 · " in html and "Take 2 · " in html


# --- Counters: a finished clip deleted by an operator stays counted --------------------


def test_a_clip_deleted_in_the_admin_is_no_longer_counted(operator_client, member_client, team):
    # Nothing takes one off when a succeeded generation (and with it its clip) is
    # deleted: the projects list, the take numbers and "See all N finished takes"
    # keep counting it, and only recount() (nowhere scheduled) repairs them.
    project = ProjectFactory(team=team, name="Coastline")
    scene = SceneFactory(project=project, title="Cliffs")
    kept = GenerationFactory(project=project, scene=scene, succeeded=True, prompt="Kept take")
    unwanted = GenerationFactory(
        project=project, scene=scene, succeeded=True, prompt="Unwanted take"
    )
    kept.created = timezone.now() - timedelta(minutes=5)
    kept.save(update_fields=["created"])

    url = reverse("admin:generations_generation_delete", args=[unwanted.pk])
    assert operator_client.post(url, {"post": "yes"}).status_code == 302
    assert not Generation.objects.filter(pk=unwanted.pk).exists()

    project.refresh_from_db()
    scene.refresh_from_db()
    assert (project.clip_count, scene.clip_count) == (1, 1)
    html = member_client.get(f"/projects/{project.uuid}/").content.decode()
    assert "Take 1 · " in html  # the only take left; it is shown as "Take 2"


# --- Vendor health: an account's last error is forgotten after a day -------------------


def test_the_vendor_page_still_names_an_error_older_than_a_day(operator_client):
    # with_health now reads the newest error event only within the 24-hour window,
    # saying "older trouble shows as the account's last_error" -- but job errors
    # (failed, download_failed, expired, needs_attention) never reach note_error(), so
    # after 24 hours "Last error" reads "none" for an account whose last job failed.
    account = VendorAccountFactory(label="Kinovi main")
    job = GenerationFactory(failed=True, vendor_account=account)
    event = job.log("download_failed", "The clip could not be saved: HTTP 403 from the CDN.")
    event.created = timezone.now() - timedelta(hours=30)
    event.save(update_fields=["created"])

    response = operator_client.get(reverse("vendor_edit", args=[account.uuid]))
    html = response.content.decode()
    last_error = html.split("<dt>Last error</dt>")[1].split("</dd>")[0]
    assert "HTTP 403 from the CDN" in last_error, last_error


def test_a_clip_alone_cannot_be_deleted_in_the_admin(operator_client, team):
    # Its job would still count as a finished clip that no page shows: delete the job.
    from generations.models import Clip

    clip = GenerationFactory(project=ProjectFactory(team=team), succeeded=True).clip
    url = reverse("admin:generations_clip_delete", args=[clip.pk])
    assert operator_client.post(url, {"post": "yes"}).status_code == 403
    assert Clip.objects.filter(pk=clip.pk).exists()


def test_saving_a_whole_project_row_leaves_its_counter_alone(team):
    from generations.models import Project

    project = ProjectFactory(team=team, name="Coastline")
    stale = Project.objects.get(pk=project.pk)
    GenerationFactory(project=project, succeeded=True)  # counted while `stale` is held
    stale.name = "Coastline (final)"
    stale.save()
    project.refresh_from_db()
    assert (project.name, project.clip_count) == ("Coastline (final)", 1)
