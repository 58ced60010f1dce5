"""The gevinst's pages: the patient page's section and its two forms (who may, what a wrong value
says), the gevinstrapport as a page, a PDF and an XLSX with the small-cell rule in each (the hidden
figure's reason in its place, its value nowhere), the comparison group and the CSV import from the
EPJ (a bad line rejected with its reason, its neighbours kept)."""

from __future__ import annotations

import datetime
import io

import openpyxl
import pypdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from insight.figures import DIFFERENCING, SMALL
from insight.gevinst.schedule import add_months
from insight.models import ComparisonServiceUse, ServiceUse, SurveyAnswer
from tenants.models import AuditEvent
from tenants.norwegian import number
from tests.factories import PatientFactory, synthetic_national_id

REPORT = "/innsikt/gevinst/"


# --- the patient page ---------------------------------------------------------------------------


def test_the_section_is_for_the_forlops_people_only(gevinst, login):
    g6 = gevinst.g["g6"]
    for user in (gevinst.world.u.nurse, gevinst.world.u.coordinator):
        page = login(user).get(f"/patients/{g6.pk}/").content.decode()
        assert 'id="gevinst"' in page and f"/patients/{g6.pk}/gevinst/tjenestebruk/" in page
        assert "sendt fra nettbrett" in page  # g6's survey came from a tablet
    page = login(gevinst.world.u.gp).get(f"/patients/{g6.pk}/").content.decode()  # their fastlege
    assert 'id="gevinst"' not in page
    assert login(gevinst.world.u.gp).get(f"/patients/{g6.pk}/gevinst/tjenestebruk/").status_code == 403


def test_the_service_use_form_suggests_whats_due_and_registers_it(gevinst, login):
    g6, client = gevinst.g["g6"], login(gevinst.world.u.coordinator)
    form = client.get(f"/patients/{g6.pk}/gevinst/tjenestebruk/")
    assert form.status_code == 200
    # The 6 months after oppstart (g6 has the null-punkt already).
    six_months = add_months(gevinst.started, 6) - datetime.timedelta(days=1)
    assert form.context["form"].initial == {"kind": "month_6", "period_from": gevinst.started, "period_to": six_months}
    data = {
        "kind": "month_6",
        "period_from": gevinst.after[0].isoformat(),
        "period_to": gevinst.after[1].isoformat(),
        "home_nursing_hours_per_week": "3,5",
        "practical_help_hours_per_week": "0",
        "short_stay_days": "2",
        "emergency_contacts": "0",
        "hospital_admissions": "1",
        "bed_days": "4",
        "gp_consultations": "2",
    }
    response = client.post(f"/patients/{g6.pk}/gevinst/tjenestebruk/", data)
    assert response.status_code == 302 and response["Location"].endswith(f"/patients/{g6.pk}/#gevinst")
    row = ServiceUse.objects.get(patient=g6, kind="month_6")
    assert (str(row.home_nursing_hours_per_week), row.bed_days, row.source) == ("3.50", 4, "form")
    event = AuditEvent.objects.filter(object_type="service_use", object_id=str(row.pk)).get()
    assert (event.action, event.patient_id) == ("create", g6.pk)
    again = client.post(f"/patients/{g6.pk}/gevinst/tjenestebruk/", data)
    assert again.status_code == 200 and "er registrert fra før" in again.content.decode()


