"""The platform's chart module (tenants/charts.py): well-formed SVG, the same numbers in the table,
bands and reference line where the numbers put them, escaped labels, gaps, empty data, nice ticks."""

import ast
import datetime
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.template.loader import render_to_string

from tenants import charts
from tenants.charts import FRAME, Band, Bars, Point, Reference, Series, Stage, bar_chart, funnel_chart, line_chart
from tenants.norwegian import NBSP

ROOT = Path(__file__).resolve().parents[2]
MONDAY = datetime.date(2026, 3, 2)
EVIL = '<script>alert("x")</script>'


def _weeks(*values):
    return [Point(MONDAY + datetime.timedelta(days=7 * i), v) for i, v in enumerate(values)]


def _xml(text: str) -> ET.Element:
    """Parses what the module wrote (raises on anything that is not well-formed XML)."""
    return ET.fromstring(text)  # noqa: S314 - our own output, not untrusted input


def _svg(chart) -> ET.Element:
    return _xml(str(chart.svg))


def _ticks(svg: ET.Element, axis: str = "y") -> list[str]:
    return [t.text for t in svg.iter("text") if t.get("class") == f"tick tick-{axis}"]


def _plot_y(value: float, low: float, high: float, top: float = FRAME.top) -> float:
    bottom = FRAME.height - FRAME.bottom
    return bottom - (value - low) / (high - low) * (bottom - top)


def _capacity(**kwargs):
    return line_chart(
        id="capacity", caption="Kapasitet", series=[Series("Pasienter per årsverk", _weeks(60, 72, 85, 90))],
        reference=Reference(80, "80 pasienter per årsverk"), zero=True, **kwargs,
    )  # fmt: skip


def _alarms(stacked: bool):
    return bar_chart(
        id="alarms", caption="Varsler per pasientuke", periods=["uke 10", "uke 11", "uke 12"], stacked=stacked,
        series=[Bars("Rød", [1, 2, None], "tone-red"), Bars("Gul", [3, 0.5, 12400], "tone-yellow")],
    )  # fmt: skip


def _funnel():
    return funnel_chart(
        id="funnel", caption="Inklusjon",
        stages=[Stage("Henvist", 1200), Stage("Vurdert", 900), Stage("Startet", 450)],
    )  # fmt: skip


@pytest.mark.parametrize("make", [_capacity, lambda: _alarms(False), lambda: _alarms(True), _funnel])
def test_it_draws_well_formed_svg_named_by_its_caption_and_without_style(make):
    chart = make()
    svg = _svg(chart)
    assert svg.tag == "svg" and svg.get("role") == "img"
    assert svg.get("aria-labelledby") == f"{chart.id}-caption"
    assert svg.get("aria-describedby") == f"{chart.id}-summary"
    assert svg.find("title").text == chart.summary
    assert "style=" not in str(chart.svg) and "<script" not in str(chart.svg)
    assert chart.summary.endswith(".") and chart.summary.count(". ") == 0  # one sentence


def test_the_figure_names_the_picture_and_gives_the_numbers_as_a_table():
    chart = _capacity()
    figure = _xml(render_to_string("charts/_chart.html", {"chart": chart}).strip())
    assert figure.tag == "figure" and figure.get("id") == "capacity"
    assert figure.find(".//*[@id='capacity-caption']").text == "Kapasitet"
    assert figure.find(".//*[@id='capacity-summary']").text == chart.summary
    assert figure.find("details/summary").text == "Vis tallene"
    table = figure.find("details/table")
    assert table.find("caption").text == "Kapasitet"
    assert [th.text for th in table.findall("thead/tr/th")] == ["Tidspunkt", "Pasienter per årsverk"]
    rows = [[cell.text for cell in tr] for tr in table.findall("tbody/tr")]
    assert rows == [["02.03.2026", "60"], ["09.03.2026", "72"], ["16.03.2026", "85"], ["23.03.2026", "90"]]
    assert [tr[0].tag for tr in table.findall("tbody/tr")] == ["th"] * 4  # each row named by its time


