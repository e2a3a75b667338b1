"""The count of jobs waiting for an operator, beside the Needs attention link."""

from django import template

from generations.models import Generation, State

register = template.Library()


@register.simple_tag
def needs_attention_count() -> int:
    """One COUNT query; only operators' pages ask for it."""
    return Generation.objects.filter(state=State.NEEDS_ATTENTION).count()
