"""Forms of the studio pages: what a member may ask for, checked against the vendors."""

from dataclasses import dataclass, field

from django import forms
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.forms.utils import ErrorDict

from billing import ledger
from billing.money.forms import DollarsField
from generations import lifecycle
from generations.models import Generation, Project, Scene, VendorAccount
from generations.vendors import REGISTRY, Family, VideoRequest
from generations.vendors.base import describe_seconds, join_choices

# Every value some vendor offers for some family, in the order a person reads them.
ALL_DURATIONS = sorted(
    {
        d
        for adapter in REGISTRY.values()
        for offer in adapter.offers.values()
        for d in offer.durations
    }
)
ALL_ASPECT_RATIOS = ["16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "adaptive"]
ALL_RESOLUTIONS = ["480p", "720p", "1080p"]
PREFERRED = {"duration": 5, "aspect_ratio": "16:9", "resolution": "720p"}
MAX_VARIANTS = 4
# The longest prompt any vendor takes; each vendor's own limit is checked by its adapter.
PROMPT_HARD_LIMIT = max(a.max_prompt_chars or 0 for a in REGISTRY.values()) or 20_000
RATIO_LABELS = {"adaptive": "Adaptive (the model picks)"}


@dataclass
class Option:
    value: str
    label: str
    enabled: bool
    selected: bool = False


@dataclass
class Options:
    """What a model allows at the enabled vendors (or the one pinned), and why not more."""

    family: Family
    pinned: VendorAccount | None
    serving: list = field(default_factory=list)  # (account, adapter class, offer)
    durations: list = field(default_factory=list)
    aspect_ratios: list = field(default_factory=list)
    resolutions: list = field(default_factory=list)
    audio: bool = False
    notes: dict = field(default_factory=dict)  # field name -> why options are missing
    prompt_limit: int | None = None
    prompt_note: str = ""

    @property
    def who(self) -> str:
        return self.pinned.label if self.pinned else "any enabled vendor"

    @property
    def key(self) -> str:
        """What these options depend on, so the page knows when to redraw them."""
        return f"{self.family}|{self.pinned.uuid if self.pinned else ''}"


def account_name(account) -> str:
    """The account's label, with its vendor's name when the label does not say it."""
    vendor = account.adapter_class.label if account.protocol in REGISTRY else account.protocol
    if vendor.lower() in account.label.lower():
        return account.label
    return f"{account.label} · {vendor}"


def accounts_by_family(accounts) -> dict[Family, list]:
    served: dict[Family, list] = {family: [] for family in Family}
    for account in accounts:
        adapter = REGISTRY.get(account.protocol)
        for family in adapter.offers if adapter else ():
            served[family].append(account)
    return served


def options_for(family: Family, pinned: VendorAccount | None, accounts) -> Options:
    """The union of what the accounts that serve `family` accept: any of them may take it."""
    options = Options(family=family, pinned=pinned)
    candidates = [pinned] if pinned else accounts
    for account in candidates:
        adapter = REGISTRY.get(account.protocol)
        if adapter and family in adapter.offers:
            options.serving.append((account, adapter, adapter.offers[family]))
    if not options.serving:
        reason = (
            f"{pinned.label} does not offer {family.label}."
            if pinned
            else f"No enabled vendor account offers {family.label}."
        )
        options.notes["family"] = reason
        return options

    offers = [offer for _, _, offer in options.serving]
    options.durations = sorted({d for o in offers for d in o.durations})
    ratios = {r for o in offers for r in o.aspect_ratios}
    options.aspect_ratios = [r for r in ALL_ASPECT_RATIOS if r in ratios]
    resolutions = {r for o in offers for r in o.resolutions}
    options.resolutions = [r for r in ALL_RESOLUTIONS if r in resolutions]
    options.audio = any(adapter.has_audio_switch for _, adapter, _ in options.serving)

    where = f"for {family.label} at {options.who}"
    narrower = [
        f"{account.label} only {describe_seconds(offer.durations)}"
        for account, _, offer in options.serving
        if len(options.serving) > 1 and set(offer.durations) != set(options.durations)
    ]
    missing = [d for d in ALL_DURATIONS if d not in options.durations]
    if missing or narrower:
        note = f"{describe_seconds(options.durations).capitalize()} {where}."
        options.notes["duration"] = " ".join([note, *(f"{n}." for n in narrower)])
    for name, every, offered in (
        ("aspect_ratio", ALL_ASPECT_RATIOS, options.aspect_ratios),
        ("resolution", ALL_RESOLUTIONS, options.resolutions),
    ):
        missing = [value for value in every if value not in offered]
        if missing:
            options.notes[name] = f"Not offered {where}: {join_choices(missing)}."
    if not options.audio:
        options.notes["audio"] = (
            f"{pinned.label} has no setting for generated audio."
            if pinned
            else f"No vendor that serves {family.label} here can generate audio."
        )
    else:
        without = [a.label for a, adapter, _ in options.serving if not adapter.has_audio_switch]
        if without:
            with_audio = [a.label for a, adapter, _ in options.serving if adapter.has_audio_switch]
            options.notes["audio"] = f"Only {join_choices(with_audio)} can add audio."

    char_limits = [adapter.max_prompt_chars for _, adapter, _ in options.serving]
    if all(char_limits):
        options.prompt_limit = max(char_limits)
    limits = []
    for account, adapter, _ in options.serving:
        if adapter.max_prompt_chars:
            limits.append(f"{account.label} takes up to {adapter.max_prompt_chars:,} characters")
        elif adapter.protocol == "evolink":
            limits.append(f"{account.label} up to 1,000 words")
    options.prompt_note = "; ".join(limits) + "." if limits else ""
    return options


def _pick(value, offered, preferred):
    """The value to show and quote: the one asked for when offered, else a sensible one."""
    if value in offered:
        return value
    if preferred in offered:
        return preferred
    return offered[0] if offered else None


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
        self.accounts = list(VendorAccount.objects.filter(enabled=True))
        self.projects = list(Project.objects.filter(team=team).order_by("name"))

        family = self._raw("family") or Family.SEEDANCE_2
        try:
            self.family_value = Family(family)
        except ValueError:
            self.family_value = Family.SEEDANCE_2
        by_uuid = {str(a.uuid): a for a in self.accounts}
        self.pinned = by_uuid.get(str(self._raw("account") or ""))
        self.options = options_for(self.family_value, self.pinned, self.accounts)

        served = accounts_by_family(self.accounts)
        self.fields["family"].choices = [
            (f.value, f.label if served[f] else f"{f.label} (no vendor enabled)") for f in Family
        ]
        self.fields["account"].choices = [("", "Any vendor (best quote)")] + [
            (str(a.uuid), account_name(a)) for a in self.accounts
        ]
        self.fields["duration"].choices = [(d, f"{d} s") for d in self.options.durations]
        self.fields["aspect_ratio"].choices = [(r, r) for r in self.options.aspect_ratios]
        self.fields["resolution"].choices = [(r, r) for r in self.options.resolutions]
        self.fields["project"].choices = [("", "Choose a project")] + [
            (str(p.uuid), p.name) for p in self.projects
        ]
        self.project_value = next(
            (p for p in self.projects if str(p.uuid) == str(self._raw("project") or "")), None
        )
        if self.project_value is None and len(self.projects) == 1 and not data:
            self.project_value = self.projects[0]
            self.initial["project"] = str(self.project_value.uuid)
        self.scenes = (
            list(self.project_value.scenes.order_by("number")) if self.project_value else []
        )
        self.fields["scene"].choices = [("", "No scene")] + [
            (str(s.uuid), str(s)) for s in self.scenes
        ]

    def hush(self):
        """Show the form as typed without judging it: for the live quote and a refresh."""
        self._errors = ErrorDict()
        return self

    def _raw(self, name):
        if self.is_bound:
            return self.data.get(name)
        value = self.initial.get(name)
        return value() if callable(value) else value

    # --- what the page shows -----------------------------------------------------

    def effective(self, name):
        offered = {
            "duration": self.options.durations,
            "aspect_ratio": self.options.aspect_ratios,
            "resolution": self.options.resolutions,
        }[name]
        raw = self._raw(name)
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
        raw = self._raw("audio")
        return self.options.audio and raw not in (None, "", False, "false", "off")

    def variants_value(self) -> int:
        try:
            return min(max(int(self._raw("variants") or 1), 1), MAX_VARIANTS)
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
            prompt=prompt if prompt is not None else (self._raw("prompt") or ""),
            duration=self.effective("duration") or PREFERRED["duration"],
            aspect_ratio=self.effective("aspect_ratio") or PREFERRED["aspect_ratio"],
            resolution=self.effective("resolution") or PREFERRED["resolution"],
            audio=self.audio_checked(),
            metadata=metadata,
        )

    def quote(self) -> "QuoteSummary":
        prompt = self._raw("prompt") or ""
        # An empty prompt still gets a price; the vendor's own prompt check waits for text.
        request = self.video_request(prompt=prompt if prompt.strip() else "price check")
        return QuoteSummary.build(
            lifecycle.quote(self.team, request, self.pinned),
            team=self.team,
            user=self.user,
            project=self.project_value,
            variants=self.variants_value(),
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

    def submit(self) -> list[Generation]:
        """Create the scene or project typed in, and the generations, all or nothing.

        Raises lifecycle.SubmitRefused or ledger.Refused with a member-readable message.
        """
        data = self.cleaned_data
        with transaction.atomic():
            project = data["project"]
            if project is None:
                project = Project.objects.create(
                    team=self.team, name=data["new_project"].strip(), created_by=self.user
                )
            scene = data["scene"]
            if data["new_scene"].strip():
                scene = add_scene(project, data["new_scene"].strip())
            metadata = {"projectId": str(project.uuid)}
            if scene is not None:
                metadata["sceneId"] = str(scene.uuid)
            request = VideoRequest(
                family=str(self.family_value),
                prompt=data["prompt"],
                duration=data["duration"],
                aspect_ratio=data["aspect_ratio"],
                resolution=data["resolution"],
                audio=bool(data["audio"]),
                metadata=metadata,
            )
            return lifecycle.submit(
                team=self.team,
                member=self.user,
                project=project,
                request=request,
                scene=scene,
                pinned=data["account"],
                variants=data["variants"],
                remix_of=data["remix_of"],
            )


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


@dataclass
class QuoteSummary:
    """The live quote in the words the page uses, and why submitting is not possible."""

    quote: object
    variants: int
    available: int
    hold_total: int = 0
    expected_total: int = 0
    reasons: list = field(default_factory=list)

    @classmethod
    def build(cls, quote, *, team, user, project, variants) -> "QuoteSummary":
        available = ledger.balances(team).available
        summary = cls(quote=quote, variants=variants, available=available)
        if not quote.ok:
            summary.reasons.append("No vendor can take this request as it is.")
            return summary
        summary.hold_total = quote.hold_micros * variants
        summary.expected_total = quote.expected_micros * variants
        refused = ledger.refusal(team, user, project, summary.hold_total, available)
        if refused:
            summary.reasons.append(str(refused))
        return summary

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def after(self) -> int:
        return self.available - self.hold_total

    @property
    def money(self) -> dict:
        """The amounts as the page writes them."""
        each = self.quote.expected_micros if self.quote.ok else 0
        return {
            "each": ledger.dollars(each),
            "credits": credits_text(self.quote.expected_credits),
            "expected": ledger.dollars(self.expected_total),
            "hold": ledger.dollars(self.hold_total),
            "hold_each": ledger.dollars(self.quote.hold_micros),
            "available": ledger.dollars(self.available),
            "after": ledger.dollars(self.after),
        }

    def alternatives_text(self) -> list[str]:
        return [
            f"{route.account.label}: {ledger.dollars(route.micros)} "
            f"({credits_text(route.credits)} credits)"
            for route in self.alternatives
        ]

    @property
    def first(self):
        return self.quote.routing.first

    @property
    def alternatives(self):
        return self.quote.routing.routes[1:]


def credits_text(credits) -> str:
    """Vendor credits without trailing zeros: Decimal("40.0000") -> "40"."""
    if credits is None:
        return ""
    text = f"{credits.normalize():f}"
    return text


def add_scene(project: Project, title: str, notes: str = "") -> Scene:
    """A new scene at the end of the project; two at once get consecutive numbers."""
    for _ in range(3):
        try:
            with transaction.atomic():
                return Scene.objects.create(
                    project=project, number=project.next_scene_number(), title=title, notes=notes
                )
        except IntegrityError:
            continue
    raise IntegrityError("Could not number the new scene; try again.")


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


# --- the gallery's filters ---------------------------------------------------------


class GalleryFilterForm(forms.Form):
    """A GET form: its query string is the shareable address of what it shows."""

    q = forms.CharField(label="Search prompts", required=False, max_length=200)
    project = forms.ChoiceField(label="Project", required=False)
    scene = forms.ChoiceField(label="Scene", required=False)
    family = forms.ChoiceField(
        label="Model",
        required=False,
        choices=[("", "Any model")] + [(f.value, f.label) for f in Family],
    )
    account = forms.ChoiceField(label="Vendor", required=False)
    member = forms.ChoiceField(label="Made by", required=False)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    favourites = forms.BooleanField(label="My favourites only", required=False)

    def __init__(self, data=None, *, team):
        super().__init__(data)
        self.team = team
        projects = Project.objects.filter(team=team).order_by("name")
        self.fields["project"].choices = [("", "Any project")] + [
            (str(p.uuid), p.name) for p in projects
        ]
        scenes = Scene.objects.filter(project__team=team).select_related("project")
        self.fields["scene"].choices = [("", "Any scene")] + [
            (str(s.uuid), f"{s.project.name} · {s}")
            for s in scenes.order_by("project__name", "number")
        ]
        self.fields["account"].choices = [("", "Any vendor")] + [
            (str(a.uuid), a.label) for a in VendorAccount.objects.order_by("label")
        ]
        members = get_user_model().objects.filter(memberships__team=team).order_by("username")
        self.fields["member"].choices = [("", "Anyone")] + [
            (u.username, u.username) for u in members
        ]

    def filter(self, queryset, user):
        if not self.is_valid():
            return queryset.none()
        data = self.cleaned_data
        if data["q"]:
            queryset = queryset.filter(prompt__icontains=data["q"])
        if data["project"]:
            queryset = queryset.filter(project__uuid=data["project"])
        if data["scene"]:
            queryset = queryset.filter(scene__uuid=data["scene"])
        if data["family"]:
            queryset = queryset.filter(family=data["family"])
        if data["account"]:
            queryset = queryset.filter(vendor_account__uuid=data["account"])
        if data["member"]:
            queryset = queryset.filter(created_by__username=data["member"])
        if data["since"]:
            queryset = queryset.filter(created__date__gte=data["since"])
        if data["until"]:
            queryset = queryset.filter(created__date__lte=data["until"])
        if data["favourites"]:
            queryset = queryset.filter(favourites__user=user)
        return queryset

    @property
    def active(self) -> bool:
        return self.is_valid() and any(self.cleaned_data.values())

    def query_string(self) -> str:
        """The filters alone (no cursor), for the next page's address."""
        if not self.is_valid():
            return ""
        params = self.data.copy()
        params.pop("cursor", None)
        for key in list(params):
            if not any(params.getlist(key)):
                del params[key]
        return params.urlencode()