def test_every_value_of_a_line_chart_is_in_its_table_with_its_note():
    blood_pressure = [
        Series("Systolisk", [Point(MONDAY, 151.25, "tone-red", "Rød"), Point(MONDAY, 140, note="Grønn")]),
        Series("Diastolisk", [Point(MONDAY, 90), Point(MONDAY, 85.5)], dashed=True, dots=False),
    ]
    chart = line_chart(id="bp", caption="Blodtrykk", series=blood_pressure, unit="mmHg", decimals=1,
                       note_heading="Vurdering")  # fmt: skip
    assert chart.table.headings == ("Tidspunkt", "Systolisk (mmHg)", "Diastolisk (mmHg)", "Vurdering")
    # Two readings at the same moment are two rows, not one overwritten.
    assert chart.table.rows == (("02.03.2026", "151,2", "90", "Rød"), ("02.03.2026", "140", "85,5", "Grønn"))
    svg = _svg(chart)
    assert len(svg.findall("circle")) == 2  # the dashed diastolic line has no dots
    assert svg.find("circle").get("class") == "dot tone-red"
    assert {p.get("class") for p in svg.findall("path")} == {"line series-1", "line series-2 dashed"}


def test_a_chart_with_a_numbers_url_leaves_its_rows_to_line_table_and_the_figure_fetches_them():
    blood_pressure = [
        Series("Systolisk", [Point(MONDAY, 151.25, "tone-red", "Rød"), Point(MONDAY, 140, note="Grønn")]),
        Series("Diastolisk", [Point(MONDAY, 90), Point(MONDAY, 85.5)], dashed=True, dots=False),
    ]
    args = {
        "caption": "Blodtrykk",
        "series": blood_pressure,
        "unit": "mmHg",
        "decimals": 1,
        "note_heading": "Vurdering",
    }
    whole = line_chart(id="bp", **args)
    lazy = line_chart(id="bp", **args, numbers_url="/tall/?a=1&b=2")
    assert lazy.svg == whole.svg and lazy.summary == whole.summary
    assert lazy.table.rows == () and lazy.table.headings == whole.table.headings and not lazy.empty
    assert charts.line_table(**args) == whole.table  # the rows fetched are the rows it would have written
    figure = _xml(render_to_string("charts/_chart.html", {"chart": lazy}).strip())
    details = figure.find("details")
    assert details.get("data-numbers-url") == "/tall/?a=1&b=2" and details.find("summary").text == "Vis tallene"
    assert figure.find(".//table") is None
    assert details.find(".//a").get("href") == "/tall/?a=1&b=2"  # without script: the numbers' own page


def test_a_long_chart_writes_each_moment_by_the_norwegian_clock_and_each_repeated_value_alike():
    """The table of a 90-day chart (hundreds of rows) writes its times with the zone looked up once and
    each recurring value or note once: every row as a chart of one reading would write it."""
    utc = datetime.datetime(2026, 10, 24, 23, 30, tzinfo=datetime.UTC)  # the night summer time ends
    moments = [utc + datetime.timedelta(hours=h) for h in range(4)]
    values = [93, 93.0, 92.5, 93]
    notes = ["Grønn", "<Gul>", "<Gul>", ""]
    chart = line_chart(id="s", caption="SpO2", series=[Series("Verdi", [Point(m, v, note=n) for m, v, n in
                       zip(moments, values, notes, strict=True)])], note_heading="Vurdering")  # fmt: skip
    assert chart.table.rows == (
        ("25.10.2026 01:30", "93", "Grønn"),
        ("25.10.2026 02:30", "93", "<Gul>"),
        ("25.10.2026 02:30", "92,5", "<Gul>"),  # the hour again, winter time
        ("25.10.2026 03:30", "93", "–"),
    )
    alone = [
        line_chart(
            id="s", caption="SpO2", series=[Series("Verdi", [Point(m, v, note=n)])], note_heading="Vurdering"
        ).table.rows[0]
        for m, v, n in zip(moments, values, notes, strict=True)
    ]
    assert list(chart.table.rows) == alone
    body = chart.table.body_html()
    assert body.count("<td>&lt;Gul&gt;</td>") == 2 and "<Gul>" not in body


def test_every_value_of_a_bar_chart_is_in_its_table_and_a_stack_has_its_sum():
    grouped, stacked = _alarms(False), _alarms(True)
    assert grouped.table.headings == ("Periode", "Rød", "Gul")
    assert grouped.table.rows == (("uke 10", "1", "3"), ("uke 11", "2", "0,5"), ("uke 12", "–", f"12{NBSP}400"))
    assert stacked.table.rows[2] == ("uke 12", "–", f"12{NBSP}400", f"12{NBSP}400")
    assert stacked.table.headings[-1] == "Sum"
    bars = _svg(grouped).findall("rect")  # the plot's; the legend's swatches are inside its <g>
    assert [b.get("class") for b in bars] == ["bar tone-red", "bar tone-yellow"] * 2 + ["bar tone-yellow"]  # None: none
    assert "flest i uke 12" in grouped.summary


