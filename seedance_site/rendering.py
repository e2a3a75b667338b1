"""The form renderer: Django's, except that a <select> is written in Python.

Django renders every <option> through two templates of its own (the option and its
attributes). The gallery's filters offer every project and scene of the team, so one
page of cards spent more time writing its <option>s than its cards. The markup is the
same as Django's templates give; any other widget still goes through its template,
so a project template that overrides one keeps working.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

SELECT = "django/forms/widgets/select.html"


def _attributes(attrs: dict) -> str:
    # As django/forms/widgets/attrs.html: True is a bare attribute, False leaves it out.
    return "".join(
        f" {name}" if value is True else f' {name}="{conditional_escape(value)}"'
        for name, value in attrs.items()
        if value is not False and value is not None
    )


def _option(option: dict) -> str:
    value = conditional_escape(option["value"])
    return f'<option value="{value}"{_attributes(option["attrs"])}>' + (
        f"{conditional_escape(option['label'])}</option>"
    )


def render_select(widget: dict) -> str:
    parts = [f'<select name="{conditional_escape(widget["name"])}"{_attributes(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'<optgroup label="{conditional_escape(group_name)}">')
        parts.extend(_option(option) for option in options)
        if group_name:
            parts.append("</optgroup>")
    parts.append("</select>")
    # Every name, value and label above went through conditional_escape.
    return mark_safe("\n".join(parts))  # noqa: S308


class FormRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        if template_name == SELECT:
            return render_select(context["widget"])
        return super().render(template_name, context, request=request)
