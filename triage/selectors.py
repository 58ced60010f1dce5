"""Reads of alerts, always within the user's patient scope."""

import datetime
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Max, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ebp.models import PlanVersion, VersionStatus
from ebp.selectors import thresholds_for, without_approved_plan
from measurements.extensions import named
from measurements.models import Answer, Reading
from measurements.partitions import months_of_alerts
from measurements.types import RANK, SPECS, spec
from patients.forlop import DEFAULT_EVALUATION_MONTHS, evaluation_due
from patients.models import Patient, PatientStatus, Start
from patients.selectors import visible_patients
from tenants.bulk import uuid_array
from tenants.charts import Table
from tenants.compiled import LONG_AGO, NO_UUID, CompiledQuery
from tenants.models import Centre
from tenants.norwegian import number
from tenants.people import people_named
from tenants.selectors import centre_of, user_scope
from triage.models import (
    Alert,
    AlertEvent,
    AlertEventKind,
    AlertStatus,
    Contact,
    ContactAction,
    ContactKind,
    JournalNote,
)
from triage.opening_hours import OpeningHours, overdue_limit
from triage.trends import charts_for, trend_table


def visible_alerts(user) -> QuerySet[Alert]:
    return Alert.objects.filter(patient__in=visible_patients(user))


def alert_readings(alert: Alert) -> QuerySet[Reading]:
    """The readings that opened or kept this alert. Reading.alert_id is a plain uuid, not a foreign key
    (measurements sits below triage), so this is a filter and there is no `alert.readings`."""
    return Reading.objects.filter(alert_id=alert.pk)


def alert_answers(alert: Alert) -> QuerySet[Answer]:
    """The questionnaire answers that opened or kept this alert (as alert_readings)."""
    return Answer.objects.filter(alert_id=alert.pk)


def with_findings(alerts) -> list[Alert]:
    """Sets `readings` and `answers` (newest first) on each alert of a page: two queries, whatever
    the page's length (what prefetch_related did while they were foreign keys)."""
    alerts = list(alerts)
    ids = [a.pk for a in alerts]
    readings, answers = defaultdict(list), defaultdict(list)
    for r in Reading.objects.filter(alert_id__in=ids).order_by("-measured_at"):
        readings[r.alert_id].append(r)
    for a in Answer.objects.filter(alert_id__in=ids).order_by("-answered_at"):
        answers[a.alert_id].append(a)
    for alert in alerts:
        alert.readings, alert.answers = readings[alert.pk], answers[alert.pk]
    return alerts


def alerts_for_list(
    user, *, status: str = "", municipality: str = "", colour: str = "", patient: str = ""
) -> QuerySet[Alert]:
    """Alerts in the user's scope, filtered; a page of them gets its findings with with_findings."""
    qs = visible_alerts(user).select_related("patient", "municipality")
    if patient:
        try:
            qs = qs.filter(patient_id=uuid.UUID(patient))
        except ValueError:
            return qs.none()
    if status:
        qs = qs.filter(status=status)
    if municipality:
        qs = qs.filter(municipality__number=municipality)
    if colour:
        qs = qs.filter(colour=colour)
    return qs


# --- the worklist --------------------------------------------------------------------------------

NEW_FOR = datetime.timedelta(minutes=10)  # a red this fresh is marked «ny» on the worklist
TREND_POINTS = 6


@dataclass
class WorklistRow:
    alert: Alert
    since: datetime.datetime  # when it got its current colour
    overdue: bool
    new: bool
    trend: list  # the last values of the alert's measurement, oldest first


@dataclass
class Worklist:
    rows: list[WorklistRow]  # the page's rows, in the list's order
    counts: dict[str, int]
    overdue_count: int
    hours: OpeningHours
    open_now: bool
    next_opening: datetime.datetime | None
    page: Page  # of the whole list (after the colour filter): its number, count, first and last row
    new_elsewhere: int = 0  # «ny» reds on the other pages
    municipalities: list = field(default_factory=list)


def worklist_centre(user):
    """Whose opening hours apply: the user's centre, else the centre their municipality belongs to."""
    scope = user_scope(user)
    if scope.centre_ids:
        return Centre.objects.filter(pk__in=scope.centre_ids).order_by("pk").first()
    return centre_of(scope.municipality_ids[0]) if scope.municipality_ids else None


