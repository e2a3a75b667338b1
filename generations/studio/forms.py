"""Forms of the studio pages: what a member may ask for, checked against the vendors.

They only validate (and say what they offer); pricing lives in presenters, creating
projects, scenes and jobs in services.
"""

from functools import cache, cached_property
from uuid import UUID

from django import forms
from django.db import connection
from django.forms.utils import ErrorDict

from billing.money.forms import DollarsField
from generations.models import Generation, Project, Scene, VendorAccount
from generations.studio.generate_html import FieldsHtml
from generations.studio.presenters import (
    ALL_ASPECT_RATIOS,
    ALL_DURATIONS,
    ALL_RESOLUTIONS,
    MAX_VARIANTS,
    PREFERRED,
    PROMPT_HARD_LIMIT,
    RATIO_LABELS,
    Option,
    account_name,
    accounts_by_family,
    options_for,
)
from generations.vendors import Family, VideoRequest
from seedance_site import written


def _pick(value, offered, preferred):
    """The value to show and quote: the one asked for when offered, else a sensible one."""
    if value in offered:
        return value
    if preferred in offered:
        return preferred
    return offered[0] if offered else None


# The form's own rows, read as written: built by the ORM, compiling these plain queries
# cost the page more than running them.
ENABLED_ACCOUNTS = """
SELECT {account} FROM "generations_vendoraccount" a WHERE a.enabled = %s
ORDER BY a.priority, a.label
"""
# Every project of the team, each row with a scene of the project asked for (by uuid):
# the page, its live quote and a submission read both lists in one round trip.
TEAM_PROJECTS_AND_SCENES = """
SELECT {project}, {scene} FROM "generations_project" p
LEFT JOIN "generations_scene" s ON s.project_id = p.id AND p.uuid = %s
WHERE p.team_id = %s ORDER BY p.name, p.id, s.number
"""
PROJECT_SCENES = 'SELECT * FROM "generations_scene" WHERE project_id = %s ORDER BY number'


@cache
def _form_reads_sql(vendor) -> tuple[str, str]:
    """ENABLED_ACCOUNTS and TEAM_PROJECTS_AND_SCENES with their columns, built once per
    process and database (`vendor` is part of the cache key only): they are read on every
    live quote."""
    del vendor
    return (
        ENABLED_ACCOUNTS.format(account=written.columns(VendorAccount, "a")),
        TEAM_PROJECTS_AND_SCENES.format(
            project=written.columns(Project, "p"), scene=written.columns(Scene, "s")
        ),
    )


def accounts_projects_and_scenes(team, asked) -> tuple[list, list[Project], list[Scene]]:
    """The enabled vendor accounts (by priority), the team's projects by name, and the
    scenes (by number) of the one whose uuid is `asked` (a value as posted: anything, or
    nothing): two reads sent together."""
    try:
        uuid = UUID(str(asked)) if asked else None
    except ValueError:
        uuid = None
    accounts_sql, projects_sql = _form_reads_sql(connection.vendor)
    prepared = Project._meta.get_field("uuid").get_db_prep_value(uuid, connection)
    accounts, pairs = written.instances_together(
        (accounts_sql, [True], (VendorAccount,)),
        (projects_sql, [prepared, team.pk], (Project, Scene)),
    )
    projects, scenes = [], []
    for project, scene in pairs:
        if not projects or projects[-1].pk != project.pk:
            projects.append(project)
        if scene is not None:
            scenes.append(scene)
    return [account for (account,) in accounts], projects, scenes


