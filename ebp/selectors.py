"""Reads of EBPs. Patients are always reached through patients.selectors first (scope, 404)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from ebp.content import BOUND_LABELS, BOUND_NAMES, PlanContent, TrendRule, parse_content
from ebp.models import CentreThresholds, PlanVersion, VersionStatus
from measurements.types import SPECS, Colour, label, spec
from patients.models import Diagnosis, Patient, PatientStatus
from patients.selectors import visible_patients
from tenants.bulk import uuid_array
from tenants.compiled import NO_ID, NO_OTHER_ID, NO_UUID, CompiledQuery
from tenants.models import Agreement, Centre
from tenants.norwegian import number, time_text
from tenants.selectors import centres_of


def versions_of(patient: Patient) -> QuerySet[PlanVersion]:
    return PlanVersion.objects.filter(plan__patient=patient).select_related("created_by", "submitted_by", "decided_by")


def active_version(patient: Patient) -> PlanVersion | None:
    return versions_of(patient).filter(status=VersionStatus.ACTIVE).first()


def open_version(patient: Patient) -> PlanVersion | None:
    """The version in work: a draft, or one waiting for the fastlege."""
    return versions_of(patient).filter(status__in=[VersionStatus.DRAFT, VersionStatus.SUBMITTED]).first()


def version_of(patient: Patient, number: int) -> PlanVersion | None:
    return versions_of(patient).filter(number=number).first()


def without_approved_plan(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The started patients (active or on pause) among `patients` whose plan has no approved version
    in force: no plan yet, or only a draft, a version waiting for the fastlege or a returned one. They
    are scored against the centre's default thresholds until the fastlege approves. One query."""
    approved = PlanVersion.objects.filter(status=VersionStatus.ACTIVE).values("plan__patient_id")
    return patients.filter(status__in=(PatientStatus.ACTIVE, PatientStatus.PAUSED)).exclude(id__in=approved)


def plan_missing_among(patient_ids) -> frozenset:
    """Which of these (already scoped) patients are started without an approved plan: one query for
    a whole page (the forløp board's «Mangler godkjent plan» mark, registered in ebp/apps.py), not one
    per row."""
    ids = list(patient_ids)
    if not ids:
        return frozenset()
    return frozenset(without_approved_plan(Patient.objects.filter(pk__in=ids)).values_list("pk", flat=True))


def approved_at(patient: Patient) -> datetime.datetime | None:
    """When the patient's plan in force was approved (the evaluation's due date of a forløp from
    before the status history counts from it); None without one."""
    return (
        PlanVersion.objects.filter(status=VersionStatus.ACTIVE, plan__patient=patient)
        .values_list("decided_at", flat=True)
        .first()
    )


def approval_queue(user) -> QuerySet[PlanVersion]:
    """Submitted versions for the patients whose fastlege this user is, oldest first."""
    own = visible_patients(user).filter(gp=user)
    return (
        PlanVersion.objects.filter(status=VersionStatus.SUBMITTED, plan__patient__in=own)
        .select_related("plan__patient__municipality", "submitted_by")
        .order_by("submitted_at")
    )


def approvals_waiting(user) -> int:
    """How many plans wait for this fastlege: the menu's count and the landing page. A count names no
    patient, so it is not an audited read (the queue page that lists them is)."""
    return approval_queue(user).count()


@dataclass(frozen=True)
class PlanThresholds:
    """What scoring uses for a patient: the active plan's, else the centre's defaults (flagged)."""

    content: PlanContent
    version_id: int | None  # the approved version in force; None: the centre's defaults
    approved_at: datetime.datetime | None  # when the fastlege approved it
    # The version itself, read for one patient (thresholds_for: the plan page shows it); a batch
    # (scoring's) reads only its id, as building hundreds of model objects per chunk cost a third of
    # the thresholds' time.
    version: PlanVersion | None = None

    @property
    def approved(self) -> bool:
        return self.version_id is not None


# The version in force of one patient, without its content: compiled once per process
# (tenants/compiled.py), as every patient page asks it.
_ACTIVE_VERSION = CompiledQuery(
    lambda _key, patient_id: PlanVersion.objects.filter(status=VersionStatus.ACTIVE, plan__patient_id=patient_id).defer(
        "content"
    )[:1],
    patient_id=NO_UUID,
)
_CONTENT = CompiledQuery(lambda _key, pk: PlanVersion.objects.filter(pk=pk).values_list("content"), pk=NO_ID)


