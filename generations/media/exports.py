"""A project's storyboard as files: the chosen takes zipped, or joined into one MP4.

The MP4 is made by a background task. There is no model for exports: the task records
its progress in a small JSON file beside the result in the media storage, which every
web and worker machine shares, and the storyboard page polls it.
"""

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.dispatch import Signal
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from generations.media import join, video
from generations.media import storage as media_storage
from generations.models import Clip, Generation, Project, Scene, VendorAccount
from seedance_site import written

log = logging.getLogger(__name__)

EXPORTS_DIR = "exports"
# A queued or running export older than this is taken to have died with its worker.
STALE_AFTER = timedelta(minutes=15)

# Sent once an export's status says "queued"; the task queue builds it (generations.tasks).
export_queued = Signal()


# --- what the storyboard is --------------------------------------------------------


# A project with its scenes in order, each with its chosen take, the take's clip and vendor
# account, read as written: built by the ORM (select_related over four tables), compiling
# it cost the storyboard page more than running it.
STORYBOARD = f"""
SELECT {written.columns(Project, "p")}, {written.columns(Scene, "s")},
  {written.columns(Generation, "g")}, {written.columns(Clip, "c")},
  {written.columns(VendorAccount, "a")}
FROM {written.table(Project)} p
LEFT JOIN {written.table(Scene)} s ON s.project_id = p.id
LEFT JOIN {written.table(Generation)} g ON g.id = s.chosen_take_id
LEFT JOIN {written.table(Clip)} c ON c.generation_id = g.id
LEFT JOIN {written.table(VendorAccount)} a ON a.id = g.vendor_account_id
WHERE %s
ORDER BY s.number
"""  # noqa: S608 (names of the models' own tables and columns)


def storyboard_of(team_id, uuid_param) -> tuple[Project | None, list]:
    """The team's project by its public id (a written query's parameter: None when it is
    not the team's) and its storyboard_scenes, in one query."""
    rows = written.instances(
        STORYBOARD % "p.team_id = %s AND p.uuid = %s",
        [team_id, uuid_param],
        *_STORYBOARD_MODELS,
    )
    return (rows[0][0], _scenes(rows)) if rows else (None, [])


def storyboard_scenes(project):
    """The project's scenes in order, each with its chosen take and clip loaded."""
    rows = written.instances(STORYBOARD % "p.id = %s", [project.pk], *_STORYBOARD_MODELS)
    return _scenes(rows, project)


_STORYBOARD_MODELS = (Project, Scene, Generation, Clip, VendorAccount)


def _scenes(rows, project=None) -> list:
    """Each row's scene with what select_related("chosen_take__clip",
    "chosen_take__vendor_account") would have loaded with it."""
    scenes = []
    for found, scene, take, clip, account in rows:
        if scene is None:
            continue  # a project without scenes: its one row
        scene.project = project or found
        if take is not None:
            scene.chosen_take = take
            take.vendor_account = account
            # A take without a stored clip has none, as select_related says it.
            Generation.clip.related.set_cached_value(take, clip)
            if clip is not None:
                clip.generation = take
        scenes.append(scene)
    return scenes


def chosen_scenes(scenes):
    """The scenes whose chosen take has a stored clip, in order."""
    return [s for s in scenes if s.chosen_take_id and hasattr(s.chosen_take, "clip")]


def fingerprint(scenes) -> str:
    """Names the storyboard's content: the same takes in the same order, the same export."""
    takes = "|".join(str(s.chosen_take.uuid) for s in chosen_scenes(scenes))
    return hashlib.sha256(takes.encode()).hexdigest()[:16]


# --- the zip ---------------------------------------------------------------------------


class _Pipe:
    """A write-only file for ZipFile that hands each written piece on to a generator."""

    def __init__(self):
        self.pieces = []

    def write(self, data):
        self.pieces.append(bytes(data))
        return len(data)

    def flush(self):
        pass

    def take(self) -> bytes:
        data = b"".join(self.pieces)
        self.pieces.clear()
        return data


def take_filename(scene) -> str:
    title = slugify(scene.title)[:50] or "scene"
    return f"{scene.number:02d}-{title}.mp4"


def manifest(project, scenes) -> str:
    lines = [f"{project.name} — storyboard", f"projectId: {project.uuid}", ""]
    for scene in chosen_scenes(scenes):
        take, clip = scene.chosen_take, scene.chosen_take.clip
        lines += [
            f"{take_filename(scene)}",
            f"  scene {scene.number}: {scene.title}",
            f"  sceneId: {scene.uuid}",
            f"  take: {take.uuid} ({take.family_label}, {clip.duration:.1f} s, "
            f"{clip.width}×{clip.height})",
            f"  prompt: {take.prompt}",
            "",
        ]
    return "\n".join(lines)


