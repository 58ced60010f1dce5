"""The trend charts' numbers in the browser: the patient page is sent without them, «Vis tallene» fetches
the chart's table the first time it is opened (static/js/chart-numbers.js), and a fetch that fails says
so in Norwegian and is tried again when the numbers are opened again. The page stays axe-clean."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from measurements.models import Reading

pytestmark = pytest.mark.browser


def _readings(patient, values) -> None:
    now = timezone.now()
    for days, value in enumerate(values, 1):
        Reading.objects.create(patient=patient, municipality_id=patient.municipality_id, type="spo2", value=value,
                               colour="green", measured_at=now - datetime.timedelta(days=days),
                               external_id=f"tall-{days}")  # fmt: skip


def test_the_numbers_are_fetched_when_opened(world, page, browser_login, axe_violations):
    patient = world.p.gjerdrum
    _readings(patient, [95, 93, 96])
    browser_login(world.u.nurse)
    page.goto(f"/patients/{patient.pk}/?days=7")
    figure = page.locator("#chart-spo2")
    expect(figure.locator("svg.chart")).to_be_visible()
    assert figure.locator("table").count() == 0  # not in the page as sent
    figure.get_by_text("Vis tallene").click()
    rows = figure.locator("table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("96")  # oldest first: three days ago
    expect(rows.first).to_contain_text("Grønn")
    assert axe_violations(page) == []


def test_a_fetch_that_fails_says_so_and_is_tried_again(world, page, browser_login):
    patient = world.p.gjerdrum
    _readings(patient, [94])
    browser_login(world.u.nurse)
    page.route("**/trends/spo2/**", lambda route: route.fulfill(status=503, body="borte"))
    page.goto(f"/patients/{patient.pk}/?days=7")
    figure = page.locator("#chart-spo2")
    figure.get_by_text("Vis tallene").click()
    expect(figure.get_by_role("status")).to_contain_text("Tallene kunne ikke hentes")
    page.unroute("**/trends/spo2/**")
    figure.get_by_text("Vis tallene").click()  # closed
    figure.get_by_text("Vis tallene").click()  # and opened again: asked again
    expect(figure.locator("table tbody tr")).to_have_count(1)
