"""The gallery's tags: {% list_field form.scene %}, a filter's long choice list kept by
what it shows, {% form_field form.since %}, any other field, and {% gallery_cards %}."""

from functools import partial

from django import template
from django.core.cache import caches
from django.core.cache.utils import make_template_fragment_key as card_key
from django.urls import reverse
from django.utils import timezone
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
OPENED = '"\n    >'  # where a kept <li> ends its opening tag: the last card's SCROLL goes in


@register.simple_tag(takes_context=True)
def gallery_cards(context, clips, next_url):
    """The gallery's cards: each one's <li> (CARD) around its markup (the page's #card
    partial), kept whole by the card's digest (seedance_site/fragments.py) under the key a
    {% cache 86400 gallery-card c.digest %} block keeps it; only the last card of a page
    with more gets SCROLL written into its opening tag. As a {% for %} around a
    {% cache %} block, the template engine spent longer looking up the same few
    attributes of 24 cards than reading their kept markup; the time zone, the template
    and the cache are looked up once for the page."""
    store = caches["template_fragments"]

    def render(c):
        card = context.template.engine.get_template("generations/gallery.html#card")
        with context.push(c=c):
            markup = card.render(context)
        return CARD.format(preview=conditional_escape(c.video_url), scroll="", markup=markup)

    zone = timezone.get_current_timezone_name()
    shown = [
        fragments.kept(card_key("gallery-card", [c.digest_in(zone)]), partial(render, c), store)
        for c in clips
    ]
    if next_url and shown:
        scroll = SCROLL.format(url=conditional_escape(reverse("gallery") + next_url))
        shown[-1] = shown[-1].replace(OPENED, f'"\n    {scroll}>', 1)
    return mark_safe("".join(shown))  # noqa: S308 - the addresses are escaped, the markup the engine's
