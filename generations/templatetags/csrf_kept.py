"""{% csrfkept %}…{% endcsrfkept %}: markup with forms in it, kept whole by a {% cache %}
inside, with the CSRF token written into each form afterwards.

A token is the one thing in such markup that differs per person, so the markup is
rendered (and kept) with a placeholder in each form's token field, and the field is
replaced with the token of the request that shows it. The placeholder is derived from
SECRET_KEY, and only the whole field it is written in is replaced (a field typed into a
prompt is escaped, so never matches)."""

from django import template
from django.utils.crypto import salted_hmac
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()

# What a context holds for a page that asks for no token (Django's csrf_exempt views).
NOT_PROVIDED = "NOTPROVIDED"  # noqa: S105 (a marker, not a secret)


def _token_field(token) -> str:
    # As Django's {% csrf_token %} writes it.
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)


class CsrfKeptNode(template.Node):
    def __init__(self, nodelist):
        self.nodelist = nodelist

    def render(self, context):
        token = context.get("csrf_token")
        placeholder = salted_hmac("generations.csrf_kept", "placeholder").hexdigest()
        with context.push(csrf_token=placeholder):
            markup = self.nodelist.render(context)
        # No token (a page rendered without its request): no field, as {% csrf_token %}.
        field = _token_field(token) if token and token != NOT_PROVIDED else ""
        return mark_safe(markup.replace(_token_field(placeholder), field))  # noqa: S308


@register.tag("csrfkept")
def csrfkept(parser, token):
    nodelist = parser.parse(("endcsrfkept",))
    parser.delete_first_token()
    return CsrfKeptNode(nodelist)