def test_a_wrong_value_is_named_beside_its_field(gevinst, login):
    g6, client = gevinst.g["g6"], login(gevinst.world.u.nurse)
    today = timezone.localdate()
    data = {
        "kind": "month_12",
        "period_from": (today - datetime.timedelta(days=10)).isoformat(),
        "period_to": (today + datetime.timedelta(days=3)).isoformat(),
        "home_nursing_hours_per_week": "200",
        "practical_help_hours_per_week": "to",
        "short_stay_days": "-1",
        "emergency_contacts": "1,5",
        "hospital_admissions": "",
        "bed_days": "0",
        "gp_consultations": "0",
    }
    response = client.post(f"/patients/{g6.pk}/gevinst/tjenestebruk/", data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "fram i tid" in errors["period_to"][0]
    assert "mellom 0 og 168" in errors["home_nursing_hours_per_week"][0]
    assert "«to» er ikke et tall" in errors["practical_help_hours_per_week"][0]
    assert "negativ" in errors["short_stay_days"][0] and "helt tall" in errors["emergency_contacts"][0]
    assert "mangler" in errors["hospital_admissions"][0]
    assert not ServiceUse.objects.filter(patient=g6, kind="month_12").exists()


def test_the_survey_form_registers_an_answer_from_paper(gevinst, login):
    g6, client = gevinst.g["g6"], login(gevinst.world.u.nurse)
    empty = client.post(f"/patients/{g6.pk}/gevinst/brukerundersokelse/", {"answered_on": timezone.localdate()})
    assert empty.status_code == 200 and "skjemaet er tomt" in empty.content.decode().lower()
    response = client.post(
        f"/patients/{g6.pk}/gevinst/brukerundersokelse/",
        {
            "answered_on": timezone.localdate().isoformat(),
            "safer": "yes",
            "health": "better",
            "joy": "",
            "comment": "Føler meg tryggere.",
        },
    )
    assert response.status_code == 302
    row = SurveyAnswer.objects.get(patient=g6)
    assert (row.safer, row.health, row.joy, row.comment) == ("yes", "better", "", "Føler meg tryggere.")


# --- the report: page, PDF, XLSX ------------------------------------------------------------------


def test_the_report_page_hides_small_cells_with_their_reason(gevinst, login):
    client = login(gevinst.world.u.leder)
    page = client.get(REPORT)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Gjerdrum, Nannestad, Ullensaker" in body and "<svg" in body
    assert "Hjemmesykepleie" in body and "Sammenligningsgruppe" in body
    use = page.context["report"].figures["service_use"]
    assert use["before.patients"].value == 9 and ">9<" in body
    one = client.get(REPORT, {"municipality": "3238"})  # Nannestad's three
    text = one.content.decode()
    assert f'skjult <span class="muted">({SMALL})' in text
    assert one.context["report"].figures["service_use"]["before.patients"].value is None
    gjerdrum = client.get(REPORT, {"municipality": "3230"})
    assert DIFFERENCING in gjerdrum.content.decode()
    assert gjerdrum.context["report"].figures["service_use"]["before.patients"].reason == DIFFERENCING
    for key in vars(gevinst.world.p):
        assert getattr(gevinst.world.p, key).name not in body  # figures, never a patient
    assert all(p.name not in body for p in gevinst.g.values())


def test_the_report_page_answers_a_wrong_period_with_its_error(gevinst, login):
    response = login(gevinst.world.u.nurse).get(REPORT, {"from": "2026-13-01"})
    assert response.status_code == 200 and "er ikke en dato" in response.content.decode()
    assert "report" not in response.context
    assert login(gevinst.world.u.nurse).get(REPORT + "rapport.pdf", {"from": "x"}).status_code == 400


@pytest.mark.parametrize("role", ["finance", "gp", "admin", "specialist"])
def test_the_report_is_a_404_for_roles_without_it(gevinst, login, role):
    client = login(getattr(gevinst.world.u, role))
    for path in (REPORT, REPORT + "rapport.pdf", REPORT + "rapport.xlsx"):
        assert client.get(path).status_code == 404, path


def _pdf_text(response) -> str:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_shows_what_the_page_shows(gevinst, login):
    client = login(gevinst.world.u.leder)
    text = _pdf_text(client.get(REPORT + "rapport.pdf", {"municipality": "3238"}))
    assert "Gevinstrapport: Nannestad (3238)" in text and SMALL in " ".join(text.split())
    assert "Hjemmesykepleie" in text
    whole = " ".join(_pdf_text(client.get(REPORT + "rapport.pdf")).split())
    assert "Øvre, alle kommuner" in whole
    assert "Gevinstrapport Øvre, alle kommuner " in whole and " – side 1 av " in whole  # the footer
    # The whole centre's null-punkt: nine patients and their hours per patient-month, shown.
    use = client.get(REPORT).context["report"].figures["service_use"]
    shown = number(use["before.home_nursing_hours_per_week"].value, 2)
    assert shown in whole
    event = AuditEvent.objects.filter(object_type="gevinst", action="export").latest("pk")
    assert event.patient_id is None


def test_the_xlsx_leaves_a_hidden_figure_empty_with_its_reason(gevinst, login):
    client = login(gevinst.world.u.leder)
    response = client.get(REPORT + "rapport.xlsx", {"municipality": "3238"})
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header = rows.index(["Del", "Gruppe", "Mål", "Verdi", "Skjult fordi"])
    figures = {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows[header + 1 :]}
    value, reason = figures[("Tjenestebruk", "Før (null-punkt)", "Pasienter (personer)")]
    assert value is None and reason == SMALL
    whole = openpyxl.load_workbook(io.BytesIO(client.get(REPORT + "rapport.xlsx").content)).active
    values = {(r[0].value, r[1].value, r[2].value): r[3].value for r in whole.iter_rows()}
    assert values[("Tjenestebruk", "Før (null-punkt)", "Pasienter (personer)")] == 9
    assert values[("Brukerundersøkelse", "Livsglede", "Mer")] == 6  # Gjerdrum's six; nobody else answered it


# --- the comparison group and the EPJ import ------------------------------------------------------------


def _figures(**given) -> dict:
    return {
        "home_nursing_hours_per_week": "4",
        "practical_help_hours_per_week": "1",
        "short_stay_days": "0",
        "emergency_contacts": "1",
        "hospital_admissions": "0",
        "bed_days": "0",
        "gp_consultations": "2",
        **given,
    }


def test_the_comparison_group_is_registered_anonymously_by_the_koordinator(gevinst, login):
    client = login(gevinst.world.u.coordinator)
    page = client.get("/innsikt/gevinst/sammenligning/")
    assert page.status_code == 200 and "K6" in page.content.decode()
    before = gevinst.before
    base = {
        "municipality": gevinst.world.m.gjerdrum.pk,
        "kind": "baseline",
        "period_from": before[0].isoformat(),
        "period_to": before[1].isoformat(),
        **_figures(),
    }
    refused = client.post("/innsikt/gevinst/sammenligning/", {**base, "code": "01018012345"})
    assert refused.status_code == 200 and "anonymt" in refused.context["form"].errors["code"][0]
    response = client.post("/innsikt/gevinst/sammenligning/", {**base, "code": "K7"})
    assert response.status_code == 302
    row = ComparisonServiceUse.objects.get(code="K7")
    assert row.municipality == gevinst.world.m.gjerdrum and row.gp_consultations == 2
    # Nannestad is not this koordinator's: not offered, and refused.
    other = client.post(
        "/innsikt/gevinst/sammenligning/", {**base, "code": "K8", "municipality": gevinst.world.m.nannestad.pk}
    )
    assert other.status_code == 200 and "municipality" in other.context["form"].errors
    assert login(gevinst.world.u.leder).get("/innsikt/gevinst/sammenligning/").status_code == 404


def test_a_koordinator_sees_only_their_own_kommunes_comparison_group(gevinst, login):
    from tests.factories import MembershipFactory, UserFactory

    nannestad = UserFactory(username="coord_nannestad_cmp")
    MembershipFactory(user=nannestad, role="coordinator", municipality=gevinst.world.m.nannestad)
    page = login(nannestad).get("/innsikt/gevinst/sammenligning/")
    assert page.status_code == 200 and page.context["rows"] == []
    # The code's cell, not the bare code: a random CSRF token may hold «K1» too.
    assert '<th scope="row" class="mono">K1</th>' not in page.content.decode()
    nurse = login(gevinst.world.u.nurse).get("/innsikt/gevinst/sammenligning/")  # the centre's: Gjerdrum's too
    assert {r.code for r in nurse.context["rows"]} == {f"K{i}" for i in range(1, 7)}
    assert '<th scope="row" class="mono">K1</th>' in nurse.content.decode()  # as the cell is written


def test_the_import_keeps_the_valid_lines_and_says_what_is_wrong_with_the_bad_one(gevinst, login):
    world, today = gevinst.world, timezone.localdate()
    newcomer = PatientFactory(municipality=world.m.gjerdrum, name="Importert", national_id=synthetic_national_id())
    started = today - datetime.timedelta(days=30)
    first, last = (
        (started - datetime.timedelta(days=90)).isoformat(),
        (started - datetime.timedelta(days=1)).isoformat(),
    )
    nannestad = gevinst.n["n1"]
    heading = (
        "fodselsnummer;type;fra;til;hjemmesykepleie_timer_per_uke;praktisk_bistand_timer_per_uke;"
        "korttidsopphold_dogn;legevaktkontakter;sykehusinnleggelser;liggedogn;fastlegekonsultasjoner"
    )
    lines = [
        heading,
        f"{newcomer.national_id};null-punkt;{first};{last};6,5;1;0;2;1;3;4",
        f"{newcomer.national_id};6;{last};{first};1;1;0;0;0;0;1",  # to before from
        f"{nannestad.national_id};null-punkt;{first};{last};1;1;0;0;0;0;1",  # not a Gjerdrum patient
        "12345678901;null-punkt;2026-01-01;2026-02-01;1;1;0;0;0;0;1",  # check digits wrong
        f"{gevinst.g['g2'].national_id};avslutning;{first};{last};2;0;0;0;0;0;0",
        "bare;tre;felt",
    ]
    client = login(world.u.coordinator)
    response = client.post("/innsikt/gevinst/import/", {"municipality": world.m.gjerdrum.pk, "text": "\n".join(lines)})
    assert response.status_code == 200
    results = {r.line: r for r in response.context["results"]}
    assert [results[n].status for n in range(2, 8)] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "rejected",
    ]
    assert "før den begynner" in results[3].reason
    assert "Ingen pasient med dette fødselsnummeret i Gjerdrum" in results[4].reason
    assert "Fødselsnummer" in results[5].reason
    assert "har 3 felt" in results[7].reason and "forventet 11" in results[7].reason
    assert results[2].national_id.endswith("*****") and results[2].patient_name == "Importert"
    row = ServiceUse.objects.get(patient=newcomer)
    assert (row.kind, str(row.home_nursing_hours_per_week), row.source) == ("baseline", "6.50", "import")
    assert ServiceUse.objects.filter(patient=gevinst.g["g2"], kind="end").exists()
    assert not ServiceUse.objects.filter(patient=nannestad, kind="baseline", period_from=first).exists()
    assert AuditEvent.objects.filter(object_type="service_use", patient_id=newcomer.pk, action="create").count() == 1
    again = client.post("/innsikt/gevinst/import/", {"municipality": world.m.gjerdrum.pk, "text": "\n".join(lines[:2])})
    assert "registrert fra før" in again.context["results"][0].reason
    wrong = client.post("/innsikt/gevinst/import/", {"municipality": world.m.gjerdrum.pk, "text": "a;b\n1;2"})
    assert "linje 1 må være overskriften" in wrong.content.decode().lower()


