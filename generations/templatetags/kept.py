"""The gallery filters' fields: {% list_field form.scene %}, a long choice list kept by
what it shows, and {% form_field form.since %}, any other field."""

from django import template

from generations.studio import generate_html
from seedance_site import fragments

register = template.Library()


@register.simple_tag
def list_field(field):
    """partials/field.html for one of the gallery's long choice lists (every scene of the
    team...), kept by its choices and its value; a value that is none of its choices is
    rendered with its error and not kept (GalleryFilterForm.kept_key)."""

    def render():
        return generate_html.field(field)

    key = field.form.kept_key(field.name)
    return render() if key is None else fragments.kept(key, render)


@register.simple_tag
def form_field(field):
    """partials/field.html for one field, written in Python (generate_html.field): an
    {% include %} per field was a good part of the gallery's rendering."""
    return generate_html.field(field)
