"""Reads of the insight figures: the rows of every app the figures are computed from (status rows
through billing's one walk of them, staffing, alerts and their events, approved plans, readings,
the forløp's steps), as plain rows for insight.figures, and the report one user may see.

Aggregates only: no patient leaves this module, and the caller audits the read as an aggregate
(tenants.services.audit_record with no patient). The user's scope is insight.access's; the
database's own wall (row-level security) holds the kommuner of the user's centre or kommune.
"""

from __future__ import annotations

import datetime
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate
from pydantic import ValidationError

from billing.calculation import segments
from billing.selectors import status_rows
from ebp.content import Schedule
from ebp.models import PlanVersion, VersionStatus
from insight.access import InsightView, Selection, followed_municipality_ids
from insight.aggregates import WHOLE_AREA, report_figures
from insight.figures import (
    REFERENCE_PER_FTE,
    TREND_DAYS,
    AlertRow,
    AreaReport,
    FunnelEvent,
    PlanRow,
    RetryRow,
    Rows,
    StaffingRow,
    apply_rule,
)
from insight.periods import Bucket, Period
from measurements.models import Reading
from patients.models import Appeal, Consent, Start, StatusChange, StatusEvent
from tenants.models import Centre
from tenants.selectors import staffing_between
from triage.models import Alert, AlertEvent, AlertEventKind
from triage.opening_hours import OSLO, OpeningHours

FIRST_ACTIONS = (AlertEventKind.TAKEN, AlertEventKind.NOT_REACHED, AlertEventKind.HANDLED)
REFERRAL_STEPS: dict[str, str] = {
    StatusEvent.RECEIVED: "referrals",
    StatusEvent.ASSESSED: "assessed",
    StatusEvent.GRANTED: "granted",
    StatusEvent.REFUSED: "refused",
}


def reference_per_fte() -> int:
    """Patients per nurse årsverk the service is sized for: Ullensaker's 80, unless the platform's
    setting (DHO_INSIGHT_PATIENTS_PER_FTE) says otherwise."""
    return int(getattr(settings, "DHO_INSIGHT_PATIENTS_PER_FTE", REFERENCE_PER_FTE))


