"""`{{ g.uuid|to:"clip" }}`: a row's address without running the URL resolver per row."""

from django import template

from seedance_site.web import uuid_path

register = template.Library()


@register.filter
def to(value, name):
    return uuid_path(name, value)
