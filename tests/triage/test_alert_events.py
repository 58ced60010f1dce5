"""Every change of an alert's colour or state is an AlertEvent row (Healthchecks' Flip): the yellow
finding survives a raise to red, and the patient page shows the history. The nurse rule lives in
the services, so no page or endpoint can skip it."""

import datetime

import pytest
from django.utils import timezone

from measurements.services import integration_create, readings_ingest
from patients.access import NurseRequired
from tenants.models import Centre
from triage import services as triage
from triage.models import Alert, AlertEvent, Contact


def _spo2(patient, integration, ext, value, minutes_ago=1):
    at = (timezone.localtime() - datetime.timedelta(minutes=minutes_ago)).isoformat()
    item = {"external_id": ext, "patient_id": str(patient.pk), "type": "spo2", "value": value, "unit": "%",
            "measured_at": at}  # fmt: skip
    stored = readings_ingest(integration=integration, items=[item])[0]
    triage.readings_score([stored.id])
    return stored.id


@pytest.fixture
def gateway(world):
    return integration_create(centre=world.centres.ovre, name="gw")[0]


def _events(alert):
    return list(
        AlertEvent.objects.filter(alert=alert).order_by("id").values_list("kind", "colour", "previous_colour", "reason")
    )


def test_it_keeps_the_yellow_finding_when_a_red_raises_the_alert(world, gateway):
    patient = world.p.nannestad  # the centre's defaults: yellow under 92, red under 88 … (no plan)
    yellow = _spo2(patient, gateway, "a", 90, minutes_ago=10)
    red = _spo2(patient, gateway, "b", 85)
    alert = Alert.objects.get(patient=patient)
    assert alert.colour == "red"
    events = _events(alert)
    assert [(kind, colour, before) for kind, colour, before, _ in events] == [
        ("opened", "yellow", ""),
        ("raised", "red", "yellow"),
    ]
    assert "90" in events[0][3] and "85" in events[1][3]  # both findings, each in its own row
    assert list(AlertEvent.objects.filter(alert=alert).values_list("reading_id", flat=True)) == [yellow, red]
    assert all(e.municipality_id == patient.municipality_id for e in AlertEvent.objects.all())


def test_it_records_no_event_when_a_finding_does_not_change_the_colour(world, gateway):
    patient = world.p.nannestad
    _spo2(patient, gateway, "a", 85, minutes_ago=10)
    _spo2(patient, gateway, "b", 90)  # yellow after red: the alert stays red
    _spo2(patient, gateway, "c", 84)  # red again: same colour
    assert [kind for kind, *_ in _events(Alert.objects.get(patient=patient))] == ["opened"]


def test_a_red_lets_go_of_the_yellows_retry_time_and_taker_for_everyone_to_take(world, gateway):
    from tenants.people import display_name
    from tests.factories import MembershipFactory, UserFactory

    patient = world.p.nannestad  # no plan: the centre's defaults, red under 90
    _spo2(patient, gateway, "a", 90, minutes_ago=10)
    alert = Alert.objects.get(patient=patient)
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_not_reached"], retry_at=tomorrow)
    _spo2(patient, gateway, "b", 85)  # the patient worsens while the nurse waits to try again
    alert.refresh_from_db()
    assert (alert.colour, alert.retry_at, alert.taken_by_id, alert.taken_at) == ("red", None, None, None)
    assert [(kind, reason) for kind, _, _, reason in _events(alert)][1:] == [
        ("not_reached", f"Nytt forsøk fra {timezone.localtime(tomorrow):%d.%m. %H:%M}"),
        ("raised", "SpO2 85 % – rød under 90 (ingen godkjent plan)"),
        ("released", f"Ble rødt og er ledig for alle på arbeidslisten (var tatt av {display_name(world.u.nurse)})"),
    ]
    # so any nurse of the patient may take it now, not only the one who held the yellow
    second = UserFactory(username="nurse2", first_name="Nils", last_name="Nilsen")
    MembershipFactory(user=second, role="nurse", centre=world.centres.ovre)
    assert triage.alert_take(alert=alert, user=second).taken_by == second
    # a red that stays red changes no one's hold
    triage.alert_handle(alert=alert, user=second, actions=["called_not_reached"], retry_at=tomorrow)
    _spo2(patient, gateway, "c", 84)
    alert.refresh_from_db()
    assert (alert.taken_by_id, alert.retry_at) == (second.pk, tomorrow)


