"""The traffic-light colours have one source, measurements.types.Colour: the pages' stylesheet and the
patient's printed plan use its values, so a second copy cannot drift."""

import re
from pathlib import Path

from django.template.loader import render_to_string

from ebp.pdf import plan_context
from measurements.types import UNSCORED_INK, Colour
from tests.ebp.test_pdf import CONTENT

ROOT = Path(__file__).resolve().parents[2]


def _custom_properties(css: str) -> dict[str, str]:
    root = re.search(r":root\s*\{(.*?)\}", css, re.S).group(1)
    return {name: value.strip().lower() for name, value in re.findall(r"--([\w-]+)\s*:\s*([^;]+);", root)}


def test_the_stylesheet_draws_each_colour_with_its_ink_and_fill():
    properties = _custom_properties((ROOT / "static/css/dho.css").read_text())
    for colour in Colour:
        assert properties[colour.value] == colour.ink.lower()
        assert properties[f"{colour.value}-bg"] == colour.fill.lower()


def test_the_charts_draw_each_colour_through_the_stylesheets_properties():
    """static/css/charts.css names the traffic light only by dho.css's properties: a band in its fill,
    a dot or a bar in its ink, an unscored reading in --muted, which is UNSCORED_INK."""
    charts = (ROOT / "static/css/charts.css").read_text().lower()
    for colour in Colour:
        assert f".chart .band-{colour.value} {{ fill: var(--{colour.value}-bg); }}" in charts
        assert f".tone-{colour.value} {{ stroke: var(--{colour.value}); fill: var(--{colour.value}); }}" in charts
        assert colour.ink.lower() not in charts and colour.fill.lower() not in charts
    assert ".tone-none { stroke: var(--muted); fill: var(--muted); }" in charts
    assert _custom_properties((ROOT / "static/css/dho.css").read_text())["muted"] == UNSCORED_INK.lower()


def test_the_printed_plan_takes_its_traffic_lights_from_the_same_source():
    import datetime
    from types import SimpleNamespace

    patient = SimpleNamespace(name="Olav Haugen", birth_date=datetime.date(1941, 5, 12))
    version = SimpleNamespace(number=1, decided_at=None, decided_by=None, content=CONTENT)
    html = render_to_string("ebp/plan_pdf.html", plan_context(patient, version))
    for colour in Colour:
        assert f".{colour.value} {{ background: {colour.signal}; color: {colour.on_signal}; }}" in html
    assert f".emergency {{ border: 3pt solid {Colour.RED.signal};" in html
    # The template itself names no colour but black, white and the header grey.
    source = (ROOT / "templates/ebp/plan_pdf.html").read_text()
    assert set(re.findall(r"#[0-9a-fA-F]{3,6}\b", source)) <= {"#000", "#fff", "#eee"}


def test_green_and_red_print_in_their_ink():
    assert Colour.GREEN.signal == Colour.GREEN.ink and Colour.RED.signal == Colour.RED.ink
