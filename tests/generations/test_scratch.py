"""Scratch files a killed worker leaves behind are cleared when a worker starts again."""

import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django_q.signals import post_spawn

from generations import lifecycle
from generations.media import fetch, video


@pytest.fixture
def scratch(settings, tmp_path):
    settings.CLIP_TEMP_DIR = tmp_path / "scratch"
    settings.CLIP_TEMP_DIR.mkdir()
    return settings.CLIP_TEMP_DIR


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def leftovers(scratch: Path) -> dict[str, Path]:
    old_clip = scratch / "seedance-clip-abc123.mp4"
    old_clip.write_bytes(b"\0" * 100)
    old_export = scratch / "seedance-storyboard-xyz"
    old_export.mkdir()
    (old_export / "storyboard.mp4").write_bytes(b"\0" * 100)
    fresh_clip = scratch / "seedance-clip-downloading.mp4"
    fresh_clip.write_bytes(b"\0" * 100)
    not_ours = scratch / "someone-elses.mp4"
    not_ours.write_bytes(b"\0" * 100)
    for path in (old_clip, old_export, not_ours):
        aged(path, 3600)
    return {"old_clip": old_clip, "old_export": old_export, "fresh": fresh_clip, "other": not_ours}


def test_only_our_files_older_than_the_age_are_removed(scratch):
    files = leftovers(scratch)
    assert video.remove_abandoned_scratch(older_than_seconds=600) == 2
    assert not files["old_clip"].exists() and not files["old_export"].exists()
    assert files["fresh"].exists() and files["other"].exists()
    assert video.remove_abandoned_scratch(older_than_seconds=600) == 0


def test_a_starting_worker_clears_what_a_killed_one_left(scratch, settings, monkeypatch):
    queued = []
    monkeypatch.setattr("generations.tasks.enqueue_sweeper", lambda: queued.append("sweeper"))
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 120}
    settings.GENERATION_LEASE_SECONDS, settings.CLIP_DOWNLOAD_SECONDS = 90, 60
    files = leftovers(scratch)
    # Twice the longest a task or a clip's claim may last (2 × 150 s) is not yet old.
    recent = scratch / "seedance-clip-recent.mp4"
    recent.write_bytes(b"")
    aged(recent, 250)

    post_spawn.send(sender="test", proc_name="Worker-1")

    assert queued == ["sweeper"]
    assert not files["old_clip"].exists() and not files["old_export"].exists()
    assert recent.exists() and files["fresh"].exists() and files["other"].exists()


def test_a_download_is_named_as_ours_and_removed_when_it_fails(scratch, monkeypatch):
    seen = []

    def refuse(url, out, **kwargs):
        seen.extend(scratch.iterdir())
        out.write(b"partial")
        raise fetch.FetchRefused("The server closed the connection.")

    monkeypatch.setattr(fetch, "fetch_to_file", refuse)
    with pytest.raises(fetch.FetchRefused):
        lifecycle.store_clip(SimpleNamespace(output_url="https://cdn.example.com/a.mp4"))

    [path] = seen
    assert path.parent == scratch and path.name.startswith("seedance-clip-")
    assert list(scratch.iterdir()) == []
