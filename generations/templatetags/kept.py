"""The gallery's tags: {% list_field form.scene %}, a filter's long choice list kept by
what it shows, {% form_field form.since %}, any other field, and {% gallery_cards %}."""

from functools import partial

from django import template
from django.core.cache.utils import make_template_fragment_key as card_key
from django.urls import reverse
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

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


# One card's <li> around its kept markup; the last card asks for the next page when seen.
CARD = '\n<li class="clip-card" data-preview="{preview}"\n    {scroll}>\n  {markup}\n</li>\n'
SCROLL = 'hx-get="{url}" hx-trigger="revealed" hx-swap="afterend" hx-target="this"'


@register.simple_tag(takes_context=True)
def gallery_cards(context, clips, next_url):
    """The gallery's cards: each one's <li>, written here, around its markup (the page's
    #card partial) kept by its digest (seedance_site/fragments.py), under the key a
    {% cache 86400 gallery-card c.digest %} block keeps it. As a {% for %} around
    a {% cache %} block, the template engine spent longer looking up the same few
    attributes of 24 cards than reading their kept markup."""
    card = context.template.engine.get_template("generations/gallery.html#card")

    def render(c):
        with context.push(c=c):
            return card.render(context)

    last = len(clips) - 1
    scroll = (
        SCROLL.format(url=conditional_escape(reverse("gallery") + next_url)) if next_url else ""
    )
    return mark_safe(  # noqa: S308 - the addresses are escaped, the markup the engine's
        "".join(
            CARD.format(
                preview=conditional_escape(c.video_url),
                scroll=scroll if i == last else "",
                markup=fragments.kept(card_key("gallery-card", [c.digest]), partial(render, c)),
            )
            for i, c in enumerate(clips)
        )
    )