TREND_SQL = (
    "SELECT k.patient_id, k.type, r.value, r.systolic, r.diastolic, r.colour "
    "FROM unnest(%s::uuid[], %s::text[]) AS k(patient_id, type) CROSS JOIN LATERAL ("
    "  SELECT value, systolic, diastolic, colour, measured_at FROM measurements_reading m"
    "  WHERE m.patient_id = k.patient_id AND m.type = k.type{since} ORDER BY m.measured_at DESC LIMIT %s) r"
)
# The first look for a row's last values goes this far back: a bound given as a constant lets
# PostgreSQL leave the older months' partitions out of the plan (planning every month of a year cost
# ~8 ms). 90 days, the patient page's longest chart: a type measured weekly still has its six in it.
TREND_WINDOW = datetime.timedelta(days=90)


def _trend_rows(pairs: list[tuple], since: datetime.datetime | None) -> list[tuple]:
    bound = " AND m.measured_at >= %s" if since is not None else ""
    params: list[Any] = [[p for p, _ in pairs], [t for _, t in pairs], *([since] if since else []), TREND_POINTS]
    with connection.cursor() as cursor:
        cursor.execute(TREND_SQL.format(since=bound), params)
        return cursor.fetchall()


def _trends(alerts: list[Alert], now=None) -> dict[tuple, list]:
    """The last TREND_POINTS readings of each (patient, measurement): one LATERAL query over the
    (patient, type, time) index, however many alerts there are, within TREND_WINDOW; the pairs that
    have fewer than TREND_POINTS readings in it (a new patient, a type seldom measured) are asked
    again without the bound, so the row shows the same last values as an unbounded query would."""
    # SPECS is read here, not at import: a type added to the catalogue later gets its trend too.
    pairs = sorted({(a.patient_id, a.measurement) for a in alerts if a.measurement in SPECS})
    if not pairs:
        return {}
    found: dict[tuple, list] = defaultdict(list)
    for patient_id, mtype, *reading in _trend_rows(pairs, (now or timezone.now()) - TREND_WINDOW):
        found[(patient_id, mtype)].append(reading)
    short = [pair for pair in pairs if len(found.get(pair, ())) < TREND_POINTS]
    if short:
        for pair in short:
            found.pop(pair, None)
        for patient_id, mtype, *reading in _trend_rows(short, None):
            found[(patient_id, mtype)].append(reading)
    texts: dict[tuple, str] = {}  # the same few values recur across 1,800 points: format each once
    return {key: [_trend_point(key[1], r, texts) for r in reversed(readings)] for key, readings in found.items()}


def _trend_point(mtype: str, reading: list, texts: dict) -> dict:
    value, systolic, diastolic, colour = reading
    shown = value if value is not None else systolic
    text = texts.get((mtype, shown, diastolic))
    if text is None:
        decimals = spec(mtype).decimals
        text = number(shown, decimals) + (f"/{number(diastolic, decimals)}" if diastolic is not None else "")
        texts[(mtype, shown, diastolic)] = text
    return {"value": shown, "text": text, "colour": colour}


# What a row, its order and the audit of it read: 300 rows of every column of four tables were a
# fifth of the page's time (loading the values, building the model instances).
WORKLIST_FIELDS = (
    *("id", "patient_id", "municipality_id", "kind", "colour", "reason", "status", "opened_at", "raised_at"),
    *("measurement", "taken_by_id", "retry_at"),
    *("patient__name", "patient__national_id", "patient__status", "patient__status_until"),
    *("patient__municipality_id", "patient__gp_id"),
    *("municipality__name", "taken_by__username", "taken_by__first_name", "taken_by__last_name"),
)


WORKLIST_PAGE = 50  # rows a page shows: the most urgent first, so the first page is the one to work from


@dataclass
class _Place:
    """An open alert's place in the list: what its order, the counts and «ny» are made of."""

    pk: uuid.UUID
    colour: str
    since: datetime.datetime
    overdue: bool
    new: bool

    def order(self) -> tuple:
        return (not self.overdue, -RANK[self.colour], self.since, str(self.pk))


