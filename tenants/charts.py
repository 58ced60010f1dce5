"""Charts drawn on the server as SVG, each with its numbers as a table: the platform's one chart module.

Every app may use it (tenants is the lowest layer), so it knows no model and no measurement type:
colours are CSS classes the caller names (`series-1`, `band-red`, `tone-red`, drawn by
static/css/charts.css from dho.css's custom properties, whose traffic-light values are
`measurements.types.Colour`) and, for a band, an optional fill the caller hands in. Numbers and
dates are written by `tenants.norwegian`.

Why no chart library: the Content-Security-Policy allows no inline script or style, a chart drawn
in the browser would need a script and its data on the page twice, and a screen reader gets the
numbers from the table beside the picture anyway (docs/charts.md).

Three kinds, each returning a `Chart` (the SVG, the same numbers as a `Table`, a one-sentence
summary) that `templates/charts/_chart.html` renders as a `<figure>`:
- `line_chart`: values over time, several series, bands behind them, a reference line; None is a gap;
- `bar_chart`: values per period by category, grouped or stacked;
- `funnel_chart`: stages with their counts and the share that reached each.
`sparkline` is the worklist's small trend: decorative (its values are written beside it) and fast.

Everything from data goes into the SVG through format_html, so a label is escaped wherever it stands;
the loops over every point (dots, table rows, the sparkline) write one string of coordinates we
formatted and text through `_text`/`_css` (html.escape, which django.utils.html.escape calls),
because a format_html per point made a 90-day patient page several times slower.
"""

from __future__ import annotations

import datetime
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from tenants.norwegian import date_text, datetime_text, datetime_texts, day_text, grouped, number, percent

GAP = "–"  # a table cell without a value


def _text(value: object) -> str:
    """Text escaped for HTML: what django.utils.html.escape does, without its lazy-string wrapper
    (the loops over every point and every cell call it thousands of times)."""
    return html.escape(str(value))


@lru_cache(maxsize=256)
def _css(name: str) -> str:
    """A class name escaped, once per name."""
    return html.escape(name)


# --- what a caller hands in -------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """The drawing's size in SVG units (the page scales it to its width) and the margins round the plot."""

    width: int = 640
    height: int = 200
    left: int = 48
    right: int = 12
    top: int = 10
    bottom: int = 24

    @property
    def plot_width(self) -> float:
        return self.width - self.left - self.right


FRAME = Frame()


@dataclass(frozen=True)
class Band:
    """A zone behind a line chart from `low` to `high` (None: the plot's edge), drawn with `css`.
    `fill` is an optional colour written on the rect as well, so the picture keeps its zones where
    the page's stylesheet is not (a saved image)."""

    low: float | None
    high: float | None
    css: str
    fill: str = ""


@dataclass(frozen=True)
class Reference:
    """A horizontal line across the plot at `value`, named by `label` («80 pasienter per årsverk»)."""

    value: float
    label: str


@dataclass(frozen=True)
class Point:
    """One value of a line chart's series. `at` is a date or a (local) datetime; `value` None is a gap.
    `tone` is the CSS class of its dot («tone-red»), `note` is written beside it in the table («Rød»)."""

    at: datetime.date
    value: float | None
    tone: str = ""
    note: str = ""


@dataclass(frozen=True)
class Series:
    """A line: its name (legend and table heading), its points in time order, its CSS class
    (default `series-<n>`), dashed or not, and whether each point gets a dot."""

    name: str
    points: Sequence[Point]
    css: str = ""
    dashed: bool = False
    dots: bool = True


@dataclass(frozen=True)
class Bars:
    """One category of a bar chart: a value per period (None: no value), drawn with `css`."""

    name: str
    values: Sequence[float | None]
    css: str = ""


@dataclass(frozen=True)
class Stage:
    label: str
    count: int


