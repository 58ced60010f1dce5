"""The whole forløp through the API, twice (a Gjerdrum koordinator, and Nordre Follo's own nurse):
devices at the centre → henvisning → vurdering → vedtak → samtykke → oppstart with a kit → readings by
device serial → pause (no silence alert) → resume → evaluering → avslutning (alert closed, a later
reading stored without an alert, the devices listed as out until returned and cleaned). And every
oppstart out of order, with its message and nothing written."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from measurements.models import Reading
from measurements.services import integration_create
from patients.models import (
    ASSESSMENT_CRITERIA,
    Device,
    DeviceLoan,
    DeviceState,
    Patient,
    Referral,
    Start,
    StatusChange,
)
from patients.services import device_register, devices_lend, kit_create
from tenants.models import AuditEvent
from tests.clock import earlier_today
from tests.factories import synthetic_national_id
from triage import services as triage
from triage.models import Alert, Contact
from triage.selectors import follow_up_due

TODAY = timezone.localdate


def _days(n: int) -> str:
    return (TODAY() + datetime.timedelta(days=n)).isoformat()


@pytest.fixture
def gateway(world):
    """The Øvre centre's device gateway: readings arrive by device serial."""
    _integration, token = integration_create(centre=world.centres.ovre, name="Hjemmegateway")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _ok(response, status=201) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def _granted_patient(client, number: str, name: str = "Kari Nordmann") -> Patient:
    """Henvisning → vurdering → innvilget vedtak through the API (no samtykke yet)."""
    body = {"national_id": synthetic_national_id(), "name": name, "municipality": number, "referrer": "hospital",
            "diagnoses": ["kols"], "reason": "Hyppige innleggelser for KOLS-forverring."}  # fmt: skip
    referral_id = _ok(client.post("/api/v1/referrals/", body, format="json"))["id"]
    criteria = {code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA}
    _ok(client.post(f"/api/v1/referrals/{referral_id}/assessment/", {"criteria": criteria}, format="json"))
    decision = {"outcome": "granted", "reason": "Oppfyller kriteriene.", "period_to": _days(180),
                "evaluation_date": _days(90)}  # fmt: skip
    decided = _ok(client.post(f"/api/v1/referrals/{referral_id}/decision/", decision, format="json"))
    return Patient.objects.get(pk=decided["patient_id"])


def _consent(client, patient: Patient) -> None:
    body = {"given_by": "patient", "method": "written", "given_on": TODAY().isoformat()}
    _ok(client.post(f"/api/v1/patients/{patient.pk}/consent/", body, format="json"))


def _reading(gateway, serial: str, ext: str, value: float) -> dict:
    item = {"external_id": ext, "device_serial": serial, "type": "spo2", "value": value, "unit": "%",
            "measured_at": earlier_today(datetime.timedelta(minutes=1)).isoformat()}  # fmt: skip
    [result] = _ok(gateway.post("/api/v1/readings", {"readings": [item]}, content_type="application/json"), 200)[
        "results"
    ]
    assert result["status"] == "created", result
    triage.readings_score([result["id"]])  # the Celery task queued after the commit does this
    return result


def _register_kols_kit(world, api, *serials) -> None:
    """The Øvre centre's nurse registers the devices and a KOLS kit (pulsoksymeter + nettbrett)."""
    centre_nurse = api(world.u.nurse)
    for serial, type in serials:
        _ok(centre_nurse.post("/api/v1/devices/", {"type": type, "serial": serial, "model": "Test"}, format="json"))
    kit_create(centre=world.centres.ovre, user=world.u.nurse, name="KOLS", device_types=["pulsoksymeter", "nettbrett"])


