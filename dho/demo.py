"""The demo world that `make run` loads (`manage.py seed_demo`): two centres, their partner
municipalities, about 200 synthetic patients, one login per role. Deterministic and idempotent:
every row is found by a natural key before it is created, and the random choices come from a fixed
seed, so a second run neither fails nor duplicates anything.

All national ids are synthetic (month + 80): they can never belong to a real person.

Everything a service creates is made by that service, as the demo login who would do it: the device
registers (CSV import), kits and loans (patients.services.equipment), the candidates of Gjerdrum and
Nannestad in every stage before oppstart (patients.services.referrals), pauses and endings
(status_change_record), readings (ingest, Rune's by device serial) and plans (ebp). The about 200
patients' oppstart is still the `started` row of `_seed_starts` with the kit lent beside it; the year's
new patients (dho/demo_history.py) go through henvisning, vedtak, samtykke and `patient_start`, each
step at its moment on the demo's clock (dho/demo_clock.py), as are the named patients' plans and the
gevinst registrations.

When `make run` started the HelseID and JFT stand-ins, every demo kommune's journal route points at
the JFT stand-in (`_seed_journal_routes`, by the centre's admin through journaling.services.route_save),
so a handled alert's note goes to the stand-in's simulated EPJ and comes back «Journalført».
"""

from __future__ import annotations

import datetime
import functools
import os
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from billing.calculation import Month
from billing.models import LockedMonth, PriceModel
from billing.selectors import finance_view_for
from billing.services import month_lock, price_model_save
from dho.demo_clock import demo_clock
from dho.demo_history import seed_history
from dho.demo_logins import LOGINS as DEMO_LOGINS
from dho.demo_names import FIRST_NAMES, LAST_NAMES, demo_phone, kit_name
from dho.demo_orgnr import DEMO_ORGNR
from dho.demo_persons import BERG_HPR, PERSONS
from ebp import services as ebp
from ebp.defaults import TEMPLATES
from ebp.models import PlanVersion
from insight.gevinst.schedule import add_months
from insight.gevinst.selectors import forlops_of
from insight.gevinst.services import comparison_register, service_use_register, survey_register
from insight.models import ComparisonServiceUse, ServiceUse, SurveyAnswer
from journaling.models import JFT_SCOPE, Route, RouteKind
from journaling.services import route_save, status_urls_move
from measurements.types import spec as type_spec
from patients import national_id
from patients.models import (
    ASSESSMENT_CRITERIA,
    Device,
    DeviceState,
    DeviceType,
    EndReason,
    Kit,
    MoveNotice,
    Patient,
    Referral,
    StatusChange,
    StatusEvent,
)
from patients.services import (
    appeal_register,
    assessment_record,
    consent_record,
    decision_record,
    device_clean,
    device_return,
    devices_import_csv,
    devices_lend,
    gp_permission_sync,
    kit_create,
    kit_for,
    patient_create,
    referral_register,
    status_change_record,
)
from tenants import persons
from tenants.models import Agreement, Centre, FollowUpBy, Membership, Municipality, PersonBinding, Role
from tenants.reference import population_set, staffing_end, staffing_save
from tenants.rls import system_scope
from tenants.services import agreement_save

DEMO_PASSWORD = "demo"  # noqa: S105 – documented demo password, only ever set with DEBUG on
AGREEMENTS_FROM = datetime.date(2024, 1, 1)

# kommunenummer, name, population (SSB, 1 January 2025, rounded)
MUNICIPALITIES = [
    ("3209", "Ullensaker", 42_500),
    ("3230", "Gjerdrum", 7_400),
    ("3238", "Nannestad", 15_400),
    ("3240", "Eidsvoll", 27_000),
    ("3242", "Hurdal", 2_900),
    ("3228", "Nes", 24_500),
    ("3207", "Nordre Follo", 64_000),
    ("4203", "Arendal", 46_000),
    ("4202", "Grimstad", 24_800),
    ("4214", "Froland", 6_100),
]

CENTRES = [
    {
        "slug": "ovre-romerike",
        "name": "Oppfølgingssenteret Øvre Romerike",
        "host": "3209",
        "followed_by_centre": ["3230", "3238", "3240", "3242", "3228"],
        "own_follow_up": ["3207"],
    },
    {
        "slug": "agder",
        "name": "Regional TMS Agder",
        "host": "4203",
        "followed_by_centre": ["4202", "4214"],
        "own_follow_up": [],
    },
]

# username, first name, last name, role, centre slug or kommunenummer, staff (dho/demo_logins.py,
# which `make run` prints)
LOGINS = [(user, first, last, Role(role), where, staff) for user, first, last, role, where, staff, _ in DEMO_LOGINS]

# Where a fastlege practises besides the kommune of their login: a henvisning may name only a fastlege
# of the registering user's kommuner (patients.selectors.referral_fastleger), and Gjerdrum's koordinator
# names Berg on several.
GP_ALSO_IN = [("fastlege.berg", "3230")]

# Fictional HPR numbers, one per fastlege: a henvisning or the patient page finds a fastlege outside the
# kommune's list by this number (patients.services.fastlege). Berg's is the HelseID stand-in's Erik Berg's
# (dho/demo_persons.py), so his login and his memberships name one number; those without a login have
# nine digits, above the register's real range.
GP_HPR = {
    "fastlege.berg": BERG_HPR,
    "fastlege.hansen": "990000102",
    "fastlege.olsen": "990000103",
    "fastlege.johansen": "990000104",
}

# Fastleger without a demo login: the other patients need a fastlege too.
OTHER_GPS = [
    ("fastlege.hansen", "Ingrid", "Hansen", "3238"),
    ("fastlege.olsen", "Per", "Olsen", "3207"),
    ("fastlege.johansen", "Marit", "Johansen", "4203"),
]


@dataclass(frozen=True)
class NamedPatient:
    """The named demo patients (README, «Demo»), each in a documented municipality."""

    name: str
    birth: datetime.date
    municipality: str
    diagnoses: tuple[str, ...]
    gp: str


NAMED_PATIENTS = [
    NamedPatient("Olav Haugen", datetime.date(1941, 5, 12), "3209", ("kols", "hjertesvikt"), "fastlege.berg"),
    NamedPatient("Rune Bakken", datetime.date(1970, 2, 3), "3230", ("kols",), "fastlege.berg"),
    NamedPatient("Jens Lie", datetime.date(1964, 8, 21), "3238", ("kols",), "fastlege.berg"),
    NamedPatient("Tove Nilsen", datetime.date(1952, 10, 2), "4202", ("kols",), "fastlege.johansen"),
    NamedPatient("Vigdis Strand", datetime.date(1946, 3, 30), "3207", ("hjertesvikt",), "fastlege.berg"),
]

TOTAL_PATIENTS = 200
DIAGNOSIS_MIX = [
    ("kols",),
    ("kols",),
    ("hjertesvikt",),
    ("kols", "hjertesvikt"),
    ("diabetes",),
    ("diabetes", "hjertesvikt"),
]


