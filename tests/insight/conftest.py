"""A small world with known answers for the insight figures: March 2100 at Øvre (1 March 2100 is a
Monday: the period 1–28 March is the ISO weeks 9 to 12), built through the services.

The services date what they do by today (a vedtak, a vurdering, a move are made «today»), so the
tests carry a clock (`clock.at(day, "10:00")`): `django.utils.timezone.now` is pinned to it, as
billing's page tests pin today. The rows' own defaults (`decided_at` …) keep the real time, which
lies before 2100: a klage received in 2100 is after its vedtak, as it must be.

Patients (started 1 February through the status history unless said):
- Gjerdrum: g1 (pause 8–14 March), g2 (ended 20 March, too ill), g3 (moves to Nannestad on 22 March,
  started there the same day), g4, g5, g6; and «Astrid» (henvisning 1 March → started 10 March →
  ended 24 March, withdrew). g1, g4, g5 have approved plans from 28 February.
- Nannestad: n1–n4, and g3 from 22 March.
- Ullensaker: u1–u6.
Øvre's staffing: 2.0 årsverk to 14 March, 2.5 from 15 March.
"""

import datetime
from types import SimpleNamespace

import pytest
from django.utils import timezone

from ebp.defaults import TEMPLATES
from ebp.services import draft_start, draft_submit, version_approve
from measurements.partitions import partitions_ensure
from measurements.services import answers_ingest, integration_create, readings_ingest
from patients.models import ASSESSMENT_CRITERIA, MoveNotice, Patient
from patients.services import (
    appeal_register,
    assessment_record,
    consent_record,
    decision_record,
    patient_end,
    patient_start,
    referral_register,
    status_change_record,
)
from patients.services.moves import move_accept
from tenants.reference import staffing_save
from tests.factories import MembershipFactory, PatientFactory, UserFactory
from triage.models import Alert
from triage.opening_hours import OSLO
from triage.services import Finding, alert_handle, alert_take, alerts_upsert

FEB1 = datetime.date(2100, 2, 1)


def march(day: int) -> datetime.date:
    return datetime.date(2100, 3, day)


class Clock:
    """What `timezone.now()` answers: a moment in Norway's time, set by the test."""

    def __init__(self):
        self.now: datetime.datetime | None = None

    def at(self, day: datetime.date, time: str = "10:00") -> datetime.datetime:
        hour, minute = (int(part) for part in time.split(":"))
        self.now = datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=OSLO)
        return self.now


@pytest.fixture
def clock(monkeypatch):
    pinned = Clock()
    real = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: pinned.now or real())
    return pinned


def _start(world, patient, day=FEB1):
    status_change_record(patient=patient, user=world.u.nurse, event="started", effective_date=day)


def _plan(world, clock, patient, schedule: dict):
    clock.at(datetime.date(2100, 2, 28), "12:00")
    content = {**TEMPLATES["kols"]["content"], "schedule": schedule}
    version = draft_start(patient=patient, user=world.u.nurse, content=content)
    draft_submit(version=version, user=world.u.nurse)
    version_approve(version=version, user=world.u.gp)


def _readings(gateway, patient, mtype: str, value: float, unit: str, days: dict[int, int]) -> None:
    """`days`: March day → how many readings that day (at 09:00, 09:01 …)."""
    items = [
        {"external_id": f"{patient.pk}-{mtype}-{day}-{n}", "patient_id": str(patient.pk), "type": mtype,
         "value": value, "unit": unit,
         "measured_at": datetime.datetime.combine(march(day), datetime.time(9, n), tzinfo=OSLO).isoformat()}
        for day, count in days.items() for n in range(count)
    ]  # fmt: skip
    results = readings_ingest(integration=gateway, items=items)
    assert all(r.status == "created" for r in results), results


def _referral(world, clock, municipality, *, name, national_id=None, received: int, assessed=None, decided=None,
              granted=True):  # fmt: skip
    from tests.factories import synthetic_national_id

    clock.at(march(received))
    referral = referral_register(user=world.u.nurse, municipality=municipality, national_id=national_id or
                                 synthetic_national_id(), name=name, referrer="hospital", reason="KOLS",
                                 received_on=march(received))  # fmt: skip
    if assessed:
        clock.at(march(assessed))
        criteria = {code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA}
        assessment_record(referral=referral, user=world.u.nurse, criteria=criteria)
    if decided:
        clock.at(march(decided))
        decision_record(referral=referral, user=world.u.nurse, outcome="granted" if granted else "refused",
                        reason="Vurdert.", period_to=march(decided) + datetime.timedelta(days=180),
                        evaluation_date=march(decided) + datetime.timedelta(days=90))  # fmt: skip
    referral.refresh_from_db()
    return referral