def _places(qs: QuerySet[Alert], hours: OpeningHours, now) -> list[_Place]:
    # overdue: one moment per colour (is_overdue's answer for every row, without counting each row's days)
    red, other = (hours.overdue_before(now, overdue_limit(colour, hours)) for colour in ("red", "yellow"))
    places = []
    for pk, colour, raised_at, opened_at in qs.values_list("id", "colour", "raised_at", "opened_at"):
        since = raised_at or opened_at
        edge = red if colour == "red" else other
        overdue = edge is not None and since < edge
        places.append(_Place(pk, colour, since, overdue, colour == "red" and now - since < NEW_FOR))
    return places


def worklist(
    user,
    *,
    municipality: str = "",
    colour: str = "",
    diagnosis: str = "",
    mine: bool = False,
    page: int | str | None = 1,
    now=None,
) -> Worklist:
    """Open alerts in the user's scope: overdue first, then red before yellow, oldest first; the
    counts over all of them, the rows of one page (WORKLIST_PAGE). Every open alert's place is read
    with four columns; only the page's rows are read whole and get their trend, so a page costs the
    same whether the centre has 50 open alerts or 500. `page` as Paginator.get_page takes it (not a
    number: the first; past the end, as when the list got shorter: the last)."""
    now = now or timezone.now()
    qs = visible_alerts(user).filter(status=AlertStatus.OPEN)
    if municipality:
        qs = qs.filter(municipality__number=municipality)
    if diagnosis:
        qs = qs.filter(patient__diagnoses__contains=[diagnosis])
    if mine:
        qs = qs.filter(taken_by=user)
    hours = OpeningHours.of(worklist_centre(user))
    places = _places(qs, hours, now)
    counts = {"red": sum(p.colour == "red" for p in places), "yellow": sum(p.colour == "yellow" for p in places)}
    listed = sorted((p for p in places if not colour or p.colour == colour), key=_Place.order)
    shown = Paginator(listed, WORKLIST_PAGE).get_page(page)
    return Worklist(
        rows=_rows(qs, list(shown), now),
        counts=counts,
        overdue_count=sum(p.overdue for p in listed),
        hours=hours,
        open_now=hours.is_open(now),
        next_opening=hours.next_opening(now),
        page=shown,
        new_elsewhere=sum(p.new for p in listed) - sum(p.new for p in shown),
    )


def _rows(qs: QuerySet[Alert], shown: list[_Place], now) -> list[WorklistRow]:
    """The page's alerts read whole (WORKLIST_FIELDS), with their trends, in the list's order."""
    alerts = {
        a.pk: a
        for a in qs.filter(pk__in=[p.pk for p in shown])
        .select_related("patient", "municipality", "taken_by")
        .only(*WORKLIST_FIELDS)
    }
    trends = _trends(list(alerts.values()), now)
    rows = []
    for place in shown:
        alert = alerts.get(place.pk)
        if alert is None:  # handled or closed between the two reads: gone from the list
            continue
        trend = trends.get((alert.patient_id, alert.measurement), [])
        rows.append(WorklistRow(alert, place.since, place.overdue, place.new, trend))
    return rows


def get_alert_for(user, alert_id) -> Alert:
    """An alert in the user's scope, or Http404 (missing and foreign alike)."""
    try:
        key = uuid.UUID(str(alert_id))
    except ValueError:
        raise Http404 from None
    alert = (
        visible_alerts(user).select_related("patient__municipality", "patient__gp", "taken_by").filter(pk=key).first()
    )
    if alert is None:
        raise Http404
    return alert


# --- planned follow-up ---------------------------------------------------------------------------


@dataclass
class DueRow:
    patient: object
    due_at: datetime.datetime
    last: datetime.datetime | None  # the last contact (or approval) it counts from


@dataclass
class FollowUpDue:
    routine: list[DueRow]
    evaluation: list[DueRow]


def _in_municipality(patients: QuerySet[Patient], municipality: str) -> QuerySet[Patient]:
    # A kommunenummer the caller has checked against the user's scope (the view answers 404 otherwise).
    return patients.filter(municipality__number=municipality) if municipality else patients


