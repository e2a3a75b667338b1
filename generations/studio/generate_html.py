"""The Generate form's fields as HTML, written in Python.

The page drew each field through templates/partials/field.html and each clip setting
through a partial of its own: a third of the page's rendering went to template nodes
looking up the same few attributes. These functions write the same markup (the tests
of templates/generations/generate.html read it); every value goes through
conditional_escape, and widgets still render through the form renderer.
"""

from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

# The clip settings: offered or not, and why, as GenerateForm works them out.
OPTION_SELECTS = {
    "duration": "duration_options",
    "aspect_ratio": "aspect_ratio_options",
    "resolution": "resolution_options",
}


def field(bound) -> str:
    """As {% include "partials/field.html" with field=bound %}."""
    errors = bound.errors
    checkbox = getattr(bound.field.widget, "input_type", None) == "checkbox"
    classes = "field" + (" has-error" if errors else "") + (" check" if checkbox else "")
    auto_id = conditional_escape(bound.auto_id)
    parts = [
        f'<div class="{classes}">',
        f'  <label for="{conditional_escape(bound.id_for_label)}">'
        f"{conditional_escape(bound.label)}</label>",
        f"  {bound}",  # the widget, as the form renderer writes it (escaped there)
    ]
    if bound.help_text:
        help_text = conditional_escape(bound.help_text)
        parts.append(f'  <small class="help" id="{auto_id}_help">{help_text}</small>')
    parts.extend(
        f'  <p class="error" id="{auto_id}_error">{conditional_escape(e)}</p>' for e in errors
    )
    parts.append("</div>")
    return mark_safe("\n".join(parts))  # noqa: S308 (every value above is escaped)


def _option(o) -> str:
    flags = (" selected" if o.selected else "") + ("" if o.enabled else " disabled")
    label = conditional_escape(o.label) + ("" if o.enabled else " (not offered)")
    return f'<option value="{conditional_escape(o.value)}"{flags}>{label}</option>'


def option_select(form, name: str) -> str:
    """One clip setting: every value any vendor offers, those not offered here disabled,
    with the note that says why."""
    errors = form[name].errors
    note = form.options.notes.get(name)
    described = f' aria-describedby="id_{name}_note"' if note else ""
    invalid = ' aria-invalid="true"' if errors else ""
    options = "".join(_option(o) for o in getattr(form, OPTION_SELECTS[name])())
    parts = [
        f'<div class="field{" has-error" if errors else ""}">',
        f'  <label for="id_{name}">{conditional_escape(form.fields[name].label)}</label>',
        f'  <select name="{name}" id="id_{name}"{described}{invalid}>',
        f"    {options}",
        "  </select>",
    ]
    if note:
        parts.append(
            f'  <small class="help" id="id_{name}_note">{conditional_escape(note)}</small>'
        )
    parts.extend(f'  <p class="error">{conditional_escape(e)}</p>' for e in errors)
    parts.append("</div>")
    return mark_safe("\n".join(parts))  # noqa: S308 (names are the form's; values escaped)


class FieldsHtml:
    """`{{ form.html.<name> }}`: a field, or a clip setting, as the page shows it."""

    def __init__(self, form):
        self.form = form

    def __getitem__(self, name: str) -> str:
        if name in OPTION_SELECTS:
            return option_select(self.form, name)
        if name not in self.form.fields:
            raise KeyError(name)
        return field(self.form[name])
