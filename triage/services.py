"""Scoring stored readings and answers, and keeping the worklist's alerts in step.

Idempotent and safe to run twice at once: each task claims its rows with SELECT … FOR UPDATE SKIP
LOCKED WHERE scored_at IS NULL, so a row is scored by exactly one transaction, and a row whose task
died (worker killed, broker lost) is still unscored and is picked up by the sweeper. One open alert
per patient and kind is guaranteed by a partial unique index; a task that loses the race to open it
attaches to the winner's alert instead.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from ebp.content import PlanContent, WeightGainRule, parse_content
from ebp.models import CentreThresholds, PlanVersion, VersionStatus
from measurements.models import Answer, Reading
from tenants.selectors import centre_of
from triage.models import COLOUR_RANK, Alert, AlertKind, AlertStatus
from triage.scoring import ReadingValue, Score, score, score_answer

NO_PLAN = "ingen godkjent plan"
SWEEP_AFTER = datetime.timedelta(minutes=2)


_APPROVED: dict[int, PlanContent] = {}


def _approved_content(version: PlanVersion) -> PlanContent:
    """Parsed once per worker process: an approved version never changes (model + trigger), so its
    id is a safe cache key. Bounded so a long-lived worker does not grow without limit."""
    content = _APPROVED.get(version.pk)
    if content is None:
        if len(_APPROVED) > 20_000:
            _APPROVED.clear()
        content = _APPROVED[version.pk] = parse_content(version.content)
    return content


class _Plans:
    """Thresholds per patient for one batch: the active plan, else the centre's defaults (cached)."""

    def __init__(self, patient_municipality: dict):
        active = PlanVersion.objects.filter(
            status=VersionStatus.ACTIVE, plan__patient_id__in=list(patient_municipality)
        ).select_related("plan")
        self.versions = {v.plan.patient_id: v for v in active}
        self.contents = {pid: _approved_content(v) for pid, v in self.versions.items()}
        self.municipality = patient_municipality
        self._defaults: dict[int, PlanContent] = {}

    def content(self, patient_id) -> PlanContent:
        if patient_id in self.contents:
            return self.contents[patient_id]
        municipality_id = self.municipality[patient_id]
        if municipality_id not in self._defaults:
            centre = centre_of(municipality_id)
            stored = CentreThresholds.objects.filter(centre=centre).first()
            self._defaults[municipality_id] = parse_content({"thresholds": stored.thresholds if stored else {}})
        return self._defaults[municipality_id]

    def version(self, patient_id) -> PlanVersion | None:
        return self.versions.get(patient_id)


def _value(r: Reading) -> ReadingValue:
    return ReadingValue(r.type, r.measured_at, r.value, r.systolic, r.diastolic)


def _history(readings: list[Reading], plans: _Plans) -> dict:
    """Earlier weight readings for patients whose plan has a weight-gain rule (one query per batch)."""
    windows = {
        r.patient_id: max(
            rule.days for rule in plans.content(r.patient_id).trend_rules if isinstance(rule, WeightGainRule)
        )
        for r in readings
        if r.type == "weight" and any(isinstance(x, WeightGainRule) for x in plans.content(r.patient_id).trend_rules)
    }
    if not windows:
        return {}
    earliest = min(r.measured_at for r in readings) - datetime.timedelta(days=max(windows.values()))
    rows = Reading.objects.filter(patient_id__in=list(windows), type="weight", measured_at__gte=earliest).values_list(
        "patient_id", "measured_at", "value"
    )
    history = defaultdict(list)
    for patient_id, measured_at, value in rows:
        history[patient_id].append(ReadingValue("weight", measured_at, value))
    return history


@dataclass(frozen=True)
class Finding:
    """Something that should be on the worklist: opens the patient's alert of this kind or raises it."""

    patient_id: uuid.UUID
    municipality_id: int
    kind: str
    subject: str
    colour: str
    reason: str
    without_plan: bool
    measurement: str = ""

    @property
    def key(self) -> tuple:
        return (self.patient_id, self.kind, self.subject)


