from urllib.parse import urlencode

from django import template
from django.utils import timezone

from measurements.types import Colour
from triage.trends import sparkline_svg

register = template.Library()
LABELS = {c.value: c.label for c in Colour}  # looked up once per worklist row


@register.filter
def colour_word(colour: str) -> str:
    """«Rød» for "red"; anything that is no colour is shown as it is."""
    return LABELS.get(colour, colour)


register.simple_tag(sparkline_svg, name="sparkline")


@register.filter
def minutes_since(value, now=None) -> str:
    now = now or timezone.now()
    minutes = int((now - value).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} t {minutes % 60} min"
    return f"{hours // 24} døgn"


@register.simple_tag
def page_query(query: dict, key: str, number) -> str:
    """`?…` for the pager of one list on the follow-up page: the filter and the other lists' pages
    kept, this list's page set (`<key>_page`)."""
    return "?" + urlencode({**query, f"{key}_page": number})
