"""The worklist: order, escalation, take and handle, journal note, filters, scope, constant queries."""

import datetime
import random
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from measurements.models import Reading
from measurements.services import integration_create, readings_ingest
from tenants.models import AuditEvent
from tests.factories import PatientFactory
from triage import services
from triage.models import Alert, Contact, JournalNote
from triage.opening_hours import OSLO, OpeningHours, is_overdue, overdue_limit

MONDAY_10 = datetime.datetime(2026, 11, 23, 10, 0, tzinfo=OSLO)


def _alert(patient, colour="red", minutes_ago=5, reason="SpO2 86 % – rød under 88", **extra):
    at = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    return Alert.objects.create(
        patient=patient, municipality=patient.municipality, kind="out_of_range", colour=colour, reason=reason,
        opened_at=at, updated_at=at, **extra,
    )  # fmt: skip


def _ids(response):
    return [row.alert.pk for row in response.context["worklist"].rows]


def test_red_comes_before_yellow_and_the_oldest_first_within_a_colour(world, login):
    y_old = _alert(world.p.gjerdrum, "yellow", 50, reason="gul")
    r_new = _alert(world.p.nannestad, "red", 2)
    r_old = _alert(world.p.ullensaker, "red", 20)
    response = login(world.u.nurse).get("/worklist/")
    assert response.status_code == 200
    assert _ids(response) == [r_old.pk, r_new.pk, y_old.pk]
    html = response.content.decode()
    assert "Rød" in html and "Gul" in html  # colour in words, never colour alone
    assert response.context["worklist"].counts == {"red": 2, "yellow": 1}
    assert "Ny" in html  # a red from two minutes ago is marked new


def test_overdue_alerts_move_to_the_top(world, login):
    fresh_red = _alert(world.p.gjerdrum, "red", 10)
    old_yellow = _alert(world.p.nannestad, "yellow", 60 * 24 * 4, reason="gul lenge")
    response = login(world.u.nurse).get("/worklist/")
    rows = response.context["worklist"].rows
    assert [r.alert.pk for r in rows] == [old_yellow.pk, fresh_red.pk]
    assert rows[0].overdue and not rows[1].overdue
    assert "Forfalt" in response.content.decode()


@pytest.mark.parametrize(
    ("colour", "since", "now", "overdue"),
    [
        ("red", MONDAY_10, MONDAY_10 + datetime.timedelta(minutes=59), False),
        ("red", MONDAY_10, MONDAY_10 + datetime.timedelta(minutes=61), True),
        # Friday 14:50 → only ten open minutes until Monday 08:00; overdue at 08:51 Monday, not before.
        ("red", MONDAY_10 + datetime.timedelta(days=4, hours=4, minutes=50),
         MONDAY_10 + datetime.timedelta(days=6), False),
        ("red", MONDAY_10 + datetime.timedelta(days=4, hours=4, minutes=50),
         datetime.datetime(2026, 11, 30, 8, 51, tzinfo=OSLO), True),
        ("yellow", MONDAY_10, MONDAY_10 + datetime.timedelta(hours=6), False),
        ("yellow", MONDAY_10, MONDAY_10 + datetime.timedelta(days=1, minutes=1), True),  # 7 open hours = a day
        ("red", datetime.datetime(2026, 11, 23, 20, 0, tzinfo=OSLO),
         datetime.datetime(2026, 11, 24, 7, 59, tzinfo=OSLO), False),
    ],
)  # fmt: skip
def test_escalation_counts_only_opening_hours(colour, since, now, overdue):
    assert is_overdue(colour, since, now, OpeningHours()) is overdue


def test_escalation_of_an_alert_open_for_a_year_stops_counting_once_it_is_overdue():
    hours, since = OpeningHours(), MONDAY_10 - datetime.timedelta(days=365)
    assert hours.open_time_between(since, MONDAY_10) > datetime.timedelta(days=60)  # every open hour of the year
    assert hours.open_time_between(since, MONDAY_10, past=datetime.timedelta(hours=1)) == datetime.timedelta(hours=7)
    assert is_overdue("red", since, MONDAY_10, hours) and is_overdue("yellow", since, MONDAY_10, hours)