@pytest.mark.parametrize(("role", "number"), [("coordinator", "3230"), ("nurse_nordrefollo", "3207")])
def test_it_walks_the_whole_forlop_through_the_api(world, api, gateway, role, number):
    user = getattr(world.u, role)
    _register_kols_kit(world, api, (f"OX-{number}", "pulsoksymeter"), (f"TAB-{number}", "nettbrett"))
    client = api(user)
    patient = _granted_patient(client, number)
    _consent(client, patient)

    start = {"devices": [f"OX-{number}", f"TAB-{number}"], "kit": "KOLS", "training": "Opplæring hjemme",
             "trial_until": _days(14)}  # fmt: skip
    started = _ok(client.post(f"/api/v1/patients/{patient.pk}/start/", start, format="json"))
    assert (started["event"], started["status"]) == ("started", "active")
    assert sorted(loan["serial"] for loan in started["loans"]) == [f"OX-{number}", f"TAB-{number}"]
    facts = Start.objects.get(patient=patient)
    assert (facts.own_phone, facts.training, facts.trial_until.isoformat()) == (False, "Opplæring hjemme", _days(14))
    assert Referral.objects.get(patient=patient).status == "started"
    assert set(Device.objects.filter(serial__endswith=number).values_list("state", flat=True)) == {"lent"}

    # A reading sent by the device's serial lands on the patient and is scored: a red opens an alert.
    reading = Reading.objects.get(pk=_reading(gateway, f"OX-{number}", f"r1-{number}", 85)["id"])
    assert (reading.patient_id, reading.colour) == (patient.pk, "red")
    alert = Alert.objects.get(patient=patient, status="open")

    paused = _ok(client.post(f"/api/v1/patients/{patient.pk}/pause/", {"until": _days(10)}, format="json"))
    assert paused["status"] == "paused"
    triage.silence_alerts_open(now=timezone.now() + datetime.timedelta(days=5))
    assert not Alert.objects.filter(patient=patient).exclude(pk=alert.pk).exists()
    assert _ok(client.post(f"/api/v1/patients/{patient.pk}/resume/", {}, format="json"))["status"] == "active"

    evaluated = _ok(
        client.post(f"/api/v1/patients/{patient.pk}/evaluation/",
                    {"outcome": "continue", "next_date": _days(60), "note": "God nytte"}, format="json")
    )  # fmt: skip
    assert evaluated["status"] == "active" and evaluated["evaluated"]["event"] == "evaluated"
    next_date = TODAY() + datetime.timedelta(days=60)
    assert evaluated["evaluated"]["note"] == f"Fortsetter. Neste evaluering {next_date:%d.%m.%Y}. God nytte"
    assert Start.objects.get(patient=patient).next_evaluation.isoformat() == _days(60)
    assert Contact.objects.filter(patient=patient, kind="evaluation").count() == 1

    ended = _ok(client.post(f"/api/v1/patients/{patient.pk}/end/",
                            {"reason": "no_benefit", "return": [f"TAB-{number}"]}, format="json"))  # fmt: skip
    assert (ended["event"], ended["status"], ended["end_reason"]) == ("ended", "ended", "no_benefit")
    assert [loan["serial"] for loan in ended["still_out"]] == [f"OX-{number}"]
    alert.refresh_from_db()
    assert (alert.status, alert.closed_reason) == ("closed", "Forløp avsluttet")
    late = Reading.objects.get(pk=_reading(gateway, f"OX-{number}", f"r2-{number}", 80)["id"])
    assert late.patient_id == patient.pk  # nothing a device sends is lost …
    assert not Alert.objects.filter(patient=patient, status="open").exists()  # … but it raises no alert

    out = _ok(client.get(f"/api/v1/patients/{patient.pk}/loans/?out=1"), 200)
    assert [loan["serial"] for loan in out] == [f"OX-{number}"]
    centre_nurse = api(world.u.nurse)  # the device comes back to the centre
    _ok(centre_nurse.post(f"/api/v1/devices/OX-{number}/return/", {}, format="json"), 200)
    assert _ok(client.get(f"/api/v1/patients/{patient.pk}/loans/?out=1"), 200) == []
    for serial in (f"OX-{number}", f"TAB-{number}"):
        assert _ok(centre_nurse.post(f"/api/v1/devices/{serial}/clean/"), 200)["state"] == "cleaned"

    history = _ok(client.get(f"/api/v1/patients/{patient.pk}/history/"), 200)
    events = [row["event"] for row in history]
    assert events == ["granted", "started", "paused", "resumed", "evaluated", "ended"]
    audited = set(AuditEvent.objects.filter(username=user.username).values_list("object_type", flat=True))
    assert {"start", "device_loan", "status_change", "contact"} <= audited


# --- oppstart out of order ------------------------------------------------------------------------