# --- what a caller gets back ------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """The chart's numbers as text: each row's first cell names the row (a time, a period, a stage)."""

    caption: str
    headings: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def body_html(self) -> SafeString:
        """The rows as `<tr>`s, every cell escaped. Built here as one string rather than by the
        template or a format_html per cell: a 90-day chart has hundreds of rows, and most of its
        cells repeat (the values, «Grønn»), so each distinct text is escaped once."""
        escaped: dict[object, str] = {}

        def cell(value: object) -> str:
            found = escaped.get(value)
            if found is None:
                found = escaped[value] = _text(value)
            return found

        return mark_safe(  # every cell through _text
            "".join(
                f'<tr><th scope="row">{cell(row[0])}</th>' + "".join(f"<td>{cell(c)}</td>" for c in row[1:]) + "</tr>"
                for row in self.rows
            )
        )


@dataclass(frozen=True)
class Chart:
    id: str  # the figure's HTML id; the caption's and summary's ids are built from it
    caption: str
    summary: str  # one sentence saying what the chart shows
    svg: SafeString
    table: Table
    note: str = ""  # written beside the caption («(7 målinger)»)
    # Where the table's rows are fetched when the reader opens «Vis tallene» (line_chart's numbers_url):
    # the table then holds its caption and headings only.
    numbers_url: str = ""

    @property
    def empty(self) -> bool:
        return not self.table.rows and not self.numbers_url


# --- scales and ticks -------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, intervals: int = 5) -> list[float]:
    """Round tick values covering low…high in about `intervals` steps of 1, 2, 2.5 or 5 × 10ⁿ:
    0…100 → 0, 20, … 100; 86.3…99.1 → 85, 90, 95, 100."""
    if high < low:
        low, high = high, low
    if high == low:
        low, high = (low - 1, high + 1) if low else (0.0, 1.0)
    raw = (high - low) / intervals
    magnitude = 10 ** math.floor(math.log10(raw))
    fraction = raw / magnitude
    nice = next(n for n in (1, 2, 2.5, 5, 10) if fraction <= n + 1e-9)
    step = nice * magnitude
    decimals = max(0, -math.floor(math.log10(step)) + (1 if nice == 2.5 else 0))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round((first + i) * step, decimals) or 0.0 for i in range(last - first + 1)]


def _tick_decimals(ticks: Sequence[float]) -> int:
    """How many decimals tell the ticks apart (0.25 → 2, 5 → 0)."""
    for decimals in range(4):
        if all(abs(t - round(t, decimals)) < 1e-9 for t in ticks):
            return decimals
    return 4


@dataclass(frozen=True)
class _Scale:
    """Values low…high onto SVG y from bottom…top."""

    low: float
    high: float
    top: float
    bottom: float

    def __call__(self, value: float) -> float:
        return self.bottom - (value - self.low) / ((self.high - self.low) or 1) * (self.bottom - self.top)


def _domain(values: list[float], ticks: Sequence[float] | None, zero: bool) -> tuple[float, float, list[float]]:
    """The y range and its ticks: nice ticks when none are given (the range is theirs), else the
    values and given ticks with a tenth of their span added above and below."""
    if zero:
        values = [*values, 0.0]
    low, high = min(values), max(values)
    if ticks is None or not ticks:
        nice = nice_ticks(low, high)
        return nice[0], nice[-1], nice
    low, high = min(low, *ticks), max(high, *ticks)
    pad = (high - low) * 0.1 or 1
    return (low if zero and low == 0 else low - pad), high + pad, list(ticks)  # bars stand on 0


def _f(value: float) -> str:
    """An SVG coordinate."""
    return f"{value:.1f}"


def _value_text(value: float, decimals: int | None = None) -> str:
    """A value for a label or a cell: a whole number grouped («12 400»), else with a decimal comma."""
    if float(value).is_integer() and (decimals is None or decimals == 0):
        return grouped(int(value))
    return number(value, decimals)


def _with_unit(text: str, unit: str) -> str:
    return f"{text} {unit}" if unit else text


def _heading(name: str, unit: str) -> str:
    return f"{name} ({unit})" if unit else name


# --- the pieces of a drawing ------------------------------------------------------------------------


def _svg(chart_id: str, frame: Frame, height: float, title: str, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-caption" '
        'aria-describedby="{}-summary"><title>{}</title>{}</svg>',
        frame.width, f"{height:g}", chart_id, chart_id, title, body,
    )  # fmt: skip