def test_every_stage_of_a_funnel_is_in_its_table_with_its_shares():
    chart = _funnel()
    assert chart.table.rows == (
        ("Henvist", f"1{NBSP}200", "–", f"100,0{NBSP}%"),
        ("Vurdert", "900", f"75,0{NBSP}%", f"75,0{NBSP}%"),
        ("Startet", "450", f"50,0{NBSP}%", f"37,5{NBSP}%"),
    )
    widths = [float(r.get("width")) for r in _svg(chart).iter("rect")]
    assert widths[0] == pytest.approx(FRAME.width - charts.FUNNEL_LABELS - charts.FUNNEL_COUNTS)
    assert [w / widths[0] for w in widths] == pytest.approx([1, 0.75, 0.375], abs=0.01)
    assert chart.summary == f"Inklusjon: 1{NBSP}200 i «Henvist», 450 (37,5{NBSP}%) nådde «Startet»."


def test_the_reference_line_and_the_bands_are_drawn_where_their_values_are():
    bands = [Band(None, 50, "band-red", "#fde8e8"), Band(50, 80, "band-yellow"), Band(80, None, "band-green")]
    chart = _capacity(bands=bands)
    svg = _svg(chart)
    # 60…90 with 0 included and the reference at 80: nice ticks 0, 20 … 100 are the axis.
    assert _ticks(svg) == [
        "0", "20", "40", "60", "80", "100"]  # fmt: skip
    line = svg.find("line[@class='reference']")
    assert float(line.get("y1")) == float(line.get("y2")) == pytest.approx(_plot_y(80, 0, 100), abs=0.05)
    assert svg.find("text[@class='reference-label']").text == "80 pasienter per årsverk"
    rects = {r.get("class"): r for r in svg.iter("rect")}
    red, yellow, green = rects["band band-red"], rects["band band-yellow"], rects["band band-green"]
    assert red.get("fill") == "#fde8e8" and yellow.get("fill") is None  # a fill only where one is handed in
    assert float(red.get("y")) == pytest.approx(_plot_y(50, 0, 100), abs=0.05)
    assert float(red.get("y")) + float(red.get("height")) == pytest.approx(_plot_y(0, 0, 100), abs=0.1)
    assert float(yellow.get("y")) == pytest.approx(_plot_y(80, 0, 100), abs=0.05)
    assert float(green.get("y")) == pytest.approx(FRAME.top, abs=0.05)  # unbounded: to the plot's top
    # The line's points where their values are.
    path = svg.find("path").get("d").split()
    assert float(path[0].split(",")[1]) == pytest.approx(_plot_y(60, 0, 100), abs=0.05)
    assert "referanselinje: 80 pasienter per årsverk" in chart.summary


def test_given_ticks_keep_the_bands_edges_on_the_axis():
    """The trend charts label the plan's bounds, not round numbers."""
    bands = [Band(None, 88, "band-red"), Band(88, 92, "band-yellow"), Band(92, None, "band-green")]
    chart = line_chart(
        id="spo2", caption="SpO2", series=[Series("Verdi", _weeks(93, 95))], y_ticks=[88, 92], bands=bands
    )
    svg = _svg(chart)
    assert _ticks(svg) == ["88", "92"]
    low, high = 88 - 0.7, 95 + 0.7  # the values and the ticks, a tenth of their span added
    assert float(svg.find("rect[@class='band band-red']").get("height")) == pytest.approx(
        _plot_y(low, low, high) - _plot_y(88, low, high), abs=0.1
    )


def test_labels_are_escaped_wherever_they_stand():
    made = [
        line_chart(
            id="x",
            caption=EVIL,
            series=[Series(EVIL, _weeks(1, 2), css=EVIL), Series("b", _weeks(2, 3))],
            reference=Reference(1.5, EVIL),
            bands=[Band(0, 1, EVIL, EVIL)],
            note=EVIL,
        ),
        bar_chart(id="x", caption=EVIL, periods=[EVIL, "b"], series=[Bars(EVIL, [1, 2], EVIL), Bars("b", [1, 1])]),
        funnel_chart(id="x", caption=EVIL, stages=[Stage(EVIL, 2), Stage("b", 1)]),
        line_chart(id=EVIL, caption="tom", series=[]),
    ]
    for chart in made:
        svg = str(chart.svg)
        assert "<script" not in svg and "&lt;script&gt;" in svg
        _svg(chart)
        page = render_to_string("charts/_chart.html", {"chart": chart})
        assert "<script" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<script" not in charts.sparkline([(1, EVIL), (2, "tone-red")])
    assert "<script" not in line_chart(id="x", caption="x", series=[Series("a", [Point(MONDAY, 1, EVIL, EVIL)])],
                                       note_heading="n").table.body_html()  # fmt: skip