def _alert(world, clock, patient, kind, colour, opened: tuple, subject=""):
    now = clock.at(*opened)
    keys = alerts_upsert([Finding(patient.pk, patient.municipality_id, kind, subject, colour, "Funn", False)], now)
    return Alert.objects.get(pk=keys[(patient.pk, kind, subject)])


@pytest.fixture
def scenario(world, clock):
    m, u, ovre = world.m, world.u, world.centres.ovre
    clock.at(FEB1)
    g = [PatientFactory(municipality=m.gjerdrum, name=f"G{i}", gp=u.gp) for i in range(1, 7)]
    n = [PatientFactory(municipality=m.nannestad, name=f"N{i}") for i in range(1, 5)]
    ul = [PatientFactory(municipality=m.ullensaker, name=f"U{i}") for i in range(1, 7)]
    for patient in [*g, *n, *ul]:
        _start(world, patient)
    staffing_save(centre=ovre, valid_from=datetime.date(2100, 1, 1), valid_to=march(14), nurse_fte="2.0", user=u.admin)
    staffing_save(centre=ovre, valid_from=march(15), valid_to=None, nurse_fte="2.5", user=u.admin)

    # Plans (approved 28 February) and readings.
    _plan(world, clock, g[3], {"spo2": {"frequency": "daily", "times_per_day": 2},
                               "weight": {"frequency": "weekly", "times_per_day": 1, "days_per_week": 2}})  # fmt: skip
    _plan(world, clock, g[4], {"spo2": {"frequency": "daily", "times_per_day": 1}})
    _plan(world, clock, g[0], {"spo2": {"frequency": "daily", "times_per_day": 1}})
    clock.at(march(28), "23:00")
    # Readings are partitioned by month: in 2100 the daily beat task would have made these months.
    partitions_ensure(today=FEB1)
    gateway, _token = integration_create(centre=ovre, name="Testgateway")
    _readings(gateway, g[3], "spo2", 97, "%", {**dict.fromkeys(range(1, 11), 2), **dict.fromkeys(range(11, 21), 1),
                                                21: 3})  # fmt: skip
    _readings(gateway, g[3], "weight", 80, "kg", {2: 1, 5: 1, 9: 1})
    _readings(gateway, g[4], "spo2", 96, "%", dict.fromkeys(range(1, 29), 1))
    _readings(gateway, g[0], "spo2", 96, "%", dict.fromkeys(range(1, 29), 1))

    # The forløp: g1's pause, g2's end.
    clock.at(march(8))
    status_change_record(patient=g[0], user=u.nurse, event="paused", effective_date=march(8), until=march(15))
    clock.at(march(15))
    status_change_record(patient=g[0], user=u.nurse, event="resumed", effective_date=march(15))
    clock.at(march(20))
    patient_end(patient=g[1], user=u.nurse, reason="too_ill", effective_date=march(20))

    # The funnel: Astrid in Gjerdrum (started, ended), a refusal with a klage, a henvisning only,
    # one in Ullensaker assessed only, and g3's move to Nannestad.
    astrid = _referral(world, clock, m.gjerdrum, name="Astrid", received=1, assessed=3, decided=5)
    clock.at(march(8))
    consent_record(patient=astrid.patient, user=u.nurse, given_by="patient", method="written", given_on=march(8))
    clock.at(march(10))
    patient_start(patient=astrid.patient, user=u.nurse, own_phone=True, started_on=march(10))
    clock.at(march(24))
    patient_end(patient=astrid.patient, user=u.nurse, reason="withdrew", effective_date=march(24))
    refused = _referral(world, clock, m.gjerdrum, name="Berit", received=2, assessed=4, decided=9, granted=False)
    clock.at(march(12))
    appeal_register(referral=refused, user=u.nurse, received_on=march(12))
    _referral(world, clock, m.gjerdrum, name="Cecilie", received=20)
    _referral(world, clock, m.ullensaker, name="Dag", received=5, assessed=6)
    moving = _referral(world, clock, m.nannestad, name=g[2].name, national_id=g[2].national_id, received=10,
                       assessed=12, decided=15)  # fmt: skip
    clock.at(march(16))
    consent_record(patient=moving.patient, user=u.nurse, given_by="patient", method="verbal", given_on=march(16))
    clock.at(march(22))
    move_accept(notice=MoveNotice.objects.get(patient=g[2], kind="request"), user=u.nurse)
    g[2].refresh_from_db()
    patient_start(patient=g[2], user=u.nurse, own_phone=True, started_on=march(22))

    # Alerts (opened, first action, handled): see test_alarm_burden for the hand count.
    a1 = _alert(world, clock, g[3], "out_of_range", "red", (march(2), "10:00"))
    clock.at(march(2), "10:20")
    alert_take(alert=a1, user=u.nurse)
    clock.at(march(2), "10:50")
    alert_handle(alert=a1, user=u.nurse, actions=["called_reached"])
    a2 = _alert(world, clock, g[4], "out_of_range", "yellow", (march(3), "09:00"))
    clock.at(march(3), "11:00")
    alert_take(alert=a2, user=u.nurse)
    clock.at(march(4), "09:00")
    alert_handle(alert=a2, user=u.nurse, actions=["advised_ebp"])
    a3 = _alert(world, clock, g[5], "missing_measurement", "yellow", (march(6), "20:00"), subject="spo2")
    clock.at(march(8), "08:30")
    alert_handle(alert=a3, user=u.nurse, actions=["no_action"])
    a4 = _alert(world, clock, ul[0], "deviating_answer", "red", (march(8), "16:00"))
    clock.at(march(9), "08:10")
    alert_take(alert=a4, user=u.nurse)
    clock.at(march(9), "08:15")
    alert_handle(alert=a4, user=u.nurse, actions=["called_not_reached"])
    clock.at(march(9), "09:30")
    alert_handle(alert=a4, user=u.nurse, actions=["called_reached"])
    _alert(world, clock, ul[1], "inactive_patient", "yellow", (march(9), "12:00"))
    a6 = _alert(world, clock, ul[2], "missing_answer", "yellow", (march(10), "13:00"), subject="daily_symptoms")
    clock.at(march(10), "13:30")
    alert_take(alert=a6, user=u.nurse)
    clock.at(march(10), "14:00")
    alert_handle(alert=a6, user=u.nurse, actions=["called_reached"])
    a7 = _alert(world, clock, n[0], "out_of_range", "red", (march(11), "10:00"))
    clock.at(march(11), "10:40")
    alert_handle(alert=a7, user=u.nurse, actions=["contacted_gp"])
    a8 = _alert(world, clock, ul[3], "missing_measurement", "yellow", (march(12), "09:00"), subject="spo2")
    clock.at(march(12), "09:45")
    alert_handle(alert=a8, user=u.nurse, actions=["no_action"])

    clock.at(march(28), "23:30")
    coordinator_n = UserFactory(username="coord_nannestad")
    MembershipFactory(user=coordinator_n, role="coordinator", municipality=m.nannestad)
    return SimpleNamespace(world=world, g=g, n=n, u=ul, astrid=Patient.objects.get(pk=astrid.patient_id),
                           coordinator_n=coordinator_n)  # fmt: skip


