"""A team's input media (images, reference videos, audio) in its projects, and which of
them each generation was made from, in which role."""

from uuid import uuid4

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from generations.models import Generation

KIND_ICONS = {"image": "🖼", "video": "🎞", "audio": "🔊"}


class Kind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Reference video"
    AUDIO = "audio", "Audio"


class AssetInUse(Exception):
    """The asset is an input of a job still on its way: it cannot go yet."""


class AssetQuerySet(models.QuerySet):
    def search(self, text: str):
        return self.filter(name__icontains=text.strip()) if text and text.strip() else self


class Asset(models.Model):
    uuid = models.UUIDField(default=uuid4, unique=True, editable=False)
    team = models.ForeignKey("billing.Team", models.CASCADE, related_name="assets")
    project = models.ForeignKey("generations.Project", models.CASCADE, related_name="assets")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # What the content is (sniffed), never what the file was called.
    format = models.CharField(max_length=10)
    content_type = models.CharField(max_length=40)
    name = models.CharField(max_length=200, help_text="The uploaded file's name, for people.")
    file = models.FileField(upload_to="assets/", max_length=300)
    thumbnail = models.FileField(upload_to="assets/thumbs/", max_length=300, blank=True)
    bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    unusable_by = models.JSONField(
        default=dict, blank=True, help_text="Vendor protocol → why it cannot use this asset."
    )
    source_generation = models.ForeignKey(
        Generation,
        models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The clip this asset was taken from, if any.",
    )
    source_seconds = models.FloatField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)

    objects = AssetQuerySet.as_manager()

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            # A project's library and the Generate page's choices, newest first.
            models.Index(fields=["project", "-created", "-id"], name="asset_project_recent"),
            models.Index(fields=["team", "-created", "-id"], name="asset_team_recent"),
        ]

    def __str__(self):
        return f"{self.name} ({self.kind})"

    @property
    def icon(self) -> str:
        return KIND_ICONS[self.kind]

    @property
    def size_text(self) -> str:
        if self.width and self.height:
            size = f"{self.width}×{self.height}"
            return f"{size}, {self.duration:.1f} s" if self.duration else size
        return f"{self.duration:.1f} s" if self.duration else ""

    def active_uses(self):
        return self.uses.exclude(generation__state__in=Generation.FINISHED)

    def delete_unless_in_use(self) -> None:
        """Delete the asset and its files; AssetInUse while a job that uses it is on its way.

        Finished jobs keep their record of the input (its row loses the asset). The row
        is locked first, as a submission locks the assets it records (inputs.lock_chosen):
        otherwise a job could be recorded between the look and the delete, and be sent
        without this input."""
        files = [f for f in (self.file, self.thumbnail) if f and f.name]
        with transaction.atomic():
            if not Asset.objects.select_for_update().filter(pk=self.pk).exists():
                return  # deleted meanwhile, files and all
            if self.active_uses().exists():
                raise AssetInUse(
                    f"“{self.name}” is an input of a job that has not finished yet; "
                    "delete it once that job is done."
                )
            self.delete()
        for stored in files:
            stored.storage.delete(stored.name)


class Role(models.TextChoices):
    FIRST_FRAME = "first_frame", "First frame"
    LAST_FRAME = "last_frame", "Last frame"
    REFERENCE_IMAGE = "reference_image", "Reference image"
    REFERENCE_VIDEO = "reference_video", "Reference video"
    REFERENCE_AUDIO = "reference_audio", "Reference audio"


ROLE_KINDS = {
    Role.FIRST_FRAME: Kind.IMAGE,
    Role.LAST_FRAME: Kind.IMAGE,
    Role.REFERENCE_IMAGE: Kind.IMAGE,
    Role.REFERENCE_VIDEO: Kind.VIDEO,
    Role.REFERENCE_AUDIO: Kind.AUDIO,
}
ROLE_ORDER = list(Role.values)


class GenerationInput(models.Model):
    """One asset a generation was made from, in its role and place among its kind."""

    generation = models.ForeignKey(Generation, models.CASCADE, related_name="inputs")
    asset = models.ForeignKey(Asset, models.SET_NULL, null=True, blank=True, related_name="uses")
    role = models.CharField(max_length=20, choices=Role.choices)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["generation", "role", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "role", "position"], name="one_input_per_place"
            )
        ]
        indexes = [
            # The gallery's "made from this asset".
            models.Index(fields=["asset", "generation"], name="input_asset_generations"),
        ]

    def __str__(self):
        return f"{self.get_role_display()} {self.position + 1} of {self.generation_id}"