def _empty(chart_id: str, caption: str, frame: Frame, headings: tuple[str, ...], note: str = "") -> Chart:
    message = _("Ingen data i perioden")
    body = format_html(
        '<text class="chart-message" x="{}" y="24" text-anchor="middle">{}</text>', _f(frame.width / 2), message
    )
    summary = _("%(caption)s: ingen data i perioden.") % {"caption": caption}
    return Chart(chart_id, caption, summary, _svg(chart_id, frame, 40, summary, body),
                 Table(caption, headings, ()), note)  # fmt: skip


def _y_axis(frame: Frame, scale: _Scale, ticks: Sequence[float]) -> SafeString:
    """Grid lines at the ticks and their values on the left."""
    decimals = _tick_decimals(ticks)
    right = frame.width - frame.right
    lines = format_html_join(
        "",
        '<line class="grid" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<text class="tick tick-y" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (frame.left, _f(scale(t)), right, _f(scale(t)), frame.left - 4, _f(scale(t) + 4), number(t, decimals))
            for t in ticks
            if scale.top - 0.5 <= scale(t) <= scale.bottom + 0.5
        ),
    )
    return lines


def _reference(frame: Frame, scale: _Scale, reference: Reference | None) -> SafeString:
    if reference is None:
        return mark_safe("")
    y = _f(scale(reference.value))
    right = frame.width - frame.right
    return format_html(
        '<line class="reference" x1="{}" y1="{}" x2="{}" y2="{}"/>'
        '<text class="reference-label" x="{}" y="{}" text-anchor="end">{}</text>',
        frame.left, y, right, y, right - 2, _f(scale(reference.value) - 4), reference.label,
    )  # fmt: skip


def _legend(frame: Frame, names: Sequence[tuple[str, str, str]]) -> SafeString:
    """A swatch and a name per series along the top (only when there is more than one)."""
    if len(names) < 2:
        return mark_safe("")
    parts, x = [], float(frame.left)
    for name, css, shape in names:
        if shape == "line":
            swatch = format_html('<line class="line {}" x1="{}" y1="8" x2="{}" y2="8"/>', css, _f(x), _f(x + 16))
        else:
            swatch = format_html('<rect class="bar {}" x="{}" y="3" width="10" height="10"/>', css, _f(x))
        parts.append(
            format_html('<g class="legend-item">{}<text x="{}" y="12">{}</text></g>', swatch, _f(x + 20), name)
        )
        x += 28 + 6.5 * len(name)
    return format_html('<g class="legend">{}</g>', mark_safe("".join(parts)))


def _moment(at: datetime.date) -> float:
    """Seconds on one line for dates, naive and aware datetimes (a chart holds one kind)."""
    if isinstance(at, datetime.datetime):
        if at.tzinfo is not None:
            return at.timestamp()
        return (at - datetime.datetime(1970, 1, 1)).total_seconds()
    return (at.toordinal() - datetime.date(1970, 1, 1).toordinal()) * 86400.0


DAY_STEPS = (1, 2, 7, 14, 28, 56, 91, 182, 364)


def _day_ticks(start: datetime.date, end: datetime.date, most: int = 6) -> list[datetime.date]:
    """Whole days between start and end, every 1, 2, 7 (Mondays), 14 … days, at most `most` of them."""
    first = start.date() if isinstance(start, datetime.datetime) else start
    last = end.date() if isinstance(end, datetime.datetime) else end
    days = (last - first).days
    step = next((s for s in DAY_STEPS if days / s <= most), DAY_STEPS[-1])
    day = first + datetime.timedelta(days=1)
    if step % 7 == 0:
        day += datetime.timedelta(days=-day.weekday() % 7)  # weeks start on Monday
    ticks: list[datetime.date] = []
    while day <= last:
        if isinstance(start, datetime.datetime):
            ticks.append(datetime.datetime.combine(day, datetime.time(), tzinfo=start.tzinfo))
        else:
            ticks.append(day)
        day += datetime.timedelta(days=step)
    return ticks


