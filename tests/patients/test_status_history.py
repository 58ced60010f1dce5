"""The forløp's status history: every change an append-only row, the status derived from the rows,
pause and end acting on the worklist and the silence checks, back-dating within limits."""

import datetime

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from measurements.services import integration_create, readings_ingest
from patients.models import StatusChange
from patients.services import StatusRefused, StatusRoleRequired, status_change_record, status_of
from tenants.models import AuditEvent
from triage import services as triage
from triage.models import Alert, AlertEvent

TODAY = timezone.localdate
REFUSED = "Statushistorikken kan ikke endres eller slettes"


def _spo2(world, patient, ext, value=85):
    integration = integration_create(centre=world.centres.ovre, name=f"gw-{ext}")[0]
    at = (timezone.localtime() - datetime.timedelta(minutes=1)).isoformat()
    item = {"external_id": ext, "patient_id": str(patient.pk), "type": "spo2", "value": value, "unit": "%",
            "measured_at": at}  # fmt: skip
    stored = readings_ingest(integration=integration, items=[item])[0]
    triage.readings_score([stored.id])
    return stored.id


def _pause(world, patient, days=14, user=None):
    return status_change_record(
        patient=patient, user=user or world.u.nurse, event="paused", until=TODAY() + datetime.timedelta(days=days)
    )


def test_it_derives_the_status_from_the_rows_and_keeps_each_change(world):
    patient = world.p.nannestad
    _pause(world, patient, days=10)
    patient.refresh_from_db()
    assert (patient.status, patient.status_until) == ("paused", TODAY() + datetime.timedelta(days=10))
    status_change_record(patient=patient, user=world.u.nurse, event="resumed")
    status_change_record(patient=patient, user=world.u.nurse, event="ended", end_reason="no_benefit", note="Ønsket")
    patient.refresh_from_db()
    rows = list(patient.status_changes.values_list("event", "by__username"))
    assert rows == [("paused", "nurse"), ("resumed", "nurse"), ("ended", "nurse")]
    assert (patient.status, patient.status_until) == ("ended", None) == status_of(patient.status_changes.all())
    assert AuditEvent.objects.filter(object_type="status_change", patient_id=patient.pk).count() == 3


def test_a_paused_patient_gets_no_silence_alert_but_readings_are_still_scored(world, login):
    patient = world.p.nannestad
    _pause(world, patient)
    triage.silence_alerts_open(now=timezone.now() + datetime.timedelta(days=5))
    assert not Alert.objects.filter(patient=patient, kind="inactive_patient").exists()
    _spo2(world, patient, "p1")  # stored and scored while paused: a red still reaches the nurses
    alert = Alert.objects.get(patient=patient, status="open")
    assert alert.colour == "red"
    page = login(world.u.nurse).get("/worklist/").content.decode()
    until = TODAY() + datetime.timedelta(days=14)
    assert f"Pause til {until:%d.%m.%Y}" in page


def test_ending_closes_open_alerts_and_later_readings_raise_none(world):
    patient = world.p.nannestad
    _spo2(world, patient, "before")
    alert = Alert.objects.get(patient=patient, status="open")
    status_change_record(patient=patient, user=world.u.nurse, event="ended", end_reason="deceased")
    alert.refresh_from_db()
    assert (alert.status, alert.closed_reason) == ("closed", "Forløp avsluttet")
    assert AlertEvent.objects.filter(alert=alert).order_by("id").last().kind == "closed_by_end"
    reading_id = _spo2(world, patient, "after", value=80)  # nothing a device sends is lost
    assert not Alert.objects.filter(patient=patient, status="open").exists()
    reading = patient.readings.get(pk=reading_id)
    assert reading.colour == "red"
    assert reading.reason.endswith("; etter avsluttet forløp)")  # after «(ingen godkjent plan»


@pytest.mark.parametrize(
    ("steps", "event", "fields", "message"),
    [
        ([], "resumed", {}, "«Gjenopptatt» er ikke mulig når pasienten har status «aktiv»."),
        ([], "paused", {}, "En pause trenger en til-dato etter startdatoen."),
        ([], "ended", {}, "Velg en årsak til avslutningen."),
        ([], "paused", {"effective_date": "tomorrow", "until": "in a week"}, "Datoen kan ikke være fram i tid."),
        (["pause"], "resumed", {"effective_date": "last week"}, "Datoen kan ikke være før siste endring i forløpet"),
        (["end"], "paused", {"until": "in a week"}, "«Pause» er ikke mulig når pasienten har status «avsluttet»."),
    ],
)
def test_it_refuses_a_step_that_does_not_fit_and_says_why(world, steps, event, fields, message):
    patient = world.p.nannestad
    day = {"tomorrow": 1, "in a week": 7, "last week": -7}
    if "pause" in steps:
        _pause(world, patient)
    if "end" in steps:
        status_change_record(patient=patient, user=world.u.nurse, event="ended", end_reason="other")
    given = {k: TODAY() + datetime.timedelta(days=day[v]) for k, v in fields.items()}
    before = StatusChange.objects.count()
    with pytest.raises(StatusRefused) as refused:
        status_change_record(patient=patient, user=world.u.nurse, event=event, **given)
    assert str(refused.value).startswith(message)
    assert StatusChange.objects.count() == before