def _content_read(version: PlanVersion) -> dict:
    """The deferred content of a version read (kept on it: the plan page shows it)."""
    [(version.content,)] = _CONTENT.rows(None, pk=version.pk)
    return version.content


def thresholds_for(patient: Patient) -> PlanThresholds:
    """A patient's effective thresholds (pages, the alert page, the trends): the one rule, for one patient.
    The version's content is read only when this process has not parsed it yet (as approved_content):
    decoding it on every patient page cost a millisecond or two."""
    version = _ACTIVE_VERSION.first(None, patient_id=patient.pk)
    if version is not None:
        content = _parsed(_APPROVED, version.pk, lambda: _content_read(version), most=20_000)
        return PlanThresholds(content, version.pk, version.decided_at, version)
    return PlanThresholds(centre_default_thresholds(patient.municipality_id), None, None)


def thresholds_for_many(patient_municipality: dict) -> dict:
    """Effective thresholds per patient id (scoring's batches): the active plan's content, else the
    defaults of the centre serving the patient's kommune. At most four queries, whatever the batch."""
    versions = _active_versions(list(patient_municipality))
    unplanned = {m for patient_id, m in patient_municipality.items() if patient_id not in versions}
    defaults = centre_defaults_many(unplanned) if unplanned else {}
    out = {}
    for patient_id, municipality_id in patient_municipality.items():
        if patient_id in versions:
            out[patient_id] = PlanThresholds(*versions[patient_id])
        else:
            out[patient_id] = PlanThresholds(defaults[municipality_id], None, None)
    return out


def _defaults_query(day: datetime.date, municipality_id: int, host_id: int) -> QuerySet:
    """The stored defaults of the centre serving the kommune on `day`, as centres_of finds it (an
    agreement in force, in its model's order, else the centre the kommune hosts): one statement.
    `municipality_id` and `host_id` are the same kommune, a marker each (tenants/compiled.py)."""
    by_agreement = Agreement.objects.active(on=day).filter(municipality_id=municipality_id).values("centre_id")[:1]
    hosting = Centre.objects.filter(host_id=host_id).values("id")[:1]
    return CentreThresholds.objects.filter(centre_id=Coalesce(Subquery(by_agreement), Subquery(hosting)))


_CENTRE_DEFAULTS = CompiledQuery(_defaults_query, municipality_id=NO_ID, host_id=NO_OTHER_ID)  # by the day


def centre_default_thresholds(municipality_id: int) -> PlanContent:
    """The thresholds a patient without an approved plan is scored against: those of the centre
    serving their kommune (none stored: no bounds, so nothing is coloured by a bound). One statement,
    compiled once a day: the patient page of every patient without an approved plan asks it."""
    row = _CENTRE_DEFAULTS.first(timezone.localdate(), municipality_id=municipality_id, host_id=municipality_id)
    return _parsed_defaults(row)


_DEFAULTS: dict[tuple | None, PlanContent] = {}  # (row id, updated_at), None: no row stored


def centre_defaults_many(municipality_ids) -> dict[int, PlanContent]:
    """centre_default_thresholds for many kommuner: two queries for the centres (tenants' centres_of),
    one for their stored defaults. Each stored row is parsed once per process and version of it
    (its id and `updated_at`, which every save moves): a scoring worker parsed the same few rows
    for every chunk of every batch."""
    centres = centres_of(municipality_ids)
    stored = {
        row.centre_id: _parsed_defaults(row)
        for row in CentreThresholds.objects.filter(centre_id__in=set(centres.values()))
    }
    empty = _parsed_defaults(None)
    return {m: stored[centres[m]] if centres.get(m) in stored else empty for m in municipality_ids}


def _parsed_defaults(row: CentreThresholds | None) -> PlanContent:
    key = (row.pk, row.updated_at) if row is not None else None
    return _parsed(_DEFAULTS, key, lambda: {"thresholds": row.thresholds if row is not None else {}}, most=1_000)


def _parsed(cache: dict, key, raw, *, most: int) -> PlanContent:
    """parse_content of `raw()` kept in `cache` under `key`, a key that names content which never
    changes; emptied when it holds `most`, so a long-lived worker does not grow without limit."""
    content = cache.get(key)
    if content is None:
        if len(cache) >= most:
            cache.clear()
        content = cache[key] = parse_content(raw())
    return content


_APPROVED: dict[int, PlanContent] = {}