# The contacts the routine clock restarts from: those in which the patient was spoken to. A routine
# contact, an evaluation and a call from the patient are with the patient; an alert's handling only
# when the nurse reached the patient (a call answered, advice by the plan) — one closed with «Ingen
# tiltak nødvendig», or by calling the fastlege or the legevakt, spoke to no one. A call not answered
# never counts.
SPOKEN_WITH = (
    Q(kind__in=[ContactKind.ROUTINE, ContactKind.EVALUATION, ContactKind.CALL_IN])
    | Q(actions__overlap=[ContactAction.CALLED_REACHED, ContactAction.ADVISED_EBP])
) & ~Q(actions__contains=[ContactAction.CALLED_NOT_REACHED])


def follow_up_due(user, now=None, *, municipality: str = "") -> FollowUpDue:
    """Active patients due a routine contact (every N weeks from the last contact that reached the
    patient, SPOKEN_WITH) and an
    evaluation (`patients.forlop.evaluation_due`, unless an evaluation has been recorded since it fell due). For nurses
    and koordinatorer alike: whoever sees the patient; `municipality` (kommunenummer) narrows it.
    Five queries."""
    now = now or timezone.now()
    centre = worklist_centre(user)
    weeks = centre.routine_contact_weeks if centre else 6
    months = centre.evaluation_months if centre else DEFAULT_EVALUATION_MONTHS
    patients = list(
        _in_municipality(visible_patients(user), municipality)
        .filter(status=PatientStatus.ACTIVE)
        .select_related("municipality", "gp")
    )
    ids = [p.id for p in patients]
    last_contact = dict(
        Contact.objects.filter(SPOKEN_WITH, patient_id__in=ids)
        .values("patient_id")
        .annotate(m=Max("at"))
        .values_list("patient_id", "m")
    )
    last_evaluation = dict(
        Contact.objects.filter(patient_id__in=ids, kind=ContactKind.EVALUATION)
        .values("patient_id")
        .annotate(m=Max("at"))
        .values_list("patient_id", "m")
    )
    approved = dict(
        PlanVersion.objects.filter(status=VersionStatus.ACTIVE, plan__patient_id__in=ids).values_list(
            "plan__patient_id", "decided_at"
        )
    )
    starts = {  # the latest oppstart of each patient (ordered oldest first: the last one wins)
        patient_id: rest
        for patient_id, *rest in Start.objects.filter(patient_id__in=ids)
        .order_by("started_on", "at")
        .values_list("patient_id", "started_on", "next_evaluation", "referral__decision__evaluation_date")
    }
    routine, evaluation = [], []
    for p in patients:
        since = last_contact.get(p.id) or approved.get(p.id) or p.created_at
        due = timezone.localtime(since) + datetime.timedelta(weeks=weeks)  # the same time of day on the Norwegian clock
        if due <= now:
            routine.append(DueRow(p, due, last_contact.get(p.id)))
        found = evaluation_due(starts.get(p.id), approved.get(p.id), months)
        if found is None:
            continue
        eval_due, settled_from = found
        evaluated = last_evaluation.get(p.id)
        if eval_due <= now and not (evaluated and evaluated >= settled_from):
            evaluation.append(DueRow(p, eval_due, evaluated or approved.get(p.id)))
    return FollowUpDue(sorted(routine, key=lambda r: r.due_at), sorted(evaluation, key=lambda r: r.due_at))


# --- started without an approved plan -------------------------------------------------------------


def plan_missing(user, *, municipality: str = "") -> list[Patient]:
    """Started patients in the user's scope without an approved plan (the follow-up page lists them:
    scored against the centre's defaults until a nurse drafts a plan and the fastlege approves it)."""
    patients = without_approved_plan(_in_municipality(visible_patients(user), municipality))
    return list(patients.select_related("municipality", "gp").order_by("name", "id"))


@dataclass
class PlanMissing:
    """The started patients without an approved plan, by where the plan stands."""

    at_gp: list[Patient]  # «utkast hos fastlegen»: a version sent for approval
    in_progress: list[Patient]  # a draft not sent yet, or one the fastlege returned
    not_started: list[Patient]  # «ikke påbegynt»: no plan version at all


