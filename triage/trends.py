"""The patient's trend charts with the plan's green/yellow/red bands behind them, and the worklist's
small trends: what triage knows (the catalogue, the plan's bounds, the scoring's colours) handed to
the platform's chart module, `tenants.charts`, which draws them."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ebp.content import Bounds
from measurements.types import SPECS, Colour, TypeSpec
from tenants.charts import Band, Chart, Frame, Point, Series, Table, line_chart, line_table, sparkline
from tenants.norwegian import number

FRAME = Frame(width=640, height=180, left=44, right=8, top=8, bottom=22)
TONE = {c.value: f"tone-{c.value}" for c in Colour} | {"": "tone-none"}  # a dot's class (static/css/charts.css)
LABELS = {c.value: c.label for c in Colour}


@dataclass(frozen=True)
class Reading:
    at: datetime.datetime
    value: float
    colour: str
    second: float | None = None  # diastolic


def bands(bounds: Bounds | None) -> list[Band]:
    """The zones of the bounds, lowest first (None: unbounded), each drawn in its colour's fill."""
    if bounds is None:
        return []
    zones: list[tuple[float | None, float | None, Colour]] = []
    start = None
    for edge, colour in ((bounds.red_below, Colour.RED), (bounds.yellow_below, Colour.YELLOW)):  # the colour below
        if edge is not None:
            zones.append((start, edge, colour))
            start = edge
    above = [(e, c) for e, c in ((bounds.yellow_above, Colour.YELLOW), (bounds.red_above, Colour.RED)) if e is not None]
    zones.append((start, above[0][0] if above else None, Colour.GREEN))
    for i, (edge, colour) in enumerate(above):  # the colour above it
        zones.append((edge, above[i + 1][0] if i + 1 < len(above) else None, colour))
    return [Band(low, high, f"band-{colour.value}", colour.fill) for low, high, colour in zones]


def _note(colour: str) -> str:
    """The reading's colour in words for the table («Rød»), so it is never told by colour alone."""
    return LABELS.get(colour) or _("Ikke vurdert")


def _series(type_spec: TypeSpec, readings: list[Reading]) -> list[Series]:
    """The value (blood pressure: systolic, and diastolic dashed) with a dot in each reading's colour."""
    first = Series(
        _("Systolisk") if len(type_spec.components) > 1 else _("Verdi"),
        [Point(r.at, r.value, TONE.get(r.colour, TONE[""]), _note(r.colour)) for r in readings],
        css="series-1",
    )
    series = [first]
    if any(r.second is not None for r in readings):
        series.append(
            Series(_("Diastolisk"), [Point(r.at, r.second) for r in readings], css="series-1", dashed=True, dots=False)
        )
    return series


def trend_chart(
    mtype: str, type_spec: TypeSpec, readings: list[Reading], bounds: Bounds | None, start, end, numbers_url: str = ""
) -> Chart:
    """One type's chart: the readings' series, the bands of the first component, the bounds as the y
    axis' ticks; the summary names the last value. With `numbers_url` its table's rows are fetched from
    there when opened (trend_table)."""
    decimals = type_spec.decimals
    series = _series(type_spec, readings)
    marks = [value for _name, value in bounds.present()] if bounds else []
    last = readings[-1]
    shown = number(last.value, decimals) + (f"/{number(last.second, decimals)}" if last.second else "")
    summary = _("%(label)s: %(n)s målinger, siste %(value)s %(unit)s") % {
        "label": type_spec.label, "n": len(readings), "value": shown, "unit": type_spec.unit_label,
    }  # fmt: skip
    return line_chart(
        id=f"chart-{mtype}", caption=type_spec.label, series=series, start=start, end=end, bands=bands(bounds),
        unit=type_spec.unit_label, decimals=decimals, y_ticks=marks or None, summary=summary,
        note=_("(%(n)s målinger)") % {"n": len(readings)}, note_heading=_("Vurdering"), frame=FRAME,
        numbers_url=numbers_url,
    )  # fmt: skip


def trend_table(mtype: str, rows: list) -> Table:
    """The numbers of one type's chart (trend_chart's table), from its readings as trend_readings
    gives them (the database's UTC times, shown by Norway's clock)."""
    type_spec = SPECS[mtype]
    series = _series(type_spec, _by_type(rows).get(mtype, []))
    return line_table(caption=type_spec.label, series=series, unit=type_spec.unit_label,
                      decimals=type_spec.decimals, note_heading=_("Vurdering"))  # fmt: skip


def _by_type(rows: list) -> dict[str, list[Reading]]:
    by_type: dict[str, list[Reading]] = {}
    local = timezone.get_current_timezone()  # the table names each reading's time as Norway's clock showed it
    for mtype, value, systolic, diastolic, colour, at in rows:
        main = value if value is not None else systolic
        by_type.setdefault(mtype, []).append(Reading(at.astimezone(local), main, colour, diastolic))
    return by_type


def charts_for(readings: list, plan_content, start, end, numbers_url=None) -> list[Chart]:
    """One chart per measurement type with readings in the period, in the catalogue's order. The
    readings' times come from the database in UTC; the charts show them in local time. With
    `numbers_url` (type → address) each chart's table is fetched from its address when opened."""
    by_type = _by_type(readings)
    out = []
    for mtype, type_spec in SPECS.items():
        points = by_type.get(mtype)
        if not points:
            continue
        component = type_spec.components[0]  # blood pressure: the bands drawn are the systolic ones
        bounds = plan_content.thresholds.get(mtype, {}).get(component) if plan_content else None
        out.append(trend_chart(mtype, type_spec, points, bounds, start, end, numbers_url(mtype) if numbers_url else ""))
    return out


def sparkline_svg(points: list[dict], width: int = 96, height: int = 26) -> SafeString:
    """A worklist row's last values (`{"value", "colour"}`, oldest first), a dot in each one's colour."""
    return sparkline([(p["value"], TONE.get(p["colour"], TONE[""])) for p in points], width, height)