def _active_versions(patient_ids: list) -> dict[object, tuple[PlanContent, int, datetime.datetime | None]]:
    """patient id → (parsed content, id, approval time) of the approved version in force. The content is read only
    for versions not parsed yet, in a second query: decoding every version's JSON for every chunk
    was a fifth of scoring's time. The ids go as one array parameter (a parameter per id, compiled
    and quoted, cost more than the query)."""
    batch = uuid_array(patient_ids)
    active = PlanVersion.objects.filter(status=VersionStatus.ACTIVE, plan__patient_id__in=batch).order_by()
    rows = active.values_list("plan__patient_id", "pk", "decided_at")
    versions = {patient_id: (pk, at) for patient_id, pk, at in rows}
    contents = {pk: _APPROVED[pk] for pk, _ in versions.values() if pk in _APPROVED}
    unparsed = [pk for pk, _ in versions.values() if pk not in contents]
    if unparsed:
        for pk, raw in PlanVersion.objects.filter(pk__in=unparsed).values_list("pk", "content"):
            contents[pk] = _parsed(_APPROVED, pk, lambda raw=raw: raw, most=20_000)
    return {patient_id: (contents[pk], pk, at) for patient_id, (pk, at) in versions.items()}


def approved_content(version: PlanVersion) -> PlanContent:
    """An approved version's parsed content. An approved version never changes (a new one is made
    instead), so its id is a safe cache key."""
    return _parsed(_APPROVED, version.pk, lambda: version.content, most=20_000)


@dataclass(frozen=True)
class DiffRow:
    section: str
    field: str
    old: str
    new: str

    @property
    def changed(self) -> bool:
        return self.old != self.new


