"""The Generate page's inputs: the mode and its slots (first frame, last frame, reference
images, videos, audio), each an existing asset of the project or a file dropped or
picked there, which becomes one. They only validate; services.submit_generations uses
the (role, asset) pairs of a valid form."""

from functools import cached_property

from django import forms

from generations.assets import checks, limits, services
from generations.assets.inputs import chosen_for
from generations.assets.models import Kind, Role
from seedance_site import fragments

MODES = [
    ("text", "Text to video"),
    ("image", "Image to video (first frame)"),
    ("first_last", "First and last frame"),
    ("reference", "Multimodal reference"),
]
SINGLE_SLOTS = {"first_frame": Role.FIRST_FRAME, "last_frame": Role.LAST_FRAME}
MULTI_SLOTS = {
    "reference_images": Role.REFERENCE_IMAGE,
    "reference_videos": Role.REFERENCE_VIDEO,
    "reference_audio": Role.REFERENCE_AUDIO,
}
SLOT_KINDS = {
    "first_frame": Kind.IMAGE,
    "last_frame": Kind.IMAGE,
    "reference_images": Kind.IMAGE,
    "reference_videos": Kind.VIDEO,
    "reference_audio": Kind.AUDIO,
}
MODE_SLOTS = {
    "text": [],
    "image": ["first_frame"],
    "first_last": ["first_frame", "last_frame"],
    "reference": list(MULTI_SLOTS),
}


def take_uploads(data, files, project, user) -> dict[str, list[str]]:
    """Keep each file dropped or picked in a slot as an asset of `project` and choose it
    there (in `data`, a mutable copy of the POST); returns the refusals by slot."""
    refused: dict[str, list[str]] = {}
    for slot in SLOT_KINDS:
        uploads = files.getlist(f"{slot}_file")
        if uploads and project is None:
            refused[slot] = ["Choose a project first: a file becomes an asset of its project."]
            continue
        for upload in uploads:
            try:
                asset = services.add_upload(project, user, upload)
            except checks.Rejected as exc:
                refused.setdefault(slot, []).append(f"{upload.name}: {exc}")
                continue
            if asset.kind != SLOT_KINDS[slot]:
                refused.setdefault(slot, []).append(
                    f"{upload.name} is {asset.get_kind_display().lower()}, not "
                    f"{Kind(SLOT_KINDS[slot]).label.lower()}; it is kept in the project's assets."
                )
            elif slot in SINGLE_SLOTS:
                data[slot] = str(asset.uuid)
            else:
                data.appendlist(slot, str(asset.uuid))
    return refused


# A slot's value that is not one of the project's assets of its kind: deleted meanwhile,
# of another project, or a tampered page. Said without the value (an id means nothing).
NOT_IN_LIBRARY = {
    "invalid_choice": "That file is no longer in this project’s asset library, or is not "
    "one this slot takes: choose or upload another."
}


