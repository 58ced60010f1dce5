from urllib.parse import urlencode

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe

from measurements.types import INK, Colour

register = template.Library()
LABELS = {c.value: c.label for c in Colour}  # looked up once per worklist row


@register.filter
def colour_word(colour: str) -> str:
    """«Rød» for "red"; anything that is no colour is shown as it is."""
    return LABELS.get(colour, colour)


def sparkline_svg(points, width=96, height=26) -> str:
    """A small inline trend of the last values (decorative: the values are also given as text).
    Plain string building: only numbers and constant colours go in, and 300 rows render in ~1 ms."""
    points = [p for p in points if p["value"] is not None]
    if len(points) < 2:
        return ""
    values = [p["value"] for p in points]
    low, span = min(values), (max(values) - min(values)) or 1
    step = (width - 6) / (len(values) - 1)
    coords = [(3 + i * step, height - 3 - (v - low) / span * (height - 6)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{INK.get(p["colour"], INK[""])}"/>'
        for (x, y), p in zip(coords, points, strict=True)
    )
    return mark_safe(  # numbers and constants only, no input
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-hidden="true" '
        f'focusable="false"><polyline points="{line}" fill="none" stroke="#4f5b6b" stroke-width="1.5"/>{dots}</svg>'
    )


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
