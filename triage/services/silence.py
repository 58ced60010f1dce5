"""Silence is a signal: a yellow alert for a missing measurement, a missing questionnaire answer and
an inactive patient (the VKP-DHO guide's three silence kinds). Run by beat every 15 minutes
(triage.silence_check); data arriving closes them again (triage.services.alerts.silence_alerts_close).

The check runs one centre at a time, each in its own short transaction, so its locks and memory are
bounded by the largest centre rather than by every active patient of every tenant. That transaction
is the centre's own system scope (tenants/rls.py): a scope is a transaction, and one scope around the
whole run made each centre's a savepoint of it, holding every centre's open silence alerts locked
(scoring and the nurses' steps waiting on them) until the last centre was done.

A paused patient gets none, until the pause's «til»-date has passed: nothing ends a pause but a nurse's
«gjenoppta», and a patient whose pause ran out without one would otherwise never be missed again.
Silence then counts from the day after that date, as if the patient had been resumed that morning.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Max, Q
from django.utils import timezone

from measurements.models import Answer, Reading
from measurements.types import label
from patients.models import Patient, PatientStatus
from tenants.models import Centre, Municipality
from tenants.norwegian import date_text
from tenants.rls import system_scope
from tenants.selectors import centre_of
from triage.models import AlertKind
from triage.services.alerts import Finding, alerts_upsert
from triage.services.scoring import Plans

# How often each questionnaire is expected when the plan asks it (the plan schedules measurements).
QUESTIONNAIRE_EVERY = {"daily_symptoms": datetime.timedelta(days=1), "cat": datetime.timedelta(days=7)}
QUESTIONNAIRE_LABEL = {"daily_symptoms": "daglige symptomspørsmål", "cat": "CAT-skjema"}
LOOKBACK = datetime.timedelta(days=60)
DEFAULT_GRACE_HOURS = 4  # for a municipality no centre serves; Centre's own defaults say the same
DEFAULT_INACTIVE_DAYS = 3
SCOPE = "triage.silence_check"  # the name each centre's system scope is audited under
PAUSE_OVER = "pausen til {until} er utløpt"  # the reason's note when a pause ran out without «gjenoppta»


@dataclass(frozen=True)
class _Rules:
    grace: datetime.timedelta
    inactive_after: datetime.timedelta

    @classmethod
    def of(cls, centre: Centre | None) -> _Rules:
        hours = centre.missing_grace_hours if centre else DEFAULT_GRACE_HOURS
        days = centre.inactive_after_days if centre else DEFAULT_INACTIVE_DAYS
        return cls(datetime.timedelta(hours=hours), datetime.timedelta(days=days))


@dataclass
class _Last:
    """When each patient last sent what, in the lookback window."""

    reading: dict  # (patient id, type) → time
    answer: dict  # (patient id, questionnaire) → time
    any: dict  # patient id → time


def _expected_every(schedule) -> datetime.timedelta | None:
    if schedule.frequency == "daily":
        return datetime.timedelta(days=1)
    if schedule.frequency == "weekly":
        return datetime.timedelta(days=-(-7 // schedule.days_per_week))  # 3 days a week → every 3 days
    return None  # only on symptoms: silence means nothing


def _latest(model, time_field: str, group_field: str, patient_ids: list, since) -> dict:
    rows = (
        model.objects.filter(patient_id__in=patient_ids, **{f"{time_field}__gte": since})
        .values("patient_id", group_field)
        .annotate(last=Max(time_field))
    )
    return {(r["patient_id"], r[group_field]): r["last"] for r in rows}


def _last_data(patient_ids: list, now) -> _Last:
    last_reading = _latest(Reading, "measured_at", "type", patient_ids, now - LOOKBACK)
    last_answer = _latest(Answer, "answered_at", "questionnaire", patient_ids, now - LOOKBACK)
    last_any: dict = {}
    for (patient_id, _), at in [*last_reading.items(), *last_answer.items()]:
        last_any[patient_id] = max(at, last_any.get(patient_id, at))
    return _Last(last_reading, last_answer, last_any)


def _overdue_hours(last, since, every: datetime.timedelta, grace: datetime.timedelta, now) -> int | None:
    """Hours of silence when more than `every + grace` has passed since the later of the two times."""
    since = max(last or since, since)
    if now - since > every + grace:
        return int((now - since).total_seconds() // 3600)
    return None


def _missing_measurements(patient, plan, plan_since, rules: _Rules, last: _Last, now) -> list[tuple]:
    findings = []
    for mtype, schedule in plan.schedule.items():
        every = _expected_every(schedule)
        if every is None:
            continue
        hours = _overdue_hours(last.reading.get((patient.id, str(mtype))), plan_since, every, rules.grace, now)
        if hours is not None:
            reason = f"Ingen måling av {label(mtype).lower()} på {hours} timer"
            findings.append((AlertKind.MISSING_MEASUREMENT, str(mtype), reason))
    return findings


def _missing_answers(patient, plan, plan_since, rules: _Rules, last: _Last, now) -> list[tuple]:
    asked = {"daily_symptoms": bool(plan.questionnaires.daily_symptoms), "cat": plan.questionnaires.cat is not None}
    findings = []
    for questionnaire, every in QUESTIONNAIRE_EVERY.items():
        if not asked[questionnaire]:
            continue
        hours = _overdue_hours(last.answer.get((patient.id, questionnaire)), plan_since, every, rules.grace, now)
        if hours is not None:
            reason = f"Ingen svar på {QUESTIONNAIRE_LABEL[questionnaire]} på {hours} timer"
            findings.append((AlertKind.MISSING_ANSWER, questionnaire, reason))
    return findings


def _silence_findings(patient, plan, plan_since, rules: _Rules, last: _Last, now, resumed=None) -> list[tuple]:
    """(kind, subject, reason) for each thing this patient should have sent and did not; nothing
    counts from before `resumed` (a pause that ran out)."""
    findings = []
    if plan is not None:
        plan_since = max(plan_since, resumed or plan_since)
        findings += _missing_measurements(patient, plan, plan_since, rules, last, now)
        findings += _missing_answers(patient, plan, plan_since, rules, last, now)
    since = max(last.any.get(patient.id) or patient.created_at, patient.created_at, resumed or patient.created_at)
    if now - since > rules.inactive_after:
        findings.append((AlertKind.INACTIVE_PATIENT, "", f"Ingen målinger eller svar på {(now - since).days} dager"))
    return findings


def _pause_ended(patient) -> datetime.datetime | None:
    """When the patient's pause ran out: the start of the day after its «til»-date, by the Norwegian
    clock (a pause «til 10.03.» includes the 10th). None for an active patient."""
    if patient.status != PatientStatus.PAUSED or patient.status_until is None:
        return None
    day_after = patient.status_until + datetime.timedelta(days=1)
    return timezone.make_aware(datetime.datetime.combine(day_after, datetime.time()))


def _checked_patients(municipality_ids: list[int], now) -> list[Patient]:
    """The active patients, and the paused ones whose pause ran out before today (Norwegian date)."""
    ran_out = Q(status=PatientStatus.PAUSED, status_until__lt=timezone.localdate(now))
    return list(
        Patient.objects.filter(Q(status=PatientStatus.ACTIVE) | ran_out, municipality_id__in=municipality_ids).only(
            "id", "municipality_id", "created_at", "status", "status_until"
        )
    )


def _reason(reason: str, patient) -> str:
    if patient.status != PatientStatus.PAUSED or patient.status_until is None:
        return reason
    return f"{reason} ({PAUSE_OVER.format(until=date_text(patient.status_until))})"


def _check_municipalities(municipality_ids: list[int], rules: _Rules, now) -> int:
    """One centre's municipalities, inside the centre's own scope (its transaction)."""
    patients = _checked_patients(municipality_ids, now)
    if not patients:
        return 0
    last = _last_data([p.id for p in patients], now)
    plans = Plans({p.id: p.municipality_id for p in patients})
    findings = []
    for patient in patients:
        approved = plans.version_id(patient.id) is not None
        plan = plans.content(patient.id) if approved else None
        plan_since = plans.approved_at(patient.id) if approved else patient.created_at
        resumed = _pause_ended(patient)
        for kind, subject, reason in _silence_findings(patient, plan, plan_since, rules, last, now, resumed):
            measurement = subject if kind == AlertKind.MISSING_MEASUREMENT else ""
            reason = _reason(reason, patient)
            findings.append(
                Finding(patient.id, patient.municipality_id, kind, subject, "yellow", reason, not approved, measurement)
            )
    alerts_upsert(findings, now)
    return len(findings)


def _municipalities_by_centre() -> dict[int | None, list[int]]:
    """Each municipality under the centre whose settings apply to it (None: no centre serves it)."""
    groups: dict[int | None, list[int]] = defaultdict(list)
    for municipality_id in Municipality.objects.order_by("id").values_list("id", flat=True):
        centre = centre_of(municipality_id)
        groups[centre.pk if centre else None].append(municipality_id)
    return groups


def silence_alerts_open(now: datetime.datetime | None = None) -> int:
    """Open (or keep) a yellow alert for every missing measurement, missing answer and inactive
    active patient, one centre per transaction. Paused patients get none until their pause has run
    out; ended ones none. Declares its own scopes (Celery's task calls it as it is)."""
    now = now or timezone.now()
    with system_scope(SCOPE):
        centres = Centre.objects.in_bulk()
        groups = _municipalities_by_centre()
    opened = 0
    for centre_id, municipality_ids in groups.items():
        with system_scope(SCOPE):  # committed, and its locks let go, before the next centre starts
            opened += _check_municipalities(municipality_ids, _Rules.of(centres.get(centre_id)), now)
    return opened