ALERT_COLUMNS = {
    "id": "uuid[]", "patient_id": "uuid[]", "municipality_id": "bigint[]", "kind": "text[]", "subject": "text[]",
    "colour": "text[]", "reason": "text[]", "without_plan": "bool[]", "status": "text[]", "opened_at": "timestamptz[]",
    "updated_at": "timestamptz[]", "closed_reason": "text[]", "measurement": "text[]",
}  # fmt: skip


def _alerts_insert(findings: list[Finding], now) -> dict[tuple, uuid.UUID]:
    """Open an alert for every finding without one, in one statement. A finding whose patient already
    has an open alert of that kind (maybe opened by a parallel task this instant) is skipped by the
    partial unique index and not returned."""
    rows = [
        (uuid.uuid4(), f.patient_id, f.municipality_id, f.kind, f.subject, f.colour, f.reason[:300], f.without_plan,
         AlertStatus.OPEN.value, now, now, "", f.measurement)
        for f in findings
    ]  # fmt: skip
    arrays = [list(column) for column in zip(*rows, strict=True)]
    unnest = ", ".join(f"%s::{t}" for t in ALERT_COLUMNS.values())
    sql = (
        f"INSERT INTO triage_alert ({', '.join(ALERT_COLUMNS)}) SELECT * FROM unnest({unnest}) "  # noqa: S608
        "ON CONFLICT (patient_id, kind, subject) WHERE status = 'open' DO NOTHING "
        "RETURNING patient_id, kind, subject, id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
        return {(patient_id, kind, subject): alert_id for patient_id, kind, subject, alert_id in cursor.fetchall()}


def _alerts_raise(findings: list[Finding], now) -> dict[tuple, uuid.UUID]:
    """Attach findings to the patients' open alerts (locked): a red after a yellow raises the colour;
    the reason follows the latest finding of the alert's colour."""
    by_key = {f.key: f for f in findings}
    alerts = list(
        Alert.objects.select_for_update()
        .filter(
            status=AlertStatus.OPEN,
            patient_id__in={f.patient_id for f in findings},
            kind__in={f.kind for f in findings},
        )
        .order_by("patient_id", "kind", "subject")
    )
    changed = []
    for alert in alerts:
        found = by_key.get((alert.patient_id, alert.kind, alert.subject))
        if found is None:
            continue
        if COLOUR_RANK[found.colour] > COLOUR_RANK[alert.colour]:
            alert.colour, alert.raised_at = found.colour, now
        if COLOUR_RANK[found.colour] >= COLOUR_RANK[alert.colour]:
            alert.reason, alert.measurement = found.reason[:300], found.measurement
        alert.without_plan = alert.without_plan or found.without_plan
        alert.updated_at = now
        changed.append(alert)
    _alerts_store(changed)
    return {(a.patient_id, a.kind, a.subject): a.pk for a in changed}


def _alerts_store(alerts: list[Alert]) -> None:
    """One UPDATE … FROM unnest for the changed alerts (bulk_update's CASE chains are ten times slower)."""
    if not alerts:
        return
    sql = (
        "UPDATE triage_alert AS t SET colour = v.colour, raised_at = v.raised_at, reason = v.reason, "
        "without_plan = v.without_plan, updated_at = v.updated_at, measurement = v.measurement "
        "FROM unnest(%s::uuid[], %s::text[], %s::timestamptz[], %s::text[], %s::bool[], %s::timestamptz[], "
        "%s::text[]) AS v(id, colour, raised_at, reason, without_plan, updated_at, measurement) WHERE t.id = v.id"
    )
    columns = ("pk", "colour", "raised_at", "reason", "without_plan", "updated_at", "measurement")
    with connection.cursor() as cursor:
        cursor.execute(sql, [[getattr(a, c) for a in alerts] for c in columns])


def alerts_upsert(findings: list[Finding], now) -> dict[tuple, uuid.UUID]:
    """Open or raise one alert per (patient, kind, subject); → alert id per key. Safe against a
    parallel task doing the same: rows are taken in one fixed order, and the index decides ties."""
    findings = sorted(findings, key=lambda f: (str(f.patient_id), f.kind, f.subject))
    if not findings:
        return {}
    opened = _alerts_insert(findings, now)
    rest = [f for f in findings if f.key not in opened]
    return {**opened, **(_alerts_raise(rest, now) if rest else {})}


def _worst(scored: list):
    return max(scored, key=lambda item: (COLOUR_RANK[item.colour], item.sort_time))


def _apply(rows: list, plans: _Plans, kind: str, now) -> None:
    """Open or raise one alert per patient for the batch's yellow and red rows and link them."""
    by_patient = defaultdict(list)
    for row in rows:
        if row.colour in ("yellow", "red"):
            by_patient[row.patient_id].append(row)
    findings = []
    for patient_id, deviating in by_patient.items():
        worst = _worst(deviating)
        measurement = getattr(worst, "type", "") or getattr(worst, "questionnaire", "")
        without_plan = plans.version(patient_id) is None
        findings.append(
            Finding(patient_id, worst.municipality_id, kind, "", worst.colour, worst.reason, without_plan, measurement)
        )
    alert_ids = alerts_upsert(findings, now)
    for patient_id, deviating in by_patient.items():
        for row in deviating:
            row.alert_id = alert_ids[(patient_id, kind, "")]


def _store_scores(table: str, rows: list, now) -> None:
    """Write colour, reason, plan version and alert of a scored batch in one UPDATE … FROM unnest."""
    sql = (
        f"UPDATE {table} AS t SET colour = v.colour, reason = v.reason, scored_at = %s, "  # noqa: S608
        "plan_version_id = v.plan_version_id, alert_id = v.alert_id "
        "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::uuid[]) "
        "AS v(id, colour, reason, plan_version_id, alert_id) WHERE t.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                now,
                [r.id for r in rows],
                [r.colour for r in rows],
                [r.reason for r in rows],
                [r.plan_version_id for r in rows],
                [r.alert_id for r in rows],
            ],
        )