def test_it_records_taken_not_reached_and_handled_with_the_nurse(world, gateway):
    patient = world.p.nannestad
    _spo2(patient, gateway, "a", 85)
    alert = Alert.objects.get(patient=patient)
    triage.alert_take(alert=alert, user=world.u.nurse)
    triage.alert_take(alert=alert, user=world.u.nurse)  # taking it again is no new change
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_not_reached"])
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached", "advised_ebp"])
    rows = list(AlertEvent.objects.filter(alert=alert).values_list("kind", "by__username"))
    assert rows == [("opened", None), ("taken", "nurse"), ("not_reached", "nurse"), ("handled", "nurse")]


def test_the_first_action_is_kept_on_the_alert(world, gateway):
    # first_action_at: the earliest taken, not reached or handled event, kept as the events are written
    # (insight's time to first action reads it, and holds it to the events in tests/insight).
    patient = world.p.nannestad
    _spo2(patient, gateway, "a", 85)
    alert = Alert.objects.get(patient=patient)
    assert alert.first_action_at is None
    triage.alert_take(alert=alert, user=world.u.nurse)
    taken = AlertEvent.objects.get(alert=alert, kind="taken").at
    triage.alert_release(alert=alert, user=world.u.nurse)
    triage.alert_take(alert=alert, user=world.u.nurse)  # taken again later: still the first
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_not_reached"])
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached"])
    alert.refresh_from_db()
    assert alert.first_action_at == taken
    assert AlertEvent.objects.filter(alert=alert, kind="taken").count() == 2


def test_every_event_carries_its_alerts_patient(world, gateway):
    # AlertEvent.patient: insight counts a period's retries per patient from the events' index alone
    patient = world.p.nannestad
    _spo2(patient, gateway, "a", 85)
    alert = Alert.objects.get(patient=patient)
    triage.alert_take(alert=alert, user=world.u.nurse)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_not_reached"])
    rows = list(AlertEvent.objects.filter(alert=alert).values_list("kind", "patient_id"))
    assert [kind for kind, _p in rows] == ["opened", "taken", "not_reached"]
    assert {p for _k, p in rows} == {patient.pk}


def test_a_handling_without_a_take_is_the_first_action(world, gateway):
    patient = world.p.nannestad
    _spo2(patient, gateway, "a", 85)
    alert = Alert.objects.get(patient=patient)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["no_action"])
    alert.refresh_from_db()
    assert alert.first_action_at == AlertEvent.objects.get(alert=alert, kind="handled").at == alert.handled_at


def test_it_records_the_close_by_data_of_a_silence_alert(world, gateway):
    patient = world.p.nannestad
    triage.silence_alerts_open(now=timezone.now() + datetime.timedelta(days=5))
    inactive = Alert.objects.get(patient=patient, kind="inactive_patient")
    _spo2(patient, gateway, "a", 97)
    inactive.refresh_from_db()
    assert inactive.status == "closed"
    assert [(kind, reason) for kind, _, _, reason in _events(inactive)][-1] == ("closed_by_data", "Data mottatt")


def test_the_patient_page_shows_the_alerts_history(world, gateway, login):
    patient = world.p.nannestad
    _spo2(patient, gateway, "a", 90, minutes_ago=10)
    _spo2(patient, gateway, "b", 85)
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/").content.decode()
    history = page[page.index('id="alert-history"') :]
    assert "Åpnet (gul): SpO2 90 %" in history
    assert "Hevet gul → rød: SpO2 85 %" in history


