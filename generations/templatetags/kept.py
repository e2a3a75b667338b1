"""{% list_field form.scene %}: a filter's long choice list, kept by what it shows."""

from django import template
from django.template.loader import render_to_string

from seedance_site import fragments

register = template.Library()


@register.simple_tag
def list_field(field):
    """partials/field.html for one of the gallery's long choice lists (every scene of the
    team...), kept by its choices and its value; a value that is none of its choices is
    rendered with its error and not kept (GalleryFilterForm.kept_key)."""

    def render():
        return render_to_string("partials/field.html", {"field": field})

    key = field.form.kept_key(field.name)
    return render() if key is None else fragments.kept(key, render)
