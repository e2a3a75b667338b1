"""Making assets: from a member's upload, or from a clip of the gallery (a frame of it,
or the clip itself as a reference video). Every one passes the same checks."""

import hashlib
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile

from generations.assets import checks, limits, thumbnails
from generations.assets.limits import size_text
from generations.assets.models import Asset
from generations.media.storage import StorageFailed, storage_errors
from generations.media.video import SCRATCH_PREFIX, NotAVideo, scratch_dir
from generations.models import VendorAccount

CHUNK = 1024 * 1024


def enabled_protocols() -> list[str]:
    return list(VendorAccount.objects.filter(enabled=True).values_list("protocol", flat=True))


@contextmanager
def _scratch_copy(chunks, limit: int):
    """A local copy of a file's chunks (storage may be remote), with its size and digest;
    Rejected as soon as it passes `limit` bytes, so a huge upload is never kept whole."""
    digest, size = hashlib.sha256(), 0
    with tempfile.NamedTemporaryFile(prefix=SCRATCH_PREFIX, dir=scratch_dir()) as handle:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise checks.Rejected(f"Files may be at most {size_text(limit)}.")
            digest.update(chunk)
            handle.write(chunk)
        handle.flush()
        yield Path(handle.name), size, digest.hexdigest()


def add_upload(project, user, uploaded) -> Asset:
    """Check an uploaded file and keep it as an asset of `project`; checks.Rejected if not."""
    with _scratch_copy(uploaded.chunks(CHUNK), settings.ASSET_MAX_UPLOAD_BYTES) as copy:
        return _keep(project, user, copy, name=uploaded.name or "upload")


def _keep(project, user, copy, *, name, **source) -> Asset:
    """The checked asset of `copy`; the project's own when it already holds the same bytes
    (a second drop of one file, "Continue" pressed twice)."""
    path, size, sha256 = copy
    facts = checks.inspect(path, size, enabled_protocols())
    same = project.assets.filter(sha256=sha256, bytes=size).first()
    if same is not None:
        return same
    asset = Asset(
        team=project.team,
        project=project,
        created_by=user,
        kind=facts.kind,
        format=facts.format,
        content_type=facts.content_type,
        name=Path(name).name[:200] or "upload",
        bytes=size,
        sha256=sha256,
        width=facts.width or None,
        height=facts.height or None,
        duration=facts.duration,
        fps=facts.fps or None,
        unusable_by=facts.unusable_by,
        **source,
    )
    picture = thumbnails.thumbnail(facts.kind, path)
    try:
        with open(path, "rb") as handle, storage_errors("storing an asset"):
            asset.file.save(f"{asset.uuid.hex}.{facts.extension}", File(handle), save=False)
            if picture:
                asset.thumbnail.save(f"{asset.uuid.hex}.jpg", ContentFile(picture), save=False)
    except StorageFailed as exc:
        raise checks.Rejected(str(exc)) from None
    asset.save()
    return asset


def _clip_chunks(clip):
    # A clip gone from storage, or a bucket that does not answer, is a refusal in words
    # on the clip page, not a 500.
    try:
        with storage_errors("reading the clip"), clip.file.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
    except StorageFailed as exc:
        raise checks.Rejected(str(exc)) from None


def asset_from_clip(generation, user, what: str, at_seconds: float | None = None) -> Asset:
    """An asset of the clip's project: its last frame ("last_frame"), the frame at
    `at_seconds` ("frame"), or the clip itself ("video"). checks.Rejected if unfit."""
    clip = generation.clip
    source = {"source_generation": generation}
    with _scratch_copy(_clip_chunks(clip), settings.CLIP_MAX_BYTES) as copy:
        if what == "video":
            name = f"Clip {generation.uuid.hex[:8]}.mp4"
            return _keep(generation.project, user, copy, name=name, **source)
        at = None if what == "last_frame" else max(0.0, min(at_seconds or 0.0, clip.duration))
        try:
            # A small clip's frame (a sandbox clip, a 480p vertical one) is enlarged to the
            # smallest side the vendors take, so it can start the next shot.
            png = thumbnails.frame_png(copy[0], at, min_side=limits.UPSTREAM_IMAGE.min_side)
        except NotAVideo as exc:
            raise checks.Rejected(str(exc)) from None
    label = "last frame" if at is None else f"frame at {at:.2f} s"
    source["source_seconds"] = clip.duration if at is None else at
    with _scratch_copy([png], settings.ASSET_MAX_UPLOAD_BYTES) as copy:
        name = f"Clip {generation.uuid.hex[:8]} {label}.png"
        return _keep(generation.project, user, copy, name=name, **source)


def continuation(generation, first_frame) -> dict:
    """The Generate page's query to continue `generation` from `first_frame`: the same
    project, model, vendor, ratio and resolution, in the next scene or a new one."""
    request = generation.request or {}
    query = {
        "project": str(generation.project.uuid),
        "family": generation.family,
        "aspect_ratio": request.get("aspect_ratio", ""),
        "resolution": request.get("resolution", ""),
        "duration": request.get("duration", ""),
        "mode": "image",
        "first_frame": str(first_frame.uuid),
    }
    if generation.pinned_account_id:
        query["account"] = str(generation.pinned_account.uuid)
    following = None
    if generation.scene is not None:
        scenes = generation.project.scenes.order_by("number")
        following = scenes.filter(number__gt=generation.scene.number).first()
    if following is not None:
        query["scene"] = str(following.uuid)
    else:
        query["new_scene"] = f"Scene {generation.project.next_scene_number()}"
    return query