def _reason(found: Score, without_plan: bool) -> str:
    if without_plan and found.colour != "green":
        return f"{found.reason} ({NO_PLAN})"
    return found.reason


def _claim(model, ids: Iterable[int], time_field: str) -> list:
    """Lock the given rows that are still unscored; rows another task holds are skipped, not waited for."""
    return list(
        model.objects.select_for_update(skip_locked=True)
        .filter(id__in=list(ids), scored_at__isnull=True)
        .order_by(time_field, "id")
    )


def _record(row, found: Score, plans: _Plans, now, sort_time) -> None:
    version = plans.version(row.patient_id)
    row.colour, row.reason, row.scored_at = found.colour, _reason(found, version is None)[:300], now
    row.plan_version_id = getattr(version, "pk", None)
    row.sort_time = sort_time


@transaction.atomic
def readings_score(reading_ids: Iterable[int]) -> int:
    """Score the given readings that are still unscored; returns how many this call scored."""
    readings = _claim(Reading, reading_ids, "measured_at")
    if not readings:
        return 0
    plans = _Plans({r.patient_id: r.municipality_id for r in readings})
    history = _history(readings, plans)
    now = timezone.now()
    for r in readings:
        found = score(_value(r), plans.content(r.patient_id), history.get(r.patient_id, ()))
        _record(r, found, plans, now, r.measured_at)
    _apply(readings, plans, AlertKind.OUT_OF_RANGE, now)
    _store_scores("measurements_reading", readings, now)
    _close_silence_alerts({r.patient_id for r in readings}, {(r.patient_id, r.type) for r in readings}, now)
    return len(readings)


