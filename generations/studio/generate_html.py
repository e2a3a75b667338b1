"""The Generate form's fields as HTML, written in Python.

The page drew each field through templates/partials/field.html and each clip setting
through a partial of its own: a third of the page's rendering went to template nodes
looking up the same few attributes. These functions write the same markup (the tests
of templates/generations/generate.html read it); every value goes through
conditional_escape, and widgets still render through the form renderer.
"""

from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from seedance_site import fragments

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


# Typed text the page would show: a form that opens with any is rendered, never kept (a
# query string could make an entry per text).
TYPED = ("prompt", "new_project", "new_scene", "remix_of")
# Selects whose chosen option is the form's value: kept by that value when it is one of
# the choices (any other value selects none, so it is one entry whatever it is).
CHOSEN = ("family", "account", "project", "scene", "variants")


def kept_key(form, inputs) -> str | None:
    """The key the Generate page's main column (prompt, inputs, settings, project and
    scene) and its variants field are kept under, as the page opens: a digest of all
    they show. None for a form as posted (typed values, errors), with typed text, or
    with slots that are not kept (InputsForm.kept_key)."""
    slots = inputs.kept_key() if not form.is_bound else None
    if slots is None or any(form.raw(name) for name in TYPED):
        return None
    chosen = []
    for name in CHOSEN:
        value = form[name].value()
        value = "" if value is None else str(value)
        offered = {str(choice) for choice, _ in form.fields[name].choices}
        chosen.append(value if value in offered else None)
    shown = (
        slots,
        chosen,
        form.options_key,
        [form.effective(name) for name in OPTION_SELECTS],
        form.audio_checked(),
        [(a.uuid, a.label, a.protocol) for a in form.accounts],
        [(p.uuid, p.name) for p in form.projects],
        [(s.uuid, s.number, s.title) for s in form.scenes],
    )
    return "generate-main:" + fragments.digest(*shown)