def test_the_history_names_who_acted_and_reads_its_events_from_the_index_alone(world, gateway, login):
    """The page reads of each event only what alert_event_history carries (no query per event for a
    field left out), and with the planner's other paths off that read is an Index Only Scan under the
    row-level security policy: a field the history shows and the index lacks would fail here."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tenants import rls
    from tenants.people import display_name
    from triage.selectors import history_events, history_events_query

    patient = world.p.nannestad
    _spo2(patient, gateway, "a", 85)
    alert = Alert.objects.get(patient=patient)
    triage.alert_take(alert=alert, user=world.u.nurse)
    triage.alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached", "advised_ebp"])
    page = login(world.u.nurse).get(f"/patients/{patient.pk}/").content.decode()
    history = page[page.index('id="alert-history"') :]
    assert f"Tatt, {display_name(world.u.nurse)}" in history and f"Håndtert, {display_name(world.u.nurse)}" in history
    with CaptureQueriesContext(connection) as queries:
        events = list(history_events([alert.pk]))
    assert len(events) == 3 and len(queries) == 1  # what the history shows was all in the one read
    assert [(kind, by_id) for _alert, kind, _at, _c, _p, _r, by_id in events] == [
        ("opened", None), ("taken", world.u.nurse.pk), ("handled", world.u.nurse.pk)
    ]  # fmt: skip

    with rls.scoped([patient.municipality_id]), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = history_events_query([alert.pk]).explain()
    assert "Index Only Scan using alert_event_history" in plan, plan


@pytest.mark.parametrize("step", ["take", "handle", "contact"])
def test_it_refuses_a_coordinator_in_the_service_itself(world, gateway, step):
    patient = world.p.gjerdrum  # the coordinator's own municipality: in scope, but not a nurse's
    _spo2(patient, gateway, "a", 85)
    alert = Alert.objects.get(patient=patient)
    user = world.u.coordinator
    with pytest.raises(NurseRequired):
        if step == "take":
            triage.alert_take(alert=alert, user=user)
        elif step == "handle":
            triage.alert_handle(alert=alert, user=user, actions=["called_reached"])
        else:
            triage.contact_record(patient=patient, user=user, kind="routine", actions=["called_reached"])
    alert.refresh_from_db()
    assert (alert.taken_by_id, alert.status) == (None, "open")
    assert not Contact.objects.exists()
    assert [kind for kind, *_ in _events(alert)] == ["opened"]


def test_the_silence_check_applies_each_centres_own_settings(world):
    # Agder calls a patient inactive after 2 days, Øvre Romerike after 10: one run, two rules.
    Centre.objects.filter(pk=world.centres.agder.pk).update(inactive_after_days=2)
    Centre.objects.filter(pk=world.centres.ovre.pk).update(inactive_after_days=10)
    triage.silence_alerts_open(now=timezone.now() + datetime.timedelta(days=3))
    inactive = set(Alert.objects.filter(kind="inactive_patient").values_list("patient__name", flat=True))
    assert inactive == {"Tove Grimstad"}


def test_a_patients_and_an_alerts_rows_are_indexed_once_time_ordered(db):
    """The reads by patient or alert go through (patient or alert, time) indexes; no second index on
    the first column alone costs each insert an entry (triage migrations 0010, 0011)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.relname, a.attname, i.indexrelid::regclass::text, i.indnkeyatts FROM pg_index i"
            " JOIN pg_class t ON t.oid = i.indrelid"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]"
            " WHERE (t.relname, a.attname) IN (('triage_alert', 'patient_id'), ('triage_alertevent', 'alert_id'),"
            " ('triage_contact', 'patient_id'), ('triage_journalnote', 'patient_id')) AND i.indpred IS NULL"
        )
        found = {(table, name) for table, _column, name, keys in cursor.fetchall() if keys > 0}
    assert found == {
        ("triage_alert", "alert_patient_opened"),
        ("triage_alertevent", "alert_event_history"),
        ("triage_contact", "contact_patient_time"),
        ("triage_journalnote", "journal_note_patient_time"),
    }