# --- the gevinst (tests/insight/test_gevinst*.py) --------------------------------------------------
#
# Dated from today (the services refuse a period that ends in the future), built through the services:
# - Gjerdrum: g1–g6 started 400 days ago; each a null-punkt over the 182 days before oppstart, g1–g5 a
#   6-month registration over the 182 days after it (g6 has none: due); brukerundersøkelser from paper
#   for g1–g5 and from a tablet for g6 (g1 answered twice: the latest counts; all six «mer livsglede», five
#   «tryggere» and one «vet ikke»); a comparison group of six
#   (k1–k6 null-punkt, k1–k5 6 months).
# - Nannestad: n1–n3 started 400 days ago with a null-punkt each and a survey each: three people, too few.

GEVINST_START_DAYS = 400
SURVEY_ANSWERS = {  # patient → (days ago, answers); g1's second answer is the later one
    "g1": [(30, {"safer": "no", "health": "worse"}), (10, {"safer": "yes", "health": "better", "joy": "more"})],
    "g2": [(12, {"safer": "yes", "health": "same", "joy": "more", "understanding": "yes"})],
    "g3": [(14, {"safer": "yes", "health": "better", "joy": "more", "fewer_gp_visits": "yes"})],
    "g4": [(16, {"safer": "yes", "health": "same", "joy": "more", "fewer_admissions": "no"})],
    "g5": [(18, {"safer": "unknown", "health": "better", "joy": "more", "understanding": "yes"})],
}
DEVICE_SURVEY = {"safer": "yes", "health": "same", "joy": "more", "fewer_gp_visits": "unknown"}  # g6, by tablet


