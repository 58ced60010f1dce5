"""The demo's year of history, so that Innsikt (docs/insight.md) has a story to tell: inclusion that
grows month by month, readings and the alerts they raise, taken and handled by the nurses at the
times they were, and one kommune whose plans' weight rule gives its nurses far more alerts than the
others. Everything through the real services, each step at its moment on the demo's clock
(dho/demo_clock.py); `seed_demo` runs it once (a second run finds the oppstart rows).

The year's henvisninger (HISTORY_REFERRALS a month, the oldest month first) go through vurdering,
vedtak (some refused, two of those with a klage that is decided), samtykke and oppstart with the kit
lent, an approved plan, daily readings by the plan's schedule (a patient forgets one day in eight),
and for some an avslutning with its reason and the kit back and cleaned. The readings are ingested
in fortnightly batches and those the scoring leaves green scored with their batch; each that deviates
is scored at its arrival, so its alert opens then, and the kommune's nurse takes and handles it in the centre's
opening hours (a red within minutes, a yellow within hours, what came in after closing the next
morning; one call in six is «ikke nådd, nytt forsøk»). Eidsvoll's plans weigh against «1 kg på 2
døgn» instead of the template's «2 kg på 3 døgn»: its nurses get the highest alarm burden.
"""

from __future__ import annotations

import datetime
import heapq
import random
from dataclasses import dataclass, field

from django.utils import timezone

from dho.demo_clock import DemoClock, demo_clock
from dho.demo_names import FIRST_NAMES, LAST_NAMES, demo_phone, kit_name
from ebp import services as ebp
from ebp.content import parse_content
from ebp.defaults import TEMPLATES
from measurements.models import Integration
from measurements.services import readings_ingest
from measurements.types import spec as type_spec
from patients import national_id as national_ids
from patients.models import ASSESSMENT_CRITERIA, EndReason, Patient, Referral, Start
from patients.services import (
    appeal_decide,
    appeal_register,
    assessment_record,
    consent_record,
    decision_record,
    device_clean,
    gp_permission_sync,
    patient_end,
    patient_start,
    referral_register,
)
from tenants.selectors import centre_of
from triage.models import Alert, AlertStatus, ContactAction
from triage.opening_hours import OSLO, OpeningHours
from triage.scoring import ReadingValue, score
from triage.services import alert_handle, alert_take, readings_score

DAY = datetime.timedelta(days=1)
# Henvisninger received each month of the year, the oldest month first: the service grows.
HISTORY_REFERRALS = [2, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 6]
# Where they come from (kommunenummer, henvisninger in the year), in an order the seed shuffles:
# Eidsvoll among the most, so that its figures clear the small-cell rule (five people) on Innsikt.
HISTORY_KOMMUNER = [("3209", 8), ("3240", 10), ("3228", 3), ("3230", 3), ("3238", 3), ("3242", 2), ("3207", 4),
                    ("4203", 3), ("4202", 2), ("4214", 2)]  # fmt: skip
HIGH_BURDEN = "3240"  # Eidsvoll: its plans' weight rule is the tight one
TIGHT_WEIGHT_RULE = {"kind": "weight_gain", "kg": 1, "days": 2, "colour": "yellow"}
FIRST_DAY_AGO, LAST_DAY_AGO = 365, 30  # the henvisninger's window (days before the load date)
READINGS_UNTIL_AGO = 2  # the last readings of the year: the day before yesterday
BATCH_DAYS = 14  # the readings of a fortnight in one ingest call
REFUSED_SHARE = 0.15
ENDED_SHARE = 0.25  # of those started more than three months before the load date
KLAGER = 2
PHONES_FROM = 8000  # the new patients' phones: demo_phone(8000 …), apart from the others' block

# Who does what in each kommune (the demo logins): nurse, koordinator (or the nurse), fastlege
NURSE = {"3207": "sykepleier.nordrefollo", "4203": "sykepleier.agder", "4202": "sykepleier.agder",
         "4214": "sykepleier.agder"}  # fmt: skip
CENTRE_NURSE = "sykepleier.ullensaker"
KOORDINATOR = {"3230": "koordinator.gjerdrum", "3238": "koordinator.nannestad"}
FASTLEGE = {"3238": "fastlege.hansen", "3207": "fastlege.olsen", "4203": "fastlege.johansen",
            "4202": "fastlege.johansen", "4214": "fastlege.johansen"}  # fmt: skip