def zip_storyboard(project, scenes):
    """The chosen takes in order as a zip, produced piece by piece for a streamed response.

    Stored, not deflated: MP4 does not compress, and storing keeps the work per byte low.
    """
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:
        for scene in chosen_scenes(scenes):
            clip = scene.chosen_take.clip
            info = zipfile.ZipInfo(
                take_filename(scene), date_time=timezone.localtime(clip.created).timetuple()[:6]
            )
            info.file_size = clip.bytes
            storage = clip.file.storage
            chunks, close = media_storage.open_range(
                storage, clip.file.name, 0, storage.size(clip.file.name) - 1
            )
            try:
                with archive.open(info, "w") as target:
                    for chunk in chunks:
                        target.write(chunk)
                        yield pipe.take()
            finally:
                close()
        archive.writestr("storyboard.txt", manifest(project, scenes))
    yield pipe.take()


# --- the MP4: status ----------------------------------------------------------------------


def status_name(project) -> str:
    return f"{EXPORTS_DIR}/{project.uuid}/status.json"


def read_status(project) -> dict | None:
    try:
        with default_storage.open(status_name(project), "rb") as handle:
            return json.loads(handle.read())
    except (FileNotFoundError, OSError, ValueError):
        return None


def write_status(project, **status) -> dict:
    status["updated"] = timezone.now().isoformat()
    name = status_name(project)
    # Storage has no atomic replace; a reader in the gap sees "no export" for a moment.
    default_storage.delete(name)
    default_storage.save(name, ContentFile(json.dumps(status).encode()))
    return status


def is_busy(status) -> bool:
    if not status or status.get("state") not in ("queued", "running"):
        return False
    updated = parse_datetime(status.get("updated") or "")
    return bool(updated and timezone.now() - updated < STALE_AFTER)


def export_file(status):
    """The finished export as a FieldFile-like object the download view can stream."""
    return _StoredFile(status.get("file") or "")


class _StoredFile:
    def __init__(self, name):
        self.name = name
        self.storage = default_storage

    def __bool__(self):
        return bool(self.name)


def start_storyboard_export(project, user, scenes=None) -> dict:
    scenes = storyboard_scenes(project) if scenes is None else scenes
    status = write_status(
        project,
        state="queued",
        progress=0,
        fingerprint=fingerprint(scenes),
        takes=len(chosen_scenes(scenes)),
        by=user.username,
        started=timezone.now().isoformat(),
    )
    export_queued.send(Project, project_pk=project.pk, user_pk=user.pk)
    return status


def build_storyboard_export(project_pk: int, user_pk: int) -> str:
    """The background task: join the chosen takes into one MP4 under exports/.

    One function on purpose: every stage writes the status file the page polls, with the
    same `common` facts and the progress shown so far; split up, they would travel along."""
    project = Project.objects.get(pk=project_pk)
    user = get_user_model().objects.filter(pk=user_pk).first()
    scenes = storyboard_scenes(project)
    chosen = chosen_scenes(scenes)
    common = {
        "fingerprint": fingerprint(scenes),
        "takes": len(chosen),
        "by": user.username if user else "",
        "started": timezone.now().isoformat(),
    }
    if not chosen:
        write_status(
            project, state="failed", progress=0, error="No scene has a chosen take.", **common
        )
        return ""
    write_status(project, state="running", progress=0, **common)
    shown = {"progress": 0}

    def progress(fraction):
        percent = int(fraction * 100)
        if percent >= shown["progress"] + 5 and percent < 100:
            shown["progress"] = percent
            write_status(project, state="running", progress=percent, **common)

    try:
        with tempfile.TemporaryDirectory(
            prefix=f"{video.SCRATCH_PREFIX}storyboard-", dir=video.scratch_dir()
        ) as work:
            with ExitStack() as stack:
                paths = [
                    stack.enter_context(_local_copy(s.chosen_take.clip.file, work)) for s in chosen
                ]
                out = Path(work) / "storyboard.mp4"
                duration = join.concatenate(paths, out, progress=progress)
            name = f"{EXPORTS_DIR}/{project.uuid}/{common['fingerprint']}.mp4"
            default_storage.delete(name)
            name = media_storage.save_file(default_storage, name, out)
            size = default_storage.size(name)
    except Exception as exc:
        log.exception("Storyboard export of project %s failed", project_pk)
        write_status(
            project, state="failed", progress=shown["progress"], error=str(exc)[:300], **common
        )
        raise
    _remove_older_exports(project, keep=name)
    made = {"file": name, "bytes": size, "duration": round(duration, 2)}
    finished = timezone.now().isoformat()
    write_status(project, state="done", progress=100, finished=finished, **made, **common)
    return name


def _remove_older_exports(project, keep):
    folder = f"{EXPORTS_DIR}/{project.uuid}"
    try:
        _, files = default_storage.listdir(folder)
    except (FileNotFoundError, OSError):
        return
    for filename in files:
        name = f"{folder}/{filename}"
        if filename.endswith(".mp4") and name != keep:
            default_storage.delete(name)


@contextmanager
def _local_copy(fieldfile, work):
    """A path PyAV can open: the file itself on local storage, else a temporary copy."""
    try:
        local = fieldfile.storage.path(fieldfile.name)
    except NotImplementedError:
        local = None
    if local:
        yield local
        return
    handle, path = tempfile.mkstemp(suffix=".mp4", dir=work)
    with os.fdopen(handle, "wb") as out:
        media_storage.copy_to_file(fieldfile.storage, fieldfile.name, out)
    yield path