def _refused(client, patient, body, message):
    rows, loans, starts = StatusChange.objects.count(), DeviceLoan.objects.count(), Start.objects.count()
    response = client.post(f"/api/v1/patients/{patient.pk}/start/", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"] == message
    assert (StatusChange.objects.count(), DeviceLoan.objects.count(), Start.objects.count()) == (rows, loans, starts)


def test_it_refuses_oppstart_without_consent(world, api):
    client = api(world.u.coordinator)
    patient = _granted_patient(client, "3230")
    _refused(client, patient, {"own_phone": True},
             "Samtykke er ikke registrert; registrer pasientens samtykke før oppstart.")  # fmt: skip


def test_it_refuses_oppstart_without_a_granted_vedtak(world, api):
    client = api(world.u.coordinator)
    patient = _granted_patient(client, "3230")
    _consent(client, patient)
    _ok(client.post(f"/api/v1/patients/{patient.pk}/start/", {"own_phone": True}, format="json"))
    _ok(client.post(f"/api/v1/patients/{patient.pk}/end/", {"reason": "withdrew"}, format="json"))
    # Referred again: known in the koordinator's scope, linked, but not yet decided.
    body = {"national_id": patient.national_id, "name": patient.name, "municipality": "3230", "referrer": "gp",
            "reason": "Ønsker å starte igjen."}  # fmt: skip
    _ok(client.post("/api/v1/referrals/", body, format="json"))
    _refused(client, patient, {"own_phone": True},
             "Pasienten har ikke et innvilget vedtak i Gjerdrum; oppstart krever vedtak først.")  # fmt: skip


def test_it_refuses_oppstart_twice(world, api):
    client = api(world.u.coordinator)
    patient = _granted_patient(client, "3230")
    _consent(client, patient)
    _ok(client.post(f"/api/v1/patients/{patient.pk}/start/", {"own_phone": True}, format="json"))
    message = f"Pasienten er allerede startet (oppstart {TODAY():%d.%m.%Y}); forløpet må avsluttes før en ny oppstart."
    _refused(client, patient, {"own_phone": True}, message)


def test_it_refuses_oppstart_with_a_device_on_loan_or_not_cleaned(world, api):
    client = api(world.u.coordinator)
    patient = _granted_patient(client, "3230")
    _consent(client, patient)
    lent = device_register(centre=world.centres.ovre, user=world.u.nurse, type="nettbrett", serial="TAB-1")
    devices_lend(patient=world.p.nannestad, user=world.u.nurse, serials=[lent.serial])
    _refused(client, patient, {"devices": ["TAB-1"]},
             # the borrower is in Nannestad: outside the Gjerdrum koordinator's scope, so not named
             "Enheten «TAB-1» finnes, men er utlånt; den må tas imot før den lånes ut igjen.")  # fmt: skip
    dirty = device_register(centre=world.centres.ovre, user=world.u.nurse, type="nettbrett", serial="TAB-2")
    Device.objects.filter(pk=dirty.pk).update(state=DeviceState.RETURNED)
    _refused(client, patient, {"devices": ["TAB-2"]},
             "Enheten «TAB-2» finnes, men er til rengjøring; den må rengjøres før den lånes ut igjen.")  # fmt: skip
    # All or nothing: a good device next to a bad one is not lent either.
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="pulsoksymeter", serial="OX-9")
    _refused(client, patient, {"devices": ["OX-9", "TAB-2"]},
             "Enheten «TAB-2» finnes, men er til rengjøring; den må rengjøres før den lånes ut igjen.")  # fmt: skip
    assert Device.objects.get(serial="OX-9").state == "in_stock"


@pytest.mark.parametrize(
    ("period", "message", "day"),
    [
        ((10, 180, 90), "Oppstartsdatoen kan ikke være før vedtaksperioden begynner ({:%d.%m.%Y}).", 10),
        ((-200, -10, -100), "Vedtaksperioden gikk ut {:%d.%m.%Y}; oppstart krever et nytt vedtak.", -10),
    ],
)
def test_it_starts_only_within_the_vedtak_period(world, api, period, message, day):
    """Oppstart today: before a vedtak's period begins, or after it ran out, it is refused."""
    client = api(world.u.coordinator)
    body = {"national_id": synthetic_national_id(), "name": "Kari Periode", "municipality": "3230",
            "referrer": "hospital", "reason": "KOLS.", "received_on": _days(-250)}  # fmt: skip
    referral_id = _ok(client.post("/api/v1/referrals/", body, format="json"))["id"]
    criteria = {code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA}
    _ok(client.post(f"/api/v1/referrals/{referral_id}/assessment/", {"criteria": criteria}, format="json"))
    since, until, evaluation = period
    decision = {"outcome": "granted", "reason": "Oppfyller kriteriene.", "period_from": _days(since),
                "period_to": _days(until), "evaluation_date": _days(evaluation)}  # fmt: skip
    decided = _ok(client.post(f"/api/v1/referrals/{referral_id}/decision/", decision, format="json"))
    patient = Patient.objects.get(pk=decided["patient_id"])
    _consent(client, patient)
    _refused(client, patient, {"own_phone": True}, message.format(TODAY() + datetime.timedelta(days=day)))