def test_a_deactivated_nurse_or_an_ended_nurse_role_lets_go_of_the_alerts_taken(world, gateway, login):
    """Held by someone who cannot act on it, a taken alert offered the others no «Jeg tar denne»."""
    from tenants.models import AuditEvent, Membership
    from tenants.people import display_name
    from tests.factories import MembershipFactory, UserFactory

    leaving = UserFactory(username="nurse.slutter", first_name="Siri", last_name="Slutter")
    role = MembershipFactory(user=leaving, role="nurse", centre=world.centres.ovre)
    staying = UserFactory(username="nurse.blir", first_name="Berit", last_name="Blir")
    MembershipFactory(user=staying, role="nurse", centre=world.centres.ovre)
    _spo2(world.p.nannestad, gateway, "a", 85)
    _spo2(world.p.gjerdrum, gateway, "b", 85)
    first, second = Alert.objects.get(patient=world.p.nannestad), Alert.objects.get(patient=world.p.gjerdrum)
    triage.alert_take(alert=first, user=leaving)
    triage.alert_take(alert=second, user=staying)
    coordinator = MembershipFactory(user=staying, role="coordinator", municipality=world.m.gjerdrum)

    admin = login(world.u.admin)
    admin.post(f"/admin/tenants/membership/{coordinator.pk}/delete/", {"post": "yes"})
    second.refresh_from_db()
    assert second.taken_by == staying  # still the patient's nurse: the alert stays hers

    admin.post("/admin/auth/user/", {"action": "deactivate", "_selected_action": [leaving.pk], "index": 0,
                                     "post": "yes"})  # fmt: skip
    first.refresh_from_db()
    assert (first.taken_by_id, first.taken_at) == (None, None)
    assert _events(first)[-1][0::3] == ("released", f"Sluppet ({display_name(leaving)} er deaktivert; ledig for alle "
                                                    "på arbeidslisten)")  # fmt: skip
    assert AuditEvent.objects.filter(object_type="alert", object_id=str(first.pk), username="admin").exists()
    assert triage.alert_take(alert=first, user=staying).taken_by == staying  # anyone may take it now

    admin.post(f"/admin/tenants/membership/{Membership.objects.get(user=staying, role='nurse').pk}/delete/",
               {"post": "yes"})  # fmt: skip
    for alert in (first, second):
        alert.refresh_from_db()
        assert alert.taken_by_id is None  # her nurse role ended: no longer hers to hold
    assert role.pk  # the leaving nurse's role stays, as history


def test_a_nurse_role_changed_into_another_lets_go_of_the_alerts_taken(world, gateway, login):
    from tests.factories import MembershipFactory, UserFactory

    nurse = UserFactory(username="nurse.bytter")
    role = MembershipFactory(user=nurse, role="nurse", centre=world.centres.ovre)
    _spo2(world.p.nannestad, gateway, "a", 85)
    alert = Alert.objects.get(patient=world.p.nannestad)
    triage.alert_take(alert=alert, user=nurse)
    changed = login(world.u.admin).post(
        f"/admin/tenants/membership/{role.pk}/change/",
        {"user": nurse.pk, "role": "coordinator", "centre": "", "municipality": world.m.gjerdrum.pk, "hpr_number": ""},
    )
    assert changed.status_code == 302
    alert.refresh_from_db()
    assert alert.taken_by_id is None  # a koordinator of Gjerdrum cannot handle a Nannestad alert


def test_each_row_of_the_history_has_its_own_alerts_status():
    """The history writes each status word once per page (get_status_display builds the choices anew on
    every call): every row still says its own alert's status, with who handled it when it was."""
    from triage.patient_page import alert_history_rows

    opened = datetime.datetime(2026, 12, 1, 7, tzinfo=datetime.UTC)
    alerts = []
    for status, handled_by in (("open", ""), ("closed", "Kari Nordmann"), ("open", ""), ("closed", "")):
        handled_at = opened + datetime.timedelta(hours=1) if handled_by else None
        alert = Alert(status=status, colour="red", reason="SpO2 85 %", opened_at=opened, handled_at=handled_at)
        alert.history, alert.taken_by_name, alert.handled_by_name = [], "", handled_by
        alerts.append(alert)
    rows = str(alert_history_rows(alerts)).split("</tr>")[:-1]
    statuses = [row.split("\n    <td>")[1].removesuffix("</td>") for row in rows]
    assert statuses == ["Åpen", "Lukket, Kari Nordmann 01.12.2026 09:00", "Åpen", "Lukket"]
