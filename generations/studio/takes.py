"""A project page's takes: each scene's chosen take and its newest, read as plain values.

A take's markup (templates/generations/project.html#take) is kept by what it shows
(seedance_site/fragments.py): its row, its number in the scene, whether it is the chosen
one and the time zone its date is written in. Its words and addresses are worked out here
in Python, and only when that markup is rendered."""

from functools import cached_property
from itertools import groupby

from django.db import connection
from django.db.models import F, Value, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import Truncator

from generations.models import Generation, State
from generations.studio.cards import ClipRow
from seedance_site import fragments
from seedance_site.web import uuid_path

# A scene shows its chosen take and its newest takes; the gallery shows the rest.
SCENE_TAKES = 6
NOT_SHOWN = [State.FAILED, State.CANCELLED, State.EXPIRED]
HIDDEN = [state.value for state in NOT_SHOWN]  # as plain text, for a statement's parameters
TAKE_FIELDS = [
    "pk",
    "uuid",
    "scene_id",
    "state",
    "progress",
    "prompt",
    "created",
    "created_by__username",
    "clip__id",
    "clip__width",
    "clip__height",
    "clip__duration",
]


class Take(ClipRow):
    """One take as the project page shows it: its row (TAKE_FIELDS, from values())."""

    def __init__(self, row: dict, scene, chosen: bool):
        self.row = row
        self.scene_uuid = str(scene.uuid)
        self.pk = row["pk"]
        self.chosen = chosen
        self.number = None  # its place among the scene's finished takes, when it has one
        self.finished = row["state"] == State.SUCCEEDED and row["clip__id"] is not None

    @property
    def digest(self) -> str:
        """What the take's kept markup shows, as its key (seedance_site/fragments.py)."""
        zone = timezone.get_current_timezone_name()
        return fragments.digest(
            tuple(self.row.items()), self.scene_uuid, self.number, self.chosen, zone
        )

    @cached_property
    def uuid(self) -> str:
        return str(self.row["uuid"])

    @property
    def job_url(self) -> str:
        return uuid_path("job", self.uuid)

    @property
    def choose_url(self) -> str:
        return uuid_path("choose_take", self.scene_uuid)

    @property
    def prompt(self) -> str:
        return Truncator(self.row["prompt"]).chars(80)

    @property
    def day(self) -> str:
        return date_format(timezone.localtime(self.row["created"]), "M j")

    @property
    def state_label(self) -> str:
        return State(self.row["state"]).label

    @property
    def progress(self):
        return self.row["progress"]


def present(scenes) -> None:
    """What each scene's section shows besides its takes (see attach): its edit form's
    address, and the digest its kept head and form fields are read back by."""
    for scene in scenes:
        scene.edit_url = uuid_path("edit_scene", scene.uuid)
        scene.digest = fragments.digest(scene.uuid, scene.number, scene.title, scene.notes)
    attach(scenes)


def page_digest(scenes) -> str | None:
    """What a project page's scenes show (templates/generations/project.html#scene), once
    present() has run: each scene's head and fields, its takes, its count of finished
    takes. The page's scenes are kept whole by it; None (not kept whole) while a take is
    in flight, since each tick of its progress would keep another copy of every scene."""
    if any(take.row["state"] not in Generation.FINISHED for s in scenes for take in s.takes):
        return None
    return fragments.digest(
        [
            (
                scene.digest,
                scene.clip_count,
                scene.more_takes,
                [take.digest for take in scene.takes],
                scene.chosen_apart.digest if scene.chosen_apart else None,
            )
            for scene in scenes
        ]
    )


def attach(scenes) -> None:
    """Give each scene `.takes` (its newest, oldest first), `.chosen_apart` (its chosen take
    when that is not among them) and `.more_takes` (its finished clips not shown)."""
    rows = _rows(scenes, {s.chosen_take_id for s in scenes if s.chosen_take_id})
    chosen = {row["pk"]: row for row in rows if not row["newest"]}
    newest = sorted(
        (row for row in rows if row["newest"]),
        key=lambda row: (row["scene_id"], row["created"], row["pk"]),
    )
    by_scene = {scene_id: list(group) for scene_id, group in groupby(newest, key=_scene_id)}
    for scene in scenes:
        scene.takes = [
            Take(row, scene, row["pk"] == scene.chosen_take_id)
            for row in by_scene.get(scene.pk, [])
        ]
        finished = [t for t in scene.takes if t.finished]
        # Finished takes are numbered in the scene's history; the counter knows how many.
        for number, take in enumerate(finished, start=scene.clip_count - len(finished) + 1):
            take.number = number
        scene.more_takes = max(scene.clip_count - len(finished), 0)
        apart = scene.chosen_take_id not in {t.pk for t in scene.takes}
        row = chosen.get(scene.chosen_take_id) if apart else None
        scene.chosen_apart = Take(row, scene, True) if row else None


def _scene_id(row):
    return row["scene_id"]


def _rows(scenes, chosen_ids) -> list[dict]:
    """The rows of each scene's SCENE_TAKES newest takes (`newest` True) and of the chosen
    takes (False), in one query: a chosen take may come twice.

    PostgreSQL reads each scene's newest rows from its index, one LIMIT per scene, in one
    statement written once (built by the ORM, a part per scene cost more than the page's
    other queries together); SQLite numbers each scene's takes instead and reads the
    chosen takes apart."""
    if not scenes:
        return []
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                NEWEST_AND_CHOSEN,
                [[s.pk for s in scenes], HIDDEN, SCENE_TAKES, sorted(chosen_ids)],
            )
            names = [*TAKE_FIELDS, "newest"]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    shown = Generation.objects.exclude(state__in=NOT_SHOWN).annotate(
        rank=Window(
            RowNumber(), partition_by=F("scene_id"), order_by=[F("created").desc(), F("pk").desc()]
        ),
        newest=Value(True),
    )
    fields = [*TAKE_FIELDS, "newest"]
    rows = list(shown.filter(scene__in=scenes, rank__lte=SCENE_TAKES).values(*fields))
    chosen = Generation.objects.filter(pk__in=chosen_ids).annotate(newest=Value(False))
    return rows + (list(chosen.values(*fields)) if chosen_ids else [])


# TAKE_FIELDS and `newest`, in their order. The scene_recent index serves each LIMIT.
NEWEST_AND_CHOSEN = """
SELECT g.id, g.uuid, g.scene_id, g.state, g.progress, g.prompt, g.created, u.username,
       c.id, c.width, c.height, c.duration, picked.newest
FROM (
    SELECT newest.id, TRUE AS newest
    FROM unnest(%s::bigint[]) AS scene (id)
    CROSS JOIN LATERAL (
        SELECT id FROM generations_generation
        WHERE scene_id = scene.id AND NOT (state = ANY(%s::text[]))
        ORDER BY created DESC, id DESC
        LIMIT %s
    ) AS newest
    UNION ALL
    SELECT id, FALSE FROM unnest(%s::bigint[]) AS chosen (id)
) AS picked
JOIN generations_generation g ON g.id = picked.id
LEFT JOIN generations_clip c ON c.generation_id = g.id
LEFT JOIN auth_user u ON u.id = g.created_by_id
"""