def _fmt(value) -> str:
    if value is None or value == "" or value == []:
        return "–"
    if isinstance(value, float):
        return number(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _flatten(content: PlanContent) -> dict[tuple[str, str], str]:
    """Every comparable item of a plan as (section, field) → text, in reading order. Each item of a
    list has a key of its own (a trend rule its kind and place among that kind's, a question, a
    contact its place): two items never share a row, so none hides another's change."""
    rows: dict[tuple[str, str], str] = {("Mål", "Hva er viktig for deg?"): _fmt(content.goals)}
    rows[("Mål", "Diagnoser")] = _fmt([diagnosis_label(d) for d in content.diagnoses])
    for mtype in SPECS:
        for component, bounds in content.thresholds.get(mtype, {}).items():
            for bound in BOUND_NAMES:
                rows[("Grenseverdier", f"{label(mtype, component)} – {BOUND_LABELS[bound]}")] = _fmt(
                    getattr(bounds, bound)
                )
        schedule = content.schedule.get(mtype)
        if schedule:
            rows[("Måleplan", label(mtype))] = schedule_text(schedule)
    for field, rule in trend_rule_rows(content):
        rows[("Trendregler", field)] = trend_rule_text(rule)
    for n, question in enumerate(content.questionnaires.daily_symptoms, start=1):
        rows[("Spørsmål", f"Spørsmål {n}")] = f"«{question.text}» ({question.code}): {answer_rule_text(question)}"
    if content.questionnaires.cat:
        cat = content.questionnaires.cat
        rows[("Spørsmål", "CAT")] = f"gul fra {cat.yellow_at}, rød fra {cat.red_at} poeng"
    for colour in (Colour.YELLOW, Colour.RED):
        actions = getattr(content.actions, colour)
        for name, field_label in ACTION_LABELS.items():
            rows[(f"Tiltak ved {colour.word}", field_label)] = _fmt(getattr(actions, name))
    for n, contact in enumerate(content.contacts, start=1):
        rows[("Kontakter", f"Kontakt {n}")] = contact_text(contact)
    rows[("Tverrfaglig møte", "Dato")] = _fmt(content.meeting.date)
    rows[("Tverrfaglig møte", "Deltakere")] = _fmt(content.meeting.participants)
    return rows


TREND_RULE_LABELS = {"weight_gain": "Vektøkning", "spo2_drop": "SpO2-fall"}


def trend_rule_rows(content: PlanContent) -> list[tuple[str, TrendRule]]:
    """(«Vektøkning 2», rule) for each trend rule: a plan may hold several of a kind (a yellow and a
    red step, or a short and a long window), numbered among their kind in the plan's order."""
    seen: dict[str, int] = {}
    rows = []
    for rule in content.trend_rules:
        seen[rule.kind] = seen.get(rule.kind, 0) + 1
        rows.append((f"{TREND_RULE_LABELS[rule.kind]} {seen[rule.kind]}", rule))
    return rows


def diagnosis_label(code: str) -> str:
    return str(Diagnosis(code).label) if code in Diagnosis.values else code


def contact_text(contact) -> str:
    return f"{contact.name}, {contact.phone}" + (f" ({contact.when})" if contact.when else "")


ACTION_LABELS = {
    "patient_medicinal": "Pasienten – medisinsk",
    "patient_other": "Pasienten – annet",
    "whom_to_call": "Hvem ringer pasienten",
    "nurse": "Sykepleieren",
}


def schedule_text(schedule) -> str:
    if schedule.frequency == "on_symptoms":
        return "ved symptomer"
    times = f" kl. {', '.join(time_text(t) for t in schedule.times)}" if schedule.times else ""
    if schedule.frequency == "weekly":
        per_day = f", {schedule.times_per_day} gang(er) per dag" if schedule.times_per_day > 1 else ""
        return f"{schedule.days_per_week} dager i uken{per_day}{times}"
    return f"{schedule.times_per_day} gang(er) daglig{times}"


def trend_rule_text(rule) -> str:
    colour = Colour(rule.colour).word  # type: ignore[call-arg]  # a lookup by value, not a new member
    if rule.kind == "weight_gain":
        return f"vektøkning på minst {_fmt(float(rule.kg))} kg på {rule.days} dager er {colour}"
    return f"SpO2 minst {_fmt(float(rule.points))} under vanlig nivå ({_fmt(float(rule.baseline))} %) er {colour}"


def answer_rule_text(question) -> str:
    parts = []
    if question.yellow_if:
        parts.append(f"«{'ja' if question.yellow_if == 'yes' else 'nei'}» er gul")
    if question.red_if:
        parts.append(f"«{'ja' if question.red_if == 'yes' else 'nei'}» er rød")
    return ", ".join(parts) or "bare til informasjon"


def version_diff(old: PlanVersion | None, new: PlanVersion) -> list[DiffRow]:
    """Every item of `new` beside `old` (the active version), so the fastlege sees what changed."""
    before = _flatten(parse_content(old.content)) if old else {}
    after = _flatten(parse_content(new.content))
    keys = list(after) + [k for k in before if k not in after]
    return [
        DiffRow(section, field, before.get((section, field), "–"), after.get((section, field), "–"))
        for section, field in keys
    ]


def _segment(colour: Colour, text: str) -> dict:
    return {"colour": colour.value, "word": colour.label, "text": text}


def band_segments(bounds, unit: str) -> list[dict]:
    """The traffic-light bands as the patient reads them, lowest first (only the bands that exist)."""
    rb, yb, ya, ra = bounds.red_below, bounds.yellow_below, bounds.yellow_above, bounds.red_above
    low = yb if yb is not None else rb
    high = ya if ya is not None else ra
    segments = []
    if rb is not None:
        segments.append(_segment(Colour.RED, f"under {_fmt(rb)} {unit}"))
    if yb is not None:
        start = f"fra {_fmt(rb)} til " if rb is not None else ""
        segments.append(_segment(Colour.YELLOW, f"{start}under {_fmt(yb)} {unit}"))
    if low is not None and high is not None:
        green = f"fra {_fmt(low)} til og med {_fmt(high)} {unit}"
    elif low is not None:
        green = f"{_fmt(low)} {unit} eller mer"
    elif high is not None:
        green = f"{_fmt(high)} {unit} eller mindre"
    else:
        green = "alle verdier"
    segments.append(_segment(Colour.GREEN, green))
    if ya is not None:
        end = f" til og med {_fmt(ra)}" if ra is not None else ""
        segments.append(_segment(Colour.YELLOW, f"over {_fmt(ya)}{end} {unit}"))
    if ra is not None:
        segments.append(_segment(Colour.RED, f"over {_fmt(ra)} {unit}"))
    return segments


def bands(content: PlanContent) -> list[dict]:
    """One row per measurement (component) with thresholds: label and its coloured bands."""
    rows = []
    for mtype in SPECS:
        for component, bounds in content.thresholds.get(mtype, {}).items():
            if bounds.present():
                rows.append(
                    {"label": label(mtype, component), "segments": band_segments(bounds, spec(mtype).unit_label)}
                )
    return rows
