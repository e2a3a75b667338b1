"""Forms of the Billing pages. People type dollars; the ledger keeps micro-dollars."""

import datetime as dt
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EMPTY_VALUES
from django.http import Http404

from billing import ledger
from billing.models import Membership, Team
from billing.money import reads
from seedance_site import keyset


class DollarsField(forms.CharField):
    """An amount in dollars ("12.50", "$1,000") cleaned to integer micro-dollars.

    `sign` is "positive" (above zero), "not-negative" (zero allowed) or "nonzero"
    (either sign, for adjustments).
    """

    messages = {
        "positive": "Enter an amount above zero.",
        "not-negative": "Enter zero or more.",
        "nonzero": "Enter an amount other than zero; a minus sign takes credit away.",
    }

    def __init__(self, *, sign="positive", **kwargs):
        self.sign = sign
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"})
        )
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in EMPTY_VALUES:
            return None
        if len(value) > 30:
            raise ValidationError("Enter an amount in dollars, like 12.50.", code="invalid")
        try:
            return ledger.parse_dollars(value)
        except ValueError as e:
            raise ValidationError(str(e), code="invalid") from None

    def validate(self, value):
        super().validate(value)
        if value is None:
            return
        if (
            (self.sign == "positive" and value <= 0)
            or (self.sign == "not-negative" and value < 0)
            or (self.sign == "nonzero" and value == 0)
        ):
            raise ValidationError(self.messages[self.sign], code="sign")

    def prepare_value(self, value):
        # Initial values are micro-dollars; what a person typed stays as typed.
        if isinstance(value, int):
            return ledger.dollars(value).replace("$", "").replace(",", "")
        return value


def team_membership(team, value) -> Membership:
    """The membership a form names by uuid: a form error if unknown, 404 if another team's."""
    try:
        key = uuid.UUID(str(value))
    except ValueError:
        raise ValidationError("Choose a member of this team.", code="unknown") from None
    membership = Membership.objects.select_related("user").filter(uuid=key).first()
    if membership is None:
        raise ValidationError("Choose a member of this team.", code="unknown")
    if membership.team_id != team.pk:
        # Never confirm that another team's member exists.
        raise Http404("No such member.")
    return membership


class StatementFilterForm(forms.Form):
    """The statement's filters, read from the query string so a filtered URL can be shared."""

    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    member = forms.CharField(required=False, widget=forms.Select)
    project = forms.ChoiceField(required=False)
    vendor = forms.ChoiceField(required=False)
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)

    FIELDS = ("since", "until", "member", "project", "vendor")

    def __init__(self, *args, team, choices: "reads.FilterChoices | None" = None, **kwargs):
        """`choices` are reads.filter_choices(team), if the caller has read them already."""
        super().__init__(*args, **kwargs)
        self.team = team
        choices = choices or reads.filter_choices(team)
        self.fields["member"].widget.choices = [("", "Everyone"), *choices.members]
        # One row per project a hold ever named: not the team's every hold.
        self.fields["project"].choices = [("", "All projects")] + sorted(
            ((key, name or "(unnamed)") for key, name in choices.projects.items()),
            key=lambda c: c[1].lower(),
        )
        self.fields["vendor"].choices = [("", "All vendors")] + [
            (vendor, label or vendor) for vendor, label in choices.vendors
        ]
        # As ledger.vendor_names() has them, for the page's breakdown by vendor.
        self.vendor_names = {vendor: label for vendor, label in choices.vendors if label}

    def clean_member(self):
        value = self.cleaned_data["member"]
        return team_membership(self.team, value) if value else None

    def clean_cursor(self):
        value = self.cleaned_data["cursor"]
        if not value:
            return None
        position = keyset.decode(value)
        if position is None:
            raise ValidationError("This page link is broken; start again from the newest entries.")
        return position

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date is before the start date.")
        return data

    def statement_filters(self) -> dict:
        """Keyword arguments for ledger.statement()."""
        data = self.cleaned_data
        midnight = dt.time.min

        def day(d):
            return dt.datetime.combine(d, midnight, tzinfo=dt.UTC)

        return {
            "since": day(data["since"]) if data.get("since") else None,
            # Up to the last day there is means no end (its next midnight would overflow).
            "until": day(data["until"] + dt.timedelta(days=1))
            if data.get("until") and data["until"] < dt.date.max
            else None,
            "member": data["member"].user if data.get("member") else None,
            "project_uuid": uuid.UUID(data["project"]) if data.get("project") else None,
            "vendor": data.get("vendor") or None,
        }

    def is_filtered(self) -> bool:
        return any(self.data.get(name) for name in self.FIELDS)


class ThresholdForm(forms.Form):
    threshold = DollarsField(
        sign="not-negative",
        label="Warn when available credit falls below",
        help_text="In dollars. Everyone in the team sees the warning; 0 turns it off.",
    )


class CapForm(forms.Form):
    member = forms.CharField(widget=forms.HiddenInput)
    monthly_cap = DollarsField(
        sign="not-negative",
        required=False,
        label="Monthly cap",
        help_text="Dollars per calendar month (UTC); empty means no cap.",
    )

    def __init__(self, *args, team, **kwargs):
        # Many of these share a page (one per member): no ids, the template sets its own.
        kwargs.setdefault("auto_id", False)
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_member(self):
        return team_membership(self.team, self.cleaned_data["member"])


class TeamChoiceField(forms.ModelChoiceField):
    """Teams by uuid; a malformed uuid is just not one of the choices."""

    def __init__(self, **kwargs):
        super().__init__(
            Team.objects.order_by("name"),
            to_field_name="uuid",
            empty_label="Choose a team…",
            **kwargs,
        )

    def to_python(self, value):
        try:
            return super().to_python(value)
        except ValidationError as e:
            if e.code == "invalid_choice":
                raise
            raise ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from None


class KeyedForm(forms.Form):
    """A form whose submission is one ledger call: its key makes a double submit harmless."""

    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)


class GrantForm(KeyedForm):
    prefix = "grant"
    team = TeamChoiceField()
    amount = DollarsField(label="Amount", help_text="In dollars, e.g. 50 or 12.50.")
    memo = forms.CharField(
        max_length=500, label="Memo", help_text="Why: the team sees this on its statement."
    )


class AdjustForm(KeyedForm):
    prefix = "adjust"
    team = TeamChoiceField()
    amount = DollarsField(
        sign="nonzero",
        label="Amount",
        help_text="In dollars; negative (e.g. -5) takes credit away.",
    )
    reason = forms.CharField(
        max_length=500, label="Reason", help_text="The team sees this on its statement."
    )