def _x_axis(frame: Frame, x: Callable[[datetime.date], float], start: datetime.date, end: datetime.date) -> SafeString:
    """Start and end at the plot's edges, the whole days between where they do not crowd them (a
    label is ~30 units wide, the edges' labels stand inside the plot)."""
    text = date_text if (end - start).days > 330 else day_text  # a year's chart names the years
    base = frame.height - 6
    right = frame.width - frame.right
    labels: list[tuple[float, str, str]] = [(frame.left, "start", text(start)), (right, "end", text(end))]
    labels += [(x(day), "middle", text(day)) for day in _day_ticks(start, end) if frame.left + 50 < x(day) < right - 50]
    return format_html_join(
        "",
        '<text class="tick tick-x" x="{}" y="{}" text-anchor="{}">{}</text>',
        ((_f(p), base, a, t) for p, a, t in labels),
    )


def _when(at: datetime.date) -> str:
    return datetime_text(at) if isinstance(at, datetime.datetime) else date_text(at)


# --- line chart -------------------------------------------------------------------------------------


def line_chart(
    *,
    id: str,
    caption: str,
    series: Sequence[Series],
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    bands: Sequence[Band] = (),
    reference: Reference | None = None,
    unit: str = "",
    decimals: int | None = None,
    y_ticks: Sequence[float] | None = None,
    zero: bool = False,
    summary: str | None = None,
    note: str = "",
    note_heading: str = "",
    time_heading: str | None = None,
    frame: Frame = FRAME,
    numbers_url: str = "",
) -> Chart:
    """Values over time. The y axis has nice ticks (or `y_ticks`, e.g. a plan's bounds), includes 0
    if `zero`, and always shows the bands' edges and the reference; x runs from `start` to `end`
    (default: the first and last point). With `numbers_url` the table's rows are not written here:
    the page fetches them from there (`line_table`, the same rows) when the reader opens them."""
    headings = _line_headings(series, unit, note_heading, time_heading)
    points = [p for s in series for p in s.points]
    values = [p.value for p in points if p.value is not None]
    if not values:
        return _empty(id, caption, frame, headings, note)
    start = start if start is not None else min(p.at for p in points)
    end = end if end is not None else max(p.at for p in points)
    edges = [e for b in bands for e in (b.low, b.high) if e is not None]
    marks = values + edges + ([reference.value] if reference else [])
    low, high, ticks = _domain(marks, y_ticks, zero)
    legend = len(series) > 1
    top = frame.top + (16 if legend else 0)
    scale = _Scale(low, high, top, frame.height - frame.bottom)
    t0, span = _moment(start), (_moment(end) - _moment(start)) or 1.0

    def x(at: datetime.date) -> float:
        return frame.left + (_moment(at) - t0) / span * frame.plot_width

    def xs(moments: list[float]) -> list[float]:
        return [frame.left + (m - t0) / span * frame.plot_width for m in moments]

    moments = [[_moment(p.at) for p in s.points] for s in series]  # once per point, for the line and the table
    parts = [_band_rects(frame, scale, bands), _y_axis(frame, scale, ticks)]
    shown = []
    for i, s in enumerate(series):
        css = s.css or f"series-{i + 1}"
        shown.append((s.name, css + (" dashed" if s.dashed else ""), "line"))
        parts.append(_line(s, css, xs(moments[i]), scale))
    # The reference over the lines: its label stays readable where a line crosses it.
    parts += [_reference(frame, scale, reference), _x_axis(frame, x, start, end), _legend(frame, shown)]
    body = mark_safe("".join(parts))
    rows = () if numbers_url else _line_rows(series, moments, decimals, bool(note_heading))
    summary = summary or _line_summary(caption, series, start, end, unit, decimals, reference)
    return Chart(id, caption, summary, _svg(id, frame, frame.height, summary, body), Table(caption, headings, rows),
                 note, numbers_url)  # fmt: skip