# The named patients' approved plans: a KOLS or heart-failure template with their own bounds.
DEMO_PLANS = {
    "Olav Haugen": {
        "template": "kols",
        "nurse": "sykepleier.ullensaker",
        "goals": "Klare å gå til postkassen og være hjemme så lenge som mulig.",
        "thresholds": {
            "spo2": {"value": {"red_below": 88, "yellow_below": 92}},
            "pulse": {"value": {"yellow_above": 100, "red_above": 120}},
        },
        "trend_rules": [{"kind": "weight_gain", "kg": 2, "days": 3, "colour": "red"}],
    },
    "Rune Bakken": {
        "template": "kols",
        "nurse": "sykepleier.ullensaker",
        "goals": "Fortsette å jobbe deltid og unngå innleggelser.",
        "thresholds": {"spo2": {"value": {"red_below": 86, "yellow_below": 90}}},
    },
    "Jens Lie": {
        "template": "kols",
        "nurse": "sykepleier.ullensaker",
        "goals": "Komme seg på hytta i sommer.",
    },
    "Vigdis Strand": {
        "template": "hjertesvikt",
        "nurse": "sykepleier.nordrefollo",
        "goals": "Orke å passe barnebarna en ettermiddag i uken.",
        "trend_rules": [{"kind": "weight_gain", "kg": 2, "days": 3, "colour": "red"}],
    },
}


def _seed_plans(users: dict) -> None:
    """Approved plans for the named patients (Tove stays without one), through the real workflow."""
    for name, spec in DEMO_PLANS.items():
        patient = Patient.objects.get(name=name)
        if PlanVersion.objects.filter(plan__patient=patient).exists():
            continue
        content = {
            **TEMPLATES[spec["template"]]["content"],
            "goals": spec["goals"],
            "meeting": {"date": "2026-10-15", "participants": ["Pasienten", "Fastlege Erik Berg", "Sykepleier"]},
            "contacts": [{"name": "Oppfølgingssenteret", "phone": "63 00 00 00", "when": "hverdager 08–15"}],
        }
        content["thresholds"] = {**content.get("thresholds", {}), **spec.get("thresholds", {})}
        if "trend_rules" in spec:
            content["trend_rules"] = spec["trend_rules"]
        nurse = users[spec["nurse"]]
        # Approved when the forløp started, six months back (on the demo's clock): routine contacts and
        # evaluations are due (the follow-up page counts from the approval when there are no contacts
        # and no oppstart row).
        with demo_clock() as clock:
            clock.at(timezone.now() - datetime.timedelta(days=NAMED_STARTED_DAYS_AGO))
            draft = ebp.draft_start(patient=patient, user=nurse, content=content)
            ebp.draft_submit(version=draft, user=nurse)
            ebp.version_approve(version=draft, user=patient.gp, comment="Godkjent i tverrfaglig møte.")


# Readings for the worklist: (patient, type, values oldest → newest over the last days). The last
# value decides the colour: Olav's SpO2 falls into red, Rune's into yellow, Tove (no plan) is scored
# against the centre's defaults, Vigdis gains 2.4 kg in three days.
DEMO_READINGS = {
    "Olav Haugen": [("spo2", [94, 93, 93, 92, 91, 90, 87]), ("pulse", [82, 85, 88, 92, 96, 104, 112])],
    "Rune Bakken": [("spo2", [93, 92, 92, 91, 91, 90, 89])],
    "Jens Lie": [("spo2", [95, 95, 94, 95, 94, 95, 94])],
    "Tove Nilsen": [("spo2", [92, 91, 91, 90, 90, 89, 88])],
    "Vigdis Strand": [("weight", [71.2, 71.0, 71.3, 71.1, 72.0, 72.8, 73.5])],
}


def _seed_pending_review(users: dict) -> None:
    """Jens's plan has a second version waiting for fastlege.berg: the approval queue is not empty."""
    patient = Patient.objects.get(name="Jens Lie")
    if PlanVersion.objects.filter(plan__patient=patient).count() != 1:
        return
    active = PlanVersion.objects.get(plan__patient=patient)
    content = dict(active.content)
    content["thresholds"] = {**content["thresholds"], "spo2": {"value": {"red_below": 87, "yellow_below": 91}}}
    content["goals"] = "Komme seg på hytta i sommer, og gå turen rundt vannet."
    nurse = users["sykepleier.ullensaker"]
    draft = ebp.draft_start(patient=patient, user=nurse, content=content)
    ebp.draft_submit(version=draft, user=nurse)


# Whose readings the gateway sends by the serial of the lent device instead of the patient's id:
# ingest finds the patient through the loan active on the day (measurements.services).
READINGS_BY_SERIAL = {"Rune Bakken"}
DEVICE_FOR_TYPE = {"spo2": DeviceType.PULSE_OXIMETER, "pulse": DeviceType.PULSE_OXIMETER, "weight": DeviceType.SCALE}


def _reading_sender(patient: Patient, mtype: str) -> dict:
    """`device_serial` of the patient's (last) lent device for the type, or `patient_id`."""
    loan = patient.device_loans.filter(device__type=DEVICE_FOR_TYPE.get(mtype)).select_related("device").first()
    if patient.name not in READINGS_BY_SERIAL or loan is None:
        return {"patient_id": str(patient.pk)}
    return {"device_serial": loan.device.serial}


def _seed_readings(centres: dict) -> None:
    """A week of readings for the named patients through the real ingest and scoring services, so the
    worklist has red and yellow alerts on first start. Idempotent: the external ids are fixed."""
    from measurements.models import Integration
    from measurements.services import integration_create, readings_ingest
    from tenants.selectors import centre_of
    from triage.services import readings_score

    now = timezone.now()
    by_centre: dict[int, list] = {}
    for name, series in DEMO_READINGS.items():
        patient = Patient.objects.get(name=name)
        items = by_centre.setdefault(centre_of(patient.municipality_id).pk, [])
        for mtype, values in series:
            sender = _reading_sender(patient, mtype)
            for day, value in enumerate(values):
                at = now - datetime.timedelta(days=len(values) - 1 - day, hours=2)
                items.append(
                    {
                        "external_id": f"demo-{patient.national_id[-5:]}-{mtype}-{day}",
                        **sender,
                        "type": mtype,
                        "value": value,
                        "unit": type_spec(mtype).unit,
                        "measured_at": at.isoformat(),
                    }
                )
    for centre in centres.values():
        integration = Integration.objects.filter(centre=centre, name="Demo-gateway").first()
        if integration is None:
            integration, _ = integration_create(centre=centre, name="Demo-gateway")
        results = readings_ingest(integration=integration, items=by_centre.get(centre.pk, []), quarantine=False)
        created = [r.id for r in results if r.status == "created"]
        if created:
            readings_score(created)


# --- equipment: the centres' device registers, kits and the named patients' loans ------------------

