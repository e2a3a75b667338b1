"""The gallery's filter form: a GET form whose query string is the shareable address of
what the gallery shows, and the choice lists it offers (one written query)."""

import uuid
from datetime import date, datetime, time, timedelta

from django import forms
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.choices import BaseChoiceIterator

from generations.assets.forms import MODES
from generations.assets.models import GenerationInput
from generations.vendors import Family
from seedance_site import fragments

# The four lists in one constant query (the ORM took longer to build its UNION than the
# database took to answer it). A uuid is cast to text so that the four SELECTs' columns
# agree on PostgreSQL; SQLite keeps it as 32 hex digits, PostgreSQL dashed.
FILTER_LISTS = """
SELECT 'project' AS f_kind, CAST(uuid AS varchar) AS f_key, name AS f_label,
       '' AS f_group, 0 AS f_number, id AS f_id
FROM generations_project WHERE team_id = %s
UNION ALL
SELECT 'scene', CAST(scene.uuid AS varchar), scene.title, project.name, scene.number, scene.id
FROM generations_scene AS scene
JOIN generations_project AS project ON project.id = scene.project_id
WHERE project.team_id = %s
UNION ALL
SELECT 'account', CAST(uuid AS varchar), label, '', 0, id FROM generations_vendoraccount
UNION ALL
SELECT 'member', member.username, member.username, '', 0, member.id
FROM auth_user AS member
JOIN billing_membership AS membership ON membership.user_id = member.id
WHERE membership.team_id = %s
ORDER BY f_kind, f_group, f_number, f_label
"""


def filter_lists(team) -> dict[str, list[tuple[str, str]]]:
    """The gallery filters' choices (projects, scenes, vendor accounts, members)."""
    return lists_and_ids(team)[0]


def lists_and_ids(team) -> tuple[dict[str, list[tuple[str, str]]], dict[str, dict]]:
    """The gallery filters' choices (projects, scenes, vendor accounts, members), in one
    query: they are on every gallery page, and four round trips were a third of it. With
    each choice's row id, by kind and value: a filter then reads the column itself
    (project_id = 7), no join to the row its value names, and the planner knows the id."""
    with connection.cursor() as cursor:
        cursor.execute(FILTER_LISTS, [team.pk, team.pk, team.pk])
        rows = cursor.fetchall()
    lists = {"project": [], "scene": [], "account": [], "member": []}
    ids = {"project": {}, "scene": {}, "account": {}, "member": {}}
    for kind, key, label, group, number, pk in rows:
        if kind == "scene":
            label = f"{group} · {number}. {label}"
        if kind != "member" and len(key) == 32:
            # SQLite keeps a uuid as 32 hex digits: the form's values are dashed.
            key = str(uuid.UUID(key))
        lists[kind].append((key, label))
        ids[kind][key] = pk
    return lists, ids


class Listed(BaseChoiceIterator):
    """Choices already in Django's normal form, (value, label) pairs: a ChoiceField and its
    widget take an iterator of this kind as it is. A plain list would be normalized again,
    pair by pair, by each of them on every gallery page (hundreds of scenes)."""

    def __init__(self, choices: list):
        self.choices = choices

    def __iter__(self):
        return iter(self.choices)

    def __len__(self):
        return len(self.choices)


def _start_of(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


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
    mode = forms.ChoiceField(label="Mode", required=False, choices=[("", "Any mode")] + MODES)
    asset = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, data=None, *, team):
        super().__init__(data)
        self.team = team
        self.lists, self.ids = lists_and_ids(team)
        lists = self.lists
        self.fields["project"].choices = Listed([("", "Any project")] + lists["project"])
        self.fields["scene"].choices = Listed([("", "Any scene")] + lists["scene"])
        self.fields["account"].choices = Listed([("", "Any vendor")] + lists["account"])
        self.fields["member"].choices = Listed([("", "Anyone")] + lists["member"])

    # Each filled-in field narrows the clips by its own column; the search box is
    # generations.studio.search's. A listed choice is a row's id (lists_and_ids).
    COLUMNS = {
        "project": "project_id",
        "scene": "scene_id",
        "account": "vendor_account_id",
        "member": "created_by_id",
    }

    def filter(self, queryset, user):
        if not self.is_valid():
            return queryset.none()
        data = self.cleaned_data
        for field, column in self.COLUMNS.items():
            if data[field]:
                # A valid value is one of the choices, so its id is known.
                queryset = queryset.filter(**{column: self.ids[field][data[field]]})
        if data["family"]:
            queryset = queryset.filter(family=data["family"])
        # Days as ranges of instants (in the studio's time zone, as created__date would
        # take them): a range reads the team's index; a date cast of every row does not.
        # The first and last days a date can name bound nothing (and have no instant past them).
        if data["since"] and data["since"] > date.min:
            queryset = queryset.filter(created__gte=_start_of(data["since"]))
        if data["until"] and data["until"] < date.max:
            queryset = queryset.filter(created__lt=_start_of(data["until"] + timedelta(days=1)))
        if data["favourites"]:
            queryset = queryset.filter(favourites__user=user)
        if data["mode"]:
            # Jobs from before modes were recorded were all text-to-video.
            legacy = Q(request__mode__isnull=True) if data["mode"] == "text" else Q(pk__in=[])
            queryset = queryset.filter(Q(request__mode=data["mode"]) | legacy)
        if data["asset"]:
            made_from = GenerationInput.objects.filter(
                generation=OuterRef("pk"), asset__uuid=data["asset"]
            )
            queryset = queryset.filter(Exists(made_from))
        return queryset

    def kept_key(self, name: str) -> str | None:
        """The key one of the long choice lists (project, scene, vendor, member) is kept
        under, rendered: its choices and its value. None when the value is none of its
        choices (that field shows an error; it is rendered, never kept), so that no query
        string can make more entries than there are choices."""
        values = self.data.getlist(name)
        value = values[0] if values else ""
        if len(values) > 1 or (value and value not in dict(self.lists[name])):
            return None
        return "gallery-filter:" + fragments.digest(name, self.lists[name], value)

    @property
    def active(self) -> bool:
        return self.is_valid() and any(self.cleaned_data.values())

    @property
    def problem(self) -> str:
        """What could not be read, field by field, in the member's words: the results say
        it (an htmx request swaps the results alone, not the fields marked above)."""
        if self.is_valid():
            return ""
        return " ".join(f"{self[name].label}: {errors[0]}" for name, errors in self.errors.items())

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