FASTLEGE_OFFERED = {"3209", "3230", "3238", "3207", "4203"}  # where the fastlege has a membership

DIAGNOSES = [("kols",), ("kols",), ("hjertesvikt",), ("kols", "hjertesvikt"), ("diabetes",)]
HEART = [("hjertesvikt",), ("hjertesvikt",), ("kols", "hjertesvikt")]
REFERRERS = [("hospital", "Ahus, medisinsk avdeling"), ("gp", "Fastlegen"), ("homecare", "Hjemmetjenesten"),
             ("next_of_kin", "Pårørende")]  # fmt: skip
REASONS = {"kols": "KOLS med gjentatte forverringer; ønsker oppfølging hjemme.",
           "hjertesvikt": "Hjertesvikt med vektøkning og innleggelser; trenger daglig vekt.",
           "diabetes": "Ustabilt blodsukker; trenger tettere oppfølging."}  # fmt: skip
REFUSALS = ["Kriteriene er ikke oppfylt: tilstanden er stabil, og fastlegen følger opp som før.",
            "Kriteriene er ikke oppfylt: pasienten ønsker ikke å bruke nettbrett nå."]  # fmt: skip
ENDINGS = [(EndReason.NO_BENEFIT, "Stabil over tid; avsluttet etter evaluering."),
           (EndReason.TOO_ILL, "Innlagt lenge; oppfølgingen avsluttes."),
           (EndReason.DECEASED, "Pasienten døde."),
           (EndReason.WITHDREW, "Ønsker ikke lenger oppfølging."),
           (EndReason.TRANSFERRED, "Overført til hjemmesykepleien.")]  # fmt: skip


def _moment(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=OSLO)


@dataclass
class Course:
    """One henvisning of the year and the days of its steps (None: it never got there)."""

    index: int
    number: str
    name: str
    national_id: str
    diagnoses: tuple[str, ...]
    referrer: tuple[str, str]
    received: datetime.date
    assessed: datetime.date
    decided: datetime.date
    refused: bool
    consented: datetime.date | None = None
    started: datetime.date | None = None
    ended: datetime.date | None = None
    ending: tuple[str, str] | None = None
    patient: Patient | None = None
    referral: Referral | None = None


def _courses(rng: random.Random, taken: set[str]) -> list[Course]:
    today = timezone.localdate()
    numbers = [n for n, count in HISTORY_KOMMUNER for _ in range(count)]
    assert len(numbers) == sum(HISTORY_REFERRALS)
    rng.shuffle(numbers)
    span = (FIRST_DAY_AGO - LAST_DAY_AGO) / len(HISTORY_REFERRALS)
    courses = []
    for month, count in enumerate(HISTORY_REFERRALS):
        for _ in range(count):
            number = numbers[len(courses)]
            received = today - datetime.timedelta(days=FIRST_DAY_AGO - int(month * span + rng.random() * span))
            assessed = received + datetime.timedelta(days=rng.randint(1, 5))
            decided = assessed + datetime.timedelta(days=rng.randint(2, 7))
            birth = datetime.date(rng.randint(1932, 1965), rng.randint(1, 12), rng.randint(1, 28))
            course = Course(
                index=len(courses), number=number, name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                national_id=_free_id(birth, taken), referrer=rng.choice(REFERRERS),
                diagnoses=rng.choice(HEART if number == HIGH_BURDEN else DIAGNOSES), received=received,
                assessed=assessed, decided=decided, refused=rng.random() < REFUSED_SHARE,
            )  # fmt: skip
            if not course.refused:
                course.consented = decided + datetime.timedelta(days=rng.randint(1, 5))
                course.started = course.consented + datetime.timedelta(days=rng.randint(2, 8))
                if course.started < today - datetime.timedelta(days=90) and rng.random() < ENDED_SHARE:
                    days = rng.randint(60, max(61, (today - course.started).days - 10))
                    course.ended = course.started + datetime.timedelta(days=days)
                    course.ending = rng.choice(ENDINGS)
            courses.append(course)
    return courses


