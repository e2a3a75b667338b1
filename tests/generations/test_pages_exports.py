"""Storyboard exports: the chosen takes as a streamed zip, and joined into one MP4."""

import io
import zipfile

import pytest

from generations.media import exports, join, video
from tests.generations.factories import (
    GenerationFactory,
    ProjectFactory,
    SceneFactory,
    render_mp4,
    sample_mp4,
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def project(team, owner):
    return ProjectFactory(team=team, name="Road Trip")


@pytest.fixture
def storyboard(project):
    """Two scenes with a chosen take each (numbered out of creation order) and one without."""
    scenes = []
    for number, title in ((2, "Gas station"), (1, "Open road"), (3, "Motel")):
        scene = SceneFactory(project=project, number=number, title=title)
        if number != 3:
            scene.chosen_take = GenerationFactory(
                project=project, scene=scene, succeeded=True, prompt=f"The {title.lower()}"
            )
            scene.save()
        scenes.append(scene)
    return scenes


def test_the_zip_holds_the_chosen_takes_in_scene_order_and_a_manifest(
    viewer_client, project, storyboard
):
    response = viewer_client.get(f"/projects/{project.uuid}/storyboard.zip")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="road-trip-takes.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    assert archive.namelist() == ["01-open-road.mp4", "02-gas-station.mp4", "storyboard.txt"]
    assert archive.read("01-open-road.mp4") == sample_mp4()
    manifest = archive.read("storyboard.txt").decode()
    assert f"projectId: {project.uuid}" in manifest
    assert manifest.index("The open road") < manifest.index("The gas station")
    assert "Motel" not in manifest


def test_a_storyboard_with_nothing_chosen_has_no_zip(member_client, project):
    SceneFactory(project=project)
    response = member_client.get(f"/projects/{project.uuid}/storyboard.zip")
    assert response.status_code == 302


def test_concatenate_joins_clips_into_one_mp4_as_long_as_all_of_them(tmp_path):
    parts = [
        render_mp4(tmp_path / "a.mp4", seconds=1.0, size=(64, 36), fps=24),
        render_mp4(tmp_path / "b.mp4", seconds=2.0, size=(36, 64), fps=30, audio=True),
        render_mp4(tmp_path / "c.mp4", seconds=1.5, size=(64, 36), fps=25),
    ]
    progress = []
    duration = join.concatenate(parts, tmp_path / "joined.mp4", progress=progress.append)
    joined = video.probe(tmp_path / "joined.mp4")
    expected = sum(video.probe(p).duration for p in parts)
    assert abs(joined.duration - expected) < 0.1
    assert abs(duration - expected) < 0.1
    assert (joined.width, joined.height) == (64, 36)  # the first clip's size
    assert joined.has_audio  # one clip had sound: the join keeps a track for it
    assert progress[-1] == pytest.approx(1.0)
    assert progress == sorted(progress)


def test_concatenate_refuses_an_empty_list(tmp_path):
    with pytest.raises(ValueError, match="Nothing to join"):
        join.concatenate([], tmp_path / "nothing.mp4")


def test_the_mp4_export_runs_in_the_background_and_the_status_polls_until_done(
    member_client, member, project, storyboard, monkeypatch
):
    queued = []
    monkeypatch.setattr("generations.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    response = member_client.post(
        f"/projects/{project.uuid}/storyboard/export/", HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "<html" not in html
    assert 'hx-trigger="every 2s"' in html
    assert "Waiting for a worker" in html
    assert queued == [("generations.tasks.build_storyboard_export", project.pk, member.pk)]

    # The worker's part, run here by hand.
    exports.build_storyboard_export(project.pk, member.pk)

    status_url = f"/projects/{project.uuid}/storyboard/export/status/"
    html = member_client.get(status_url, HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every' not in html
    assert f'href="/projects/{project.uuid}/storyboard.mp4?download=1"' in html
    response = member_client.get(f"/projects/{project.uuid}/storyboard.mp4?download=1")
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Accept-Ranges"] == "bytes"
    partial = member_client.get(f"/projects/{project.uuid}/storyboard.mp4", HTTP_RANGE="bytes=0-99")
    assert partial.status_code == 206
    assert len(b"".join(partial.streaming_content)) == 100


def test_the_export_file_lands_under_exports_and_lasts_as_long_as_the_takes(
    project, storyboard, member, settings
):
    name = exports.build_storyboard_export(project.pk, member.pk)
    assert name.startswith(f"exports/{project.uuid}/")
    path = settings.MEDIA_ROOT / name
    assert abs(video.probe(path).duration - 2.0) < 0.1  # two one-second takes
    status = exports.read_status(project)
    assert status["state"] == "done"
    assert status["progress"] == 100


def test_changing_a_chosen_take_marks_the_export_out_of_date(
    member_client, member, project, storyboard
):
    exports.build_storyboard_export(project.pk, member.pk)
    page = member_client.get(f"/projects/{project.uuid}/storyboard/").content.decode()
    assert "Download MP4" in page
    assert "changed since" not in page
    scene = storyboard[0]
    scene.chosen_take = GenerationFactory(project=project, scene=scene, succeeded=True)
    scene.save()
    page = member_client.get(f"/projects/{project.uuid}/storyboard/").content.decode()
    assert "The chosen takes changed since this file was made." in page
    assert "Make it again" in page


def test_no_export_means_no_download(member_client, project, storyboard):
    assert member_client.get(f"/projects/{project.uuid}/storyboard.mp4").status_code == 404


def test_status_without_htmx_goes_to_the_storyboard(member_client, project, storyboard):
    response = member_client.get(f"/projects/{project.uuid}/storyboard/export/status/")
    assert response["Location"] == f"/projects/{project.uuid}/storyboard/"