def plan_missing_split(user, *, municipality: str = "") -> PlanMissing:
    """`plan_missing`, split by the newest state of each patient's plan versions. Two queries."""
    patients = plan_missing(user, municipality=municipality)
    states = defaultdict(set)
    for patient_id, status in PlanVersion.objects.filter(plan__patient_id__in=[p.pk for p in patients]).values_list(
        "plan__patient_id", "status"
    ):
        states[patient_id].add(status)
    split = PlanMissing([], [], [])
    for patient in patients:
        found = states.get(patient.pk, set())
        if VersionStatus.SUBMITTED in found:
            split.at_gp.append(patient)
        elif found:
            split.in_progress.append(patient)
        else:
            split.not_started.append(patient)
    return split


# --- the patient page for nurses ------------------------------------------------------------------

CHART_DAYS = (7, 30, 90)


def chart_period(days: int) -> int:
    """The charts' period in days: one of CHART_DAYS, else 30."""
    return days if days in CHART_DAYS else 30


# What the history shows of an event (triage.patient_page), all of it in alert_event_history.
HISTORY_EVENT_FIELDS = ("alert_id", "kind", "at", "colour", "previous_colour", "reason", "by_id")


@dataclass(frozen=True)
class HistoryEvent:
    """An event of an alert's history as the patient page shows it, who acted by name."""

    kind: str
    at: datetime.datetime
    colour: str
    previous_colour: str
    reason: str
    by_name: str

    def get_kind_display(self) -> str:
        return str(AlertEventKind(self.kind).label)


# The patient page's reads of one patient, compiled once per process (tenants/compiled.py): the
# same querysets every page, and Django compiling them cost about as much CPU as PostgreSQL took to
# answer them.
PAGE_ROWS = 30  # the alerts, contacts and notes a patient page lists, newest first


def history_events_query(alert_ids) -> QuerySet:
    """`history_events` as a queryset (the ids as one array parameter: the same SQL for any number)."""
    return AlertEvent.objects.filter(alert_id__in=uuid_array(alert_ids)).values_list(*HISTORY_EVENT_FIELDS)


_HISTORY = CompiledQuery(lambda _key, alert_ids: history_events_query(alert_ids), alert_ids=[NO_UUID])


def history_events(alert_ids) -> list[tuple]:
    """The events of the alerts a patient page shows, oldest first, as HISTORY_EVENT_FIELDS tuples:
    read from the alert_event_history index alone (docs/scoring-and-worklist.md); who acted is
    named by people_named, once per page."""
    return _HISTORY.rows(None, alert_ids=list(alert_ids))


def trend_readings_query(patient_id, start: datetime.datetime) -> QuerySet:
    """`trend_readings` as a queryset."""
    return (
        Reading.objects.filter(patient_id=patient_id, measured_at__gte=start)
        .order_by("measured_at")
        .values_list("type", "value", "systolic", "diastolic", "colour", "measured_at")
    )


_TREND = CompiledQuery(
    lambda _key, patient_id, start: trend_readings_query(patient_id, start), patient_id=NO_UUID, start=LONG_AGO
)


def trend_readings(patient, start: datetime.datetime) -> list[tuple]:
    """The patient's readings since `start`, oldest first, with what the charts draw: columns that
    reading_by_patient carries, so the read is an index-only scan (docs/readings-and-fhir.md)."""
    return _TREND.rows(None, patient_id=patient.pk, start=start)


def _type_trend_query(patient_id, mtype: str, start: datetime.datetime, end: datetime.datetime) -> QuerySet:
    return trend_readings_query(patient_id, start).filter(type=mtype, measured_at__lte=end)


_TYPE_TREND = CompiledQuery(
    lambda _key, patient_id, mtype, start, end: _type_trend_query(patient_id, mtype, start, end),
    patient_id=NO_UUID, mtype="<no type>", start=LONG_AGO, end=LONG_AGO + datetime.timedelta(days=1),
)  # fmt: skip


def trend_numbers(patient, mtype: str, *, days: int, end: datetime.datetime) -> Table:
    """The numbers of one chart of the patient page (its «Vis tallene», fetched when opened): the
    patient's readings of `mtype` in the `days` up to `end` (the page's time, so the table holds what
    its chart drew), oldest first. `mtype` is a type of the catalogue (measurements.types.SPECS)."""
    days = chart_period(days)
    rows = _TYPE_TREND.rows(
        None, patient_id=patient.pk, mtype=mtype, start=end - datetime.timedelta(days=days), end=end
    )
    return trend_table(mtype, rows)


