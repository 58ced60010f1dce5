"""The patient's trend charts and the worklist's small trends, drawn by tenants.charts: the plan's
bands in their colours, every reading in the table with its colour in words, blood pressure's two
values, the worklist's dots in the scoring's colours."""

import datetime
import xml.etree.ElementTree as ET
from types import SimpleNamespace

from django.utils import timezone

from ebp.content import Bounds
from measurements.types import Colour
from triage.trends import charts_for, sparkline_svg

NOW = timezone.localtime().replace(microsecond=0)
START = NOW - datetime.timedelta(days=7)
PLAN = SimpleNamespace(thresholds={"spo2": {"value": Bounds(red_below=88, yellow_below=92)}})


def _at(days: int) -> datetime.datetime:
    return NOW - datetime.timedelta(days=days)


def test_a_trend_chart_has_the_plans_bands_and_every_reading_in_its_table():
    readings = [("spo2", 87.0, None, None, "red", _at(3)), ("spo2", 95.0, None, None, "", _at(1)),
                ("blood_pressure", None, 150.0, 90.0, "yellow", _at(2))]  # fmt: skip
    spo2, pressure = charts_for(readings, PLAN, START, NOW)
    assert (spo2.id, spo2.caption, spo2.note) == ("chart-spo2", "Oksygenmetning (SpO2)", "(2 målinger)")
    assert spo2.summary == "Oksygenmetning (SpO2): 2 målinger, siste 95 %"
    svg = ET.fromstring(str(spo2.svg))  # noqa: S314 - our own output
    bands = [(r.get("class"), r.get("fill")) for r in svg.iter("rect")]
    assert bands == [("band band-red", Colour.RED.fill), ("band band-yellow", Colour.YELLOW.fill),
                     ("band band-green", Colour.GREEN.fill)]  # fmt: skip
    assert [t.text for t in svg.iter("text") if t.get("class") == "tick tick-y"] == ["88", "92"]
    assert [c.get("class") for c in svg.iter("circle")] == ["dot tone-red", "dot tone-none"]
    assert spo2.table.headings == ("Tidspunkt", "Verdi (%)", "Vurdering")
    assert [row[1:] for row in spo2.table.rows] == [("87", "Rød"), ("95", "Ikke vurdert")]

    assert pressure.summary == "Blodtrykk: 1 målinger, siste 150/90 mmHg"
    assert pressure.table.headings == ("Tidspunkt", "Systolisk (mmHg)", "Diastolisk (mmHg)", "Vurdering")
    assert [row[1:] for row in pressure.table.rows] == [("150", "90", "Gul")]
    assert not list(ET.fromstring(str(pressure.svg)).iter("rect"))  # noqa: S314 - the plan sets no bounds for it


def test_the_table_gives_each_readings_time_by_the_norwegian_clock_though_the_database_gives_utc():
    utc = datetime.UTC
    summer, winter = datetime.datetime(2026, 7, 1, 19, 20, tzinfo=utc), datetime.datetime(2026, 1, 15, 7, 0, tzinfo=utc)
    readings = [("spo2", 94.0, None, None, "", winter), ("spo2", 95.0, None, None, "", summer)]
    start, end = timezone.localtime(winter - datetime.timedelta(days=1)), timezone.localtime(summer)
    (chart,) = charts_for(readings, PLAN, start, end)
    assert [row[:2] for row in chart.table.rows] == [("15.01.2026 08:00", "94"), ("01.07.2026 21:20", "95")]


def test_the_worklists_sparkline_draws_each_value_in_its_colour():
    svg = sparkline_svg([{"value": 91, "colour": "yellow"}, {"value": None, "colour": ""},
                         {"value": 86, "colour": "red"}, {"value": 90, "colour": ""}])  # fmt: skip
    circles = ET.fromstring(svg).findall("circle")  # noqa: S314 - our own output
    assert [c.get("class") for c in circles] == ["dot tone-yellow", "dot tone-red", "dot tone-none"]
    assert sparkline_svg([{"value": 91, "colour": "red"}]) == ""  # one value is no trend