@pytest.mark.parametrize(
    "hours",
    [OpeningHours(), OpeningHours(datetime.time(7, 30), datetime.time(22, 0), frozenset({0, 2, 5})),
     OpeningHours(datetime.time(9, 0), datetime.time(9, 0), frozenset({0, 1, 2, 3, 4})),
     OpeningHours(datetime.time(0, 0), datetime.time(23, 59), frozenset(range(7)))],
    ids=["weekdays", "three-long-days", "never-open", "always"],
)  # fmt: skip
def test_the_worklists_overdue_moment_agrees_with_counting_the_open_time(hours):
    # the worklist compares each row's time with one moment per colour (overdue_before) instead of
    # counting every row's open time (is_overdue): the two must agree on every row, at the edges too
    rng = random.Random(7)
    for colour in ("red", "yellow"):
        limit = overdue_limit(colour, hours)
        for _ in range(400):
            now = MONDAY_10 + datetime.timedelta(minutes=rng.randrange(0, 60 * 24 * 21))
            edge = hours.overdue_before(now, limit)
            candidates = [now - datetime.timedelta(minutes=rng.randrange(0, 60 * 24 * 10))]
            if edge is not None:  # either side of the moment itself, to the microsecond
                candidates += [edge, edge - datetime.timedelta(microseconds=1), edge + datetime.timedelta(seconds=1)]
            for since in candidates:
                expected = is_overdue(colour, since, now, hours)
                assert (edge is not None and since < edge) is expected, (colour, since, now, edge)


def test_outside_opening_hours_the_page_says_so(world, login, settings):
    centre = world.centres.ovre
    now = timezone.localtime()
    centre.opens_at, centre.closes_at = (
        (now + datetime.timedelta(hours=1)).time(),
        (now + datetime.timedelta(hours=2)).time(),
    )
    if centre.opens_at > centre.closes_at:  # near midnight: make it closed all day instead
        centre.open_weekdays = []
    centre.save()
    assert "Senteret er stengt nå" in login(world.u.nurse).get("/worklist/").content.decode()


def test_a_nurse_takes_an_alert_and_a_second_nurse_sees_who(world, login):
    alert = _alert(world.p.gjerdrum)
    first, other = world.u.nurse, PatientFactory  # noqa: F841 – a second nurse of the same centre below
    from tests.factories import MembershipFactory, UserFactory

    second = UserFactory(username="nurse2", first_name="Nils", last_name="Nilsen")
    MembershipFactory(user=second, role="nurse", centre=world.centres.ovre)
    assert login(first).post(f"/worklist/alerts/{alert.pk}/take/").status_code == 302
    alert.refresh_from_db()
    assert alert.taken_by == first and alert.taken_at is not None
    page = login(second).get("/worklist/").content.decode()
    assert f"Tatt av {first.get_full_name()}" in page
    refused = login(second).post(f"/worklist/alerts/{alert.pk}/take/", follow=True)
    assert "har allerede tatt dette varselet" in refused.content.decode()
    alert.refresh_from_db()
    assert alert.taken_by == first