def test_it_refuses_oppstart_without_own_phone_or_a_lent_tablet(world, api):
    client = api(world.u.coordinator)
    patient = _granted_patient(client, "3230")
    _consent(client, patient)
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="pulsoksymeter", serial="OX-1")
    _refused(client, patient, {"devices": ["OX-1"]},
             "Pasienten bruker ikke egen telefon: lån ut et nettbrett, eller oppgi egen telefon.")  # fmt: skip
    assert Device.objects.get(serial="OX-1").state == "in_stock"


def test_a_gp_may_not_start_the_forlop(world, api):
    response = api(world.u.gp).post(f"/api/v1/patients/{world.p.gjerdrum.pk}/start/", {"own_phone": True},
                                    format="json")  # fmt: skip
    assert response.status_code == 403 and not Start.objects.exists()


# --- avslutning and evaluering -----------------------------------------------------------------------


def test_ending_refuses_to_take_back_a_device_the_patient_does_not_have(world, api):
    client = api(world.u.nurse)
    device_register(centre=world.centres.ovre, user=world.u.nurse, type="vekt", serial="V-1")
    patient = world.p.gjerdrum
    response = client.post(f"/api/v1/patients/{patient.pk}/end/", {"reason": "other", "return": ["V-1"]},
                           format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["detail"] == "Enheten «V-1» er ikke utlånt til pasienten."
    patient.refresh_from_db()
    assert patient.status == "active" and not patient.status_changes.exists()  # the end is rolled back too


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"outcome": "continue"}, "Oppgi datoen for neste evaluering når forløpet fortsetter."),
        ({"outcome": "continue", "next_date": _days(0)}, "Neste evaluering må være etter i dag."),
        ({"outcome": "end"}, "Velg en årsak til avslutningen."),
    ],
)
def test_it_refuses_an_evaluation_that_is_incomplete(world, api, body, message):
    response = api(world.u.nurse).post(f"/api/v1/patients/{world.p.gjerdrum.pk}/evaluation/", body, format="json")
    assert response.status_code == 400 and response.json()["detail"] == message
    assert not StatusChange.objects.exists() and not Contact.objects.exists()


def test_an_evaluation_that_adjusts_opens_a_draft_and_one_that_ends_ends(world, api):
    client = api(world.u.nurse)
    adjusted = _ok(client.post(f"/api/v1/patients/{world.p.gjerdrum.pk}/evaluation/",
                               {"outcome": "adjust", "next_date": _days(30)}, format="json"))  # fmt: skip
    assert adjusted["draft_version"] == 1 and adjusted["ended"] is None
    ended = _ok(client.post(f"/api/v1/patients/{world.p.nannestad.pk}/evaluation/",
                            {"outcome": "end", "end_reason": "no_benefit"}, format="json"))  # fmt: skip
    assert (ended["status"], ended["ended"]["end_reason"]) == ("ended", "no_benefit")
    events = list(world.p.nannestad.status_changes.values_list("event", flat=True))
    assert events == ["evaluated", "ended"]
    rows = StatusChange.objects.count()
    adjust = {"outcome": "adjust", "next_date": _days(30)}
    koordinator = api(world.u.coordinator).post(f"/api/v1/patients/{world.p.gjerdrum.pk}/evaluation/", adjust)
    assert koordinator.status_code == 403  # only a nurse drafts the plan; nothing of the evaluation is kept
    assert StatusChange.objects.count() == rows