def line_table(
    *,
    caption: str,
    series: Sequence[Series],
    unit: str = "",
    decimals: int | None = None,
    note_heading: str = "",
    time_heading: str | None = None,
) -> Table:
    """The table of the line chart of these arguments (line_chart's), alone: what a chart drawn with
    `numbers_url` fetches when its numbers are opened."""
    moments = [[_moment(p.at) for p in s.points] for s in series]
    rows = _line_rows(series, moments, decimals, bool(note_heading))
    return Table(caption, _line_headings(series, unit, note_heading, time_heading), rows)


def _line_headings(series: Sequence[Series], unit: str, note_heading: str, time_heading: str | None) -> tuple:
    headings = (time_heading or _("Tidspunkt"), *(_heading(s.name, unit) for s in series))
    return (*headings, note_heading) if note_heading else headings


def _band_rects(frame: Frame, scale: _Scale, bands: Sequence[Band]) -> SafeString:
    rects = []
    for band in bands:
        top = scale(min(scale.high, band.high if band.high is not None else scale.high))
        bottom = scale(max(scale.low, band.low if band.low is not None else scale.low))
        if bottom - top > 0:
            fill = format_html(' fill="{}"', band.fill) if band.fill else ""
            rects.append((band.css, frame.left, _f(top), frame.plot_width, _f(bottom - top), fill))
    return format_html_join("", '<rect class="band {}" x="{}" y="{}" width="{}" height="{}"{}/>', rects)


def _line(s: Series, css: str, xs: list[float], scale: _Scale) -> SafeString:
    """The series as a path that lifts its pen at a None (a gap), and its dots (`xs`: each point's x).
    The dots are written as one string, not a format_html each (a 90-day chart has hundreds): only
    coordinates we formatted and the tone classes, escaped, go in."""
    path, dots, pen_down = [], [], False
    for p, px in zip(s.points, xs, strict=True):
        if p.value is None:
            pen_down = False
            continue
        cx, cy = f"{px:.1f}", f"{scale(p.value):.1f}"
        path.append(f"{'L' if pen_down else 'M'}{cx},{cy}")
        if s.dots:
            dots.append(f'<circle class="dot {_css(p.tone or css)}" cx="{cx}" cy="{cy}" r="3"/>')
        pen_down = True
    line = format_html(
        '<path class="line {}{}" d="{}" fill="none"/>', css, " dashed" if s.dashed else "", " ".join(path)
    )
    return line + mark_safe("".join(dots))  # numbers and escaped classes


def _line_rows(
    series: Sequence[Series], moments: list[list[float]], decimals: int | None, notes: bool
) -> tuple[tuple[str, ...], ...]:
    """A row per moment (a series' second value at the same moment gets a row of its own), a column
    per series, the notes of the moment last (`moments`: each series' points' `_moment`). A value is
    written once however often it recurs, and the moments' times with the time zone looked up once."""
    rows: dict[tuple[float, int], dict] = {}
    written: dict[tuple[type, float], str] = {}
    for column, (s, at_moments) in enumerate(zip(series, moments, strict=True)):
        seen: dict[float, int] = {}
        for p, moment in zip(s.points, at_moments, strict=True):
            n = seen[moment] = seen.get(moment, -1) + 1
            row = rows.get((moment, n))
            if row is None:
                row = rows[(moment, n)] = {"at": p.at, "notes": []}
            if p.value is None:
                row[column] = GAP
            else:
                key = (p.value.__class__, p.value)
                text = written.get(key)
                if text is None:
                    text = written[key] = number(p.value, decimals)
                row[column] = text
            if p.note:
                row["notes"].append(p.note)
    ordered = [rows[key] for key in sorted(rows)]
    if all(isinstance(row["at"], datetime.datetime) for row in ordered):
        times = datetime_texts([row["at"] for row in ordered])
    else:
        times = [_when(row["at"]) for row in ordered]
    out = []
    columns = range(len(series))
    for when, row in zip(times, ordered, strict=True):
        cells = (when, *(row.get(c, GAP) for c in columns))
        out.append(cells + ((", ".join(row["notes"]) or GAP,) if notes else ()))
    return tuple(out)