_ALERTS = CompiledQuery(
    lambda _key, patient_id: Alert.objects.filter(patient_id=patient_id).order_by("-opened_at")[:PAGE_ROWS],
    patient_id=NO_UUID,
)
_CONTACTS = CompiledQuery(
    lambda _key, patient_id: Contact.objects.filter(patient_id=patient_id).order_by("-at")[:PAGE_ROWS],
    patient_id=NO_UUID,
)
# the page shows a note's text; its FHIR document (kilobytes of JSON each) is the delivery's
_NOTES = CompiledQuery(
    lambda _key, patient_id: (
        JournalNote.objects.filter(patient_id=patient_id).defer("document").order_by("-created_at")[:PAGE_ROWS]
    ),
    patient_id=NO_UUID,
)


def patient_follow_up(patient, *, days: int = 30, now=None, numbers_url=None) -> dict:
    """Trends with the patient's bands, the plan's actions for the open alert's colour, the alert
    history and the notes timeline. A fixed number of queries, whatever the patient's history.
    `numbers_url` (type → address): where each chart's table is fetched when opened (trend_numbers),
    instead of written into the page."""
    now = now or timezone.now()
    days = chart_period(days)
    start = now - datetime.timedelta(days=days)
    readings = trend_readings(patient, start)
    plan = thresholds_for(patient)
    alerts = _ALERTS.objects(None, patient_id=patient.pk)
    contacts = _CONTACTS.objects(None, patient_id=patient.pk)
    _named(alerts, history_events([a.pk for a in alerts]), contacts)
    open_alert = next((a for a in alerts if a.status == AlertStatus.OPEN and a.colour == "red"), None) or next(
        (a for a in alerts if a.status == AlertStatus.OPEN), None
    )
    return {
        "days": days,
        "day_choices": CHART_DAYS,
        "charts": charts_for(readings, plan.content, timezone.localtime(start), timezone.localtime(now), numbers_url),
        "plan": plan,
        "open_alert": open_alert,
        "open_actions": getattr(plan.content.actions, open_alert.colour) if open_alert else None,
        "alerts": alerts,
        "contacts": contacts,
        "notes": _NOTES.objects(None, patient_id=patient.pk),
    }


def _named(alerts: list, events: list[tuple], contacts: list) -> None:
    """Sets each alert's `history` (HistoryEvent, oldest first) and who took and handled it by name
    (`taken_by_name`, `handled_by_name`), and each contact's `by_name`: everyone the page names read
    in one query, not joined as whole user rows onto the alerts, their events and the contacts (those
    joins and their model objects were a tenth of the page's time)."""
    names = people_named(
        {*(a.taken_by_id for a in alerts), *(a.handled_by_id for a in alerts), *(c.by_id for c in contacts)}
        | {by_id for *_fields, by_id in events}
    )
    by_alert: dict[uuid.UUID, list[HistoryEvent]] = defaultdict(list)
    for alert_id, kind, at, colour, previous_colour, reason, by_id in events:
        by_alert[alert_id].append(HistoryEvent(kind, at, colour, previous_colour, reason, names.get(by_id, "")))
    for alert in alerts:
        alert.history = by_alert[alert.pk]
        alert.taken_by_name = names.get(alert.taken_by_id, "")
        alert.handled_by_name = names.get(alert.handled_by_id, "")
    for contact in contacts:
        contact.by_name = names.get(contact.by_id, "")


def months_open_alerts_need(before: datetime.datetime) -> dict[datetime.date, list[str]]:
    """The archive hold of open alerts (measurements/extensions.py): the months before `before` with
    a reading or answer that opened or kept an alert still open (the worklist shows them with it)."""
    open_ids = Alert.objects.filter(status=AlertStatus.OPEN).values_list("pk", flat=True)
    held = months_of_alerts(open_ids, before)
    return {month: [named(ids, "åpent varsel", "åpne varsler")] for month, ids in held.items()}