HEADING = (
    "fodselsnummer;type;fra;til;hjemmesykepleie_timer_per_uke;praktisk_bistand_timer_per_uke;"
    "korttidsopphold_dogn;legevaktkontakter;sykehusinnleggelser;liggedogn;fastlegekonsultasjoner"
)


def _import_upload(world, login, content: bytes):
    upload = SimpleUploadedFile("epj.csv", content, content_type="text/csv")
    client = login(world.u.coordinator)
    return client.post("/innsikt/gevinst/import/", {"municipality": world.m.gjerdrum.pk, "file": upload})


def test_the_import_refuses_an_uploaded_file_with_a_nul_character_naming_its_line(world, login):
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Importert", national_id=synthetic_national_id())
    lines = [
        HEADING,
        f"{patient.national_id};null-punkt;2026-01-01;2026-03-31;1;1;0;0;0;0;1",
        f"{patient.national_id[:6]}\x00;6;2026-04-01;2026-09-30;1;1;0;0;0;0;1",
    ]
    response = _import_upload(world, login, "\n".join(lines).encode())
    assert response.status_code == 200 and response.context["results"] is None
    assert "Linje 3 inneholder et NUL-tegn (\\u0000), som ikke kan lagres." in response.content.decode()
    assert not ServiceUse.objects.filter(patient=patient).exists()


