"""The form renderer: Django's, except that the common widgets are written in Python.

Django renders each widget through two or three small templates (the widget, the
<input> it includes, its attributes; every <option> of a <select> through two more).
The gallery's filters offer every project and scene of the team, and a project's page
has an edit form per scene: those pages spent more time writing form fields than
content. The markup is exactly what Django's templates give (tests/test_form_renderer.py
compares them); any other widget still goes through its template.
"""

from django.forms.renderers import DjangoTemplates
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

SELECT = "django/forms/widgets/select.html"
TEXTAREA = "django/forms/widgets/textarea.html"
# Each of these is {% include "django/forms/widgets/input.html" %} and nothing else.
INPUTS = {
    f"django/forms/widgets/{name}.html"
    for name in [
        "input",
        "checkbox",
        "color",
        "date",
        "datetime",
        "email",
        "hidden",
        "number",
        "password",
        "search",
        "tel",
        "text",
        "time",
        "url",
    ]
}


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


def render_input(widget: dict) -> str:
    value = widget["value"]
    shown = "" if value is None else f' value="{conditional_escape(value)}"'
    html = (
        f'<input type="{conditional_escape(widget["type"])}" '
        f'name="{conditional_escape(widget["name"])}"{shown}{_attributes(widget["attrs"])}>'
    )
    # Every part above went through conditional_escape.
    return mark_safe(html)  # noqa: S308


def render_textarea(widget: dict) -> str:
    value = conditional_escape(widget["value"]) if widget["value"] else ""
    html = (
        f'<textarea name="{conditional_escape(widget["name"])}"{_attributes(widget["attrs"])}>'
        f"\n{value}</textarea>"
    )
    # Every part above went through conditional_escape.
    return mark_safe(html)  # noqa: S308


class FormRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        if template_name == SELECT:
            return render_select(context["widget"])
        if template_name in INPUTS:
            return render_input(context["widget"])
        if template_name == TEXTAREA:
            return render_textarea(context["widget"])
        return super().render(template_name, context, request=request)
