"""Server-rendered SVG trend charts with the patient's own green/yellow/red bands drawn behind them.

No JavaScript and no chart library: the page stays fast and works by keyboard and screen reader (each
chart carries a text summary; the SVG is the picture of the same numbers).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ebp.content import Bounds
from measurements.types import INK, SPECS, Colour
from tenants.norwegian import day_text, number

W, H = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 8, 22


@dataclass(frozen=True)
class Point:
    at: datetime.datetime
    value: float
    colour: str
    second: float | None = None  # diastolic


def _bands(bounds: Bounds | None) -> list[tuple[float | None, float | None, str]]:
    """(low, high, colour) zones from the bounds, lowest first; None = unbounded."""
    if bounds is None:
        return []
    zones, start = [], None
    for edge, colour in ((bounds.red_below, "red"), (bounds.yellow_below, "yellow")):  # the colour below it
        if edge is not None:
            zones.append((start, edge, colour))
            start = edge
    above = [(e, c) for e, c in ((bounds.yellow_above, "yellow"), (bounds.red_above, "red")) if e is not None]
    zones.append((start, above[0][0] if above else None, "green"))
    for i, (edge, colour) in enumerate(above):  # the colour above it
        zones.append((edge, above[i + 1][0] if i + 1 < len(above) else None, colour))
    return zones


def _rects(bounds, lo: float, hi: float, y) -> list[tuple]:
    rects = []
    for low, high, colour in _bands(bounds):
        top = y(min(hi, high if high is not None else hi))
        bottom = y(max(lo, low if low is not None else lo))
        if bottom - top > 0:
            rects.append((LEFT, f"{top:.1f}", W - LEFT - RIGHT, f"{bottom - top:.1f}", Colour(colour).fill))
    return rects


def trend_svg(
    points: list[Point], bounds: Bounds | None, start, end, label: str, unit: str, decimals: int | None = None
) -> SafeString:
    """The chart; values in the summary are shown with `decimals` (the type's), the bounds as set."""
    values = [p.value for p in points] + [p.second for p in points if p.second is not None]
    marks = bounds.present() if bounds else []
    lo = min(values + [v for _, v in marks])
    hi = max(values + [v for _, v in marks])
    pad = (hi - lo) * 0.1 or 1
    lo, hi = lo - pad, hi + pad
    span = (end - start).total_seconds() or 1

    def x(at):
        return LEFT + (at - start).total_seconds() / span * (W - LEFT - RIGHT)

    def y(v):
        return TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM)

    zones = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>', _rects(bounds, lo, hi, y))
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#1b2330">{}</text>',
        ((LEFT - 4, f"{y(v) + 4:.1f}", number(v)) for _, v in marks),
    )
    line = " ".join(f"{x(p.at):.1f},{y(p.value):.1f}" for p in points)
    second = " ".join(f"{x(p.at):.1f},{y(p.second):.1f}" for p in points if p.second is not None)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="3" fill="{}"/>',
        ((f"{x(p.at):.1f}", f"{y(p.value):.1f}", INK.get(p.colour, INK[""])) for p in points),
    )
    last = points[-1]
    summary = (
        f"{label}: {len(points)} målinger, siste {number(last.value, decimals)}"
        + (f"/{number(last.second, decimals)}" if last.second else "")
        + f" {unit}"
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}{}'
        '<polyline points="{}" fill="none" stroke="#1f4e79" stroke-width="2"/>'
        '<polyline points="{}" fill="none" stroke="#1f4e79" stroke-width="1.5" stroke-dasharray="4 3"/>{}'
        '<text x="{}" y="{}" font-size="11" fill="#1b2330">{}</text>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="#1b2330">{}</text></svg>',
        W, H, summary, summary, zones, ticks, line, second, dots,
        LEFT, H - 6, day_text(start), W - RIGHT, H - 6, day_text(end),
    )  # fmt: skip


def charts_for(readings: list, plan_content, start, end) -> list[dict]:
    """One chart per measurement type with readings in the period, in the catalogue's order."""
    by_type: dict[str, list[Point]] = {}
    for mtype, value, systolic, diastolic, colour, at in readings:
        main = value if value is not None else systolic
        by_type.setdefault(mtype, []).append(Point(at, main, colour, diastolic))
    out = []
    for mtype, type_spec in SPECS.items():
        points = by_type.get(mtype)
        if not points:
            continue
        component = type_spec.components[0]  # blood pressure: the bands drawn are the systolic ones
        bounds = plan_content.thresholds.get(mtype, {}).get(component) if plan_content else None
        svg = trend_svg(points, bounds, start, end, type_spec.label, type_spec.unit_label, type_spec.decimals)
        out.append({"type": mtype, "label": type_spec.label, "svg": svg, "count": len(points)})
    return out