@transaction.atomic
def answers_score(answer_ids: Iterable[int]) -> int:
    """Score questionnaire answers by the plan's answer rules, like readings_score."""
    answers = _claim(Answer, answer_ids, "answered_at")
    if not answers:
        return 0
    plans = _Plans({a.patient_id: a.municipality_id for a in answers})
    now = timezone.now()
    for a in answers:
        found = score_answer(a.questionnaire, a.answers, a.total, plans.content(a.patient_id))
        _record(a, found, plans, now, a.answered_at)
    _apply(answers, plans, AlertKind.DEVIATING_ANSWER, now)
    _store_scores("measurements_answer", answers, now)
    _close_silence_alerts(
        {a.patient_id for a in answers}, set(), now, answered={(a.patient_id, a.questionnaire) for a in answers}
    )
    return len(answers)


def _close_silence_alerts(patients: set, measured: set, now, answered: set | None = None) -> None:
    """Data arrived: the patient is no longer inactive, and what was missing is no longer missing."""
    if not patients:
        return
    open_silence = Alert.objects.filter(
        patient_id__in=list(patients),
        status=AlertStatus.OPEN,
        kind__in=[AlertKind.INACTIVE_PATIENT, AlertKind.MISSING_MEASUREMENT, AlertKind.MISSING_ANSWER],
    )
    to_close = [
        a.pk
        for a in open_silence
        if a.kind == AlertKind.INACTIVE_PATIENT
        or (a.kind == AlertKind.MISSING_MEASUREMENT and (a.patient_id, a.subject) in measured)
        or (a.kind == AlertKind.MISSING_ANSWER and (a.patient_id, a.subject) in (answered or set()))
    ]
    if to_close:
        Alert.objects.filter(pk__in=to_close).update(
            status=AlertStatus.CLOSED, closed_at=now, updated_at=now, closed_reason="Data mottatt"
        )


