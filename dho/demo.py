"""The demo world that `make run` loads (`manage.py seed_demo`): two centres, their partner
municipalities, about 200 synthetic patients, one login per role. Deterministic and idempotent:
every row is found by a natural key before it is created, and the random choices come from a fixed
seed, so a second run neither fails nor duplicates anything.

All national ids are synthetic (month + 80): they can never belong to a real person.
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from ebp import services as ebp
from ebp.defaults import TEMPLATES
from ebp.models import PlanVersion
from measurements.types import spec as type_spec
from patients import national_id
from patients.models import Patient
from patients.services import gp_permission_sync, patient_create, status_change_record
from tenants.models import Agreement, Centre, FollowUpBy, Membership, Municipality, Role

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

# username, first name, last name, role, centre slug or kommunenummer, staff
LOGINS = [
    ("sykepleier.ullensaker", "Sigrid", "Dahl", Role.NURSE, "ovre-romerike", False),
    ("sykepleier.nordrefollo", "Nora", "Lunde", Role.NURSE, "3207", False),
    ("sykepleier.agder", "Anders", "Moen", Role.NURSE, "agder", False),
    ("koordinator.gjerdrum", "Kari", "Holm", Role.COORDINATOR, "3230", False),
    ("koordinator.nannestad", "Knut", "Vik", Role.COORDINATOR, "3238", False),
    ("fastlege.berg", "Erik", "Berg", Role.GP, "3209", False),
    ("okonomi.ullensaker", "Ola", "Økland", Role.FINANCE, "ovre-romerike", False),
    ("admin.ullensaker", "Anne", "Aas", Role.ADMIN, "ovre-romerike", True),
]

# Fastleger without a demo login: the other patients need a fastlege too.
OTHER_GPS = [
    ("fastlege.hansen", "Ingrid", "Hansen", "3238"),
    ("fastlege.olsen", "Per", "Olsen", "3207"),
    ("fastlege.johansen", "Marit", "Johansen", "4203"),
]


@dataclass(frozen=True)
class NamedPatient:
    """The patients of the seed documents' cases, each in a documented municipality."""

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
FIRST_NAMES = [
    "Arne", "Astrid", "Bjørg", "Bjørn", "Dagny", "Einar", "Elin", "Finn", "Gerd", "Gunnar", "Hilde", "Ivar",
    "Jorunn", "Kjell", "Liv", "Magne", "Nils", "Oddny", "Ragnhild", "Sverre", "Solveig", "Terje", "Turid",
    "Wenche",
]  # fmt: skip
LAST_NAMES = [
    "Andersen", "Berge", "Eriksen", "Fjeld", "Haugland", "Iversen", "Jakobsen", "Karlsen", "Larsen",
    "Myhre", "Nygård", "Pedersen", "Rød", "Sandvik", "Solberg", "Tangen", "Ødegård", "Aasen",
]  # fmt: skip
DIAGNOSIS_MIX = [
    ("kols",),
    ("kols",),
    ("hjertesvikt",),
    ("kols", "hjertesvikt"),
    ("diabetes",),
    ("diabetes", "hjertesvikt"),
]


# The named patients' approved plans (issue 3): a KOLS or heart-failure template with their own bounds.
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
            for day, value in enumerate(values):
                at = now - datetime.timedelta(days=len(values) - 1 - day, hours=2)
                items.append(
                    {
                        "external_id": f"demo-{patient.national_id[-5:]}-{mtype}-{day}",
                        "patient_id": str(patient.pk),
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


@dataclass
class DemoSummary:
    municipalities: int
    centres: int
    users: int
    patients: int


def _user(username: str, first: str, last: str, *, staff: bool = False, login: bool = True):
    user, created = get_user_model().objects.get_or_create(
        username=username, defaults={"first_name": first, "last_name": last, "is_staff": staff}
    )
    if created:
        if login:
            user.set_password(DEMO_PASSWORD)
        else:
            user.set_unusable_password()
        user.save()
    return user


def _membership(user, role: str, where: str, centres: dict, municipalities: dict) -> None:
    target = {"centre": centres[where]} if where in centres else {"municipality": municipalities[where]}
    Membership.objects.get_or_create(user=user, role=role, **target)


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
            Agreement.objects.get_or_create(
                centre=centre,
                municipality=municipalities[number],
                defaults={"follow_up_by": follow_up_by, "valid_from": AGREEMENTS_FROM},
            )
    users = {}
    for username, first, last, role, where, staff in LOGINS:
        users[username] = _user(username, first, last, staff=staff)
        _membership(users[username], role, where, centres, municipalities)
    for username, first, last, where in OTHER_GPS:
        users[username] = _user(username, first, last, login=False)
        _membership(users[username], Role.GP, where, centres, municipalities)
    _seed_patients(municipalities, users)
    _seed_starts(users)
    for centre in centres.values():
        ebp.centre_defaults_ensure(centre)
    _seed_plans(users)
    _seed_pending_review(users)
    _seed_readings(centres)
    return DemoSummary(
        municipalities=len(municipalities),
        centres=len(centres),
        users=len(users),
        patients=Patient.objects.filter(municipality__in=municipalities.values()).count(),
    )