def test_the_same_evaluation_or_samtykke_sent_twice_is_a_400_and_stored_once(world, api):
    """A client that sends a step again (a retry after a timeout, a double tap) gets the 400 with what
    was stored first, and nothing more is written: no second `evaluated` row, contact or plan draft."""
    from ebp.models import PlanVersion

    client = api(world.u.nurse)
    url = f"/api/v1/patients/{world.p.gjerdrum.pk}/evaluation/"
    adjust = {"outcome": "adjust", "next_date": _days(30)}
    _ok(client.post(url, adjust, format="json"))
    written = (StatusChange.objects.count(), Contact.objects.count(), PlanVersion.objects.count())
    again = client.post(url, adjust, format="json")
    assert again.status_code == 400
    date = datetime.date.fromisoformat(_days(30))
    assert again.json()["detail"].startswith(f"Denne evalueringen (Planen justeres, neste evaluering {date:%d.%m.%Y})")
    assert (StatusChange.objects.count(), Contact.objects.count(), PlanVersion.objects.count()) == written
    consent = {"given_by": "patient", "method": "written", "given_on": _days(0)}
    _ok(client.post(f"/api/v1/patients/{world.p.gjerdrum.pk}/consent/", consent, format="json"))
    twice = client.post(f"/api/v1/patients/{world.p.gjerdrum.pk}/consent/", consent, format="json")
    assert twice.status_code == 400 and twice.json()["detail"].startswith("Samtykket er allerede registrert: skriftlig")
    assert world.p.gjerdrum.consents.count() == 1


def test_the_evaluation_falls_due_on_the_vedtak_date_then_on_the_date_set_at_the_evaluation(world, api):
    client = api(world.u.coordinator)
    patient = _granted_patient(client, "3230")
    _consent(client, patient)
    _ok(client.post(f"/api/v1/patients/{patient.pk}/start/", {"own_phone": True}, format="json"))
    # Wall-clock days in Oslo: UTC arithmetic lands an hour later across a summer-time change, which in the hour
    # before local midnight is already the next day (the due date is local midnight).
    in_days = lambda n: timezone.localtime() + datetime.timedelta(days=n)  # noqa: E731

    def due(user, days):
        return patient in {row.patient for row in follow_up_due(user, now=in_days(days)).evaluation}

    assert not due(world.u.nurse, 89) and due(world.u.nurse, 91) and due(world.u.coordinator, 91)
    _ok(client.post(f"/api/v1/patients/{patient.pk}/evaluation/", {"outcome": "continue", "next_date": _days(120)},
                    format="json"))  # fmt: skip
    assert not due(world.u.nurse, 91) and not due(world.u.nurse, 119) and due(world.u.coordinator, 121)


def test_a_new_vedtak_for_a_running_forlop_starts_nothing_twice(world, api, login):
    """A person already followed up is referred and granted again (a new period): the forløp runs
    on, so a second oppstart is refused (no second Start row, no loans), and the board keeps them
    among the active ones, not among those waiting for oppstart."""
    client = api(world.u.coordinator)
    patient = _granted_patient(client, "3230", name="Rune Fornyet")
    _consent(client, patient)
    _ok(client.post(f"/api/v1/patients/{patient.pk}/start/", {"own_phone": True}, format="json"))
    body = {"national_id": patient.national_id, "name": patient.name, "municipality": "3230", "referrer": "gp",
            "reason": "Ny periode."}  # fmt: skip
    referral_id = _ok(client.post("/api/v1/referrals/", body, format="json"))["id"]
    criteria = {code: {"answer": "yes"} for code in ASSESSMENT_CRITERIA}
    _ok(client.post(f"/api/v1/referrals/{referral_id}/assessment/", {"criteria": criteria}, format="json"))
    decision = {"outcome": "granted", "reason": "Fortsatt behov.", "period_to": _days(360),
                "evaluation_date": _days(90)}  # fmt: skip
    _ok(client.post(f"/api/v1/referrals/{referral_id}/decision/", decision, format="json"))
    patient.refresh_from_db()
    assert patient.status == "active"
    message = f"Pasienten er allerede startet (oppstart {TODAY():%d.%m.%Y}); forløpet må avsluttes før en ny oppstart."
    _refused(client, patient, {"own_phone": True}, message)
    sections = {s.key: s for s in login(world.u.coordinator).get("/forlop/").context["sections"]}
    assert patient.pk in {row.pk for row in sections["active"].rows}
    assert patient.pk not in {row.patient.pk for row in sections["granted"].rows if row.patient}