def _free_id(birth: datetime.date, taken: set[str]) -> str:
    for individual in range(100, 500):
        value = national_ids.synthetic(birth, individual)
        if value and value not in taken:
            taken.add(value)
            return value
    raise RuntimeError(f"no free synthetic number for {birth}")


# --- the forløp: henvisning → vurdering → vedtak → samtykke → oppstart, avslutning -----------------


def _nurse(users: dict, number: str):
    return users[NURSE.get(number, CENTRE_NURSE)]


def _koordinator(users: dict, number: str):
    return users[KOORDINATOR[number]] if number in KOORDINATOR else _nurse(users, number)


def _referral(course: Course, clock: DemoClock, municipalities: dict, users: dict, rng: random.Random) -> None:
    number, nurse, koordinator = course.number, _nurse(users, course.number), _koordinator(users, course.number)
    gp = users[FASTLEGE.get(number, "fastlege.berg")]
    clock.at(_moment(course.received, 9, rng.randint(0, 59)))
    registrar = nurse if course.referrer[0] == "hospital" else koordinator
    course.referral = referral_register(
        user=registrar, municipality=municipalities[number], national_id=course.national_id, name=course.name,
        referrer=course.referrer[0], referrer_name=course.referrer[1], reason=REASONS[course.diagnoses[-1]],
        diagnoses=course.diagnoses, gp=gp, gp_outside_offered=number not in FASTLEGE_OFFERED,
        phone=demo_phone(PHONES_FROM + course.index), received_on=course.received,
    )  # fmt: skip
    clock.at(_moment(course.assessed, 11, rng.randint(0, 59)))
    criteria = {code: {"answer": "yes", "comment": ""} for code in ASSESSMENT_CRITERIA}
    if course.refused:
        criteria["patient_benefit"] = {"answer": "no", "comment": "Liten forventet nytte nå."}
    assessment_record(referral=course.referral, user=nurse, criteria=criteria,
                      what_matters="Å klare seg hjemme.")  # fmt: skip
    clock.at(_moment(course.decided, 13, rng.randint(0, 59)))
    decision_record(
        referral=course.referral, user=koordinator, outcome="refused" if course.refused else "granted",
        reason=rng.choice(REFUSALS) if course.refused else "Oppfyller kriteriene for digital hjemmeoppfølging.",
        period_to=None if course.refused else course.decided + datetime.timedelta(days=182),
        evaluation_date=None if course.refused else course.decided + datetime.timedelta(days=91),
    )  # fmt: skip
    course.referral.refresh_from_db()
    if course.refused:
        return
    course.patient = course.referral.patient
    gp_permission_sync(course.patient)  # the grant creates the record; its fastlege follows it
    clock.at(_moment(course.consented, 10, rng.randint(0, 59)))
    consent_record(patient=course.patient, user=koordinator, given_by="patient", method="written",
                   given_on=course.consented)  # fmt: skip


def _klage(course: Course, clock: DemoClock, users: dict, rng: random.Random) -> None:
    """A klage on a refusal, received within three weeks and upheld by the kommune a month later."""
    koordinator = _koordinator(users, course.number)
    received = course.decided + datetime.timedelta(days=rng.randint(5, 20))
    clock.at(_moment(received, 10))
    appeal_register(referral=course.referral, user=koordinator, received_on=received,
                    note="Klage fra pasienten: mener tjenesten vil gjøre ham tryggere hjemme.")  # fmt: skip
    decided = received + datetime.timedelta(days=rng.randint(20, 35))
    clock.at(_moment(decided, 14))
    appeal_decide(referral=course.referral, user=koordinator, outcome="upheld", decided_on=decided,
                  note="Vedtaket opprettholdes: kriteriene er fortsatt ikke oppfylt.")  # fmt: skip


def _plan_content(course: Course) -> dict:
    template = {"Hjertesvikt": "hjertesvikt", "KOLS": "kols", "Diabetes": "diabetes"}[kit_name(course.diagnoses)]
    content = {**TEMPLATES[template]["content"], "goals": "Klare seg hjemme og unngå innleggelser."}
    if template == "hjertesvikt" and course.number == HIGH_BURDEN:
        content["trend_rules"] = [TIGHT_WEIGHT_RULE]
    return content


