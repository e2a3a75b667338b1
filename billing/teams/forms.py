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
        self.fields["role"].choices = self.role_choices(inviter)

    @staticmethod
    def role_choices(inviter) -> list[tuple[str, str]]:
        """The roles `inviter` may hand out: only an owner may hand out ownership."""
        if inviter is not None and not inviter.has_role(Role.OWNER):
            return [c for c in Role.choices if c[0] != Role.OWNER]
        return Role.choices


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False)

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")