# type, serial code (serials like «OR-PO-0001»), model; DEVICE_REGISTERS says how many of each per centre.
DEVICE_STOCK = [
    (DeviceType.PULSE_OXIMETER, "PO", "Nonin 3230 Bluetooth"),
    (DeviceType.TABLET, "NB", "Samsung Galaxy Tab A9"),
    (DeviceType.SCALE, "VE", "A&D UC-352BLE"),
    (DeviceType.BLOOD_PRESSURE, "BT", "Omron M7 Intelli IT"),
    (DeviceType.THERMOMETER, "TE", "Braun ThermoScan 7"),
    (DeviceType.GLUCOSE_METER, "BS", "Contour Next One"),
]
# centre slug → (serial prefix, devices of each type, who keeps the register)
DEVICE_REGISTERS = {
    "ovre-romerike": ("OR", 72, "sykepleier.ullensaker"),
    "agder": ("AG", 36, "sykepleier.agder"),
}
# name, diagnosis, device types: lent in one go at oppstart
DEMO_KITS = [
    ("KOLS", "kols", [DeviceType.PULSE_OXIMETER, DeviceType.TABLET]),
    ("Hjertesvikt", "hjertesvikt",
     [DeviceType.PULSE_OXIMETER, DeviceType.TABLET, DeviceType.SCALE, DeviceType.BLOOD_PRESSURE]),
    ("Diabetes", "diabetes", [DeviceType.GLUCOSE_METER, DeviceType.TABLET]),
]  # fmt: skip


def demo_serial(prefix: str, code: str, number: int) -> str:
    return f"{prefix}-{code}-{number:04d}"


def _seed_equipment(centres: dict, users: dict) -> None:
    """Each centre's register through the CSV import (only the serials not yet registered) and its kits."""
    for slug, (prefix, count, keeper) in DEVICE_REGISTERS.items():
        centre, user = centres[slug], users[keeper]
        registered = set(Device.objects.filter(centre=centre).values_list("serial", flat=True))
        lines = [
            f"{device_type},{model},{demo_serial(prefix, code, n)}"
            for device_type, code, model in DEVICE_STOCK
            for n in range(1, count + 1)
            if demo_serial(prefix, code, n) not in registered
        ]
        if lines:
            devices_import_csv(centre=centre, user=user, text="\n".join(["type,model,serial", *lines]))
        for name, diagnosis, types in DEMO_KITS:
            if not Kit.objects.filter(centre=centre, name=name).exists():
                kit_create(centre=centre, user=user, name=name, diagnosis=diagnosis, device_types=types)


def _lend_kit(patient: Patient, user, lent_on: datetime.date) -> list:
    """The patient's kit, each device the lowest serial of its type still on the shelf (the same on every
    machine; never a cleaned one: its last loan may end after a back-dated `lent_on`)."""
    kit = kit_for(patient, kit_name(patient.diagnoses))
    lendable = Device.objects.filter(centre=kit.centre, state=DeviceState.IN_STOCK)
    serials = [lendable.filter(type=t).order_by("serial").values_list("serial", flat=True).first()
               for t in kit.device_types]  # fmt: skip
    return devices_lend(patient=patient, user=user, serials=serials, kit=kit, lent_on=lent_on)


def _started_on(patient: Patient) -> datetime.date:
    return patient.status_changes.filter(event=StatusEvent.STARTED).order_by("effective_date").first().effective_date


def _seed_named_loans(users: dict) -> None:
    """The named patients' kits, lent by the nurse who started them on their start date. Oppstart is
    still the `started` row of `_seed_starts`; the loan is written by the equipment service beside it."""
    for named in NAMED_PATIENTS:
        patient = Patient.objects.select_related("municipality").get(name=named.name)
        if patient.device_loans.exists():
            continue
        nurse = users[STARTED_BY.get(patient.municipality.number, "sykepleier.ullensaker")]
        _lend_kit(patient, nurse, _started_on(patient))


# --- forløp: candidates in every stage before oppstart, a pause and an ending ---------------------

CRITERIA_YES = {code: {"answer": "yes", "comment": ""} for code in ASSESSMENT_CRITERIA}


@dataclass(frozen=True)
class Candidate:
    """A henvisning taken through the real services up to `stage` (received … appealed)."""

    municipality: str
    stage: str  # received | assessed | granted | consented | refused | appealed
    name: str
    birth: datetime.date  # day 29–31: the random patients are born on days 1–28, so no number is shared
    diagnoses: tuple[str, ...]
    referrer: str
    referrer_name: str
    reason: str
    received_days_ago: int
    what_matters: str = ""
    criteria: dict | None = None  # answers that are not «ja», {code: (answer, comment)}
    decision: str = ""  # the vedtak's begrunnelse
    appeal: str = ""
    representative: tuple[str, str] | None = None  # the samtykke given by (name, role)
    gp: str = ""
    next_of_kin: str = ""