def _start(course: Course, clock: DemoClock, users: dict, rng: random.Random) -> None:
    """Oppstart with the kit, and the plan the nurse drafts that day and the fastlege approves the next."""
    assert course.patient is not None and course.started is not None
    nurse = _nurse(users, course.number)
    clock.at(_moment(course.started, 10, rng.randint(0, 59)))
    patient_start(patient=course.patient, user=nurse, kit=kit_name(course.diagnoses),
                  training="Opplæring hjemme hos pasienten.", started_on=course.started)  # fmt: skip
    draft = ebp.draft_start(patient=course.patient, user=nurse, content=_plan_content(course))
    ebp.draft_submit(version=draft, user=nurse)
    clock.at(_moment(course.started + DAY, 12, rng.randint(0, 59)))
    ebp.version_approve(version=draft, user=course.patient.gp, comment="Godkjent.")


def _end(course: Course, clock: DemoClock, users: dict) -> None:
    """Avslutning with its reason; the kit comes back that day and the centre cleans it."""
    assert course.patient is not None and course.ended is not None and course.ending is not None
    koordinator = _koordinator(users, course.number)
    clock.at(_moment(course.ended, 14))
    loans = list(course.patient.device_loans.filter(returned_on__isnull=True).select_related("device"))
    patient_end(patient=course.patient, user=koordinator, reason=course.ending[0], note=course.ending[1],
                effective_date=course.ended, returned=[loan.device.serial for loan in loans])  # fmt: skip
    clock.at(_moment(course.ended + DAY, 9))
    for loan in loans:
        loan.device.refresh_from_db()
        device_clean(device=loan.device, user=users["sykepleier.agder" if course.number[:2] == "42" else CENTRE_NURSE])


# --- readings: a patient's days by the plan's schedule --------------------------------------------


@dataclass
class Series:
    """A patient's habitual values and how often they have a bad day (an exacerbation)."""

    spo2: float
    pulse: float
    systolic: float
    weight: float
    glucose: float
    bad_day: float


def _series(rng: random.Random) -> Series:
    return Series(spo2=rng.uniform(94.5, 96.5), pulse=rng.uniform(64, 80), systolic=rng.uniform(118, 134),
                  weight=rng.uniform(62, 96), glucose=rng.uniform(6.5, 8),
                  bad_day=rng.uniform(0.004, 0.012))  # fmt: skip


def _day_values(types: list[str], s: Series, rng: random.Random, weight: float, bad: bool) -> list[dict]:
    values = []
    for mtype in types:
        if mtype == "spo2":
            spo2 = rng.choice((87, 89, 90, 91)) if bad else min(99, s.spo2 + rng.gauss(0, 0.8))
            values.append({"value": round(spo2)})
        elif mtype == "pulse":
            values.append({"value": round(s.pulse + rng.gauss(0, 4) + (25 if bad and "spo2" in types else 0))})
        elif mtype == "blood_pressure":
            systolic = round(s.systolic + rng.gauss(0, 6))
            values.append({"systolic": systolic, "diastolic": round(systolic * 0.6 + rng.gauss(0, 3))})
        elif mtype == "weight":
            values.append({"value": round(weight, 1)})
        elif mtype == "glucose":
            values.append({"value": round(rng.choice((3.8, 13.5, 16.0)) if bad else s.glucose + rng.gauss(0, 0.7), 1)})
    return values


def _readings(course: Course, rng: random.Random) -> list[dict]:
    """The patient's readings from the day after the plan's approval to the day before the ending (or
    READINGS_UNTIL_AGO), by the plan's schedule; a day in eight forgotten."""
    assert course.patient is not None and course.started is not None
    content = parse_content(_plan_content(course))
    types = [t for t, rule in content.schedule.items() if rule.frequency != "on_symptoms"]
    per_day = {t: content.schedule[t].times_per_day or 1 for t in types}
    s, items = _series(rng), []
    last = (course.ended - DAY) if course.ended else timezone.localdate() - datetime.timedelta(days=READINGS_UNTIL_AGO)
    day, weight = course.started + 2 * DAY, s.weight
    # Fluid comes and goes: a heart patient's weight wanders around their own, more in Eidsvoll's patients.
    wander = 0.5 if course.number == HIGH_BURDEN else 0.2
    while day <= last:
        weight = s.weight + 0.6 * (weight - s.weight) + rng.gauss(0, wander)
        if rng.random() >= 1 / 8:
            bad = rng.random() < s.bad_day
            hour = rng.choice((6, 7, 7, 8, 8, 9, 10, 19, 21)) if day.weekday() < 5 else rng.choice((8, 9, 10, 11))
            taken = _moment(day, hour, rng.randint(0, 59))
            for mtype, value in zip(types, _day_values(types, s, rng, weight + (1.6 if bad else 0), bad), strict=True):
                for n in range(per_day[mtype]):
                    at = taken + datetime.timedelta(hours=11 * n, minutes=n)
                    items.append({"external_id": f"hist-{course.national_id}-{mtype}-{day:%Y%m%d}-{n}",
                                  "patient_id": str(course.patient.pk), "type": mtype, **value,
                                  "unit": type_spec(mtype).unit, "measured_at": at.isoformat()})  # fmt: skip
        day += DAY
    return items