def _line_summary(caption, series, start, end, unit, decimals, reference) -> str:
    lasts = []
    for s in series:
        last = next((p for p in reversed(s.points) if p.value is not None), None)
        if last is not None:
            value = _with_unit(number(last.value, decimals), unit)
            lasts.append(f"{s.name} {value}" if len(series) > 1 else value)
    text = _("%(caption)s fra %(start)s til %(end)s: siste verdi %(last)s") % {
        "caption": caption, "start": _when(start), "end": _when(end), "last": ", ".join(lasts),
    }  # fmt: skip
    if reference is not None:
        text += _(" (referanselinje: %(label)s)") % {"label": reference.label}
    return text + "."


# --- bar chart --------------------------------------------------------------------------------------


def bar_chart(
    *,
    id: str,
    caption: str,
    periods: Sequence[str],
    series: Sequence[Bars],
    stacked: bool = False,
    unit: str = "",
    decimals: int | None = None,
    reference: Reference | None = None,
    summary: str | None = None,
    note: str = "",
    period_heading: str | None = None,
    frame: Frame = FRAME,
) -> Chart:
    """Values per period (a label each: «uke 12»), a bar per category side by side, or stacked."""
    period_heading = period_heading or _("Periode")
    headings = (period_heading, *(_heading(s.name, unit) for s in series))
    if stacked and len(series) > 1:
        headings += (_("Sum"),)
    if not periods or all(v is None for s in series for v in s.values):
        return _empty(id, caption, frame, headings, note)
    columns = [[s.values[i] if i < len(s.values) else None for s in series] for i in range(len(periods))]
    totals = [sum(v for v in column if v is not None) for column in columns]
    marks = [*totals, 0.0] if stacked else [v for column in columns for v in column if v is not None]
    low, high, ticks = _domain(marks + ([reference.value] if reference else []), None, True)
    legend = len(series) > 1
    scale = _Scale(low, high, frame.top + (16 if legend else 0), frame.height - frame.bottom)
    slot = frame.plot_width / len(periods)
    parts = [_y_axis(frame, scale, ticks)]
    bars = []
    for i, column in enumerate(columns):
        x0 = frame.left + i * slot + slot * 0.15
        if stacked:
            base = 0.0
            for j, v in enumerate(column):
                if v:
                    top, bottom = scale(base + v), scale(base)
                    bars.append((_bar_css(series, j), _f(x0), _f(top), _f(slot * 0.7), _f(bottom - top)))
                    base += v
        else:
            width = slot * 0.7 / len(series)
            for j, v in enumerate(column):
                if v is not None:
                    top, bottom = sorted((scale(v), scale(0)))
                    bars.append((_bar_css(series, j), _f(x0 + j * width), _f(top), _f(width), _f(bottom - top)))
    parts.append(format_html_join("", '<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"/>', bars))
    parts.append(_reference(frame, scale, reference))
    every = max(1, math.ceil(len(periods) * 48 / frame.plot_width))  # a label needs ~48 units
    parts.append(
        format_html_join(
            "",
            '<text class="tick tick-x" x="{}" y="{}" text-anchor="middle">{}</text>',
            (
                (_f(frame.left + (i + 0.5) * slot), frame.height - 6, label)
                for i, label in enumerate(periods)
                if i % every == 0
            ),
        )
    )
    parts.append(_legend(frame, [(s.name, _bar_css(series, j), "bar") for j, s in enumerate(series)]))
    body = mark_safe("".join(parts))
    rows = []
    for label, column, total in zip(periods, columns, totals, strict=True):
        cells = tuple(GAP if v is None else _value_text(v, decimals) for v in column)
        rows.append((label,) + cells + ((_value_text(total, decimals),) if stacked and len(series) > 1 else ()))
    table = Table(caption, headings, tuple(rows))
    if summary is None:
        most = max(range(len(periods)), key=lambda i: totals[i])
        summary = _("%(caption)s: %(total)s i alt over %(n)s perioder, flest i %(period)s (%(most)s).") % {
            "caption": caption, "total": _with_unit(_value_text(sum(totals), decimals), unit), "n": len(periods),
            "period": periods[most], "most": _with_unit(_value_text(totals[most], decimals), unit),
        }  # fmt: skip
    return Chart(id, caption, summary, _svg(id, frame, frame.height, summary, body), table, note)