class InputsForm(forms.Form):
    # Absent means text-to-video, as before there were modes.
    mode = forms.ChoiceField(choices=MODES, required=False)
    first_frame = forms.ChoiceField(required=False, error_messages=NOT_IN_LIBRARY)
    last_frame = forms.ChoiceField(required=False, error_messages=NOT_IN_LIBRARY)
    reference_images = forms.MultipleChoiceField(required=False, error_messages=NOT_IN_LIBRARY)
    reference_videos = forms.MultipleChoiceField(required=False, error_messages=NOT_IN_LIBRARY)
    reference_audio = forms.MultipleChoiceField(required=False, error_messages=NOT_IN_LIBRARY)

    def __init__(self, data=None, *, project, initial=None, refused=None):
        super().__init__(data, initial=initial)
        self.project = project
        # The slots' choices, the project's assets of each kind, read with the form unless
        # it is a submission with every slot empty (text-to-video): it never needs them.
        if not self.is_bound or any(self.raw(slot) for slot in SLOT_KINDS):
            for slot in SLOT_KINDS:
                self.fields[slot].choices = self._choices(slot)
        self.refused = refused or {}

    @cached_property
    def assets(self) -> list:
        return list(self.project.assets.all()) if self.project is not None else []

    @cached_property
    def by_uuid(self) -> dict:
        return {str(a.uuid): a for a in self.assets}

    def _choices(self, slot) -> list:
        choices = [(str(a.uuid), a.name) for a in self.assets if a.kind == SLOT_KINDS[slot]]
        return [("", "None")] + choices if slot in SINGLE_SLOTS else choices

    def is_valid(self) -> bool:
        # A refused upload keeps the form: the member sees which rule, then tries again.
        return super().is_valid() and not self.refused

    def hush(self):
        self._errors = forms.utils.ErrorDict()
        return self

    def raw(self, name):
        if self.is_bound:
            # As the field's widget reads it: a list for a slot of many, from a QueryDict
            # or a plain dict.
            return self[name].data
        return self.initial.get(name)

    @property
    def mode_value(self) -> str:
        mode = self.raw("mode") or "text"
        return mode if mode in MODE_SLOTS else "text"

    def chosen_now(self) -> list:
        """The (role, asset) pairs of the mode as the page stands, valid or not: for the
        live quote."""
        return self._chosen(self.mode_value, self.raw)

    def _chosen(self, mode, value_of) -> list:
        """The (role, asset) pairs of `mode`'s slots, each slot's value given by
        `value_of(slot)`: what the quote prices and what the job is made from alike."""
        chosen = []
        for slot in MODE_SLOTS.get(mode, []):
            role = (SINGLE_SLOTS | MULTI_SLOTS)[slot]
            values = value_of(slot) or []
            values = values if isinstance(values, list) else [values]
            # The same asset sent twice in a slot (only a tampered post can) is one input.
            chosen += [(role, self.by_uuid[v]) for v in dict.fromkeys(values) if v in self.by_uuid]
        return chosen

    def slots(self) -> list[dict]:
        """Every slot as the page shows it: its assets, which are chosen, what was refused."""
        shown = []
        for slot, kind in SLOT_KINDS.items():
            raw = self.raw(slot) or ([] if slot in MULTI_SLOTS else "")
            chosen = set(raw) if slot in MULTI_SLOTS else {raw}
            shown.append(
                {
                    "name": slot,
                    "label": (SINGLE_SLOTS | MULTI_SLOTS)[slot].label,
                    "kind": kind,
                    "multiple": slot in MULTI_SLOTS,
                    "modes": [m for m, names in MODE_SLOTS.items() if slot in names],
                    "assets": [a for a in self.assets if a.kind == kind],
                    "chosen": [a for a in self.assets if str(a.uuid) in chosen],
                    "errors": self.refused.get(slot, []) + list(self.errors.get(slot, [])),
                    "accept": _accept(kind),
                }
            )
        return shown

    def kept_key(self) -> str | None:
        """The key templates/assets/inputs.html is kept under: a digest of all it shows,
        the mode and each slot with its assets (never the values as sent). None when an
        asset is chosen, or the slots show an error or a refusal: that markup is
        rendered, never kept."""
        if self.refused or self.errors:
            return None
        slots = self.slots()
        if any(slot["chosen"] for slot in slots):
            # Kept only as nothing chosen (how the page opens): chosen ones are any subset
            # of the project's assets, so kept per choice they could make 2^N entries.
            return None
        slots = [slot | {"assets": _shown(slot["assets"]), "chosen": ()} for slot in slots]
        return "generate-inputs:" + fragments.digest(self.mode_value, MODES, slots)

    def clean(self):
        data = super().clean()
        mode = data.get("mode") or "text"
        for slot in set(SLOT_KINDS) - set(MODE_SLOTS.get(mode, [])):
            # A slot of another mode is not sent: what it holds (perhaps an asset of the
            # project chosen before) must not stop this one.
            self._errors.pop(slot, None)
        chosen = self._chosen(mode, data.get)
        self._check_mode(mode, chosen)
        data["mode"] = mode
        data["chosen"] = chosen
        return data

    def _check_mode(self, mode, chosen) -> None:
        roles = [role for role, _ in chosen]
        if mode in ("image", "first_last") and Role.FIRST_FRAME not in roles:
            self.add_error("first_frame", "Choose or upload the first frame.")
        if mode == "first_last" and Role.LAST_FRAME not in roles:
            self.add_error("last_frame", "Choose or upload the last frame.")
        if mode != "reference":
            return
        if not chosen:
            self.add_error(None, "Choose at least one reference image, video or audio clip.")
        elif set(roles) == {Role.REFERENCE_AUDIO}:
            # Evolink: "Audio cannot be provided alone; at least 1 image or 1 video must
            # be included" — ByteDance's own rule, so every vendor's.
            self.add_error(
                "reference_audio",
                "Audio cannot be the only reference: add a reference image or video too.",
            )
        self._check_counts(chosen)

    def _check_counts(self, chosen) -> None:
        for slot, role, most in (
            ("reference_images", Role.REFERENCE_IMAGE, limits.MAX_REFERENCE_IMAGES),
            ("reference_videos", Role.REFERENCE_VIDEO, limits.MAX_REFERENCE_VIDEOS),
            ("reference_audio", Role.REFERENCE_AUDIO, limits.MAX_REFERENCE_AUDIO),
        ):
            picked = [a for r, a in chosen if r == role]
            if len(picked) > most:
                self.add_error(slot, f"At most {most} of these can be references.")
            seconds = sum(a.duration or 0 for a in picked)
            if role != Role.REFERENCE_IMAGE and seconds > limits.MAX_REFERENCE_SECONDS:
                self.add_error(
                    slot,
                    f"These last {seconds:.1f} s in all; vendors take "
                    f"{limits.MAX_REFERENCE_SECONDS:.0f} s at most.",
                )


def _shown(assets) -> list[tuple]:
    return [(a.uuid, a.name, a.size_text) for a in assets]


def _accept(kind) -> str:
    formats = [f for f, k in checks.KIND_OF.items() if k == kind]
    return ",".join(checks.CONTENT_TYPES[f] for f in formats)


def initial_inputs(generation) -> dict:
    """The inputs of `generation` as the form's initial values: remix and run again."""
    initial = {"mode": generation.request.get("mode") or "text"}
    for role, asset in chosen_for(generation):
        slot = next(s for s, r in (SINGLE_SLOTS | MULTI_SLOTS).items() if r == role)
        if slot in SINGLE_SLOTS:
            initial[slot] = str(asset.uuid)
        else:
            initial.setdefault(slot, []).append(str(asset.uuid))
    return initial