def test_handling_closes_the_alert_and_writes_the_journal_note(world, login):
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    at = (timezone.localtime() - datetime.timedelta(minutes=3)).isoformat()
    stored = readings_ingest(
        integration=integration,
        items=[
            {
                "external_id": "r",
                "patient_id": str(world.p.gjerdrum.pk),
                "type": "spo2",
                "value": 86,
                "unit": "%",
                "measured_at": at,
            }
        ],
    )
    services.readings_score([stored[0].id])
    alert = Alert.objects.get()
    nurse = login(world.u.nurse)
    form = nurse.get(f"/worklist/alerts/{alert.pk}/handle/")
    assert form.status_code == 200 and "Egenbehandlingsplanen ved" in form.content.decode()
    response = nurse.post(
        f"/worklist/alerts/{alert.pk}/handle/",
        {
            "actions": ["called_reached", "advised_ebp"],
            "note": "Startet reservekur, ny måling i kveld.",
            "seen_colour": alert.colour,
        },
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert (alert.status, alert.handled_by) == ("closed", world.u.nurse)
    assert alert.seconds_to_handle >= 0
    note = JournalNote.objects.get(alert=alert)
    assert note.document["detected_issue"]["severity"] == "high"
    assert note.document["detected_issue"]["code"] == "out_of_range"
    assert note.document["observations"][0]["code"] == {"system": "http://loinc.org", "code": "2708-6"}
    assert note.document["composition"]["author"] == world.u.nurse.get_full_name()
    assert "Begrunnelse: SpO2 86 % – rød under 90 (ingen godkjent plan)" in note.text
    assert "Ringte pasienten – fikk svar; Ga råd etter egenbehandlingsplanen" in note.text
    assert "Startet reservekur" in note.text
    patient_page = nurse.get(f"/patients/{world.p.gjerdrum.pk}/").content.decode()
    assert "Kopier til journal" in patient_page and "Startet reservekur" in patient_page
    assert alert.pk not in _ids(nurse.get("/worklist/"))


def test_not_reached_keeps_it_open_with_a_time_to_try_again(world, login):
    alert = _alert(world.p.gjerdrum)
    retry = (timezone.localtime() + datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    login(world.u.nurse).post(
        f"/worklist/alerts/{alert.pk}/handle/",
        {"actions": ["called_not_reached"], "retry_at": retry, "seen_colour": "red"},
    )
    alert.refresh_from_db()
    assert alert.status == "open" and alert.taken_by == world.u.nurse and alert.retry_at is not None
    assert Contact.objects.get(alert=alert).actions == ["called_not_reached"]
    assert not JournalNote.objects.exists()


def test_a_retry_time_shows_its_date_unless_it_is_today(world, login):
    today = timezone.localdate()
    days = {"today": today, "tomorrow": today + datetime.timedelta(days=1), "mistyped": today.replace(year=2099)}
    for subject, day in days.items():
        retry = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
        _alert(world.p.gjerdrum, subject=subject, taken_by=world.u.nurse, taken_at=timezone.now(), retry_at=retry)
    page = login(world.u.nurse).get("/worklist/").content.decode()
    assert page.count("Prøv igjen 10:00") == 1
    assert f"Prøv igjen {days['tomorrow']:%d.%m.%Y} 10:00" in page
    assert f"Prøv igjen {days['mistyped']:%d.%m.%Y} 10:00" in page


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Dette feltet er påkrevd"),
        ({"actions": ["called_reached", "called_not_reached"]}, "ikke begge"),
        ({"actions": ["called_reached"], "retry_at": "2099-01-01T10:00"}, "bare når pasienten ikke ble nådd"),
    ],
)
def test_a_wrong_handling_form_says_what_is_wrong(world, login, data, message):
    alert = _alert(world.p.gjerdrum)
    response = login(world.u.nurse).post(f"/worklist/alerts/{alert.pk}/handle/", {**data, "seen_colour": "red"})
    assert response.status_code == 400 and message in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == "open"


def test_filters_by_municipality_colour_diagnosis_and_mine(world, login):
    a = _alert(world.p.gjerdrum, "red")
    b = _alert(world.p.nannestad, "yellow", reason="gul")
    world.p.nannestad.diagnoses = ["hjertesvikt"]
    world.p.nannestad.save()
    c = _alert(world.p.ullensaker, "red", taken_by=world.u.nurse)
    nurse = login(world.u.nurse)
    assert _ids(nurse.get("/worklist/?municipality=3230")) == [a.pk]
    assert set(_ids(nurse.get("/worklist/?colour=red"))) == {a.pk, c.pk}
    assert _ids(nurse.get("/worklist/?diagnosis=hjertesvikt")) == [b.pk]
    assert _ids(nurse.get("/worklist/?mine=1")) == [c.pk]


def test_scope_a_coordinator_sees_only_their_municipality_and_404_for_others(world, login):
    mine = _alert(world.p.gjerdrum)
    _alert(world.p.nannestad)
    _alert(world.p.grimstad)
    coordinator = login(world.u.coordinator)
    assert _ids(coordinator.get("/worklist/")) == [mine.pk]
    assert coordinator.get("/worklist/?municipality=3238").status_code == 404
    assert coordinator.get("/worklist/?municipality=4202").status_code == 404
    assert login(world.u.nurse_agder).get("/worklist/?municipality=3230").status_code == 404
    assert login(world.u.finance).get("/worklist/").status_code == 404
    # A coordinator may read but not take or handle.
    assert coordinator.post(f"/worklist/alerts/{mine.pk}/take/").status_code == 403
    assert login(world.u.nurse_agder).post(f"/worklist/alerts/{mine.pk}/take/").status_code == 404