def _bar_css(series: Sequence[Bars], j: int) -> str:
    return series[j].css or f"series-{j + 1}"


# --- funnel -----------------------------------------------------------------------------------------

FUNNEL_ROW = 30
FUNNEL_LABELS = 200  # room for the stages' names left of the bars
FUNNEL_COUNTS = 130  # room for «1 234 (56,0 %)» right of the longest bar


def funnel_chart(
    *,
    id: str,
    caption: str,
    stages: Sequence[Stage],
    summary: str | None = None,
    note: str = "",
    stage_heading: str | None = None,
    width: int = 640,
) -> Chart:
    """Stages top to bottom (referred, assessed, started …), a bar each as long as its count, with
    the count and the share of the stage before it; the table adds the share of the first stage."""
    headings = (stage_heading or _("Trinn"), _("Antall"), _("Andel av forrige trinn"), _("Andel av første trinn"))
    frame = Frame(width=width, height=10 + FUNNEL_ROW * len(stages) + 6, left=FUNNEL_LABELS, right=FUNNEL_COUNTS)
    if not stages or not any(s.count for s in stages):
        return _empty(id, caption, Frame(width=width), headings, note)
    most = max(s.count for s in stages) or 1
    first = stages[0].count
    rows, items = [], []
    for i, stage in enumerate(stages):
        previous = stages[i - 1].count if i else None
        of_previous = percent(stage.count, previous) if previous is not None else GAP
        rows.append((stage.label, grouped(stage.count), of_previous, percent(stage.count, first)))
        y = 10 + i * FUNNEL_ROW
        length = stage.count / most * frame.plot_width
        shown = grouped(stage.count) + (f" ({of_previous})" if previous is not None else "")
        items.append(
            format_html(
                '<text class="stage" x="{}" y="{}" text-anchor="end">{}</text>'
                '<rect class="bar funnel-bar" x="{}" y="{}" width="{}" height="{}"/>'
                '<text class="count" x="{}" y="{}">{}</text>',
                *(frame.left - 8, _f(y + 15), stage.label),
                *(frame.left, y, _f(length), FUNNEL_ROW - 8),
                *(_f(frame.left + length + 6), _f(y + 15), shown),
            )
        )
    if summary is None:
        summary = _("%(caption)s: %(first)s i «%(start)s», %(last)s (%(share)s) nådde «%(end)s».") % {
            "caption": caption, "first": grouped(first), "start": stages[0].label, "last": grouped(stages[-1].count),
            "share": percent(stages[-1].count, first), "end": stages[-1].label,
        }  # fmt: skip
    body = mark_safe("".join(items))
    table = Table(caption, headings, tuple(rows))
    return Chart(id, caption, summary, _svg(id, frame, frame.height, summary, body), table, note)


# --- sparkline --------------------------------------------------------------------------------------


def sparkline(points: Sequence[tuple[float | None, str]], width: int = 96, height: int = 26) -> SafeString:
    """A small trend of (value, tone class) pairs, evenly spaced; a None is left out. Decorative
    (`aria-hidden`): the page writes the values beside it. Built as one string because the worklist
    draws 300 of them every 5 seconds: only numbers go in, and the tone classes through `_css`."""
    shown = [(v, tone) for v, tone in points if v is not None]
    if len(shown) < 2:
        return mark_safe("")
    w, h = float(width), float(height)
    values = [v for v, _tone in shown]
    low, span = min(values), (max(values) - min(values)) or 1
    step = (w - 6) / (len(values) - 1)
    coords = [(3 + i * step, h - 3 - (v - low) / span * (h - 6)) for i, v in enumerate(values)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(
        f'<circle class="dot {_css(tone)}" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>'
        for (x, y), (_value, tone) in zip(coords, shown, strict=True)
    )
    return mark_safe(  # numbers, and the tone classes escaped above
        f'<svg class="spark" width="{w:g}" height="{h:g}" viewBox="0 0 {w:g} {h:g}" aria-hidden="true" '
        f'focusable="false"><polyline class="spark-line" points="{line}" fill="none"/>{dots}</svg>'
    )
