"""Rendered cards, kept by a digest of exactly what they show.

A card's markup is a pure function of a few values: the rows it shows, and a flag or two
about who is looking. Templates wrap such markup in Django's own `{% cache %}` tag and vary
it on `digest(...)` of those values, so:

- a cached card is never stale: a renamed project, a new state or a favourite makes a new
  digest, hence a new key, and the old entry just ages out;
- nothing has to be invalidated anywhere, so each process keeps its own copy in memory
  (the `template_fragments` cache alias, see settings);
- what differs per person (the CSRF token, the page's own address) stays outside the
  cached markup, and what differs per role (may I run it again?) is one of the values.

Rendering a card through the template engine costs about half a millisecond; reading it
back costs a few microseconds. A page of 24 cards is most of a gallery request.
"""

import hashlib
from collections.abc import Callable
from datetime import datetime

from django.core.cache import caches
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince


def digest(*values) -> str:
    """A short stable digest of `values` (anything whose repr() says what it is)."""
    return hashlib.blake2b(repr(values).encode(), digest_size=16).hexdigest()


def row(instance, skip=()) -> tuple:
    """Every stored value of a model instance, and of the related rows loaded with it
    (select_related), one level down, but those named in `skip`: what a template could
    read from it. (Skip a relation whose row changes often in ways the card never shows,
    and digest the few values it does show yourself.)"""
    own = _own_values(instance)
    loaded = instance._state.fields_cache
    related = tuple(
        (name, _own_values(other))
        for name, other in sorted(loaded.items(), key=_by_name)
        if name not in skip
    )
    return (type(instance).__name__, own, related)


def _own_values(instance) -> tuple:
    if instance is None:
        return ()
    return tuple(getattr(instance, f.attname) for f in instance._meta.concrete_fields)


def _by_name(item):
    return item[0]


def ago(moment: datetime) -> str:
    """The words `{{ moment|timesince }}` writes now: part of a card's digest, since a card
    that says "3 minutes ago" must be rendered again when that changes."""
    return timesince(moment, timezone.now())


def kept(key: str, render: Callable[[], str], store=None) -> SafeString:
    """The markup kept under `key` (a digest of what it shows), rendered and kept if it
    was not: for markup a template tag writes rather than a {% cache %} block. (`store`:
    the template_fragments cache, when a caller keeping many has looked it up already.)"""
    store = store or caches["template_fragments"]
    markup = store.get(key)
    if markup is None:
        markup = str(render())
        store.set(key, markup)
    return mark_safe(markup)  # noqa: S308 - markup the template engine escaped when it wrote it
