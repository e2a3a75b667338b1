"""A clip's page, its video and poster (with HTTP ranges), and favourites."""

import pytest

from generations.models import Favourite
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    sample_mp4,
    sample_poster,
)

pytestmark = pytest.mark.usefixtures("media")


@pytest.fixture
def generation(team, member, owner):
    project = ProjectFactory(team=team, name="Night market")
    scene = SceneFactory(project=project, title="Lanterns")
    return GenerationFactory(
        project=project,
        scene=scene,
        succeeded=True,
        created_by=member,
        prompt='Paper lanterns drift over the "night" market',
        vendor_task_id="task-abc-123",
        charge_micros=250_000,
    )


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_clip_page_shows_the_player_and_every_piece_of_metadata(member_client, generation):
    html = member_client.get(f"/clips/{generation.uuid}/").content.decode()
    assert f'<source src="/clips/{generation.uuid}/video.mp4" type="video/mp4">' in html
    assert "<video controls" in html
    assert 'data-copy="Paper lanterns drift over the &quot;night&quot; market"' in html
    assert "Seedance 2.0" in html
    assert generation.vendor_account.label in html
    assert "task-abc-123" in html
    assert str(generation.project.uuid) in html and "projectId" in html
    assert str(generation.scene.uuid) in html and "sceneId" in html
    assert "Night market" in html and "Lanterns" in html
    assert "1.00 s" in html  # duration
    assert "64×36" in html  # resolution
    assert "24 fps" in html
    assert "$0.25" in html and "$0.20" in html  # charged against the quote
    assert "$0.05 more than quoted" in html
    assert "40 credits" in html
    assert "mateo" in html  # who
    assert f'href="/generate/?from={generation.uuid}"' in html  # remix
    assert f'href="/clips/{generation.uuid}/video.mp4?download=1"' in html


def test_the_clip_page_shows_the_event_timeline(member_client, generation):
    generation.log("accepted", "Kinovi accepted the job as task task-abc-123.")
    generation.log("succeeded", "Clip saved. Charged $0.25.")
    html = member_client.get(f"/clips/{generation.uuid}/").content.decode()
    assert html.index("accepted the job") < html.index("Clip saved.")


def test_a_job_that_has_no_clip_yet_sends_you_to_its_job_page(member_client, team):
    running = GenerationFactory(project=ProjectFactory(team=team), running=True)
    response = member_client.get(f"/clips/{running.uuid}/")
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{running.uuid}/"
    assert member_client.get(f"/clips/{running.uuid}/video.mp4").status_code == 404


def test_outsiders_get_not_found_for_the_clip_its_files_and_its_favourite(
    outsider_client, generation
):
    for url in ("", "video.mp4", "video.mp4?download=1", "poster.jpg"):
        assert outsider_client.get(f"/clips/{generation.uuid}/{url}").status_code == 404
    assert outsider_client.post(f"/clips/{generation.uuid}/favourite/").status_code == 404
    assert not Favourite.objects.exists()


def test_anonymous_visitors_cannot_fetch_the_video(client, generation):
    response = client.get(f"/clips/{generation.uuid}/video.mp4")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_the_whole_video_is_served_with_byte_ranges_offered(viewer_client, generation):
    response = viewer_client.get(f"/clips/{generation.uuid}/video.mp4")
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(sample_mp4()))
    assert response["Content-Disposition"].startswith("inline")
    assert body(response) == sample_mp4()


def test_a_range_request_gets_206_and_exactly_those_bytes(member_client, generation):
    data, size = sample_mp4(), len(sample_mp4())
    url = f"/clips/{generation.uuid}/video.mp4"
    response = member_client.get(url, HTTP_RANGE="bytes=100-1099")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-1099/{size}"
    assert response["Content-Length"] == "1000"
    assert body(response) == data[100:1100]

    response = member_client.get(url, HTTP_RANGE="bytes=200-")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 200-{size - 1}/{size}"
    assert body(response) == data[200:]

    response = member_client.get(url, HTTP_RANGE="bytes=-50")
    assert response.status_code == 206
    assert body(response) == data[-50:]

    response = member_client.get(url, HTTP_RANGE=f"bytes=100-{size + 500}")
    assert response.status_code == 206
    assert body(response) == data[100:]