CANDIDATES = [
    Candidate("3230", "received", "Berit Solheim", datetime.date(1948, 1, 29), ("kols",), "hospital",
              "Ahus, lungemedisinsk avdeling", "Utskrevet etter tredje KOLS-forverring i år; ønsker oppfølging hjemme.",
              2, gp="fastlege.berg"),
    Candidate("3230", "assessed", "Håkon Rustad", datetime.date(1951, 7, 31), ("hjertesvikt",), "gp",
              "Erik Berg", "Økende tungpust og ødemer; fastlegen ønsker tett oppfølging av vekt og blodtrykk.", 9,
              what_matters="Å kunne gå tur med hunden hver dag.",
              criteria={"coverage": ("unknown", "Sjekkes ved hjemmebesøket.")}, gp="fastlege.berg"),
    Candidate("3230", "granted", "Marit Engen", datetime.date(1944, 12, 29), ("kols", "hjertesvikt"), "homecare",
              "Hjemmetjenesten Gjerdrum", "Hyppige besøk for måling av metning og vekt; kan følges opp digitalt.", 20,
              what_matters="Å bo hjemme og slippe sykehuset.",
              decision="Oppfyller kriteriene for digital hjemmeoppfølging; forventet færre innleggelser.",
              gp="fastlege.berg"),
    Candidate("3230", "consented", "Torleif Kvam", datetime.date(1939, 3, 29), ("kols",), "next_of_kin",
              "Anne Kvam (datter)", "Datteren er bekymret for forverringer om natten; han bor alene.", 27,
              what_matters="Å være trygg hjemme om natten.",
              criteria={"consent_competent": ("yes", "Med datteren, som har fremtidsfullmakt.")},
              decision="Oppfyller kriteriene; datteren følger opp planen sammen med ham.",
              representative=("Anne Kvam", "datter, fremtidsfullmektig"), gp="fastlege.berg",
              next_of_kin="Anne Kvam, datter (fremtidsfullmektig), 900 01 010"),
    Candidate("3230", "refused", "Sølvi Brenden", datetime.date(1958, 5, 31), ("diabetes",), "self", "",
              "Ønsker hjelp til å følge med på blodsukkeret.", 30,
              criteria={"patient_benefit": ("no", "Blodsukkeret er stabilt og følges godt opp av fastlegen."),
                        "service_effect": ("no", "Bruker ingen kommunale tjenester i dag.")},
              decision="Kriteriene er ikke oppfylt: tilstanden er stabil og forventet nytte for pasienten og for "
                       "bruken av tjenester er liten. Fastlegen følger opp som før."),
    Candidate("3230", "appealed", "Per Ivar Lund", datetime.date(1955, 10, 31), ("kols",), "gp", "Erik Berg",
              "Alvorlig KOLS, to innleggelser i høst.", 35,
              criteria={"coverage": ("no", "Ingen mobildekning på gården."),
                        "technology": ("unknown", "Har ikke prøvd nettbrett.")},
              decision="Tjenesten kan ikke gis forsvarlig uten nettdekning hjemme; hjemmesykepleien følger opp.",
              appeal="Klage fra pasienten: har fått installert mobilt bredbånd og vil prøve nettbrettet.",
              gp="fastlege.berg"),
    Candidate("3238", "received", "Gunvor Rønning", datetime.date(1946, 8, 29), ("hjertesvikt",), "gp",
              "Ingrid Hansen", "Nyoppdaget hjertesvikt; trenger daglig vekt de første månedene.", 1,
              gp="fastlege.hansen"),
    Candidate("3238", "assessed", "Leif Moberg", datetime.date(1953, 1, 31), ("kols",), "hospital",
              "Ahus, lungemedisinsk avdeling", "Utskrevet etter KOLS-forverring med behov for tett oppfølging.", 8,
              what_matters="Å orke å være med på barnebarnas fotballkamper.", gp="fastlege.hansen"),
    Candidate("3238", "granted", "Inger Bratli", datetime.date(1949, 10, 29), ("kols",), "homecare",
              "Hjemmetjenesten Nannestad", "Daglige besøk kan erstattes av målinger hjemme.", 18,
              what_matters="Å slippe å vente på hjemmesykepleien om morgenen.",
              decision="Oppfyller kriteriene for digital hjemmeoppfølging.", gp="fastlege.hansen"),
    Candidate("3238", "consented", "Odd Skaug", datetime.date(1942, 5, 29), ("hjertesvikt",), "gp",
              "Ingrid Hansen", "Hjertesvikt NYHA III; vektøkning har gitt to innleggelser.", 24,
              what_matters="Å stelle hagen til sommeren.",
              decision="Oppfyller kriteriene; forventet færre innleggelser.", gp="fastlege.hansen"),
    Candidate("3238", "refused", "Randi Tveit", datetime.date(1961, 3, 31), ("kols",), "self", "",
              "Vil gjerne ha måleutstyr hjemme.", 28,
              criteria={"observable": ("no", "Lett KOLS uten forverringer; lite å følge med på."),
                        "patient_benefit": ("no", "")},
              decision="Kriteriene er ikke oppfylt: lett KOLS uten forverringer siste år; tilstanden trenger "
                       "ikke observeres på avstand nå. Ny henvisning kan sendes ved forverring."),
    Candidate("3238", "appealed", "Kåre Nyhus", datetime.date(1950, 12, 31), ("hjertesvikt",), "next_of_kin",
              "Solveig Nyhus (kone)", "Kona ønsker trygghet når hun er på jobb.", 33,
              criteria={"motivated": ("no", "Pasienten selv er usikker på om han vil.")},
              decision="Pasienten er ikke motivert for tjenesten nå; samtykke er en forutsetning.",
              appeal="Klage fra pasienten: har tenkt seg om og ønsker tjenesten likevel.", gp="fastlege.hansen"),
]  # fmt: skip
STAGE_ORDER = ("received", "assessed", "granted", "consented", "refused", "appealed")
KOORDINATOR = {"3230": "koordinator.gjerdrum", "3238": "koordinator.nannestad"}
CENTRE_NURSE = "sykepleier.ullensaker"  # registers the hospital's referrals and does the vurdering


def _criteria(given: dict | None) -> dict:
    answers = {code: dict(answer) for code, answer in CRITERIA_YES.items()}
    for code, (answer, comment) in (given or {}).items():
        answers[code] = {"answer": answer, "comment": comment}
    return answers


def _candidate_referral(candidate: Candidate, municipality, users: dict) -> Referral:
    today = timezone.localdate()
    registrar = users[CENTRE_NURSE if candidate.referrer == "hospital" else KOORDINATOR[candidate.municipality]]
    return referral_register(
        user=registrar, municipality=municipality, national_id=_synthetic_id(candidate.birth, set()),
        name=candidate.name, referrer=candidate.referrer, referrer_name=candidate.referrer_name,
        reason=candidate.reason, diagnoses=candidate.diagnoses, gp=users.get(candidate.gp),
        phone=demo_phone(CANDIDATES.index(candidate)), next_of_kin=candidate.next_of_kin,
        received_on=today - datetime.timedelta(days=candidate.received_days_ago),
    )  # fmt: skip


def _advance(referral: Referral, candidate: Candidate, users: dict) -> None:
    """The steps after the henvisning, up to the candidate's stage, each by the user who makes it."""
    stage = STAGE_ORDER.index(candidate.stage)
    if stage < 1:
        return
    koordinator, today = users[KOORDINATOR[candidate.municipality]], timezone.localdate()
    assessment_record(referral=referral, user=users[CENTRE_NURSE], criteria=_criteria(candidate.criteria),
                      what_matters=candidate.what_matters)  # fmt: skip
    if stage < 2:
        return
    granted = candidate.stage in ("granted", "consented")
    decision_record(
        referral=referral, user=koordinator, outcome="granted" if granted else "refused", reason=candidate.decision,
        period_to=today + datetime.timedelta(days=182) if granted else None,
        evaluation_date=today + datetime.timedelta(days=91) if granted else None,
    )  # fmt: skip
    referral.refresh_from_db()
    if granted:
        gp_permission_sync(referral.patient)  # the grant creates the record; its fastlege follows it
    if candidate.stage == "consented":
        name, role = candidate.representative or ("", "")
        consent_record(
            patient=referral.patient, user=koordinator, given_by="representative" if name else "patient",
            method="written", given_on=today, representative_name=name, representative_role=role,
        )  # fmt: skip
    if candidate.stage == "appealed":
        appeal_register(referral=referral, user=koordinator, received_on=today, note=candidate.appeal)


def _seed_candidates(municipalities: dict, users: dict) -> None:
    for candidate in CANDIDATES:
        municipality = municipalities[candidate.municipality]
        national_id_value = _synthetic_id(candidate.birth, set())
        if Referral.objects.filter(municipality=municipality, national_id=national_id_value).exists():
            continue
        _advance(_candidate_referral(candidate, municipality, users), candidate, users)


