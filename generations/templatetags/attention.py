"""The count of jobs waiting for an operator, beside the Needs attention link."""

from django import template

from generations.models import Generation, State

register = template.Library()


@register.simple_tag(takes_context=True)
def needs_attention_count(context) -> int:
    """One COUNT query; only operators' pages ask for it. The Needs attention list counts
    them itself (`needs_attention_total`), and its own count is not asked again."""
    counted = context.get("needs_attention_total")
    if counted is not None:
        return counted
    return Generation.objects.filter(state=State.NEEDS_ATTENTION).count()