def _weeks(items: list[dict]) -> list[list[dict]]:
    """The readings (in time order) in batches of BATCH_DAYS days."""
    batches: list[list[dict]] = []
    end = None
    for item in items:
        at = datetime.datetime.fromisoformat(item["measured_at"])
        if end is None or at >= end:
            batches.append([])
            end = at + datetime.timedelta(days=BATCH_DAYS)
        batches[-1].append(item)
    return batches


def _deviating(items: list[dict], content) -> set[str]:
    """The external ids the scoring will find yellow or red: the same pure rule (triage.scoring) the
    scoring service applies, so the deviating ones can be scored at their own moment."""
    history: list[ReadingValue] = []
    found = set()
    for item in items:
        at = datetime.datetime.fromisoformat(item["measured_at"])
        value = ReadingValue(item["type"], at, item.get("value"), item.get("systolic"), item.get("diastolic"))
        if score(value, content, history[-40:]).colour != "green":
            found.add(item["external_id"])
        history.append(value)
    return found


# --- the nurses: an alert taken and handled at realistic times ------------------------------------


@dataclass(order=True)
class Step:
    at: datetime.datetime
    kind: str = field(compare=False)  # take | not_reached | handle
    alert_id: object = field(compare=False)


def _open(hours: OpeningHours, at: datetime.datetime) -> datetime.datetime:
    """`at`, or the next opening when the centre is closed then: nobody is there to call."""
    return at if hours.is_open(at) else hours.next_opening(at) or at


def _steps(alert: Alert, hours: OpeningHours, rng: random.Random) -> list[Step]:
    """When the nurse takes the alert and handles it: at once in open hours (a red within minutes, a
    yellow within hours), else from the next opening; one call in six does not reach the patient and
    is tried again an hour or so later."""
    wait = rng.randint(3, 25) if alert.colour == "red" else rng.randint(10, 150)
    taken = _open(hours, _open(hours, alert.opened_at) + datetime.timedelta(minutes=wait))
    # A red is taken first («Jeg tar denne»), half the yellows too; the rest are handled straight away.
    steps = [Step(taken, "take", alert.pk)] if alert.colour == "red" or rng.random() < 0.5 else []
    call = _open(hours, taken + datetime.timedelta(minutes=rng.randint(2, 15)))
    if rng.random() < 1 / 6:
        steps.append(Step(call, "not_reached", alert.pk))
        call = _open(hours, call + datetime.timedelta(minutes=rng.randint(60, 100)))
    steps.append(Step(_open(hours, call + datetime.timedelta(minutes=rng.randint(3, 12))), "handle", alert.pk))
    return steps


def _do(step: Step, clock: DemoClock, nurse) -> None:
    moment = clock.at(step.at)
    if moment < step.at:  # not yet: it waits on the worklist
        return
    alert = Alert.objects.get(pk=step.alert_id)
    if alert.status != AlertStatus.OPEN:
        return
    if step.kind == "take":
        alert_take(alert=alert, user=nurse)
    elif step.kind == "not_reached":
        alert_handle(alert=alert, user=nurse, actions=[ContactAction.CALLED_NOT_REACHED],
                     retry_at=moment + datetime.timedelta(hours=1), note="Ringte, ikke svar.")  # fmt: skip
    else:
        actions = [ContactAction.CALLED_REACHED, ContactAction.ADVISED_EBP]
        if alert.colour == "red":
            actions.append(ContactAction.CONTACTED_GP)
        alert_handle(alert=alert, user=nurse, actions=actions, note="Snakket med pasienten; råd etter planen.")


