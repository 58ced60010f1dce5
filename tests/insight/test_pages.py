"""The Innsikt page (/innsikt/), its CSV per section and its XLSX: what each role sees, a kommune
outside the scope a 404, the small cells hidden alike on the page and in each file (never their
value), the files' figures the API's own, and every read one aggregate audit event as the API's."""

import codecs
import csv
import datetime
import io

import openpyxl
import pytest

from insight.figures import DIFFERENCING, SMALL, WHOLE_CENTRE
from insight.presentation import FILE_HEADER
from tenants.models import AuditEvent
from tests.factories import MembershipFactory
from tests.insight.conftest import march

PAGE = "/innsikt/"
MARCH = {"from": "2100-03-01", "to": "2100-03-28", "granularity": "week"}
SLUGS = {"capacity": "kapasitet", "alarm_burden": "varsler", "adherence": "etterlevelse", "funnel": "forlop"}


def _get(client, path=PAGE, **params):
    return client.get(path, {**MARCH, **params})


def _html(response) -> str:
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def _csv(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    # A byte order mark first: without it a Norwegian Excel reads the UTF-8 as Windows-1252 («MÃ¥l»).
    assert response.content.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert tuple(rows[0]) == FILE_HEADER
    return [dict(zip(FILE_HEADER, row, strict=True)) for row in rows[1:]]


def _number(text: str):
    """A CSV value back to the API's number: «15,93» → 15.93, «8» → 8, «» → None."""
    if text == "":
        return None
    if "." in text and text.count(".") == 2:  # a date, dd.mm.åååå
        day, month, year = text.split(".")
        return datetime.date(int(year), int(month), int(day)).isoformat()
    value = float(text.replace(",", "."))
    return int(value) if value.is_integer() and "," not in text else value


def _flat(section: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in section.items():
        if key == "suppressed":
            continue
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_leder_sees_every_section_of_the_whole_centre(scenario, login):
    html = _html(_get(login(scenario.world.u.leder)))
    for title in ("Kapasitet", "Varselbyrde", "Etterlevelse av måleplanen", "Forløpet: fra henvisning til avslutning"):
        assert f">{title}</h2>" in html
    for chart in ("innsikt-kapasitet", "innsikt-per-arsverk", "innsikt-varsler", "innsikt-etterlevelse",
                  "innsikt-forlop"):  # fmt: skip
        assert f'<figure class="chart-figure" id="{chart}">' in html
    for chart in ("innsikt-kapasitet", "innsikt-per-arsverk", "innsikt-forlop"):  # drawn: enough people
        assert f'role="img" aria-labelledby="{chart}-caption"' in html
    # Every week's red and yellow alerts are from fewer than 5 people: no bar, and the caption says why.
    assert "tall fra færre enn 5 personer er utelatt" in html
    assert "uke 9, 2100" in html and "Hele perioden" in html
    assert "15,93" in html  # active patients, the whole centre (the API's 15.93)
    assert "Sykepleierårsverk" in html and "2,25" in html  # the centre's own figure
    assert 'href="/innsikt/gevinst/"' in html  # the gevinstrapport beside it
    assert 'href="/innsikt/kapasitet.csv?' in html and 'href="/innsikt/innsikt.xlsx?' in html


def test_the_menu_offers_innsikt_and_the_leder_lands_there(scenario, login):
    client = login(scenario.world.u.leder)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/innsikt/"
    assert 'href="/innsikt/">Innsikt</a>' in _html(_get(client))
    gp_page = login(scenario.world.u.gp).get("/patients/")
    assert 'href="/innsikt/"' not in gp_page.content.decode()


def test_a_koordinator_sees_their_kommune_without_the_centres_figures(scenario, login):
    client = login(scenario.world.u.coordinator)  # Gjerdrum
    html = _html(_get(client))
    assert '<option value="3230" selected>Gjerdrum</option>' in html or '<option value="3230">Gjerdrum</option>' in html
    assert "Nannestad" not in html
    assert 'id="innsikt-per-arsverk"' not in html  # patients per årsverk: the centre's own
    assert _get(client, municipality="3238").status_code == 404
    assert _get(client, path="/innsikt/kapasitet.csv", municipality="3238").status_code == 404
    assert _get(client, path="/innsikt/innsikt.xlsx", municipality="3238").status_code == 404


def test_finance_sees_capacity_and_alarm_burden_only(scenario, login):
    client = login(scenario.world.u.finance)
    html = _html(_get(client))
    assert ">Kapasitet</h2>" in html and ">Varselbyrde</h2>" in html
    assert "Etterlevelse" not in html and ">Forløpet" not in html
    assert _get(client, path="/innsikt/forlop.csv").status_code == 404
    assert _get(client, path="/innsikt/varsler.csv").status_code == 200
    sheets = openpyxl.load_workbook(io.BytesIO(_get(client, path="/innsikt/innsikt.xlsx").content)).sheetnames
    assert sheets == ["Kapasitet", "Varselbyrde"]


@pytest.mark.parametrize("role", ["gp", "specialist", "admin"])
def test_everyone_else_gets_404(scenario, login, role):
    client = login(getattr(scenario.world.u, role))
    for path in (PAGE, "/innsikt/kapasitet.csv", "/innsikt/innsikt.xlsx"):
        assert _get(client, path=path).status_code == 404


def test_an_unknown_section_and_a_wrong_kommunenummer_are_404(scenario, login):
    client = login(scenario.world.u.leder)
    assert _get(client, path="/innsikt/pasienter.csv").status_code == 404
    assert _get(client, municipality="12").status_code == 404
    assert _get(client, municipality="4203").status_code == 404  # Agder's host: another centre's


def test_a_wrong_period_is_named_beside_its_field(scenario, login):
    client = login(scenario.world.u.leder)
    html = _html(_get(client, **{"from": "2100-03-20", "to": "2100-03-10"}))
    assert 'id="i-from-error"' in html and "er etter til-datoen" in html
    assert 'aria-invalid="true"' in html and "<section" not in html
    response = _get(client, path="/innsikt/kapasitet.csv", granularity="day")
    assert response.status_code == 400 and "finnes ikke" in response.content.decode()


def test_the_page_hides_small_cells_with_their_reason_never_the_number(scenario, login):
    html = _html(_get(login(scenario.coordinator_n)))  # Nannestad: n1–n4, and g3 from the 22nd
    assert f"skjult ({SMALL})" in html  # the first weeks' four people
    assert f"skjult ({DIFFERENCING})" in html  # week 12's five, which would give away the other weeks
    gjerdrum = _html(_get(login(scenario.world.u.coordinator)))
    assert f"skjult ({WHOLE_CENTRE})" in gjerdrum  # the årsverk: not a kommune's figure


def test_the_csv_hides_what_the_page_hides_and_equals_the_api(scenario, login, api):
    user = scenario.coordinator_n
    client = login(user)
    body = api(user).get("/api/v1/insight/", MARCH).json()
    for name, slug in SLUGS.items():
        rows = _csv(_get(client, path=f"/innsikt/{slug}.csv"))
        whole = [r for r in rows if r["Periode"] == "Hele perioden"]
        expected = _flat(body[name])
        assert {r["Nøkkel"] for r in whole} == set(expected)
        for row in whole:
            assert _number(row["Verdi"]) == expected[row["Nøkkel"]], (name, row)
            assert row["Skjult fordi"] == body[name]["suppressed"].get(row["Nøkkel"], "")
        for index, bucket in enumerate(body["buckets"]):
            these = [r for r in rows if r["Fra"] == datetime.date.fromisoformat(bucket["from"]).strftime("%d.%m.%Y")
                     and r["Periode"] != "Hele perioden"]  # fmt: skip
            values = {r["Nøkkel"]: _number(r["Verdi"]) for r in these}
            assert values == _flat(bucket[name]), (name, index)
    capacity = _csv(_get(client, path="/innsikt/kapasitet.csv"))
    week12 = next(r for r in capacity if r["Periode"] == "uke 12, 2100" and r["Nøkkel"] == "active_patients")
    assert (week12["Verdi"], week12["Skjult fordi"]) == ("", DIFFERENCING)


def test_the_xlsx_leaves_a_hidden_figure_empty_with_its_reason(scenario, login):
    client = login(scenario.coordinator_n)
    response = _get(client, path="/innsikt/innsikt.xlsx")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Kapasitet", "Varselbyrde", "Etterlevelse", "Forløp"]
    sheet = book["Kapasitet"]
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    header = rows.index(FILE_HEADER)
    figures = {(r[1], r[4]): (r[6], r[7]) for r in rows[header + 1 :]}
    assert figures[("uke 12, 2100", "active_patients")] == (None, DIFFERENCING)
    assert figures[("uke 9, 2100", "active_patients")] == (None, SMALL)
    assert figures[("Hele perioden", "active_at_end")] == (5, None)
    assert figures[("Hele perioden", "active_patients")] == (4.25, None)


def test_every_read_is_one_aggregate_audit_event_as_the_apis(scenario, login):
    client = login(scenario.world.u.coordinator)
    since = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    _html(_get(client))
    _csv(_get(client, path="/innsikt/varsler.csv", municipality="3230"))
    assert _get(client, path="/innsikt/innsikt.xlsx").status_code == 200
    events = list(AuditEvent.objects.filter(pk__gt=since).order_by("pk"))
    assert [(e.object_type, e.action, e.patient_id, e.role) for e in events] == [
        ("insight", "view", None, "coordinator"),
        ("insight", "export", None, "coordinator"),
        ("insight", "export", None, "coordinator"),
    ]
    assert events[0].object_id.startswith("/innsikt/?") and events[0].municipality_id is None
    assert events[1].object_id.startswith("/innsikt/varsler.csv?")
    assert events[1].municipality_id == scenario.world.m.gjerdrum.pk


def test_a_month_view_by_default_and_the_figures_of_the_leders_kommune(scenario, login):
    client = login(scenario.world.u.leder)
    html = _html(client.get(PAGE, {"municipality": "3209"}))  # Ullensaker, the last twelve months
    assert "mars 2100" in html and "april 2099" in html
    assert f"{march(28):%d.%m.%Y}" in html


def test_the_figures_follow_the_organisation_the_session_acts_for(world, login):
    """A nurse at Øvre who is also Grimstad's koordinator sees, acting for Øvre, none of Grimstad's
    figures (page, CSV, API by session, gevinst: 404 as outside any scope), and, acting for Grimstad,
    none of Øvre's."""
    MembershipFactory(user=world.u.nurse, role="coordinator", municipality=world.m.grimstad)
    client = login(world.u.nurse)
    paths = ("/innsikt/", "/innsikt/varsler.csv", "/api/v1/insight/", "/innsikt/gevinst/")
    for organisation, shown, hidden in ((f"centre:{world.centres.ovre.pk}", "3230", "4202"),
                                        (f"municipality:{world.m.grimstad.pk}", "4202", "3230")):  # fmt: skip
        assert client.post("/virksomhet/", {"organisation": organisation}).status_code == 302
        for path in paths:
            assert client.get(path, {"municipality": hidden}).status_code == 404, (organisation, path)
            assert client.get(path, {"municipality": shown}).status_code == 200, (organisation, path)
        assert client.get("/innsikt/", {"centre": "ovre" if hidden == "3230" else "agder"}).status_code == 404