def _followed_patients(municipality) -> list[Patient]:
    """The municipality's random patients, longest in the service first (the same on every run)."""
    named = [n.name for n in NAMED_PATIENTS]
    starts = StatusChange.objects.filter(patient__municipality=municipality, event=StatusEvent.STARTED)
    ids = starts.exclude(patient__name__in=named).order_by("effective_date", "patient__national_id")
    return [Patient.objects.get(pk=pk) for pk in ids.values_list("patient_id", flat=True)[:2]]


def _seed_ending(patient: Patient, koordinator, nurse, *, clean: bool) -> None:
    """Six weeks of pause, back again, then avslutning five weeks ago; the kit is taken back the same
    day (and cleaned by the centre when `clean`)."""
    today, started = timezone.localdate(), _started_on(patient)
    loans = _lend_kit(patient, koordinator, started)
    paused = max(started + datetime.timedelta(days=1), today - datetime.timedelta(days=80))
    resumed = max(paused + datetime.timedelta(days=1), today - datetime.timedelta(days=66))
    ended = max(resumed + datetime.timedelta(days=1), today - datetime.timedelta(days=35))
    status_change_record(patient=patient, user=koordinator, event=StatusEvent.PAUSED, effective_date=paused,
                         until=resumed, note="Innlagt på Ahus med lungebetennelse.")  # fmt: skip
    status_change_record(patient=patient, user=koordinator, event=StatusEvent.RESUMED, effective_date=resumed)
    status_change_record(patient=patient, user=koordinator, event=StatusEvent.ENDED, effective_date=ended,
                         end_reason=EndReason.NO_BENEFIT,
                         note="Evaluert sammen med pasienten: stabil, ønsker å avslutte.")  # fmt: skip
    for loan in loans:
        device_return(device=loan.device, user=koordinator, returned_on=ended)
        if clean:
            device_clean(device=loan.device, user=nurse)


def _seed_pause(patient: Patient, koordinator) -> None:
    """A pause that runs now («pause til …» on the worklist), with the kit still out."""
    today = timezone.localdate()
    _lend_kit(patient, koordinator, _started_on(patient))
    since = max(_started_on(patient), today - datetime.timedelta(days=12))
    status_change_record(patient=patient, user=koordinator, event=StatusEvent.PAUSED, effective_date=since,
                         until=today + datetime.timedelta(days=16), note="Ferie hos datteren i Spania.")  # fmt: skip


def _seed_forlop(municipalities: dict, users: dict) -> None:
    """Gjerdrum and Nannestad: candidates in every stage before oppstart, one patient on pause and
    one ended in the last 90 days, all through the real services, by the demo logins."""
    _seed_candidates(municipalities, users)
    for number, username in KOORDINATOR.items():
        municipality = municipalities[number]
        if StatusChange.objects.filter(municipality=municipality, event=StatusEvent.PAUSED).exists():
            continue  # done on an earlier run
        ending, pausing = _followed_patients(municipality)
        _seed_ending(ending, users[username], users[CENTRE_NURSE], clean=number == "3230")
        _seed_pause(pausing, users[username])
    _seed_move(municipalities, users)


def _seed_move(municipalities: dict, users: dict) -> None:
    """A person followed up in Nannestad is granted in Gjerdrum (moving to her daughter): «Mulig
    flytting» waits on Nannestad's board and the centre's worklist, the two records apart until then."""
    if MoveNotice.objects.exists():
        return  # done on an earlier run
    named = [n.name for n in NAMED_PATIENTS]
    followed = Patient.objects.filter(municipality=municipalities["3238"], status="active").exclude(name__in=named)
    person = followed.order_by("national_id").first()
    koordinator, today = users[KOORDINATOR["3230"]], timezone.localdate()
    referral = referral_register(
        user=koordinator, municipality=municipalities["3230"], national_id=person.national_id, name=person.name,
        referrer="homecare", diagnoses=person.diagnoses, phone="900 00 000",
        reason="Flytter til datteren i Gjerdrum og ønsker å fortsette den digitale oppfølgingen.",
    )  # fmt: skip
    assessment_record(referral=referral, user=users[CENTRE_NURSE], criteria=_criteria(None))
    decision_record(referral=referral, user=koordinator, outcome="granted", reason="Oppfyller kriteriene.",
                    period_to=today + datetime.timedelta(days=182),
                    evaluation_date=today + datetime.timedelta(days=91))  # fmt: skip


# --- the tjenesteprismodell -----------------------------------------------------------------------

# The price model's reference case («Rune», KOLS): follow-up 1 212 kr and licence and equipment 896 kr per
# patient-month, the 896 kr split into licence 596 kr and a KOLS kit's pulsoksymeter 100 kr + nettbrett
# 200 kr per device-month. The host's fixed costs are shared 30 % equally and 70 % by population (the
# eKommune Sunnmøre key); Agder prices by the same structure with its own figures.
PRICE_MODELS = {
    "ovre-romerike": {
        "base_ore": 15_000_000, "base_key": "mixed", "base_equal_percent": 30, "follow_up_ore": 121_200,
        "paused_percent": 50,
        "licence_ore": 59_600, "start_fee_ore": 150_000, "note": "Samarbeidsavtale 2024",
        "equipment_ore": {"pulsoksymeter": 10_000, "nettbrett": 20_000, "blodtrykk": 15_000, "vekt": 15_000,
                       "termometer": 5_000, "blodsukker": 10_000},
    },
    "agder": {
        "base_ore": 8_000_000, "base_key": "population", "follow_up_ore": 110_000, "licence_ore": 55_000,
        "equipment_ore": {"pulsoksymeter": 9_000, "nettbrett": 18_000, "blodtrykk": 14_000, "vekt": 14_000},
        "note": "Avtale om regional TMS",
    },
}  # fmt: skip
CENTRE_ADMIN = {"ovre-romerike": "admin.ullensaker", "agder": "admin.agder"}
LOCKED_MONTHS = 3  # the three months before last month are locked; last month waits for finance


# Innbyggertall on 1 January (kommunenummer → 2025, 2026): APPROXIMATE figures, rounded near SSB's
# (table 07459) — a demo's, not the official statistics. 2025 is the register figure of MUNICIPALITIES.
POPULATIONS = {
    "3209": (42_500, 43_100),  # Ullensaker ≈ 42 000–43 000
    "3230": (7_400, 7_500),  # Gjerdrum ≈ 7 500
    "3238": (15_400, 15_600),  # Nannestad ≈ 15 000–15 600
    "3240": (27_000, 27_300),  # Eidsvoll ≈ 27 000
    "3242": (2_900, 2_900),  # Hurdal ≈ 2 900
    "3228": (24_500, 24_700),  # Nes ≈ 24 500
    "3207": (64_000, 64_500),  # Nordre Follo ≈ 62 000–64 500
    "4203": (46_000, 46_300),  # Arendal ≈ 46 000
    "4202": (24_800, 25_000),  # Grimstad ≈ 24 500–25 000
    "4214": (6_100, 6_200),  # Froland ≈ 6 100
}
# Each centre's nurse staffing in årsverk: (months ago the period began, årsverk), oldest first; each
# period ends the day before the next begins, the last is open.
STAFFING = {
    "ovre-romerike": [(12, "3.6"), (3, "4.6")],
    "agder": [(12, "2.8"), (6, "3.2")],
}