def _bounds(first: datetime.date, end: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[the start of `first`, the start of `end`) in Norway's time."""
    return (datetime.datetime.combine(first, datetime.time.min, tzinfo=OSLO),
            datetime.datetime.combine(end, datetime.time.min, tzinfo=OSLO))  # fmt: skip


def _local(at: datetime.datetime | None) -> datetime.date | None:
    return at.astimezone(OSLO).date() if at is not None else None


def segment_rows(municipality_ids, period: Period) -> list:
    """The active and paused stretches from TREND_DAYS before the period to its end, walked from the
    status rows by billing's walk (billing.calculation.segments), so pauses and moves count as the
    allocation counts them."""
    span = Bucket(period.first - datetime.timedelta(days=TREND_DAYS), period.last, "")
    return segments(status_rows(municipality_ids, span), span)


def staffing_rows(centre: Centre, period: Period) -> list[StaffingRow]:
    return [
        StaffingRow(s.valid_from, s.valid_to, s.nurse_fte) for s in staffing_between(centre, period.first, period.last)
    ]


def alert_rows(municipality_ids, period: Period) -> list[AlertRow]:
    """The alerts opened in the period, with the first time a nurse acted on each."""
    first, after = _bounds(period.first, period.end)
    alerts = (
        Alert.objects.filter(municipality_id__in=municipality_ids, opened_at__gte=first, opened_at__lt=after)
        .annotate(first_action=Min("events__at", filter=Q(events__kind__in=FIRST_ACTIONS)))
        .values_list(
            "patient_id", "municipality_id", "kind", "colour", "opened_at", "raised_at", "first_action", "handled_at"
        )
    )
    return [AlertRow(str(p), m, kind, colour, opened, raised or opened, action, handled)
            for p, m, kind, colour, opened, raised, action, handled in alerts]  # fmt: skip


def retry_rows(municipality_ids, period: Period) -> list[RetryRow]:
    first, after = _bounds(period.first, period.end)
    events = AlertEvent.objects.filter(
        municipality_id__in=municipality_ids, kind=AlertEventKind.NOT_REACHED, at__gte=first, at__lt=after
    ).values_list("alert__patient_id", "municipality_id", "at")
    return [RetryRow(str(patient), municipality, at.astimezone(OSLO).date()) for patient, municipality, at in events]


def _schedule(content: dict) -> dict[str, tuple[str, int, int]]:
    out: dict[str, tuple[str, int, int]] = {}
    for mtype, raw in (content.get("schedule") or {}).items():
        try:
            schedule = Schedule.model_validate(raw)
        except ValidationError:
            continue  # an approved version was validated when written; a stray value counts as nothing
        out[mtype] = (schedule.frequency, schedule.times_per_day, schedule.days_per_week)
    return out


def plan_rows(patient_ids) -> list[PlanRow]:
    """The approved versions of the patients' plans, each in force from the day it was approved to
    the day the next one was (Norway's days). `patient_ids`: a list, or a query of them. Only the
    schedule is read of each version's content (its text is most of it), as JSON text."""
    if not isinstance(patient_ids, QuerySet):
        patient_ids = list(patient_ids)
    versions = PlanVersion.objects.filter(
        plan__patient_id__in=patient_ids, status__in=[VersionStatus.ACTIVE, VersionStatus.SUPERSEDED],
        decided_at__isnull=False,
    ).values_list("plan__patient_id", "decided_at", "superseded_at", KT("content__schedule"))  # fmt: skip
    rows = []
    parsed: dict[str, dict[str, tuple[str, int, int]]] = {}  # most plans share a schedule: checked once
    for patient_id, decided_at, superseded_at, schedule in versions:
        valid_from = _local(decided_at)
        assert valid_from is not None  # filtered above
        if schedule not in parsed:
            parsed[schedule] = _schedule({"schedule": json.loads(schedule)} if schedule else {})
        rows.append(PlanRow(str(patient_id), valid_from, _local(superseded_at), parsed[schedule]))
    return rows


def reading_counts(patient_ids, period: Period) -> dict[tuple[Any, str, datetime.date], int]:
    """Readings per (patient, type, Norway's day) in the period."""
    first, after = _bounds(period.first, period.end)
    rows = (
        Reading.objects.filter(patient_id__in=list(patient_ids), measured_at__gte=first, measured_at__lt=after)
        .annotate(day=TruncDate("measured_at", tzinfo=OSLO))
        .values_list("patient_id", "type", "day")
        .annotate(n=Count("id"))
    )
    return {(str(patient), mtype, day): n for patient, mtype, day, n in rows}


def _first_rows(rows) -> dict[tuple[Any, str], tuple[datetime.date, int]]:
    """(referral, event) → (its first effective date, municipality): a step counts once."""
    first: dict[tuple[Any, str], tuple[datetime.date, int]] = {}
    for referral_id, event, day, municipality_id in rows:
        key = (referral_id, event)
        if key not in first or day < first[key][0]:
            first[key] = (day, municipality_id)
    return first


def _referral_events(municipality_ids, period: Period) -> tuple[list[FunnelEvent], dict]:
    """Henvisning, vurdering and vedtak, each on its first effective date; with every step date of
    the referrals, for the stages' days."""
    in_period = StatusChange.objects.filter(
        referral__isnull=False, event__in=list(REFERRAL_STEPS), municipality_id__in=municipality_ids,
        effective_date__gte=period.first, effective_date__lte=period.last,
    ).values("referral_id")  # fmt: skip
    rows = StatusChange.objects.filter(referral_id__in=in_period, event__in=list(REFERRAL_STEPS)).values_list(
        "referral_id", "event", "effective_date", "municipality_id"
    )
    first = _first_rows(rows)
    before = {"assessed": "received", "granted": "assessed", "refused": "assessed"}
    events = []
    for (referral_id, event), (day, municipality_id) in first.items():
        if municipality_id not in municipality_ids or not period.first <= day <= period.last:
            continue
        previous = first.get((referral_id, before.get(event, "")))
        days = (day - previous[0]).days if previous else None
        events.append(FunnelEvent(REFERRAL_STEPS[event], day, f"r:{referral_id}", municipality_id, days))
    granted = {referral: day for (referral, event), (day, _m) in first.items() if event == StatusEvent.GRANTED}
    return events, granted


def _granted_on(referral_ids) -> dict[Any, datetime.date]:
    rows = StatusChange.objects.filter(referral_id__in=list(referral_ids), event=StatusEvent.GRANTED).values_list(
        "referral_id", "effective_date"
    )
    out: dict[Any, datetime.date] = {}
    for referral_id, day in rows:
        out[referral_id] = min(day, out.get(referral_id, day))
    return out


def funnel_events(municipality_ids, period: Period, *, endings: bool = True) -> list[FunnelEvent]:
    """The forløp's steps on the days they happened: henvisning, vurdering, vedtak (the status rows
    of the referral), samtykke (its date), oppstart (the `Start` row: a move's carried-on forløp is no
    new oppstart), avslutning (the `ended` rows of patients, not of a record merged into another),
    and klager (the date received). `endings=False` leaves the avslutninger out (insight.aggregates
    counts them in SQL)."""
    ids = set(municipality_ids)
    events, granted = _referral_events(ids, period)
    consents = list(
        Consent.objects.filter(
            municipality_id__in=ids, given_on__gte=period.first, given_on__lte=period.last
        ).values_list("patient_id", "referral_id", "municipality_id", "given_on")
    )
    starts = list(
        Start.objects.filter(
            municipality_id__in=ids, started_on__gte=period.first, started_on__lte=period.last
        ).values_list("patient_id", "referral_id", "municipality_id", "started_on")
    )
    granted.update(_granted_on({r for _p, r, _m, _d in consents if r} - set(granted)))
    consent_on: dict[Any, datetime.date] = {}
    for _p, referral_id, _m, day in Consent.objects.filter(referral_id__in=[r for _p, r, _m, _d in starts]).values_list(
        "patient_id", "referral_id", "municipality_id", "given_on"
    ):
        consent_on[referral_id] = min(day, consent_on.get(referral_id, day))
    for patient_id, referral_id, municipality_id, day in consents:
        since = granted.get(referral_id)
        events.append(FunnelEvent("consented", day, f"p:{patient_id}", municipality_id,
                                  (day - since).days if since else None))  # fmt: skip
    for patient_id, referral_id, municipality_id, day in starts:
        since = consent_on.get(referral_id)
        events.append(FunnelEvent("started", day, f"p:{patient_id}", municipality_id,
                                  (day - since).days if since else None))  # fmt: skip
    if endings:
        events += _endings(ids, period)
    appeals = Appeal.objects.filter(
        decision__referral__municipality_id__in=ids, received_on__gte=period.first, received_on__lte=period.last
    ).values_list("decision__referral_id", "decision__referral__municipality_id", "received_on")
    events += [FunnelEvent("complaints", day, f"r:{referral}", municipality) for referral, municipality, day in appeals]
    return events


def _endings(ids: set[int], period: Period) -> list[FunnelEvent]:
    endings = StatusChange.objects.filter(
        patient__isnull=False, patient__merged_into__isnull=True, event=StatusEvent.ENDED,
        municipality_id__in=ids, effective_date__gte=period.first, effective_date__lte=period.last,
    )  # fmt: skip
    ended = list(endings.values_list("patient_id", "municipality_id", "effective_date", "end_reason"))
    # The forløp's oppstart in the same kommune: a move ends one kommune's forløp and starts the next's.
    started: dict[tuple[Any, int], list[datetime.date]] = defaultdict(list)
    for patient_id, municipality_id, day in StatusChange.objects.filter(
        patient_id__in=endings.values("patient_id"), event=StatusEvent.STARTED
    ).values_list("patient_id", "municipality_id", "effective_date"):
        started[(patient_id, municipality_id)].append(day)
    events = []
    for patient_id, municipality_id, day, reason in ended:
        since = max((d for d in started.get((patient_id, municipality_id), ()) if d <= day), default=None)
        events.append(FunnelEvent("ended", day, f"p:{patient_id}", municipality_id,
                                  (day - since).days if since else None, reason))  # fmt: skip
    return events


def rows_for(centre: Centre, municipality_ids, period: Period, *, whole_centre: bool, sections) -> Rows:
    """Every row the figures of these kommuner need, in a constant number of queries."""
    ids = list(municipality_ids)
    segs = segment_rows(ids, period)
    rows = Rows(segments=segs, hours=OpeningHours.of(centre), reference=reference_per_fte())
    rows.staffing = staffing_rows(centre, period) if whole_centre else None
    if "alarm_burden" in sections:
        rows.alerts, rows.retries = alert_rows(ids, period), retry_rows(ids, period)
    if "adherence" in sections:
        patients = {s.patient_id for s in segs}
        rows.plans, rows.readings = plan_rows(patients), reading_counts(patients, period)
    if "funnel" in sections:
        rows.funnel = funnel_events(ids, period)
    return rows


WHOLE = "whole"  # the area of every kommune the user sees, beside each kommune's own


@dataclass(frozen=True)
class Report:
    """What one answer shows: the selection's figures, whole period and buckets, the rule applied."""

    view: InsightView
    selection: Selection
    period: Period
    figures: AreaReport
    whole_centre: bool  # the figures are the centre's own (staffing and its totals included)


def insight_report(view: InsightView, selection: Selection, period: Period) -> Report:
    """The figures of the selection, with the small-cell rule applied over every kommune the user
    sees and their whole at once (insight.figures.apply_rule): whichever of them the user asks for,
    no two answers differ by a small cell."""
    centre_ids = followed_municipality_ids(view.centre)
    whole_centre = view.whole_centre and centre_ids <= view.municipality_ids
    reports = area_reports(view.centre, view.municipality_ids, period, whole_centre=whole_centre,
                           sections=selection.sections)  # fmt: skip
    chosen = selection.municipality
    key = str(chosen.pk) if chosen is not None else WHOLE
    return Report(view, selection, period, reports[key], whole_centre and chosen is None)


def area_reports(centre: Centre, municipality_ids, period: Period, *, whole_centre: bool,
                 sections) -> dict[str, AreaReport]:  # fmt: skip
    """Each kommune's figures and their whole's (WHOLE), the rule applied. Counted in SQL
    (insight.aggregates); `reports_for(rows_for(…))` is the same computation from rows, the reference
    tests/insight/test_aggregates.py holds it to."""
    ids = sorted(municipality_ids)
    parts = {str(m): m for m in ids}
    reports = report_figures(
        municipality_ids=ids, areas={**parts, WHOLE: WHOLE_AREA}, period=period, sections=sorted(sections),
        whole_centre=whole_centre, staffing=staffing_rows(centre, period) if whole_centre else None,
        reference=reference_per_fte(), hours=OpeningHours.of(centre),
        plans=plan_rows(_patients_of(ids)) if "adherence" in sections else (),
        funnel_events=funnel_events(ids, period, endings=False) if "funnel" in sections else (),
    )  # fmt: skip
    return apply_rule(reports, parts=list(parts), whole=WHOLE)


def _patients_of(municipality_ids) -> QuerySet:
    """Every patient with a status row in the kommuner (a moved one's plan counts in both)."""
    return StatusChange.objects.filter(municipality_id__in=list(municipality_ids), patient__isnull=False).values(
        "patient_id"
    )