def test_the_worklist_query_count_does_not_grow_with_the_alerts(world, login):
    nurse = login(world.u.nurse)
    patients = [PatientFactory(municipality=world.m.gjerdrum) for _ in range(30)]
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")

    def add(n):
        for i, patient in enumerate(patients[:n]):
            at = (timezone.localtime() - datetime.timedelta(minutes=5)).isoformat()
            items = [{"external_id": f"{patient.pk}-{k}", "patient_id": str(patient.pk), "type": "spo2",
                      "value": 85 + k, "unit": "%", "measured_at": at} for k in range(3)]  # fmt: skip
            services.readings_score([r.id for r in readings_ingest(integration=integration, items=items)])
            if i % 2:
                services.alert_take(alert=Alert.objects.get(patient=patient), user=world.u.nurse)

    def count():
        nurse.get("/worklist/")  # warm the session
        with CaptureQueriesContext(connection) as queries:
            response = nurse.get("/worklist/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        return len(queries), len(response.context["worklist"].rows)

    add(3)
    few, rows_few = count()
    add(30)
    many, rows_many = count()
    assert (rows_few, rows_many) == (3, 30)
    assert many == few, f"{few} queries for 3 alerts, {many} for 30"


def _readings(patient, days_ago: list[int], value=90):
    for i, days in enumerate(days_ago):
        at = timezone.now() - datetime.timedelta(days=days, hours=1)
        Reading.objects.create(patient=patient, municipality_id=patient.municipality_id, type="spo2", value=value + i,
                               measured_at=at)  # fmt: skip


def test_a_rows_last_values_are_the_last_six_however_old(world, login):
    """The trend query looks back TREND_WINDOW first (so PostgreSQL plans only the last months); a
    row with fewer than six readings in it is asked again without the bound: the same six either way."""
    recent, sparse = world.p.gjerdrum, world.p.nannestad
    _readings(recent, [1, 2, 3, 4, 5, 6, 7, 200])  # six in the window: the old one is not among the last six
    _readings(sparse, [1, 2, 120, 200, 300, 310, 320], value=80)  # two in the window, four older, one older still
    for patient in (recent, sparse):
        _alert(patient, measurement="spo2")
    with CaptureQueriesContext(connection) as queries:
        response = login(world.u.nurse).get("/worklist/", HTTP_HX_REQUEST="true")
    trends = {row.alert.patient_id: [p["value"] for p in row.trend] for row in response.context["worklist"].rows}
    assert trends[recent.pk] == [95, 94, 93, 92, 91, 90]  # oldest first
    assert trends[sparse.pk] == [85, 84, 83, 82, 81, 80]
    trend_queries = [q["sql"] for q in queries.captured_queries if "CROSS JOIN LATERAL" in q["sql"]]
    assert len(trend_queries) == 2 and "m.measured_at >=" in trend_queries[0]
    assert "m.measured_at >=" not in trend_queries[1] and str(recent.pk).replace("-", "") not in trend_queries[1]
    html = response.content.decode()
    assert '<span class="tv-">85</span> → <span class="tv-">84</span>' in html


def test_the_live_refresh_returns_only_the_list_and_keeps_the_filters(world, login):
    _alert(world.p.gjerdrum)
    response = login(world.u.nurse).get("/worklist/?colour=red&municipality=3230", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="worklist"')
    assert re.search(r'hx-get="/worklist/\?colour=red&amp;municipality=3230"', html)
    assert "<html" not in html


def test_the_worklist_audits_each_patient_once_per_appearance(world, login):
    _alert(world.p.gjerdrum)
    nurse = login(world.u.nurse)
    nurse.get("/worklist/")
    nurse.get("/worklist/", HTTP_HX_REQUEST="true")
    nurse.get("/worklist/", HTTP_HX_REQUEST="true")
    events = AuditEvent.objects.filter(object_type="worklist", patient_id=world.p.gjerdrum.pk)
    assert events.count() == 1
    assert AuditEvent.objects.filter(object_type="worklist").count() == 2  # with the list's own event
    _alert(world.p.nannestad)
    nurse.get("/worklist/", HTTP_HX_REQUEST="true")
    assert AuditEvent.objects.filter(object_type="worklist", patient_id__isnull=False).count() == 2
    assert AuditEvent.objects.filter(object_type="worklist", patient_id__isnull=True).count() == 2


def test_the_list_is_paged_most_urgent_first_with_counts_over_every_page(world, login, monkeypatch):
    monkeypatch.setattr("triage.selectors.WORKLIST_PAGE", 2)
    old_yellow = _alert(world.p.gjerdrum, "yellow", 60, reason="gul")
    old_red = _alert(world.p.nannestad, "red", 30)
    new_red = _alert(world.p.ullensaker, "red", 2)  # «ny»: on the second page, behind the older red and…
    overdue = _alert(PatientFactory(municipality=world.p.gjerdrum.municipality), "red", 60 * 24 * 8)  # …the overdue
    nurse = login(world.u.nurse)
    first = nurse.get("/worklist/?colour=&mine=")
    assert _ids(first) == [overdue.pk, old_red.pk]
    html = first.content.decode()
    assert first.context["worklist"].counts == {"red": 3, "yellow": 1}  # the counts are the whole list's
    assert "Viser 1–2 av 4 varsler (side 1 av 2)" in html
    assert 'href="?colour=&amp;mine=&amp;page=2"' in html and "worklist-previous" not in html  # filters kept
    assert "1 ny rød står på en annen side av listen." in html  # a new red is never out of sight
    rows = AuditEvent.objects.filter(object_type="worklist", patient_id__isnull=False)
    shown = set(rows.values_list("patient_id", flat=True))
    assert shown == {overdue.patient_id, old_red.patient_id}  # the log names whom the nurse saw, no one else

    second = nurse.get("/worklist/?page=2", HTTP_HX_REQUEST="true")  # the live refresh of the second page
    assert _ids(second) == [new_red.pk, old_yellow.pk]
    html = second.content.decode()
    assert 'hx-get="/worklist/?page=2"' in html and "Viser 3–4 av 4 varsler" in html
    assert "ny rød står på en annen side" not in html and 'href="?page=1"' in html

    old_red.status = "closed"
    old_red.save()
    beyond = nurse.get("/worklist/?page=9")  # the list got shorter (or the address is old): its last page
    assert _ids(beyond) == [old_yellow.pk] and "side 2 av 2" in beyond.content.decode()
    assert _ids(nurse.get("/worklist/?page=x")) == [overdue.pk, new_red.pk]


def test_planned_follow_up_lists_due_contacts_and_evaluations(world, login):
    from ebp import services as ebp

    draft = ebp.draft_start(
        patient=world.p.gjerdrum, user=world.u.nurse, content={"thresholds": {"spo2": {"value": {"red_below": 88}}}}
    )
    ebp.draft_submit(version=draft, user=world.u.nurse)
    approved = ebp.version_approve(version=draft, user=world.u.gp)
    long_ago = timezone.now() - datetime.timedelta(days=100)
    type(approved).objects.filter(pk=approved.pk).update(decided_at=long_ago)  # status unchanged: allowed
    from patients.models import Patient

    Patient.objects.filter(pk=world.p.nannestad.pk).update(created_at=long_ago)
    nurse = login(world.u.nurse)
    page = nurse.get("/followup/")
    due = page.context["due"]
    # Olav Ullensaker was created just now, so his first routine contact is weeks away.
    assert {r.patient for r in due.routine} == {world.p.gjerdrum, world.p.nannestad}
    assert [r.patient for r in due.evaluation] == [world.p.gjerdrum]
    nurse.post(
        f"/patients/{world.p.gjerdrum.pk}/contacts/",
        {"kind": "evaluation", "actions": ["called_reached"], "note": "Evaluert"},
    )
    nurse.post(f"/patients/{world.p.nannestad.pk}/contacts/", {"kind": "routine", "actions": ["called_reached"]})
    due = nurse.get("/followup/").context["due"]
    assert world.p.gjerdrum not in {r.patient for r in due.evaluation}
    assert world.p.nannestad not in {r.patient for r in due.routine}


def test_the_patient_page_shows_trends_with_the_patients_bands(world, login):
    integration, _ = integration_create(centre=world.centres.ovre, name="gw")
    items = []
    for day in range(10):
        at = (timezone.localtime() - datetime.timedelta(days=day, minutes=5)).isoformat()
        items.append({"external_id": f"d{day}", "patient_id": str(world.p.gjerdrum.pk), "type": "spo2",
                      "value": 90 + day % 5, "unit": "%", "measured_at": at})  # fmt: skip
    readings_ingest(integration=integration, items=items)
    page = login(world.u.nurse).get(f"/patients/{world.p.gjerdrum.pk}/?days=7").content.decode()
    assert '<svg class="chart"' in page
    assert "Oksygenmetning (SpO2): 7 målinger, siste 90 %" in page  # days 0–6 of 10, as text for screen readers
    assert 'fill="#fde8e8"' in page and 'fill="#e4f4e8"' in page  # red and green bands drawn behind


def test_an_expired_session_sends_the_live_list_to_the_login_page(world, client):
    response = client.get("/worklist/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/worklist/"
    assert client.get("/worklist/").status_code == 302  # a normal request is redirected as usual