def _months_ago(today: datetime.date, months: int) -> datetime.date:
    month = Month.of(today)
    for _ in range(months):
        month = month.previous()
    return month.first


def _seed_reference(centres: dict, municipalities: dict, users: dict) -> None:
    """The innbyggertall for 2025 and 2026 and each centre's staffing history, by the centre's admin
    through tenants.reference (audited, as a person would set them)."""
    admin_of = {}
    for spec in CENTRES:
        for number in [spec["host"], *spec["followed_by_centre"], *spec["own_follow_up"]]:
            admin_of[number] = users[CENTRE_ADMIN[spec["slug"]]]
    for number, figures in POPULATIONS.items():
        for year, population in zip((2025, 2026), figures, strict=True):
            population_set(municipality=municipalities[number], year=year, population=population,
                           user=admin_of[number])  # fmt: skip
    today = timezone.localdate()
    for slug, periods in STAFFING.items():
        centre, admin = centres[slug], users[CENTRE_ADMIN[slug]]
        if centre.staffing.exists():
            continue  # seeded on an earlier run
        previous = None
        for months, fte in periods:
            start = _months_ago(today, months)
            if previous is not None:
                staffing_end(staffing=previous, valid_to=start - datetime.timedelta(days=1), user=admin)
            previous = staffing_save(centre=centre, valid_from=start, valid_to=None, nurse_fte=fte, user=admin,
                                     note="Demo").row  # fmt: skip


def _seed_billing(centres: dict, municipalities: dict, users: dict) -> None:
    """The reference data it reads (innbyggertall), each centre's price model from the agreements'
    start, and the months finance has already locked (by `okonomi.ullensaker`, through the service)."""
    _seed_reference(centres, municipalities, users)
    for slug, values in PRICE_MODELS.items():
        if not PriceModel.objects.filter(centre=centres[slug]).exists():
            price_model_save(centre=centres[slug], user=users[CENTRE_ADMIN[slug]], valid_from=AGREEMENTS_FROM,
                             values=values)  # fmt: skip
    view = finance_view_for(users["okonomi.ullensaker"])
    month = Month.of(timezone.localdate()).previous()
    for _ in range(LOCKED_MONTHS):
        month = month.previous()
        if not LockedMonth.objects.filter(centre=view.centre, month=month.first).exists():
            month_lock(view=view, month=month, user=users["okonomi.ullensaker"])


# --- the gevinst: service use at the null-punkt and after 6 months, survey answers, a comparison group ---

# Who registers each kommune's gevinst: its koordinator, or the nurses who follow its patients up (the
# kommuner not named here: the Øvre Romerike centre's nurse).
GEVINST_BY = {"3230": "koordinator.gjerdrum", "3238": "koordinator.nannestad", "3207": "sykepleier.nordrefollo",
              "4202": "sykepleier.agder"}  # fmt: skip
# Besides the named, those whose forløp has run six months: Ullensaker's thirteen show their figures, Eidsvoll's
# and Nes's besides them; Gjerdrum and Nannestad have two each, which the report hides (fewer than 5).
GEVINST_PER_KOMMUNE = {"3209": 12, "3230": 6, "3238": 6, "3240": 6, "3228": 6}
# The brukerundersøkelse: twelve answers in Ullensaker, each option five or more, or none, so the report
# shows the distributions (tests/dho/test_demo.py).
SURVEY_MIX = {
    "3209": [{"safer": "yes", "health": "better" if i < 7 else "same", "joy": "more" if i % 2 else "same",
              "understanding": "yes", "fewer_gp_visits": "yes" if i < 7 else "unknown",
              "fewer_admissions": "yes" if i < 6 else "no"} for i in range(12)],
}  # fmt: skip
SURVEY_COMMENTS = ["Trygt å vite at noen følger med.", "Slipper å ringe legevakten så ofte.", ""]


def _gevinst_values(rng: random.Random, *, before: bool) -> dict:
    """A month's service use from a plausible EPJ extract: more home nursing and more admissions before."""
    hours = rng.randint(4, 14) if before else rng.randint(1, 8)
    return {"home_nursing_hours_per_week": f"{hours},{rng.choice((0, 5))}",
            "practical_help_hours_per_week": str(rng.randint(0, 3)),
            "short_stay_days": rng.randint(0, 10) if before else rng.randint(0, 3),
            "emergency_contacts": rng.randint(0, 4) if before else rng.randint(0, 2),
            "hospital_admissions": rng.randint(0, 2) if before else rng.randint(0, 1),
            "bed_days": rng.randint(0, 9) if before else rng.randint(0, 3),
            "gp_consultations": rng.randint(1, 4)}  # fmt: skip


def _gevinst_patients(municipalities: dict) -> list[Patient]:
    """The named patients and, per kommune of GEVINST_PER_KOMMUNE, the first by name whose forløp has
    run at least six months (the null-punkt and the 6 months both due)."""
    today = timezone.localdate()
    named = [n.name for n in NAMED_PATIENTS]
    chosen = list(Patient.objects.filter(name__in=named).order_by("name"))
    for number, wanted in GEVINST_PER_KOMMUNE.items():
        # Not the year's new patients (dho/demo_history.py, with an oppstart row): their null-punkt is due.
        candidates = list(Patient.objects.filter(municipality=municipalities[number], status="active",
                                                 starts__isnull=True)
                          .exclude(name__in=named).order_by("name", "national_id"))  # fmt: skip
        forlops = forlops_of([p.pk for p in candidates])
        ready = [p for p in candidates if p.pk in forlops and add_months(forlops[p.pk].started_on, 6) <= today]
        chosen += ready[:wanted]
    return chosen


def _at_ten(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))


def _gevinst_register(patient: Patient, user, started: datetime.date, clock, rng: random.Random, survey) -> None:
    """The null-punkt registered in the first week of the forløp, the 6 months in the week after they
    ran out (or today), and a survey answer from paper on the day it was answered: each on the clock."""
    today, day = timezone.localdate(), datetime.timedelta(days=1)
    clock.at(_at_ten(started + datetime.timedelta(days=rng.randint(1, 6))))
    service_use_register(patient=patient, user=user, kind="baseline", period_from=add_months(started, -6),
                         period_to=started - day, values=_gevinst_values(rng, before=True))  # fmt: skip
    six = min(add_months(started, 6) - day, today)
    clock.at(_at_ten(six + datetime.timedelta(days=rng.randint(1, 6))))
    service_use_register(patient=patient, user=user, kind="month_6", period_from=started, period_to=six,
                         values=_gevinst_values(rng, before=False))  # fmt: skip
    if survey:
        answered = today - datetime.timedelta(days=rng.randint(1, 20))
        clock.at(_at_ten(answered))
        survey_register(patient=patient, user=user, answered_on=answered, answers=survey.pop(),
                        comment=rng.choice(SURVEY_COMMENTS))  # fmt: skip


