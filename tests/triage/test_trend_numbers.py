"""The trend charts' numbers on the patient page («Vis tallene»): not written into the page, fetched
from their own address when opened (tenants.charts' numbers_url, triage.views.TrendNumbersView) —
the rows of that chart's type and period up to the page's time, in the patient's log, a 404 outside
the reader's scope as every patient URL."""

import datetime
import re
from html import unescape

import pytest
from django.utils import timezone

from measurements.models import Reading
from tenants.models import AuditEvent
from triage.patient_page import til_of

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)


def _reading(patient, mtype: str, days_ago: float, colour: str = "", **values) -> Reading:
    return Reading.objects.create(patient=patient, municipality_id=patient.municipality_id, type=mtype,
                                  measured_at=NOW - datetime.timedelta(days=days_ago), colour=colour,
                                  external_id=f"{mtype}-{days_ago}", **values)  # fmt: skip


def _numbers_urls(page: str) -> dict[str, str]:
    """type → the address of its chart's numbers, as the page gives them."""
    found = re.findall(r'<figure class="chart-figure" id="chart-([a-z_0-9]+)".*?data-numbers-url="([^"]+)"', page, re.S)
    return {mtype: unescape(url) for mtype, url in found}


def _rows(html: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*)</tbody>", html, re.S).group(1)
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row) for row in re.findall(r"<tr>.*?</tr>", body)]


def test_the_page_draws_the_charts_and_leaves_their_rows_to_be_fetched(world, login):
    patient = world.p.gjerdrum
    for day in range(5):
        _reading(patient, "spo2", day + 0.5, value=90 + day)
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/?days=7").content.decode()
    assert "Oksygenmetning (SpO2): 5 målinger, siste 90 %" in page  # the chart and its summary as before
    assert page.count('class="dot ') == 5
    assert "<tbody>" not in page  # no row of the table in the page
    [url] = _numbers_urls(page).values()
    assert url.startswith(f"/patients/{patient.pk}/trends/spo2/?days=7&til=")
    assert 'data-loading="Henter tallene …"' in page  # said by the script as it fetches
    assert f'href="{url.replace("&", "&amp;")}"' in page  # without script: a link to the numbers' own page


def test_the_numbers_are_the_charts_readings_of_its_type_and_period_by_the_norwegian_clock(world, login):
    patient, nurse = world.p.gjerdrum, login(world.u.nurse)
    inside = _reading(patient, "spo2", 2, colour="red", value=87)
    _reading(patient, "spo2", 1, colour="green", value=96)
    _reading(patient, "spo2", 9, value=95)  # before the 7 days up to the page's time
    _reading(patient, "pulse", 1, value=70)  # another chart's
    _reading(patient, "blood_pressure", 1, colour="yellow", systolic=150, diastolic=90)
    til = til_of(NOW - datetime.timedelta(hours=36))  # the page's time: the later reading came after it
    response = nurse.get(f"/patients/{patient.pk}/trends/spo2/?days=7&til={til}", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html  # the table alone, for the page's script
    shown = timezone.localtime(inside.measured_at).strftime("%d.%m.%Y %H:%M")
    assert _rows(html) == [[shown, "87", "Rød"]]
    assert '<caption class="sr-only">Oksygenmetning (SpO2)</caption>' in html

    pressure = nurse.get(f"/patients/{patient.pk}/trends/blood_pressure/?days=7", HTTP_HX_REQUEST="true")
    assert [row[1:] for row in _rows(pressure.content.decode())] == [["150", "90", "Gul"]]  # til: now


def test_without_script_the_numbers_are_a_page_with_the_way_back(world, login):
    patient = world.p.gjerdrum
    _reading(patient, "spo2", 1, value=94)
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/trends/spo2/?days=30").content.decode()
    assert "<h1>Oksygenmetning (SpO2): Rune Gjerdrum</h1>" in page
    assert f'href="/patients/{patient.pk}/?days=30"' in page
    assert [row[1] for row in _rows(page)] == ["94"]
    empty = login(world.u.nurse).get(f"/patients/{patient.pk}/trends/pulse/?days=30").content.decode()
    assert "Ingen data i perioden" in empty and "<table" not in empty


def test_each_read_of_the_numbers_is_in_the_patients_log(world, login):
    patient = world.p.gjerdrum
    before = AuditEvent.objects.filter(patient_id=patient.pk, object_type="reading_list").count()
    login(world.u.nurse).get(f"/patients/{patient.pk}/trends/spo2/?days=7", HTTP_HX_REQUEST="true")
    event = AuditEvent.objects.filter(patient_id=patient.pk, object_type="reading_list").latest("at")
    assert AuditEvent.objects.filter(patient_id=patient.pk, object_type="reading_list").count() == before + 1
    assert (event.action, event.username, event.object_id) == ("view", "nurse", str(patient.pk))


@pytest.mark.parametrize("path", ["trends/weight_loss/?days=7", "trends/spo2/?days=7"])
def test_an_unknown_type_or_a_patient_outside_the_scope_is_a_404(world, login, path):
    _reading(world.p.grimstad, "spo2", 1, value=94)
    agder, ovre = login(world.u.nurse_agder), login(world.u.nurse)
    if path.startswith("trends/weight_loss"):
        assert agder.get(f"/patients/{world.p.grimstad.pk}/{path}").status_code == 404
    else:
        assert ovre.get(f"/patients/{world.p.grimstad.pk}/{path}").status_code == 404  # Agder's patient
        assert agder.get(f"/patients/{world.p.grimstad.pk}/{path}").status_code == 200


@pytest.mark.parametrize("til", ["", "tomorrow", "99999999999999999999999", str(til_of(NOW) + 10**12)])
def test_a_til_that_is_no_time_or_in_the_future_reads_up_to_now(world, login, til):
    patient = world.p.gjerdrum
    _reading(patient, "spo2", 0.01, value=93)
    html = login(world.u.nurse).get(f"/patients/{patient.pk}/trends/spo2/?days=7&til={til}").content.decode()
    assert [row[1] for row in _rows(html)] == ["93"]


def test_a_period_the_charts_do_not_offer_is_their_30_days_and_the_page_says_so(world, login):
    patient = world.p.gjerdrum
    _reading(patient, "spo2", 20, value=92)  # inside 30 days, outside 5
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/trends/spo2/?days=5").content.decode()
    assert "Målingene de siste 30 dagene." in page and f'href="/patients/{patient.pk}/?days=30"' in page
    assert [row[1] for row in _rows(page)] == ["92"]
