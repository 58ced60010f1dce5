"""Reads of the gevinst: what is due of a forløp (the patient page, the forløp board), a patient's
registrations and survey answers, and the report's rows as plain rows for insight.gevinst.figures.

The patient-level reads take a patient (or ids) the caller reached through the scope selectors
(patients.selectors.get_patient_for, the board's own list), and the caller audits what it shows. The
report's reads take the kommuner insight.gevinst.access gave the user; no patient leaves them, and
the caller audits the read as an aggregate. Row-level security holds the user's scope besides.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from insight.access import InsightView, Selection
from insight.gevinst.figures import GevinstRows, ServiceRow, SurveyRow, period_totals, reports_for
from insight.gevinst.schedule import DUE, Forlop, Point, schedule
from insight.models import ComparisonServiceUse, ServiceUse, SurveyAnswer
from insight.periods import Period, PeriodError, months_back, period_parse
from measurements.models import Answer, Questionnaire
from patients.models import Patient, StatusChange, StatusEvent
from tenants.compiled import NO_UUID, CompiledQuery
from tenants.models import Municipality
from triage.opening_hours import OSLO

DEFAULT_MONTHS = 24  # the report's period when none is asked for: a forløp's null-punkt and its 12 months


# --- the forløp and what is due ---------------------------------------------------------------------


FORLOP_ORDER = ("effective_date", "at", "id")  # StatusChange's own ordering: a history read for a page has it


def forlops_of(
    patient_ids: Iterable[uuid.UUID], kommune: dict | None = None, changes: Iterable[StatusChange] | None = None
) -> dict[uuid.UUID, Forlop]:
    """The present forløp of each patient that has started one, in its present kommune (a moved
    patient's forløp starts anew there), from the status history: two queries for any number, one
    when the caller has the patients' kommuner already (`kommune`: patient id → municipality id),
    none when it has read their whole status history too (`changes`, in FORLOP_ORDER)."""
    ids = list(patient_ids)
    if kommune is None:
        kommune = dict(Patient.objects.filter(pk__in=ids).values_list("pk", "municipality_id"))
    rows: Iterable[tuple]
    if changes is None:
        rows = (
            StatusChange.objects.filter(patient_id__in=ids, event__in=[StatusEvent.STARTED, StatusEvent.ENDED])
            .order_by(*FORLOP_ORDER)
            .values_list("patient_id", "municipality_id", "event", "effective_date")
        )
    else:
        wanted, events = set(ids), {StatusEvent.STARTED, StatusEvent.ENDED}
        rows = [
            (c.patient_id, c.municipality_id, c.event, c.effective_date)
            for c in changes
            if c.patient_id in wanted and c.event in events
        ]
    walked: dict[uuid.UUID, Forlop] = {}
    for patient_id, municipality_id, event, day in rows:
        if municipality_id != kommune.get(patient_id):
            continue  # another kommune's forløp of a moved patient
        current = walked.get(patient_id)
        if event == StatusEvent.STARTED and (current is None or current.ended_on is not None):
            walked[patient_id] = Forlop(municipality_id, day, None, current.ended_on if current else None)
        elif event == StatusEvent.ENDED and current is not None and current.ended_on is None:
            walked[patient_id] = Forlop(municipality_id, current.started_on, day, current.previous_end)
    return walked


def registered_of(
    forlops: dict[uuid.UUID, Forlop], uses: Iterable[ServiceUse] | None = None
) -> dict[uuid.UUID, dict[str, datetime.datetime]]:
    """patient → {kind: when first registered} of the registrations that belong to the present forløp:
    made in its kommune, for a period that ends after the forløp before it ended. One query, none
    when the caller has read the patients' registrations already (`uses`)."""
    found: dict[uuid.UUID, dict[str, datetime.datetime]] = defaultdict(dict)
    rows: Iterable[tuple]
    if uses is None:
        rows = (
            ServiceUse.objects.filter(patient_id__in=list(forlops))
            .order_by("registered_at")
            .values_list("patient_id", "municipality_id", "kind", "period_to", "registered_at")
        )
    else:
        columns = [(u.patient_id, u.municipality_id, u.kind, u.period_to, u.registered_at) for u in uses]
        rows = sorted((row for row in columns if row[0] in forlops), key=lambda row: row[4])
    for patient_id, municipality_id, kind, period_to, at in rows:
        forlop = forlops[patient_id]
        if municipality_id == forlop.municipality_id and (
            forlop.previous_end is None or period_to > forlop.previous_end
        ):
            found[patient_id].setdefault(kind, at)
    return found


def schedules_of(
    patient_ids: Iterable[uuid.UUID],
    today: datetime.date | None = None,
    *,
    kommune: dict | None = None,
    uses: Iterable[ServiceUse] | None = None,
    changes: Iterable[StatusChange] | None = None,
) -> dict[uuid.UUID, list[Point]]:
    """What is due of each patient's forløp; `kommune`, `changes` and `uses` as forlops_of and
    registered_of take them."""
    today = today or timezone.localdate()
    forlops = forlops_of(patient_ids, kommune, changes)
    registered = registered_of(forlops, uses)
    return {pk: schedule(forlop, registered.get(pk, {}), today) for pk, forlop in forlops.items()}


def due_among(patient_ids: Iterable[uuid.UUID], today: datetime.date | None = None) -> dict[uuid.UUID, list[Point]]:
    """The points that are due (their date come, no registration yet), per patient that has any."""
    found = {pk: [p for p in points if p.state == DUE] for pk, points in schedules_of(patient_ids, today).items()}
    return {pk: points for pk, points in found.items() if points}


def due_labels(labels: dict[str, Any]):
    """The forløp board's gevinst marks: each board patient → the labels (`labels`: kind → label) of
    its registrations that are due, every kind at once (three queries for the whole board)."""

    def marks(patient_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
        due = due_among(patient_ids).items()
        return {pk: [labels[p.kind] for p in points if p.kind in labels] for pk, points in due}

    return marks


# --- one patient's registrations ----------------------------------------------------------------


@dataclass(frozen=True)
class SurveyShown:
    """A survey answer as the patient page and the API show it, entered from paper or sent by a tablet."""

    id: str  # «papir-12», «nettbrett-34»
    answered_on: datetime.date
    answers: dict[str, str]
    comment: str
    source: str  # paper | device
    registered_by: Any  # the user who entered the paper form; None for a tablet's


def service_uses_of(patient) -> QuerySet[ServiceUse]:
    """A patient's (or a patient id's) service use registrations, in their periods' order."""
    return (
        ServiceUse.objects.filter(patient=patient)
        .select_related("registered_by")
        .order_by("period_from", "registered_at")
    )


# One patient's registrations and survey answers, compiled once per process (tenants/compiled.py):
# the patient page reads them on every view.
_SERVICE_USES = CompiledQuery(lambda _key, patient_id: service_uses_of(patient_id), patient_id=NO_UUID)
_PAPER_SURVEYS = CompiledQuery(
    lambda _key, patient_id: SurveyAnswer.objects.filter(patient_id=patient_id).select_related("registered_by"),
    patient_id=NO_UUID,
)
_DEVICE_SURVEYS = CompiledQuery(
    lambda _key, patient_id: Answer.objects.filter(patient_id=patient_id, questionnaire=Questionnaire.SURVEY),
    patient_id=NO_UUID,
)


def surveys_of(patient: Patient) -> list[SurveyShown]:
    """The patient's survey answers from both roads, oldest first."""
    paper = [
        SurveyShown(f"papir-{s.pk}", s.answered_on, s.answers(), s.comment, "paper", s.registered_by)
        for s in _PAPER_SURVEYS.objects(None, patient_id=patient.pk)
    ]
    device = [
        SurveyShown(f"nettbrett-{a.pk}", a.answered_at.astimezone(OSLO).date(), dict(a.answers), "", "device", None)
        for a in _DEVICE_SURVEYS.objects(None, patient_id=patient.pk)
    ]
    return sorted(paper + device, key=lambda s: (s.answered_on, s.id))


@dataclass(frozen=True)
class PatientGevinst:
    schedule: list[Point]
    registrations: list[ServiceUse]
    surveys: list[SurveyShown]


def patient_gevinst(patient: Patient, changes: Iterable[StatusChange] | None = None) -> PatientGevinst:
    """One patient's page of it: the schedule is worked out from the patient's kommune and the
    registrations read for the page (four queries, not six), and from the patient's status history
    when the page has read it already (`changes`: all of the patient's, in their own order; three)."""
    registrations = _SERVICE_USES.objects(None, patient_id=patient.pk)
    points = schedules_of(
        [patient.pk], kommune={patient.pk: patient.municipality_id}, uses=registrations, changes=changes
    )
    return PatientGevinst(schedule=points.get(patient.pk, []), registrations=registrations, surveys=surveys_of(patient))


# --- the report ------------------------------------------------------------------------------------


def gevinst_period(raw_from: str = "", raw_to: str = "", *, today: datetime.date) -> Period:
    """The report's period: registrations whose period ends within it count. `to` defaults to today,
    `from` to the first of the month 23 months before `to`. Raises insight.periods.PeriodError."""
    period = period_parse(raw_from, raw_to, "month", today=today)
    if (raw_from or "").strip():
        return period
    try:
        return period_parse(
            months_back(period.last, DEFAULT_MONTHS).isoformat(), period.last.isoformat(), "month", today=today
        )
    except PeriodError:  # cannot happen within three years; the twelve months stand
        return period


def _service_rows(queryset, person) -> list[ServiceRow]:
    return [
        ServiceRow(person(row), row.municipality_id, row.kind, row.days, period_totals(row.values(), row.days))
        for row in queryset
    ]


def service_rows(municipality_ids, period: Period) -> list[ServiceRow]:
    rows = ServiceUse.objects.filter(
        municipality_id__in=list(municipality_ids), period_to__gte=period.first, period_to__lte=period.last
    )
    return _service_rows(rows, lambda row: f"p:{row.patient_id}")


def comparison_rows(municipality_ids, period: Period) -> list[ServiceRow]:
    rows = ComparisonServiceUse.objects.filter(
        municipality_id__in=list(municipality_ids), period_to__gte=period.first, period_to__lte=period.last
    )
    return _service_rows(rows, lambda row: f"k:{row.municipality_id}:{row.code}")


def survey_rows(municipality_ids, period: Period) -> list[SurveyRow]:
    """Each patient's latest survey answer in the period, from paper or a tablet (a patient counts
    once, whoever answered twice). Of one day's answers the tablet's latest by its time, and a paper
    form (whose hour is not written down) over a tablet's."""
    ids = list(municipality_ids)
    found: dict[Any, SurveyRow] = {}
    paper = SurveyAnswer.objects.filter(
        municipality_id__in=ids, answered_on__gte=period.first, answered_on__lte=period.last
    )
    candidates = [(s.answered_on, 1, s.registered_at, s.patient_id, s.municipality_id, s.answers()) for s in paper]
    first = datetime.datetime.combine(period.first, datetime.time.min, tzinfo=OSLO)
    after = datetime.datetime.combine(period.end, datetime.time.min, tzinfo=OSLO)
    device = Answer.objects.filter(
        municipality_id__in=ids, questionnaire=Questionnaire.SURVEY, answered_at__gte=first, answered_at__lt=after
    ).values_list("answered_at", "patient_id", "municipality_id", "answers")
    candidates += [(at.astimezone(OSLO).date(), 0, at, p, m, dict(answers)) for at, p, m, answers in device]
    # Sorted by day, source and time: the model's own order (a tablet's newest first) would leave a
    # day's older answer last, and the last one wins.
    for day, _source, _at, patient_id, municipality_id, answers in sorted(candidates, key=lambda c: c[:3]):
        found[patient_id] = SurveyRow(f"p:{patient_id}", municipality_id, day, answers)
    return list(found.values())


def rows_for(municipality_ids, period: Period) -> GevinstRows:
    return GevinstRows(
        service=service_rows(municipality_ids, period),
        comparison=comparison_rows(municipality_ids, period),
        survey=survey_rows(municipality_ids, period),
    )


WHOLE = "whole"


@dataclass(frozen=True)
class GevinstReport:
    view: InsightView
    selection: Selection
    period: Period
    figures: dict  # section → Section, the rule applied
    municipalities: list[Municipality]  # those the figures cover, by name


def gevinst_report(view: InsightView, selection: Selection, period: Period) -> GevinstReport:
    """The figures of the selection (one kommune, or every kommune the user sees), the small-cell rule
    applied over every kommune of the view and their whole at once (insight.gevinst.figures)."""
    parts = {str(m): frozenset({m}) for m in sorted(view.municipality_ids)}
    reports = reports_for(
        rows_for(view.municipality_ids, period), parts=parts, whole=WHOLE, whole_ids=view.municipality_ids
    )
    chosen = selection.municipality
    shown = list(Municipality.objects.filter(pk__in=selection.municipality_ids).order_by("name"))
    return GevinstReport(view, selection, period, reports[str(chosen.pk) if chosen else WHOLE], shown)


def comparison_list(municipality_ids) -> QuerySet[ComparisonServiceUse]:
    """The comparison group's rows of these kommuner (the user's own: insight.gevinst.access)."""
    return (
        ComparisonServiceUse.objects.filter(municipality_id__in=list(municipality_ids))
        .select_related("municipality")
        .order_by("municipality__name", "code", "period_from")
    )