def _seed_gevinst(municipalities: dict, users: dict) -> None:
    """A null-punkt and a 6-month registration of service use for the named patients and enough others
    that the gevinstrapport shows its figures (insight.gevinst.services, as the kommune's koordinator or
    nurse), survey answers from paper, and Ullensaker's comparison group. Once: a second run finds them."""
    if ServiceUse.objects.exists() or SurveyAnswer.objects.exists() or ComparisonServiceUse.objects.exists():
        return
    rng = random.Random(2029)  # noqa: S311 – fixed seed
    today = timezone.localdate()
    patients = _gevinst_patients(municipalities)
    forlops = forlops_of([p.pk for p in patients])
    surveys = {number: list(mix) for number, mix in SURVEY_MIX.items()}
    with demo_clock() as clock:
        for patient in patients:
            number = patient.municipality.number
            user, forlop = users[GEVINST_BY.get(number, CENTRE_NURSE)], forlops.get(patient.pk)
            if forlop is not None:
                _gevinst_register(patient, user, forlop.started_on, clock, rng, surveys.get(number))
    # Ullensaker's comparison group: six people not followed up, the half-year before and the half-year since.
    half_year_ago, nurse, ullensaker = add_months(today, -6), users[CENTRE_NURSE], municipalities["3209"]
    periods = {"baseline": (add_months(half_year_ago, -6), half_year_ago - datetime.timedelta(days=1)),
               "month_6": (half_year_ago, today - datetime.timedelta(days=1))}  # fmt: skip
    for index in range(1, 7):
        for kind, (first, last) in periods.items():
            comparison_register(
                municipality=ullensaker,
                user=nurse,
                code=f"S-{index:02d}",
                kind=kind,
                period_from=first,
                period_to=last,
                values=_gevinst_values(rng, before=True),
            )


# --- the journal routes: the demo kommuner's notes go to the JFT stand-in ---------------------------

# What `make run` gives every process when it started the stand-ins (dho.embedded.standins_start,
# dho/dev/standins.py `StandinEnv.environ`): the journaling service's address and the demo HelseID
# client with where its key is.
ROUTE_SETTINGS = ("DHO_JFT_BASE_URL", "DHO_HELSEID_CLIENT_ID", "DHO_HELSEID_KEY_FILE")


def journal_route_values(number: str, environ=os.environ) -> dict[str, str] | None:
    """The route of a demo kommune to the JFT stand-in, from the environment `make run` gives; None
    without it (`seed_demo` in the test suite, or beside a `make run` from another terminal)."""
    if not all(environ.get(name) for name in ROUTE_SETTINGS):
        return None
    return {
        "kind": RouteKind.JFT,
        "orgnr": DEMO_ORGNR[number],
        "base_url": environ["DHO_JFT_BASE_URL"],
        "client_id": environ["DHO_HELSEID_CLIENT_ID"],
        # Where the key is, never the key: the launcher writes a new one there on every start.
        "key_reference": str(os.path.abspath(environ["DHO_HELSEID_KEY_FILE"])),
        "scope": environ.get("DHO_HELSEID_SCOPE") or JFT_SCOPE,
    }


def _seed_journal_routes(municipalities: dict, users: dict) -> None:
    """Every demo kommune's notes to the JFT stand-in, set by its centre's admin through the service
    (journaling.services.route_save, audited), when `make run` started the stand-ins. A route already
    as wanted is left alone, so a second run writes nothing; a new address (the stand-in's port is
    new on every start) is saved again, and the notes sent before the restart are followed at it
    (the stand-in keeps its events: journaling.services.status_urls_move). Without the stand-ins'
    settings, no route is written or changed."""
    if not all(os.environ.get(name) for name in ROUTE_SETTINGS):
        return
    for spec in CENTRES:
        admin = users[CENTRE_ADMIN[spec["slug"]]]
        for number in [spec["host"], *spec["followed_by_centre"], *spec["own_follow_up"]]:
            wanted = journal_route_values(number)
            assert wanted is not None  # the settings are there (above)
            route = Route.objects.filter(municipality=municipalities[number]).first()
            if route is not None and all(getattr(route, name) == value for name, value in wanted.items()):
                continue
            route_save(municipality=municipalities[number], user=admin, **wanted)
            if route is not None:
                status_urls_move(municipality_id=route.municipality_id, old_base=route.base_url,
                                 new_base=wanted["base_url"])  # fmt: skip


@dataclass
class DemoSummary:
    municipalities: int
    centres: int
    users: int
    patients: int


@functools.cache
def _demo_password_hash() -> str:
    # Hashed once for all demo logins: each hash takes the password hasher's full work (~0.5 s), and the
    # demo's password is the same, and public, for every login.
    return make_password(DEMO_PASSWORD)


def _user(username: str, first: str, last: str, *, staff: bool = False, login: bool = True):
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"first_name": first, "last_name": last, "is_staff": staff}
    )
    if created:
        if login:
            user.password = _demo_password_hash()
        else:
            user.set_unusable_password()
        user.save()
    return user


def _membership(user, role: str, where: str, centres: dict, municipalities: dict) -> None:
    target = {"centre": centres[where]} if where in centres else {"municipality": municipalities[where]}
    membership, _ = Membership.objects.get_or_create(user=user, role=role, **target)
    hpr = GP_HPR.get(user.username, "") if role == Role.GP else ""
    if membership.hpr_number != hpr:
        membership.hpr_number = hpr
        membership.save()


def _seed_person_bindings(users: dict) -> None:
    """The demo users bound to the persons the HelseID stand-in offers (dho/demo_persons.py), as a
    centre admin binds them (tenants/persons.py): «Logg inn med HelseID» works for them, the level-3
    person is refused for the level, the one without a username for being unknown."""
    for pid, hpr, _level, _name, username, _what in PERSONS:
        if not username:
            continue
        PersonBinding.objects.update_or_create(
            user=users[username],
            defaults={"pid_digest": persons.pid_digest(pid), "hpr_number": hpr, "bound_by": "seed_demo"},
        )


def _synthetic_id(birth: datetime.date, taken: set[str]) -> str:
    first = 100 if birth.year < 2000 else 500
    for individual in range(first, first + 400):
        value = national_id.synthetic(birth, individual)
        if value and value not in taken:
            taken.add(value)
            return value
    raise RuntimeError(f"no free synthetic number for {birth}")


def _patient_quota() -> dict[str, int]:
    """About TOTAL_PATIENTS in all, spread by population (at least two per municipality)."""
    total_population = sum(pop for _, _, pop in MUNICIPALITIES)
    remaining = TOTAL_PATIENTS - len(NAMED_PATIENTS)
    return {number: max(2, round(remaining * pop / total_population)) for number, _, pop in MUNICIPALITIES}