def test_the_import_refuses_a_file_whose_stray_quote_runs_past_the_field_limit(world, login):
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Importert", national_id=synthetic_national_id())
    line = f"{patient.national_id};null-punkt;2026-01-01;2026-03-31;1;1;0;0;0;0;1"
    content = "\n".join([HEADING, line, '"' + line, *[line] * 3_000])  # some 190 KB after the quote
    response = _import_upload(world, login, content.encode())
    assert response.status_code == 200 and response.context["results"] is None
    assert "Filen kunne ikke leses som CSV (linje 3): et felt er lengre enn 131" in response.content.decode()
    assert not ServiceUse.objects.filter(patient=patient).exists()


def test_the_import_reads_an_uploaded_file_saved_by_excel_on_windows(world, login):
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Importert", national_id=synthetic_national_id())
    heading = HEADING.replace("fodselsnummer", "fødselsnummer")  # ø: one byte, 0xF8, in Windows-1252
    lines = [heading, f"{patient.national_id};null-punkt;01.01.2026;31.03.2026;2,5;1;0;0;0;0;1"]
    response = _import_upload(world, login, ("\r\n".join(lines) + "\r\n").encode("cp1252"))
    assert response.status_code == 200 and response.context["results"] is not None, response.content[:2000]
    assert ServiceUse.objects.filter(patient=patient).count() == 1