def test_it_allows_back_dating_and_the_row_keeps_both_dates(world):
    patient = world.p.nannestad
    week_ago = TODAY() - datetime.timedelta(days=7)
    until = TODAY() + datetime.timedelta(days=3)
    change = status_change_record(
        patient=patient, user=world.u.nurse, event="paused", effective_date=week_ago, until=until
    )
    assert change.effective_date == week_ago and timezone.localdate(change.at) == TODAY()


def test_status_history_rows_are_append_only_in_the_orm_and_the_database(world):
    change = _pause(world, world.p.nannestad)
    with pytest.raises(PermissionError):
        change.save()
    with pytest.raises(PermissionError):
        change.delete()
    with pytest.raises(PermissionError):
        StatusChange.objects.filter(pk=change.pk).update(note="x")
    for sql in ("UPDATE patients_statuschange SET note = 'x'", "DELETE FROM patients_statuschange"):
        with (
            pytest.raises(DatabaseError, match=REFUSED),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)


def test_the_api_pauses_resumes_ends_and_lists_the_history(world, login):
    client, patient = login(world.u.coordinator), world.p.gjerdrum  # the koordinator's own municipality
    base = f"/api/v1/patients/{patient.pk}"
    until = (TODAY() + datetime.timedelta(days=7)).isoformat()
    paused = client.post(f"{base}/pause/", {"until": until, "note": "Innlagt"}, content_type="application/json")
    assert paused.status_code == 201 and paused.json()["status"] == "paused"
    again = client.post(f"{base}/pause/", {"until": until}, content_type="application/json")
    assert again.status_code == 400
    assert again.json() == {"detail": "«Pause» er ikke mulig når pasienten har status «pause»."}
    assert client.post(f"{base}/resume/", {}, content_type="application/json").status_code == 201
    bad_reason = client.post(f"{base}/end/", {"reason": "lei"}, content_type="application/json")
    assert bad_reason.status_code == 400 and "reason" in bad_reason.json()
    ended = client.post(f"{base}/end/", {"reason": "withdrew"}, content_type="application/json")
    assert ended.json()["status"] == "ended"
    history = client.get(f"{base}/history/").json()
    assert [(h["event"], h["by"]) for h in history] == [
        ("paused", "coord_gjerdrum"), ("resumed", "coord_gjerdrum"), ("ended", "coord_gjerdrum")
    ]  # fmt: skip


def test_a_fastlege_may_read_but_not_change_the_forlop(world, login):
    patient = world.p.gjerdrum
    with pytest.raises(StatusRoleRequired):
        _pause(world, patient, user=world.u.gp)
    response = login(world.u.gp).post(f"/api/v1/patients/{patient.pk}/end/", {"reason": "other"})
    assert response.status_code == 403
    assert not StatusChange.objects.exists()


def test_it_hides_other_municipalitys_patient(world, login):
    client = login(world.u.coordinator)  # Gjerdrum
    for path in ("pause", "resume", "end", "history"):
        response = client.post(f"/api/v1/patients/{world.p.nannestad.pk}/{path}/", {"reason": "other"})
        assert response.status_code == 404, path
    assert not StatusChange.objects.exists()


def test_the_patient_page_shows_the_forlop_timeline(world, login):
    patient = world.p.nannestad
    _pause(world, patient, days=7)
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/").content.decode()
    timeline = page[page.index('id="forlop"') :]
    until = TODAY() + datetime.timedelta(days=7)
    assert f"{TODAY():%d.%m.%Y}</strong> Pause til {until:%d.%m.%Y}" in timeline
    assert f"Pause til {until:%d.%m.%Y}" in page[: page.index('id="forlop"')]  # the status badge


@pytest.mark.parametrize(
    ("events", "status"),
    [
        (["received", "assessed", "granted"], "pending"),  # a new patient waits for oppstart
        (["granted", "started"], "active"),
        (["started", "paused", "granted"], "paused"),  # a vedtak for someone followed up changes nothing
        (["started", "ended", "moved", "granted"], "pending"),  # moved in: waits for the new oppstart
        (["started", "ended", "granted", "started"], "active"),
        (["paused", "resumed"], "active"),  # a patient from before the history
    ],
)
def test_status_of_adds_up_a_history(events, status):
    day = datetime.date(2026, 1, 1)
    rows = [
        StatusChange(event=e, effective_date=day + datetime.timedelta(days=i), until=day + datetime.timedelta(days=30))
        for i, e in enumerate(events)
    ]
    assert status_of(rows)[0] == status


def test_a_pause_past_its_date_says_it_ran_out_where_it_said_until(world, login):
    """The status stays «pause» until someone resumes the patient; after the until-date the worklist,
    the board and the patient page say the pause ran out instead of «Pause til» a day gone by."""
    from patients.models import Patient

    patient = world.p.nannestad
    _pause(world, patient)
    _spo2(world, patient, "late")  # a row on the worklist
    ran_out = TODAY() - datetime.timedelta(days=2)
    Patient.objects.filter(pk=patient.pk).update(status_until=ran_out)
    nurse = login(world.u.nurse)
    expected = f"Pausen gikk ut {ran_out:%d.%m.%Y}"
    worklist = nurse.get("/worklist/").content.decode()
    assert expected in worklist and "Pause til" not in worklist
    page = nurse.get(f"/patients/{patient.pk}/").content.decode()
    assert expected in page and f"til {ran_out:%d.%m.%Y}" not in page
    board = nurse.get("/forlop/").content.decode()
    assert expected in board