class GenerateForm(forms.Form):
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=PROMPT_HARD_LIMIT,
        help_text="Describe the shot: subject, action, camera, light, mood.",
    )
    family = forms.ChoiceField(label="Model", choices=[(f.value, f.label) for f in Family])
    account = forms.ChoiceField(label="Vendor", required=False)
    duration = forms.TypedChoiceField(label="Duration", coerce=int)
    aspect_ratio = forms.ChoiceField(label="Aspect ratio")
    resolution = forms.ChoiceField(label="Resolution")
    audio = forms.BooleanField(label="Generate audio", required=False)
    project = forms.ChoiceField(label="Project", required=False)
    new_project = forms.CharField(label="New project", max_length=120, required=False)
    scene = forms.ChoiceField(label="Scene", required=False)
    new_scene = forms.CharField(
        label="New scene",
        max_length=120,
        required=False,
        help_text="Type a title to start a new scene in the project.",
    )
    variants = forms.TypedChoiceField(
        label="Variants",
        coerce=int,
        choices=[(n, str(n)) for n in range(1, MAX_VARIANTS + 1)],
        initial=1,
        help_text="Each variant is its own clip, held and charged separately.",
    )
    remix_of = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *, team, user, initial=None):
        super().__init__(data, initial=initial)
        self.team = team
        self.user = user
        self.accounts, self.projects, scenes = accounts_projects_and_scenes(
            team, self.raw("project")
        )

        family = self.raw("family") or Family.SEEDANCE_2
        try:
            self.family_value = Family(family)
        except ValueError:
            self.family_value = Family.SEEDANCE_2
        by_uuid = {str(a.uuid): a for a in self.accounts}
        self.pinned = by_uuid.get(str(self.raw("account") or ""))
        self.options = options_for(self.family_value, self.pinned, self.accounts)

        served = accounts_by_family(self.accounts)
        self.fields["family"].choices = [
            (f.value, f.label if served[f] else f"{f.label} (no vendor enabled)") for f in Family
        ]
        self.fields["account"].choices = [("", "Any vendor (best quote)")] + [
            (str(a.uuid), account_name(a)) for a in self.accounts
        ]
        for name, field in self.fields.items():
            # Said of a tampered page, an API body or a batch's CSV row: which value, not
            # Django's "Select a valid choice".
            what = (field.label or name.replace("_", " ")).lower()
            field.error_messages["invalid_choice"] = (
                f"“%(value)s” is not one of the {what} choices offered here."
            )
        self.fields["duration"].choices = [(d, f"{d} s") for d in self.options.durations]
        self.fields["aspect_ratio"].choices = [(r, r) for r in self.options.aspect_ratios]
        self.fields["resolution"].choices = [(r, r) for r in self.options.resolutions]
        self.fields["project"].choices = [("", "Choose a project")] + [
            (str(p.uuid), p.name) for p in self.projects
        ]
        self.project_value = next(
            (p for p in self.projects if str(p.uuid) == str(self.raw("project") or "")), None
        )
        if self.project_value is not None:
            self.scenes = scenes  # the one asked for: its scenes came with the projects
        elif len(self.projects) == 1 and not data:
            self.project_value = self.projects[0]
            self.initial["project"] = str(self.project_value.uuid)
            self.scenes = list(Scene.objects.raw(PROJECT_SCENES, [self.project_value.pk]))
        else:
            self.scenes = []
        self.fields["scene"].choices = [("", "No scene")] + [
            (str(s.uuid), str(s)) for s in self.scenes
        ]

    @cached_property
    def html(self) -> FieldsHtml:
        """`{{ form.html.family }}`: a field as the page shows it, written in Python."""
        return FieldsHtml(self)

    def hush(self):
        """Show the form as typed without judging it: for the live quote and a refresh."""
        self._errors = ErrorDict()
        return self

    def raw(self, name):
        if self.is_bound:
            return self.data.get(name)
        value = self.initial.get(name)
        return value() if callable(value) else value

    # --- the form as the page shows it, valid or not -------------------------------

    def effective(self, name):
        offered = {
            "duration": self.options.durations,
            "aspect_ratio": self.options.aspect_ratios,
            "resolution": self.options.resolutions,
        }[name]
        raw = self.raw(name)
        if name == "duration":
            try:
                raw = int(raw)
            except (TypeError, ValueError):
                raw = None
        return _pick(raw, offered, PREFERRED[name])

    def _select(self, name, every, offered, label=str):
        chosen = self.effective(name)
        return [Option(str(v), label(v), v in offered, selected=(v == chosen)) for v in every]

    def duration_options(self):
        return self._select(
            "duration", ALL_DURATIONS, self.options.durations, lambda d: f"{d} seconds"
        )

    def aspect_ratio_options(self):
        return self._select(
            "aspect_ratio",
            ALL_ASPECT_RATIOS,
            self.options.aspect_ratios,
            lambda r: RATIO_LABELS.get(r, r),
        )

    def resolution_options(self):
        return self._select("resolution", ALL_RESOLUTIONS, self.options.resolutions)

    def audio_checked(self) -> bool:
        raw = self.raw("audio")
        return self.options.audio and raw not in (None, "", False, "false", "off")

    def variants_value(self) -> int:
        try:
            return min(max(int(self.raw("variants") or 1), 1), MAX_VARIANTS)
        except (TypeError, ValueError):
            return 1

    @property
    def options_key(self) -> str:
        project = self.project_value.uuid if self.project_value else ""
        return f"{self.options.key}|{project}"

    def video_request(self, prompt=None) -> VideoRequest:
        """The request as the page shows it now, valid or not, for the live quote."""
        metadata = {}
        if self.project_value:
            metadata["projectId"] = str(self.project_value.uuid)
        return VideoRequest(
            family=str(self.family_value),
            prompt=prompt if prompt is not None else (self.raw("prompt") or ""),
            duration=self.effective("duration") or PREFERRED["duration"],
            aspect_ratio=self.effective("aspect_ratio") or PREFERRED["aspect_ratio"],
            resolution=self.effective("resolution") or PREFERRED["resolution"],
            audio=self.audio_checked(),
            metadata=metadata,
        )

    # --- validation --------------------------------------------------------------

    def clean_account(self):
        return self.pinned if self.cleaned_data.get("account") else None

    def clean_project(self):
        if not self.cleaned_data.get("project"):
            return None
        return self.project_value

    def clean_scene(self):
        uuid = self.cleaned_data.get("scene")
        return next((s for s in self.scenes if str(s.uuid) == uuid), None) if uuid else None

    def clean_remix_of(self):
        uuid = self.cleaned_data.get("remix_of")
        if not uuid:
            return None
        generation = Generation.objects.filter(team=self.team, uuid=uuid).first()
        if generation is None:
            raise forms.ValidationError("The clip this remixes is not in this team.")
        return generation

    def clean(self):
        data = super().clean()
        if data.get("audio") and not self.options.audio:
            self.add_error("audio", self.options.notes.get("audio", "Audio is not offered."))
        if not data.get("project") and not data.get("new_project", "").strip():
            if self.projects:
                self.add_error("project", "Choose a project for the clip.")
            else:
                self.add_error("new_project", "Name a project for the clip.")
        if "family" in self.options.notes and "family" not in self.errors:
            self.add_error("family", self.options.notes["family"])
        return data


def initial_from(generation: Generation) -> dict:
    """The form filled in as `generation` was asked for: a remix starts from here."""
    request = generation.request or {}
    return {
        "prompt": generation.prompt,
        "family": generation.family,
        "account": str(generation.pinned_account.uuid) if generation.pinned_account else "",
        "duration": request.get("duration"),
        "aspect_ratio": request.get("aspect_ratio"),
        "resolution": request.get("resolution"),
        "audio": bool(request.get("audio")),
        "project": str(generation.project.uuid),
        "scene": str(generation.scene.uuid) if generation.scene else "",
        "variants": 1,
        "remix_of": str(generation.uuid),
    }


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"description": "Optional: the brief, the look, links for the team."}


class ProjectCapForm(forms.Form):
    spend_cap = DollarsField(
        sign="not-negative",
        required=False,
        label="Spending cap",
        help_text="Dollars this project may spend in all; empty means no cap.",
    )


class SceneForm(forms.ModelForm):
    class Meta:
        model = Scene
        fields = ["title", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}