def test_the_import_refuses_an_uploaded_file_larger_than_the_api_takes(world, login, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Importert", national_id=synthetic_national_id())
    line = f"{patient.national_id};null-punkt;2026-01-01;2026-03-31;1;1;0;0;0;0;1"
    response = _import_upload(world, login, "\n".join([HEADING, *[line] * 23_000]).encode())  # some 1.3 MB
    assert response.status_code == 200 and response.context["results"] is None
    assert "Filen er for stor (1,3 MB): høyst 1,0 MB. Del den i flere filer." in response.content.decode()
    assert not ServiceUse.objects.filter(patient=patient).exists()


def test_the_import_reads_lines_copied_from_excel_cells_and_pasted_tab_separated(world, login):
    patient = PatientFactory(municipality=world.m.gjerdrum, name="Importert", national_id=synthetic_national_id())
    line = f"{patient.national_id};null-punkt;01.01.2026;31.03.2026;2,5;1;0;0;0;0;1"
    pasted = "\r\n".join([HEADING, line]).replace(";", "\t")
    client = login(world.u.coordinator)
    response = client.post("/innsikt/gevinst/import/", {"municipality": world.m.gjerdrum.pk, "text": pasted})
    assert response.status_code == 200 and response.context["results"] is not None, response.content[:2000]
    assert ServiceUse.objects.filter(patient=patient).count() == 1
