"""Innsyn i logg: the patient's nurses and koordinatorer see who accessed the record (name, role,
organisation), what and when, for a chosen period (default the last 30 days), as a page, as a PDF to
hand the patient and through the API; each of those reads is audited itself. Outside the scope a
404; a fastlege or specialist who sees the patient a 403."""

import datetime
import io
from urllib.parse import parse_qs, urlparse

import pypdf
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from measurements.services import integration_create, readings_ingest
from tenants.models import AuditEvent
from tenants.services import audit_record
from tests.database_roles import owner_psycopg
from tests.measurements.test_ingest import _reading


@pytest.fixture
def api():
    def _api(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return _api


@pytest.fixture
def named(world):
    """The Øvre nurse with a name the patient would recognise."""
    nurse = world.u.nurse
    nurse.first_name, nurse.last_name = "Nina", "Nilsen"
    nurse.save(update_fields=["first_name", "last_name"])
    return nurse


def _page(patient) -> str:
    return f"/patients/{patient.pk}/innsyn/"


def _pdf(patient) -> str:
    """Where the PDF is asked for (POST) and its job's state is shown (GET ?jobb=)."""
    return f"/patients/{patient.pk}/innsyn/pdf/"


def _pdf_file(patient) -> str:
    return f"/patients/{patient.pk}/innsyn/pdf/fil/"


def made_pdf(client, patient, **period):
    """«Lag PDF til pasienten», the task run here (these tests start no worker; the round trip with a
    real one is tests/patients/test_access_log_pdf.py), and the download."""
    from patients.tasks import make_access_log_pdf

    started = client.post(_pdf(patient), period)
    assert started.status_code == 302, started
    job_id = parse_qs(urlparse(started.url).query)["jobb"][0]
    assert make_access_log_pdf(job_id) == "ready"
    return client.get(_pdf_file(patient), {"jobb": job_id})


def _api_url(patient) -> str:
    return f"/api/v1/patients/{patient.pk}/access-log/"


def _pdf_text(response) -> str:
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def _event_at(world, patient, days_ago: int, object_type="patient") -> None:
    """An access `days_ago` days back, by the Øvre nurse. The database dates every audit event itself
    (now(), a trigger); a dated fixture goes in as the owner with triggers off (replica mode, which
    the app's role cannot set), committed beside the test's transaction (the log is append-only).
    SET LOCAL: behind a pooler (make test-pooler) a session-wide SET would stay on the pooled server
    connection, and the next owner given it would find every trigger off."""
    with owner_psycopg() as owner:
        owner.execute("SET LOCAL session_replication_role = replica")
        owner.execute(
            "INSERT INTO tenants_auditevent (at, user_id, username, role, action, object_type, object_id, patient_id,"
            " municipality_id, request_id) VALUES (%s, %s, %s, 'nurse', 'view', %s, %s, %s, %s, '')",
            [timezone.now() - datetime.timedelta(days=days_ago), world.u.nurse.pk, world.u.nurse.username,
             object_type, str(patient.pk), patient.pk, patient.municipality_id],
        )  # fmt: skip
        owner.commit()


# --- the page and the PDF list a view made by another user a moment before ---------------------------


def test_the_page_lists_a_view_made_by_another_user_a_moment_before(world, named, login):
    patient = world.p.gjerdrum
    assert login(named).get(f"/patients/{patient.pk}/").status_code == 200  # the nurse opens the record
    response = login(world.u.coordinator).get(_page(patient))
    assert response.status_code == 200
    [row] = response.context["page"].rows
    assert (row.name, row.role_label, row.organisation, row.action_label, row.what) == (
        "Nina Nilsen", "Sykepleier", "Øvre", "Lest", "pasientside"
    )  # fmt: skip
    body = response.content.decode()
    assert "Nina Nilsen" in body and "Sykepleier" in body and "Øvre" in body
    assert timezone.localtime(row.at).strftime("%d.%m.%Y %H:%M") in body


def test_the_pdf_lists_a_view_made_by_another_user_a_moment_before(world, named, login):
    patient = world.p.gjerdrum
    login(named).get(f"/patients/{patient.pk}/")
    text = _pdf_text(made_pdf(login(world.u.coordinator), patient))
    for expected in ("Innsyn i logg", patient.name, patient.national_id, "Nina Nilsen", "Sykepleier", "Øvre",
                     "Lest", "pasientside"):  # fmt: skip
        assert expected in text, expected


def test_the_organisation_is_the_kommune_of_a_koordinator(world, named, login):
    patient = world.p.gjerdrum
    login(world.u.coordinator).get(f"/patients/{patient.pk}/")
    [row] = login(named).get(_page(patient)).context["page"].rows
    assert (row.role_label, row.organisation) == ("Koordinator", "Gjerdrum kommune")


def test_what_was_done_is_named_view_update_and_export(world, login):
    patient = world.p.gjerdrum
    for action in ("view", "update", "export"):
        audit_record(action=action, object_type="plan_version", object_id=1, patient=patient, user=world.u.gp)
    rows = login(world.u.nurse).get(_page(patient)).context["page"].rows
    assert [(r.action_label, r.what, r.role_label) for r in rows] == [
        ("Eksportert", "egenbehandlingsplan", "Fastlege"), ("Endret", "egenbehandlingsplan", "Fastlege"),
        ("Lest", "egenbehandlingsplan", "Fastlege"),
    ]  # fmt: skip


def test_gateways_and_background_jobs_are_not_listed(world, login):
    patient = world.p.gjerdrum
    integration, _token = integration_create(centre=world.centres.ovre, name="Testgateway")
    [stored] = readings_ingest(integration=integration, items=[_reading(patient, 1)])
    assert stored.status == "created"
    assert AuditEvent.objects.filter(patient_id=patient.pk, username__startswith="integrasjon:").exists()
    audit_record(action="update", object_type="alert", patient=patient)  # no user: a Celery task
    assert login(world.u.nurse).get(_page(patient)).context["page"].rows == []


# --- itself audited ----------------------------------------------------------------------------------


def test_reading_the_log_is_audited_as_a_view_and_the_pdf_as_an_export(world, login, api):
    patient = world.p.gjerdrum
    client = login(world.u.coordinator)
    for url, action in ((_page(patient), "view"), (_pdf_file(patient), "export"), (_api_url(patient), "view")):
        reader = api(world.u.coordinator) if url.startswith("/api/") else client
        before = AuditEvent.objects.count()
        if url == _pdf_file(patient):  # the download is the export; asking for it and making it are not
            assert made_pdf(client, patient).status_code == 200
            [_task, event] = AuditEvent.objects.order_by("pk")[before:]
            assert (_task.user, _task.object_type) == (None, "system_scope")  # the task's, not listed
        else:
            assert reader.get(url).status_code == 200
            [event] = AuditEvent.objects.order_by("-pk")[: AuditEvent.objects.count() - before]
        assert (event.user, event.role, event.action, event.object_type, event.patient_id) == (
            world.u.coordinator, "coordinator", action, "access_log", patient.pk
        ), url  # fmt: skip
    # The next reader sees those reads in the log.
    rows = login(world.u.nurse).get(_page(patient)).context["page"].rows
    assert [(r.what, r.action) for r in rows] == [("innsyn i logg", "view"), ("innsyn i logg", "export"),
                                                  ("innsyn i logg", "view")]  # fmt: skip


# --- who may read it -----------------------------------------------------------------------------------


def test_a_foreign_patient_is_a_404_and_nothing_is_written(world, login, api):
    patient = world.p.grimstad  # Agder's
    before = AuditEvent.objects.count()
    for url in (_page(patient), _pdf(patient), _pdf_file(patient)):
        assert login(world.u.nurse).get(url).status_code == 404, url
    assert login(world.u.nurse).post(_pdf(patient)).status_code == 404
    assert api(world.u.nurse).get(_api_url(patient)).status_code == 404
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(("role", "patient"), [("gp", "gjerdrum"), ("specialist", "nannestad")])
def test_a_fastlege_or_specialist_who_sees_the_patient_gets_a_403(world, login, api, role, patient):
    patient = getattr(world.p, patient)
    user = getattr(world.u, role)
    assert login(user).get(f"/patients/{patient.pk}/").status_code == 200  # they do see the patient
    before = AuditEvent.objects.count()
    for url in (_page(patient), _pdf(patient), _pdf_file(patient)):
        assert login(user).get(url).status_code == 403, url
    assert login(user).post(_pdf(patient)).status_code == 403
    refused = api(user).get(_api_url(patient))
    assert refused.status_code == 403
    assert "sykepleiere og koordinatorer" in refused.json()["detail"]
    assert AuditEvent.objects.count() == before


def test_the_patient_page_links_to_the_log_for_nurses_and_koordinatorer_only(world, login):
    patient = world.p.gjerdrum
    link = f'href="{_page(patient)}"'
    assert link in login(world.u.nurse).get(f"/patients/{patient.pk}/").content.decode()
    assert link in login(world.u.coordinator).get(f"/patients/{patient.pk}/").content.decode()
    assert link not in login(world.u.gp).get(f"/patients/{patient.pk}/").content.decode()


# --- the period ------------------------------------------------------------------------------------------


def test_the_default_period_is_the_last_30_days_and_another_can_be_chosen(world, login):
    patient = world.p.gjerdrum
    _event_at(world, patient, 3)
    _event_at(world, patient, 40)
    client = login(world.u.coordinator)

    def shown(**period) -> list:  # the nurse's reads (the koordinator's own reads of the log aside)
        rows = client.get(_page(patient), period).context["page"].rows
        return [r.at for r in rows if r.object_type == "patient"]

    assert len(shown()) == 1
    today = timezone.localdate()
    since = (today - datetime.timedelta(days=45)).isoformat()
    until = (today - datetime.timedelta(days=35)).strftime("%d.%m.%Y")  # the Norwegian way works too
    [old] = shown(**{"from": since, "to": until})
    assert old < timezone.now() - datetime.timedelta(days=39)
    assert len(shown(**{"from": since})) == 2
    empty = client.get(_page(patient), {"from": "2001-01-01", "to": "2001-01-31"}).content.decode()
    assert "0 oppslag fra og med 01.01.2001 til og med 31.01.2001" in empty
    assert "Ingen har åpnet journalen i denne perioden." in empty


def test_a_wrong_period_says_what_was_wrong_and_shows_nothing(world, login, api):
    patient = world.p.gjerdrum
    before = AuditEvent.objects.count()
    page = login(world.u.coordinator).get(_page(patient), {"from": "2026-03-10", "to": "2026-03-01"})
    assert page.status_code == 200 and page.context["page"] is None
    assert "Fra-datoen (10.03.2026) er etter til-datoen (01.03.2026)." in page.content.decode()
    bad = api(world.u.coordinator).get(_api_url(patient), {"to": "i går"})
    assert bad.status_code == 400
    assert bad.json() == {"to": ["Til-datoen «i går» er ikke en dato; skriv den som dd.mm.åååå eller åååå-mm-dd."]}
    pdf = login(world.u.coordinator).post(_pdf(patient), {"from": "0001-01-01"})
    assert pdf.status_code == 400 and "mellom år 2000 og 2999" in pdf.content.decode()
    assert AuditEvent.objects.count() == before  # nothing was shown


def test_the_period_parser_reads_both_date_forms_and_refuses_the_rest():
    from tenants.selectors import AccessLogPeriodError, access_log_period

    today = datetime.date(2026, 3, 31)
    assert access_log_period(today=today) == access_log_period("2026-03-01", "31.03.2026", today=today)
    assert access_log_period("", "2026-02-10", today=today).start == datetime.date(2026, 1, 11)
    for raw_from, raw_to, field in (("x", "", "from"), ("", "31.02.2026", "to"), ("9999-12-31", "", "from")):
        with pytest.raises(AccessLogPeriodError) as caught:
            access_log_period(raw_from, raw_to, today=today)
        assert list(caught.value.errors) == [field]


# --- the API -------------------------------------------------------------------------------------------------


def test_the_api_gives_the_same_rows_paginated(world, named, api, login):
    patient = world.p.gjerdrum
    login(named).get(f"/patients/{patient.pk}/")
    body = api(world.u.coordinator).get(_api_url(patient)).json()
    assert {"count", "next", "previous", "results"} <= set(body) and body["count"] == 1
    [row] = body["results"]
    expected = {
        "name": "Nina Nilsen", "username": "nurse", "role": "nurse", "role_label": "Sykepleier",
        "organisation": "Øvre", "action": "view", "action_label": "Lest", "object_type": "patient",
        "what": "pasientside",
    }  # fmt: skip
    assert {key: row[key] for key in expected} == expected
    assert datetime.datetime.fromisoformat(row["at"]) <= timezone.now()
    old = (timezone.localdate() - datetime.timedelta(days=60)).isoformat()
    assert api(world.u.coordinator).get(_api_url(patient), {"from": old, "to": old}).json()["count"] == 0


def test_the_api_is_described_in_the_openapi_schema(world, api):
    schema = api(world.u.nurse).get("/api/schema/").content.decode()
    assert "/api/v1/patients/{patient_id}/access-log/" in schema
    section = schema.split("/api/v1/patients/{patient_id}/access-log/:")[1].split("\n  /")[0]
    assert "name: from" in section and "name: to" in section and "AccessLogRow" in section


def test_the_page_costs_the_same_queries_for_few_and_many_rows(world, login):
    patient = world.p.gjerdrum
    client = login(world.u.coordinator)
    _event_at(world, patient, 1)
    with CaptureQueriesContext(connection) as few:
        client.get(_page(patient))
    for n in range(40):
        _event_at(world, patient, 1, object_type=f"type_{n}")
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(_page(patient)).context["page"].rows) == 42  # and the first page's own read
    assert len(many) == len(few)


def test_the_pdf_footer_writes_a_name_with_an_apostrophe_or_quote_as_it_is(world, login):
    patient = world.p.gjerdrum
    patient.name = 'Kari O\'Neill "Kaja" \\ Berg'
    patient.save(update_fields=["name"])
    text = _pdf_text(made_pdf(login(world.u.coordinator), patient))
    assert 'Innsyn i logg – Kari O\'Neill "Kaja" \\ Berg – side 1 av 1' in text, text
