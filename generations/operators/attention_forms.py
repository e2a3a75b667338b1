"""The operators' three ways to settle a job that needs attention, as forms.

The forms check only what was typed (present, short enough, a number); whether a task id
or an address is usable is the lifecycle's to decide, and its refusal is put back on the
field it names, so the operator sees it next to what they typed.
"""

from django import forms

from generations import lifecycle
from generations.vendors.bounds import MAX_TASK_ID_CHARS, MAX_URL_CHARS


class SettleForm(forms.Form):
    def refuse(self, refusal: lifecycle.ResolveRefused) -> None:
        self.add_error(refusal.field if refusal.field in self.fields else None, str(refusal))


class FailForm(SettleForm):
    confirm = forms.BooleanField(
        label="I checked: the vendor has no task for this job",
        error_messages={"required": "Tick this once you have checked with the vendor."},
    )


class AttachForm(SettleForm):
    task_id = forms.CharField(
        label="Vendor task id",
        max_length=MAX_TASK_ID_CHARS,
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}),
        help_text="As the vendor's dashboard or support shows it. We check it from now on.",
    )


class FinishedForm(SettleForm):
    output_url = forms.CharField(
        label="Address of the finished clip",
        max_length=MAX_URL_CHARS,
        widget=forms.URLInput(attrs={"class": "mono", "spellcheck": "false"}),
        help_text="The http(s) address the vendor gives for the video file.",
    )
    charge = forms.DecimalField(
        label="Charge in vendor credits",
        required=False,
        max_digits=14,
        decimal_places=4,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        help_text="What the vendor charged for it. Empty: the account's price for this request.",
    )