def test_a_range_beyond_the_end_is_not_satisfiable(member_client, generation):
    size = len(sample_mp4())
    response = member_client.get(f"/clips/{generation.uuid}/video.mp4", HTTP_RANGE=f"bytes={size}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


def test_a_range_with_thousands_of_digits_is_answered_not_a_server_error(member_client, generation):
    """Python refuses int() of more than 4300 digits; a header that long fits in 8 KB."""
    data, size = sample_mp4(), len(sample_mp4())
    url = f"/clips/{generation.uuid}/video.mp4"
    huge = "9" * 5000
    response = member_client.get(url, HTTP_RANGE=f"bytes=100-{huge}")
    assert response.status_code == 206
    assert body(response) == data[100:]
    response = member_client.get(url, HTTP_RANGE=f"bytes=-{huge}")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 0-{size - 1}/{size}"
    response = member_client.get(url, HTTP_RANGE=f"bytes={huge}-")
    assert response.status_code == 416


def test_a_range_for_another_version_of_the_file_gets_the_whole_file(member_client, generation):
    response = member_client.get(
        f"/clips/{generation.uuid}/video.mp4", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"stale"'
    )
    assert response.status_code == 200
    assert body(response) == sample_mp4()


def test_download_asks_the_browser_to_save_the_file(viewer_client, generation):
    response = viewer_client.get(f"/clips/{generation.uuid}/video.mp4?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert ".mp4" in response["Content-Disposition"]


def test_the_poster_is_served_to_the_team(viewer_client, generation):
    response = viewer_client.get(f"/clips/{generation.uuid}/poster.jpg")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert body(response) == sample_poster()


def test_favouriting_toggles_and_htmx_gets_the_favourite_fragment(
    member_client, member, generation
):
    url = f"/clips/{generation.uuid}/favourite/"
    response = member_client.post(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<button type="submit" form="favourite-form"')
    assert 'aria-pressed="true"' in html
    assert Favourite.objects.filter(user=member, generation=generation).count() == 1

    html = member_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'aria-pressed="false"' in html
    assert not Favourite.objects.exists()


def test_favouriting_without_javascript_goes_back_where_it_came_from(member_client, generation):
    url = f"/clips/{generation.uuid}/favourite/"
    response = member_client.post(url, {"next": "/gallery/?q=lantern"})
    assert response["Location"] == "/gallery/?q=lantern"
    response = member_client.post(url, {"next": "https://evil.example/"})
    assert response["Location"] == f"/clips/{generation.uuid}/"


def test_favourites_are_personal(member_client, owner_client, generation):
    member_client.post(f"/clips/{generation.uuid}/favourite/")
    html = owner_client.get(f"/clips/{generation.uuid}/").content.decode()
    assert 'aria-pressed="false"' in html


def test_viewers_watch_and_download_but_are_not_offered_a_remix(viewer_client, generation):
    html = viewer_client.get(f"/clips/{generation.uuid}/").content.decode()
    assert "<video controls" in html
    assert "Download MP4" in html
    assert "?from=" not in html


def test_the_clip_page_counts_the_teams_remixes_of_it(member_client, team, other_team):
    from tests.generations.factories import GenerationFactory, ProjectFactory

    source = GenerationFactory(project=ProjectFactory(team=team), succeeded=True)
    for _ in range(2):
        GenerationFactory(project=source.project, remix_of=source)
    # Another team's remix (of a clip it cannot see) is not this team's to count.
    GenerationFactory(project=ProjectFactory(team=other_team), remix_of=source)
    html = member_client.get(f"/clips/{source.uuid}/").content.decode()
    assert "<dt>Remixed</dt><dd>2 times</dd>" in html
