from django import forms

from generations.api.models import Scope


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=80, label="Token name", help_text="Where it is used: 'render farm', 'CI'."
    )
    scope = forms.ChoiceField(
        choices=Scope.choices,
        initial=Scope.READ,
        help_text="Generate can submit and cancel jobs and spend credits; read only cannot.",
    )


class WebhookForm(forms.Form):
    url = forms.URLField(
        max_length=500,
        label="Endpoint URL",
        assume_scheme="https",
        help_text="A public https address of your system; we POST signed events to it.",
    )
