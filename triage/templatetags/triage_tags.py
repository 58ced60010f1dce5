from django import template
from django.utils import timezone
from django.utils.html import format_html, format_html_join

register = template.Library()

COLOURS = {"red": "#a4161a", "yellow": "#7a5200", "green": "#1e6b34", "": "#4f5b6b"}
WORDS = {"red": "Rød", "yellow": "Gul"}


@register.filter
def colour_word(colour: str) -> str:
    return WORDS.get(colour, colour)


@register.simple_tag
def sparkline(points, width=96, height=26):
    """A small inline trend of the last values (decorative: the values are also given as text)."""
    points = [p for p in points if p["value"] is not None]
    values = [p["value"] for p in points]
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1
    step = (width - 6) / (len(values) - 1)
    coords = [(3 + i * step, height - 3 - (v - low) / span * (height - 6)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5" fill="{}"/>',
        (
            (f"{x:.1f}", f"{y:.1f}", COLOURS.get(p["colour"], COLOURS[""]))
            for (x, y), p in zip(coords, points, strict=True)
        ),
    )
    return format_html(
        '<svg class="spark" width="{}" height="{}" viewBox="0 0 {} {}" aria-hidden="true" focusable="false">'
        '<polyline points="{}" fill="none" stroke="#4f5b6b" stroke-width="1.5"/>{}</svg>',
        width, height, width, height, line, dots,
    )  # fmt: skip


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