def _follow(course: Course, ids: dict[str, int], deviating: list[tuple[datetime.datetime, str]], clock: DemoClock,
            users: dict, rng: random.Random) -> None:  # fmt: skip
    """Each deviating reading scored when it arrived, and the nurse's steps between, in time order."""
    assert course.patient is not None
    nurse = _nurse(users, course.number)
    hours = OpeningHours.of(centre_of(course.patient.municipality_id))
    pending: list[Step] = []
    known: set = set()
    for measured, external_id in deviating:
        arrived = measured + datetime.timedelta(minutes=rng.randint(1, 6))
        while pending and pending[0].at <= arrived:
            _do(heapq.heappop(pending), clock, nurse)
        clock.at(arrived)
        readings_score([ids[external_id]])
        alert = Alert.objects.filter(patient=course.patient, status=AlertStatus.OPEN, kind="out_of_range").first()
        if alert is not None and alert.pk not in known:
            known.add(alert.pk)
            for step in _steps(alert, hours, rng):
                heapq.heappush(pending, step)
    while pending:
        _do(heapq.heappop(pending), clock, nurse)


def _measure(courses: list[Course], clock: DemoClock, centres: dict, users: dict, rng: random.Random) -> None:
    """The year's readings in batches per centre; the green ones scored together, each deviating one
    at its arrival with the nurse's steps between (_follow)."""
    gateways = {c.pk: Integration.objects.get(centre=c, name="Demo-gateway") for c in centres.values()}
    plans: dict[str, tuple[Course, list[dict]]] = {}
    by_gateway: dict[int, list[dict]] = {}
    for course in courses:
        if course.patient is None:
            continue
        items = _readings(course, rng)
        plans[course.national_id] = (course, items)
        by_gateway.setdefault(centre_of(course.patient.municipality_id).pk, []).extend(items)
    found: set[str] = set()
    deviating: dict[str, list] = {}
    for key, (course, items) in plans.items():
        mine = _deviating(items, parse_content(_plan_content(course)))
        deviating[key] = sorted((datetime.datetime.fromisoformat(i["measured_at"]), i["external_id"])
                                for i in items if i["external_id"] in mine)  # fmt: skip
        found |= mine
    ids: dict[str, int] = {}
    for centre_id, items in by_gateway.items():
        items.sort(key=lambda item: item["measured_at"])
        for batch in _weeks(items):
            # Received (and the green ones scored) as the batch's last reading came in: the gateway
            # takes nothing older than 30 days.
            clock.at(datetime.datetime.fromisoformat(batch[-1]["measured_at"]) + datetime.timedelta(minutes=5))
            results = readings_ingest(integration=gateways[centre_id], items=batch, quarantine=False)
            created = {item["external_id"]: r.id for item, r in zip(batch, results, strict=True) if r.id}
            assert len(created) == len(batch), [r.errors for r in results if not r.id][:3]
            ids.update(created)
            readings_score([pk for external_id, pk in created.items() if external_id not in found])
    for key, (course, _items) in plans.items():
        _follow(course, ids, deviating[key], clock, users, rng)


def seed_history(municipalities: dict, centres: dict, users: dict) -> None:
    """The year (module docstring), once: a second run finds the year's oppstart rows."""
    if Start.objects.exists():
        return
    rng = random.Random(2030)  # noqa: S311 – fixed seed
    taken = set(Patient.objects.values_list("national_id", flat=True))
    taken |= set(Referral.objects.values_list("national_id", flat=True))
    courses = _courses(rng, taken)
    with demo_clock() as clock:
        for course in sorted(courses, key=lambda c: c.received):
            _referral(course, clock, municipalities, users, rng)
        for course in [c for c in courses if c.refused][:KLAGER]:
            _klage(course, clock, users, rng)
        for course in sorted((c for c in courses if c.started), key=lambda c: c.started):
            _start(course, clock, users, rng)
        _measure(courses, clock, centres, users, rng)
        for course in sorted((c for c in courses if c.ended), key=lambda c: c.ended):
            _end(course, clock, users)