def _ensure_patient(*, municipality, name, national_id_value, gp, diagnoses) -> Patient:
    """The patient with this number, created (and validated) by the service on the first run only."""
    patient = Patient.objects.filter(national_id=national_id_value).first()
    if patient is None:
        patient = patient_create(
            municipality=municipality, name=name, national_id=national_id_value, gp=gp, diagnoses=diagnoses
        )
    gp_permission_sync(patient)
    return patient


# Who starts each municipality's patients in the demo: the nurses who follow them up.
STARTED_BY = {"3207": "sykepleier.nordrefollo", "4203": "sykepleier.agder", "4202": "sykepleier.agder",
              "4214": "sykepleier.agder"}  # fmt: skip
NAMED_STARTED_DAYS_AGO = 183  # six months of history for the named patients: billing has past months


def _seed_starts(users: dict) -> None:
    """A start row for every patient without a history: the named six months back, the others spread
    over the last year (fixed seed), so the status history and billing have months to read."""
    rng = random.Random(2027)  # noqa: S311 – fixed seed
    named = {n.name for n in NAMED_PATIENTS}
    today = timezone.localdate()
    for patient in Patient.objects.filter(status_changes__isnull=True).select_related("municipality").order_by("name"):
        days = NAMED_STARTED_DAYS_AGO if patient.name in named else rng.randint(30, 365)
        nurse = users[STARTED_BY.get(patient.municipality.number, "sykepleier.ullensaker")]
        status_change_record(
            patient=patient, user=nurse, event="started", effective_date=today - datetime.timedelta(days=days),
            note="Demo",
        )  # fmt: skip


def _seed_patients(municipalities: dict, gps: dict) -> None:
    rng = random.Random(2026)  # noqa: S311 – fixed seed: the same names, ids and fastleger on every run
    taken: set[str] = set()
    for named in NAMED_PATIENTS:
        _ensure_patient(
            municipality=municipalities[named.municipality],
            name=named.name,
            national_id_value=_synthetic_id(named.birth, taken),
            gp=gps[named.gp],
            diagnoses=named.diagnoses,
        )
    gp_by_county = {"3": ["fastlege.berg", "fastlege.hansen", "fastlege.olsen"], "4": ["fastlege.johansen"]}
    for number, quota in _patient_quota().items():
        for _ in range(quota):
            birth = datetime.date(rng.randint(1930, 1975), rng.randint(1, 12), rng.randint(1, 28))
            _ensure_patient(
                municipality=municipalities[number],
                name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                national_id_value=_synthetic_id(birth, taken),
                gp=gps[rng.choice(gp_by_county[number[0]])],
                diagnoses=rng.choice(DIAGNOSIS_MIX),
            )


NEXT_OF_KIN = ["datter", "sønn", "ektefelle", "samboer", "bror", "søster", "nabo"]


def _seed_call_sheet(users: dict) -> None:
    """Every patient a phone and most of them a pårørende (the patient page's call sheet), in a fixed
    order; a Gjerdrum patient without a fastlege (flagged on the board and the follow-up page) and
    one whose plan waits for the fastlege («utkast hos fastlegen»)."""
    rng = random.Random(2028)  # noqa: S311 – fixed seed
    for number, patient in enumerate(Patient.objects.order_by("national_id"), start=100):
        relation, first = rng.choice(NEXT_OF_KIN), rng.choice(FIRST_NAMES)
        kin = f"{first} {patient.name.split()[-1]}, {relation}, {demo_phone(number + 5000)}" if number % 4 else ""
        if not patient.phone:
            patient.phone, patient.next_of_kin = demo_phone(number), patient.next_of_kin or kin
            patient.save(update_fields=["phone", "next_of_kin"])
    named = [n.name for n in NAMED_PATIENTS]
    gjerdrum = list(
        Patient.objects.filter(municipality__number="3230", status="active", plan__isnull=True)
        .exclude(name__in=named)
        .order_by("national_id")[:2]
    )
    if len(gjerdrum) < 2:
        return  # done on an earlier run
    without_gp, at_gp = gjerdrum
    without_gp.gp = None
    without_gp.save(update_fields=["gp"])  # the permission goes with it (patients.signals)
    nurse = users[CENTRE_NURSE]
    template = next((d for d in at_gp.diagnoses if d in TEMPLATES), next(iter(TEMPLATES)))
    draft = ebp.draft_start(patient=at_gp, user=nurse, template=template)
    ebp.draft_submit(version=draft, user=nurse)


@transaction.atomic
def seed_demo() -> DemoSummary:
    municipalities = {}
    for number, name, population in MUNICIPALITIES:
        municipalities[number], _ = Municipality.objects.update_or_create(
            number=number, defaults={"name": name, "population": population}
        )
    centres = {}
    for spec in CENTRES:
        centre, _ = Centre.objects.update_or_create(
            slug=spec["slug"], defaults={"name": spec["name"], "host": municipalities[spec["host"]]}
        )
        centres[spec["slug"]] = centre
        for number, follow_up_by in [(n, FollowUpBy.CENTRE) for n in spec["followed_by_centre"]] + [
            (n, FollowUpBy.MUNICIPALITY) for n in spec["own_follow_up"]
        ]:
            if not Agreement.objects.filter(centre=centre, municipality=municipalities[number]).exists():
                agreement = Agreement(centre=centre, municipality=municipalities[number], follow_up_by=follow_up_by,
                                      valid_from=AGREEMENTS_FROM)  # fmt: skip
                agreement_save(agreement=agreement)  # the one rule: no other centre's kommune
    users = {}
    for username, first, last, role, where, staff in LOGINS:
        users[username] = _user(username, first, last, staff=staff)
        _membership(users[username], role, where, centres, municipalities)
    for username, first, last, where in OTHER_GPS:
        users[username] = _user(username, first, last, login=False)
        _membership(users[username], Role.GP, where, centres, municipalities)
    for username, where in GP_ALSO_IN:
        _membership(users[username], Role.GP, where, centres, municipalities)
    _seed_person_bindings(users)
    # The patient data goes through the database's wall like any task's: every municipality, named.
    with system_scope("seed_demo"):
        return _seed_patient_data(municipalities, centres, users)


def _seed_patient_data(municipalities: dict, centres: dict, users: dict) -> DemoSummary:
    _seed_patients(municipalities, users)
    _seed_starts(users)
    _seed_equipment(centres, users)
    _seed_named_loans(users)
    for centre in centres.values():
        ebp.centre_defaults_ensure(centre)
    _seed_plans(users)
    _seed_pending_review(users)
    _seed_readings(centres)
    _seed_forlop(municipalities, users)
    _seed_call_sheet(users)
    seed_history(municipalities, centres, users)
    _seed_billing(centres, municipalities, users)
    _seed_journal_routes(municipalities, users)
    _seed_gevinst(municipalities, users)
    return DemoSummary(
        municipalities=len(municipalities),
        centres=len(centres),
        users=len(users),
        patients=Patient.objects.filter(municipality__in=municipalities.values()).count(),
    )