@pytest.mark.parametrize(
    "chart",
    [
        line_chart(id="e", caption="Tom", series=[]),
        line_chart(id="e", caption="Tom", series=[Series("a", _weeks(None, None))]),
        bar_chart(id="e", caption="Tom", periods=[], series=[Bars("a", [])]),
        bar_chart(id="e", caption="Tom", periods=["uke 1"], series=[Bars("a", [None])]),
        funnel_chart(id="e", caption="Tom", stages=[Stage("Henvist", 0), Stage("Startet", 0)]),
        funnel_chart(id="e", caption="Tom", stages=[]),
    ],
)
def test_no_data_says_so_instead_of_a_broken_chart(chart):
    assert chart.empty and chart.table.rows == ()
    assert _svg(chart).find("text").text == "Ingen data i perioden"
    assert chart.summary == "Tom: ingen data i perioden."
    page = render_to_string("charts/_chart.html", {"chart": chart})
    assert '<p class="chart-empty">Ingen data i perioden</p>' in page
    assert "<table" not in page and "<svg" not in page


def test_a_none_is_a_gap_in_the_line_and_a_dash_in_the_table():
    chart = line_chart(id="g", caption="Hull", series=[Series("a", _weeks(1, 2, None, 4, 5, None, 7))])
    path = _svg(chart).find("path").get("d")
    assert [part[0] for part in path.split()] == ["M", "L", "M", "L", "M"]  # the pen lifted at each None
    assert len(_svg(chart).findall("circle")) == 5
    assert [row[1] for row in chart.table.rows] == ["1", "2", "–", "4", "5", "–", "7"]
    assert "siste verdi 7" in chart.summary


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 100, [0, 20, 40, 60, 80, 100]),
        (86.3, 99.1, [85, 90, 95, 100]),
        (0, 7, [0, 2, 4, 6, 8]),
        (0, 0.37, [0, 0.1, 0.2, 0.3, 0.4]),
        (0, 1.2, [0, 0.25, 0.5, 0.75, 1, 1.25]),
        (-3, 12, [-5, 0, 5, 10, 15]),
        (0, 12400, [0, 2500, 5000, 7500, 10000, 12500]),
        (5, 5, [4, 4.5, 5, 5.5, 6]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1]),
    ],
)
def test_ticks_come_in_nice_steps(low, high, ticks):
    assert charts.nice_ticks(low, high) == ticks


def test_tick_labels_are_norwegian():
    chart = line_chart(id="t", caption="t", series=[Series("a", _weeks(0.1, 0.37))], zero=True)
    assert _ticks(_svg(chart)) == ["0", "0,1", "0,2", "0,3", "0,4"]


def test_the_time_axis_names_the_ends_and_the_mondays_between():
    chart = line_chart(id="t", caption="t", series=[Series("a", _weeks(1, 2, 3, 4, 5))])
    labels = _ticks(_svg(chart), "x")
    assert labels == ["02.03.", "30.03.", "09.03.", "16.03.", "23.03."]


def test_the_sparkline_leaves_out_nones_and_needs_two_values():
    assert charts.sparkline([(1, "tone-red")]) == ""
    assert charts.sparkline([(None, "tone-red"), (3, "tone-green")]) == ""
    svg = _xml(charts.sparkline([(1, "tone-red"), (None, "tone-none"), (3, "tone-green")]))
    assert svg.get("aria-hidden") == "true"
    assert [c.get("class") for c in svg.findall("circle")] == ["dot tone-red", "dot tone-green"]
    assert svg.find("polyline").get("points") == "3.0,23.0 93.0,3.0"


def test_the_chart_module_is_pure_and_stays_at_the_bottom():
    """No model, no database, no colour of its own: it imports Django's html and translation helpers
    and tenants.norwegian only."""
    source = (ROOT / "tenants" / "charts.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert imported <= {"__future__", "datetime", "html", "math", "collections.abc", "dataclasses", "functools",
                        "django.utils.html", "django.utils.safestring", "django.utils.translation",
                        "tenants.norwegian"}  # fmt: skip
    assert re.findall(r"#[0-9a-fA-F]{3,6}\b", source) == []  # colours are the caller's or charts.css's