def unscored_ids(model, older_than: datetime.timedelta = SWEEP_AFTER, limit: int = 10_000) -> list[int]:
    """Rows still unscored after `older_than`: their task was lost (broker down, worker killed)."""
    cutoff = timezone.now() - older_than
    return list(
        model.objects.filter(scored_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )


# --- silence is a signal ------------------------------------------------------------------------

# How often each questionnaire is expected when the plan asks it (the plan schedules measurements).
QUESTIONNAIRE_EVERY = {"daily_symptoms": datetime.timedelta(days=1), "cat": datetime.timedelta(days=7)}
QUESTIONNAIRE_LABEL = {"daily_symptoms": "daglige symptomspørsmål", "cat": "CAT-skjema"}


def _expected_every(schedule) -> datetime.timedelta | None:
    if schedule.frequency == "daily":
        return datetime.timedelta(days=1)
    if schedule.frequency == "weekly":
        return datetime.timedelta(days=-(-7 // schedule.days_per_week))  # 3 days a week → every 3 days
    return None  # only on symptoms: silence means nothing


def _latest(model, time_field: str, group_field: str, patient_ids: list, since) -> dict:
    from django.db.models import Max

    rows = (
        model.objects.filter(patient_id__in=patient_ids, **{f"{time_field}__gte": since})
        .values("patient_id", group_field)
        .annotate(last=Max(time_field))
    )
    return {(r["patient_id"], r[group_field]): r["last"] for r in rows}


def _silence_findings(patient, plan, plan_since, grace, inactive_after, last_reading, last_answer, last_any, now):
    """(kind, subject, reason) for each thing this patient should have sent and did not."""
    from measurements.types import label

    findings = []
    if plan is not None:
        for mtype, schedule in plan.schedule.items():
            every = _expected_every(schedule)
            if every is None:
                continue
            since = max(last_reading.get((patient.id, mtype.value)) or plan_since, plan_since)
            if now - since > every + grace:
                hours = int((now - since).total_seconds() // 3600)
                findings.append(
                    (
                        AlertKind.MISSING_MEASUREMENT,
                        mtype.value,
                        f"Ingen måling av {label(mtype).lower()} på {hours} timer",
                    )
                )
        asked = {"daily_symptoms": bool(plan.questionnaires.daily_symptoms), "cat": plan.questionnaires.cat is not None}
        for questionnaire, every in QUESTIONNAIRE_EVERY.items():
            if not asked[questionnaire]:
                continue
            since = max(last_answer.get((patient.id, questionnaire)) or plan_since, plan_since)
            if now - since > every + grace:
                hours = int((now - since).total_seconds() // 3600)
                findings.append(
                    (
                        AlertKind.MISSING_ANSWER,
                        questionnaire,
                        f"Ingen svar på {QUESTIONNAIRE_LABEL[questionnaire]} på {hours} timer",
                    )
                )
    since = max(last_any.get(patient.id) or patient.created_at, patient.created_at)
    if now - since > datetime.timedelta(days=inactive_after):
        findings.append((AlertKind.INACTIVE_PATIENT, "", f"Ingen målinger eller svar på {(now - since).days} dager"))
    return findings


@transaction.atomic
def silence_alerts_open(now: datetime.datetime | None = None) -> int:
    """Open (or keep) a yellow alert for every missing measurement, missing answer and inactive
    active patient. Paused and ended patients get none. Data arriving closes them (readings_score)."""
    from patients.models import Patient, PatientStatus
    from tenants.models import Centre

    now = now or timezone.now()
    patients = list(Patient.objects.filter(status=PatientStatus.ACTIVE).only("id", "municipality_id", "created_at"))
    ids = [p.id for p in patients]
    lookback = now - datetime.timedelta(days=60)
    last_reading = _latest(Reading, "measured_at", "type", ids, lookback)
    last_answer = _latest(Answer, "answered_at", "questionnaire", ids, lookback)
    last_any: dict = {}
    for (patient_id, _), at in [*last_reading.items(), *last_answer.items()]:
        last_any[patient_id] = max(at, last_any.get(patient_id, at))
    plans = _Plans({p.id: p.municipality_id for p in patients})
    centres: dict[int, Centre | None] = {}
    findings = []
    for patient in patients:
        if patient.municipality_id not in centres:
            centres[patient.municipality_id] = centre_of(patient.municipality_id)
        centre = centres[patient.municipality_id]
        grace = datetime.timedelta(hours=centre.missing_grace_hours if centre else 4)
        inactive_after = centre.inactive_after_days if centre else 3
        version = plans.version(patient.id)
        plan = plans.content(patient.id) if version else None
        plan_since = version.decided_at if version else patient.created_at
        for kind, subject, reason in _silence_findings(
            patient, plan, plan_since, grace, inactive_after, last_reading, last_answer, last_any, now
        ):
            measurement = subject if kind == AlertKind.MISSING_MEASUREMENT else ""
            findings.append(
                Finding(
                    patient.id, patient.municipality_id, kind, subject, "yellow", reason, version is None, measurement
                )
            )
    alerts_upsert(findings, now)
    return len(findings)


# --- the nurses' follow-up ----------------------------------------------------------------------


class AlertRefused(Exception):
    """The step cannot be taken (message in Norwegian, safe to show)."""


def _audit_alert(action, alert: Alert, user, request, object_type: str = "alert", object_id=None) -> None:
    from tenants.services import audit_record

    audit_record(
        action=action,
        object_type=object_type,
        object_id=object_id or alert.pk,
        patient=alert.patient,
        request=request,
        user=user,
    )


@transaction.atomic
def alert_take(*, alert: Alert, user, request=None) -> Alert:
    """«Jeg tar denne»: the first nurse to take it has it; a second is told who."""
    from tenants.models import AuditAction

    alert = Alert.objects.select_for_update(of=("self",)).select_related("patient", "taken_by").get(pk=alert.pk)
    if alert.status != AlertStatus.OPEN:
        raise AlertRefused("Varselet er allerede håndtert.")
    if alert.taken_by_id and alert.taken_by_id != user.id:
        name = alert.taken_by.get_full_name() or alert.taken_by.username
        raise AlertRefused(f"{name} har allerede tatt dette varselet.")
    alert.taken_by, alert.taken_at = user, timezone.now()
    alert.save(update_fields=["taken_by", "taken_at"])
    _audit_alert(AuditAction.UPDATE, alert, user, request)
    return alert


@transaction.atomic
def alert_handle(*, alert: Alert, user, actions: list[str], note: str = "", retry_at=None, request=None):
    """Record what was done. Handling closes the alert and writes its journal note; «not reached»
    keeps it open, taken by this nurse, with a time to try again."""
    from tenants.models import AuditAction
    from triage.models import ContactAction, ContactKind

    alert = Alert.objects.select_for_update(of=("self",)).select_related("patient", "taken_by").get(pk=alert.pk)
    if alert.status != AlertStatus.OPEN:
        raise AlertRefused("Varselet er allerede håndtert.")
    if alert.taken_by_id and alert.taken_by_id != user.id:
        raise AlertRefused(f"{alert.taken_by.get_full_name() or alert.taken_by.username} har tatt dette varselet.")
    if not actions:
        raise AlertRefused("Velg minst ett tiltak.")
    now = timezone.now()
    not_reached = ContactAction.CALLED_NOT_REACHED in actions
    contact = _contact_create(
        alert.patient, user, ContactKind.ALERT, actions, note, alert=alert, at=now, retry_at=retry_at
    )
    if not_reached:
        alert.taken_by, alert.taken_at = user, alert.taken_at or now
        alert.retry_at = retry_at or now + datetime.timedelta(hours=1)
        alert.save(update_fields=["taken_by", "taken_at", "retry_at"])
    else:
        alert.status, alert.closed_at, alert.closed_reason = AlertStatus.CLOSED, now, "Håndtert"
        alert.handled_by, alert.handled_at = user, now
        alert.seconds_to_handle = int((now - alert.opened_at).total_seconds())
        alert.save(
            update_fields=["status", "closed_at", "closed_reason", "handled_by", "handled_at", "seconds_to_handle"]
        )
        journal_note_create(alert=alert, contact=contact)
    _audit_alert(AuditAction.UPDATE, alert, user, request)
    _audit_alert(AuditAction.CREATE, alert, user, request, object_type="contact", object_id=contact.pk)
    return contact


def _contact_create(patient, user, kind, actions, note, *, alert=None, at=None, retry_at=None):
    from triage.models import Contact

    return Contact.objects.create(
        patient=patient,
        municipality_id=patient.municipality_id,
        alert=alert,
        kind=kind,
        actions=list(actions),
        note=(note or "").strip(),
        by=user,
        at=at or timezone.now(),
        retry_at=retry_at,
    )


@transaction.atomic
def contact_record(*, patient, user, kind: str, actions: list[str], note: str = "", request=None):
    """A planned contact (routine or evaluation) from the follow-up lists."""
    from tenants.models import AuditAction
    from tenants.services import audit_record

    if not actions and not (note or "").strip():
        raise AlertRefused("Velg et tiltak eller skriv et notat.")
    contact = _contact_create(patient, user, kind, actions, note)
    audit_record(
        action=AuditAction.CREATE, object_type="contact", object_id=contact.pk, patient=patient, request=request
    )
    return contact


def journal_note_create(*, alert: Alert, contact):
    """The structured note of a handled alert (fields of the VKP-DHO guide) and its text."""
    from triage.journal import journal_document, journal_text
    from triage.models import JournalNote

    document = journal_document(alert, contact)
    return JournalNote.objects.create(
        patient=alert.patient,
        municipality_id=alert.municipality_id,
        alert=alert,
        contact=contact,
        document=document,
        text=journal_text(document),
    )
