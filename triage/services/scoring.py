"""Scoring stored readings and answers against the patient's plan, in batches.

`triage.scoring` holds the pure rules (a value and thresholds → a colour); this module runs them
over what ingest stored. Idempotent and safe to run twice at once: each task claims its rows with
SELECT … FOR UPDATE SKIP LOCKED WHERE scored_at IS NULL, so a row is scored by exactly one
transaction, and a row whose task died (worker killed, broker lost) is still unscored and is picked
up by the sweeper.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ebp.content import PlanContent, WeightGainRule
from ebp.selectors import thresholds_for_many
from measurements.models import Answer, Reading
from measurements.services import TIME_FIELD
from measurements.types import RANK
from patients.models import Patient, PatientStatus
from tenants.bulk import bulk_update, uuid_array
from triage.models import AlertKind
from triage.scoring import ReadingValue, Score, score, score_answer
from triage.services.alerts import Finding, alerts_upsert, silence_alerts_close

NO_PLAN = "ingen godkjent plan"
AFTER_END = "etter avsluttet forløp"
SWEEP_AFTER = datetime.timedelta(minutes=2)


class Plans:
    """Thresholds per patient for one batch (ebp.selectors.thresholds_for_many, the one rule), and
    which of them have ended their forløp."""

    def __init__(self, patient_municipality: dict, ended: frozenset | set = frozenset()):
        self.thresholds = thresholds_for_many(patient_municipality)
        # Readings of an ended forløp are stored and scored, but put nothing on the worklist.
        self.ended = ended

    @classmethod
    def of(cls, rows: Sequence[Claimed]) -> Plans:
        """The plans of claimed rows, and which of their patients have ended their forløp: their ids as
        one array parameter (read with the claim, a join made PostgreSQL hash every patient of the
        table: 7 ms a chunk at 30,000 patients)."""
        patients = uuid_array({r.patient_id for r in rows})
        ended = (
            Patient.objects.filter(pk__in=patients, status=PatientStatus.ENDED).order_by().values_list("pk", flat=True)
        )
        return cls({r.patient_id: r.municipality_id for r in rows}, set(ended))

    def content(self, patient_id) -> PlanContent:
        return self.thresholds[patient_id].content

    def version_id(self, patient_id) -> int | None:
        return self.thresholds[patient_id].version_id

    def approved_at(self, patient_id) -> datetime.datetime | None:
        return self.thresholds[patient_id].approved_at


@dataclass(slots=True, kw_only=True)
class Claimed:
    """A row a task claimed, with what scoring reads of it and what it writes back: plain objects,
    not model instances (building 250 models per chunk was a sixth of scoring's time)."""

    id: int
    patient_id: uuid.UUID
    municipality_id: int
    scored_at: datetime.datetime | None
    # What scoring works out
    colour: str = ""
    reason: str = ""
    plan_version_id: int | None = None
    alert_id: uuid.UUID | None = None
    sort_time: datetime.datetime | None = None
    later: tuple = ()


@dataclass(slots=True, kw_only=True)
class ClaimedReading(Claimed):
    measured_at: datetime.datetime
    type: str
    value: float | None
    systolic: float | None
    diastolic: float | None


@dataclass(slots=True, kw_only=True)
class ClaimedAnswer(Claimed):
    answered_at: datetime.datetime
    questionnaire: str
    answers: dict
    total: int | None


# What each kind's claim reads of its own, by the names of its class's fields.
CLAIMED = {
    Reading: (ClaimedReading, ("measured_at", "type", "value", "systolic", "diastolic")),
    Answer: (ClaimedAnswer, ("answered_at", "questionnaire", "answers", "total")),
}


def _value(r: ClaimedReading) -> ReadingValue:
    return ReadingValue(r.type, r.measured_at, r.value, r.systolic, r.diastolic)


def _weight_window(content: PlanContent) -> int | None:
    days = [rule.days for rule in content.trend_rules if isinstance(rule, WeightGainRule)]
    return max(days) if days else None


def _history(readings: list[ClaimedReading], plans: Plans) -> dict:
    """The weights around the batch's for patients whose plan has a weight-gain rule, one query per
    batch (from reading_by_patient alone): the rule's days before the batch's, which each weight is
    compared with, and its days after, which a weight that arrived late is compared with."""
    windows = {}
    for r in readings:
        window = _weight_window(plans.content(r.patient_id)) if r.type == "weight" else None
        if window:
            windows[r.patient_id] = window
    if not windows:
        return {}
    reach = datetime.timedelta(days=max(windows.values()))
    weights = [r.measured_at for r in readings if r.patient_id in windows and r.type == "weight"]
    rows = Reading.objects.filter(
        patient_id__in=list(windows),
        type="weight",
        measured_at__gte=min(weights) - reach,
        measured_at__lte=max(weights) + reach,
    ).values_list("patient_id", "measured_at", "value", "colour")
    history = defaultdict(list)
    for patient_id, measured_at, value, colour in rows:
        history[patient_id].append(ReadingValue("weight", measured_at, value, colour=colour))
    return history


def _later_link(readings: list) -> None:
    """A late weight's gain rests on a weight measured after it and scored before it arrived: that
    one goes on the alert too, so the alert and its journal note show both. Only a weight on no
    alert: one on another alert stays there. Rare (a device offline, a second device), so a statement
    for each such reading."""
    for r in readings:
        if r.later and r.alert_id:
            Reading.objects.filter(
                patient_id=r.patient_id, type=r.type, measured_at__in=r.later, alert_id__isnull=True
            ).update(alert_id=r.alert_id)


def _worst(scored: list):
    return max(scored, key=lambda item: (RANK[item.colour], item.sort_time))


def _finding(rows: list, plans: Plans, kind: str) -> Finding:
    """The patient's worst row of the batch, as what the alert is about."""
    worst = _worst(rows)
    is_reading = kind == AlertKind.OUT_OF_RANGE
    return Finding(
        worst.patient_id,
        worst.municipality_id,
        kind,
        "",
        worst.colour,
        worst.reason,
        plans.version_id(worst.patient_id) is None,
        measurement=worst.type if is_reading else worst.questionnaire,
        reading_id=worst.id if is_reading else None,
        answer_id=None if is_reading else worst.id,
    )


def _apply(rows: list, plans: Plans, kind: str, now) -> None:
    """Open or raise one alert per patient for the batch's yellow and red rows and link them."""
    by_patient = defaultdict(list)
    for row in rows:
        if row.colour in ("yellow", "red") and row.patient_id not in plans.ended:
            by_patient[row.patient_id].append(row)
    alert_ids = alerts_upsert([_finding(deviating, plans, kind) for deviating in by_patient.values()], now)
    for patient_id, deviating in by_patient.items():
        for row in deviating:
            row.alert_id = alert_ids[(patient_id, kind, "")]


def _store_scores(model, rows: list, now) -> None:
    """Write colour, reason, plan version and alert of a scored batch in one UPDATE … FROM unnest,
    each row found by its primary key in its own partition (tenants.bulk.bulk_update)."""
    time_field = TIME_FIELD[model]  # what each kind is partitioned by
    bulk_update(
        model,
        {
            "id": [r.id for r in rows],
            time_field: [getattr(r, time_field) for r in rows],
            "colour": [r.colour for r in rows],
            "reason": [r.reason for r in rows],
            "scored_at": now,
            "plan_version_id": [r.plan_version_id for r in rows],
            "alert_id": [r.alert_id for r in rows],
        },
        key=("id", time_field),
    )


def _reason(found: Score, without_plan: bool, ended: bool) -> str:
    notes = [NO_PLAN] if without_plan and found.colour != "green" else []
    notes += [AFTER_END] if ended else []
    return f"{found.reason} ({'; '.join(notes)})".strip() if notes else found.reason


def _claim(model, ids: Iterable[int], time_field: str, between: tuple | None = None, more: Iterable[int] = ()) -> list:
    """Lock the given rows that are still unscored; rows another task holds are skipped, not waited for.
    `between` (earliest, latest): the rows' times, so that PostgreSQL reads only those months'
    partitions; `more`: ids of rows of any time (the urgent ones other tasks queued), found by id.
    The rows are found by id and the scored ones dropped here: with `scored_at IS NULL` in the
    query PostgreSQL reads them through the partial index of unscored rows, the whole backlog, so
    every chunk got slower the further scoring fell behind. A scored row locked with them is left
    as it is (the lock goes with the transaction)."""
    kind, fields = CLAIMED[model]
    ids = list(ids)
    queries = [(ids, between)] if ids else []
    own = set(ids)
    extra = [pk for pk in more if pk not in own]
    queries += [(extra, None)] if extra else []
    claimed = []
    for wanted, period in queries:
        rows = model.objects.select_for_update(skip_locked=True).filter(id__in=wanted)
        if period is not None:
            rows = rows.filter(**{f"{time_field}__range": period})
        found = rows.order_by(time_field, "id").values_list("id", "patient_id", "municipality_id", "scored_at", *fields)
        claimed += [
            kind(
                id=pk,
                patient_id=patient_id,
                municipality_id=municipality_id,
                scored_at=scored_at,
                **dict(zip(fields, values, strict=True)),
            )
            for pk, patient_id, municipality_id, scored_at, *values in found
            if scored_at is None
        ]
    return sorted(claimed, key=lambda row: (getattr(row, time_field), row.id)) if len(queries) > 1 else claimed


def _record(row, found: Score, plans: Plans, now, sort_time) -> None:
    version_id = plans.version_id(row.patient_id)
    reason = _reason(found, version_id is None, row.patient_id in plans.ended)
    row.colour, row.reason, row.scored_at = found.colour, reason[:300], now
    row.plan_version_id = version_id
    row.sort_time = sort_time


@transaction.atomic
def readings_score(reading_ids: Iterable[int], *, between: tuple | None = None, more: Iterable[int] = ()) -> int:
    """Score the given readings that are still unscored; returns how many this call scored. `between`:
    the earliest and latest time of `reading_ids`' rows; `more`: other ids, of any time (`_claim`)."""
    readings: list[ClaimedReading] = _claim(Reading, reading_ids, "measured_at", between, more)
    if not readings:
        return 0
    plans = Plans.of(readings)
    history = _history(readings, plans)
    now = timezone.now()
    for r in readings:
        found = score(_value(r), plans.content(r.patient_id), history.get(r.patient_id, ()))
        _record(r, found, plans, now, r.measured_at)
        r.later = found.later
    _apply(readings, plans, AlertKind.OUT_OF_RANGE, now)
    _store_scores(Reading, readings, now)
    _later_link(readings)
    silence_alerts_close({r.patient_id for r in readings}, {(r.patient_id, r.type) for r in readings}, now)
    return len(readings)


@transaction.atomic
def answers_score(answer_ids: Iterable[int], *, between: tuple | None = None, more: Iterable[int] = ()) -> int:
    """Score questionnaire answers by the plan's answer rules, like readings_score."""
    answers: list[ClaimedAnswer] = _claim(Answer, answer_ids, "answered_at", between, more)
    if not answers:
        return 0
    plans = Plans.of(answers)
    now = timezone.now()
    for a in answers:
        found = score_answer(a.questionnaire, a.answers, a.total, plans.content(a.patient_id))
        _record(a, found, plans, now, a.answered_at)
    _apply(answers, plans, AlertKind.DEVIATING_ANSWER, now)
    _store_scores(Answer, answers, now)
    answered = {(a.patient_id, a.questionnaire) for a in answers}
    silence_alerts_close({a.patient_id for a in answers}, set(), now, answered=answered)
    return len(answers)


def unscored_ids(model, older_than: datetime.timedelta = SWEEP_AFTER, limit: int = 10_000) -> list[int]:
    """Rows still unscored after `older_than`: their task was lost (broker down, worker killed)."""
    cutoff = timezone.now() - older_than
    return list(
        model.objects.filter(scored_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("id", flat=True)[:limit]
    )
