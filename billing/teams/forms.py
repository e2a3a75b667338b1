from django import forms
from django.contrib.auth.forms import UserCreationForm

from billing.models import Role


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)
    note = forms.CharField(
        max_length=200,
        required=False,
        label="Who is it for?",
        help_text="Only your team sees this.",
    )

    def __init__(self, *args, inviter=None, **kwargs):
        super().__init__(*args, **kwargs)
        # Only an owner may hand out ownership.
        if inviter is not None and not inviter.has_role(Role.OWNER):
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False)

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