def gevinst_values(index: int, kind: str) -> dict:
    """A registration's figures, different per patient so a wrong sum shows."""
    if kind == "baseline":
        return {"home_nursing_hours_per_week": f"{10 + index},5", "practical_help_hours_per_week": "2",
                "short_stay_days": index, "emergency_contacts": 1, "hospital_admissions": index % 2,
                "bed_days": 3 * index, "gp_consultations": 2}  # fmt: skip
    return {"home_nursing_hours_per_week": "5", "practical_help_hours_per_week": f"{index % 3}",
            "short_stay_days": 0, "emergency_contacts": index % 2, "hospital_admissions": 0, "bed_days": 0,
            "gp_consultations": 3}  # fmt: skip


@pytest.fixture
def gevinst(world):
    from insight.gevinst.services import comparison_register, service_use_register, survey_register

    m, u = world.m, world.u
    today = timezone.localdate()
    started = today - datetime.timedelta(days=GEVINST_START_DAYS)
    before = (started - datetime.timedelta(days=182), started - datetime.timedelta(days=1))
    after = (started, started + datetime.timedelta(days=181))
    g = {f"g{i}": PatientFactory(municipality=m.gjerdrum, name=f"Gevinst G{i}", gp=u.gp) for i in range(1, 7)}
    n = {f"n{i}": PatientFactory(municipality=m.nannestad, name=f"Gevinst N{i}") for i in range(1, 4)}
    for patient in [*g.values(), *n.values()]:
        status_change_record(patient=patient, user=u.nurse, event="started", effective_date=started)
    for index, (key, patient) in enumerate([*g.items(), *n.items()], start=1):
        service_use_register(patient=patient, user=u.nurse, kind="baseline", period_from=before[0],
                             period_to=before[1], values=gevinst_values(index, "baseline"))  # fmt: skip
        if key in ("g1", "g2", "g3", "g4", "g5"):
            service_use_register(patient=patient, user=u.coordinator, kind="month_6", period_from=after[0],
                                 period_to=after[1], values=gevinst_values(index, "month_6"))  # fmt: skip
    for key, answers in SURVEY_ANSWERS.items():
        for days, given in answers:
            survey_register(patient=g[key], user=u.coordinator, answered_on=today - datetime.timedelta(days=days),
                            answers=given, comment="Trygt å ha noen som følger med.")  # fmt: skip
    for index, patient in enumerate(n.values()):
        survey_register(patient=patient, user=u.nurse, answered_on=today - datetime.timedelta(days=5 + index),
                        answers={"safer": "yes", "health": "better"})  # fmt: skip
    gateway, _token = integration_create(centre=world.centres.ovre, name="Brukerundersøkelse")
    answered = timezone.now() - datetime.timedelta(days=3)
    [result] = answers_ingest(integration=gateway, items=[{
        "external_id": "survey-g6", "patient_id": str(g["g6"].pk), "questionnaire": "survey",
        "answers": DEVICE_SURVEY, "answered_at": answered.isoformat()}])  # fmt: skip
    assert result.status == "created", result
    for index in range(1, 7):
        points = [("baseline", before, index + 2)] + ([("month_6", after, index + 4)] if index <= 5 else [])
        for kind, (first, last), values in points:
            comparison_register(
                municipality=m.gjerdrum,
                user=u.coordinator,
                code=f"K{index}",
                kind=kind,
                period_from=first,
                period_to=last,
                values=gevinst_values(values, "baseline"),
            )
    return SimpleNamespace(world=world, g=g, n=n, started=started, before=before, after=after, gateway=gateway)
