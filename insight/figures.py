"""The insight figures, as pure functions of plain rows (insight.selectors reads them): capacity,
alarm burden, adherence and the funnel, per bucket of a period and for the whole period, per kommune
and for the viewer's whole selection; and the small-cell rule, applied here so that nothing built on
the figures (the API, the pages, an export) can show a figure without it.

Every figure is a `Cell`: its value and the people (patient or referral ids, never output) it is
computed from. The rule (docs/insight.md):
1. A figure computed from fewer than MIN_PEOPLE people is suppressed: its value None, its reason
   SMALL beside it.
2. A count that adds up (over the buckets to the period, over the kommuner to the selection) is
   protected against differencing: when the cells hidden under one shown total hold fewer than
   MIN_PEOPLE people between them, the smallest shown cells are hidden too (DIFFERENCING), or the
   total when none is left.
3. A figure derived from hidden ones (a ratio, a share) is hidden (DERIVED).
"""

from __future__ import annotations

import datetime
import functools
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, NamedTuple

from billing.calculation import ACTIVE, PAUSED, Segment
from insight.periods import Bucket, Period
from triage.opening_hours import OSLO, OpeningHours, is_overdue

MIN_PEOPLE = 5
SMALL = "færre enn 5 personer"
DIFFERENCING = "skjult for at et lite tall ikke skal kunne regnes ut fra de andre"
DERIVED = "bygger på et skjult tall"
WHOLE_CENTRE = "gjelder hele senteret: vises bare for den som ser hele senteret, uten valgt kommune"
NO_STAFFING = "ingen bemanning registrert for perioden"

# Ullensaker sizes the service at about 80 patients per nurse årsverk (settings.DHO_INSIGHT_PATIENTS_PER_FTE).
REFERENCE_PER_FTE = 80
TREND_DAYS = 91  # «the last 3 months» of the inclusion rate
DAYS_PER_MONTH = 365.25 / 12

# triage.models.AlertKind → the figure's key (måling, skjema, manglende måling, manglende skjema, inaktiv)
KIND_KEYS = {
    "out_of_range": "measurement",
    "deviating_answer": "questionnaire",
    "missing_measurement": "missing_measurement",
    "missing_answer": "missing_questionnaire",
    "inactive_patient": "inactive",
}
COLOURS = ("red", "yellow")
END_REASONS = ("no_benefit", "too_ill", "moved", "deceased", "withdrew", "transferred", "other")
SECTIONS = ("capacity", "alarm_burden", "adherence", "funnel")
# The funnel's steps in order, and the stages between them whose days are measured.
STEPS = ("referrals", "assessed", "granted", "refused", "consented", "started", "ended", "complaints")
STAGES = ("assessed", "decided", "consented", "started")

AREAS, BUCKETS = "areas", "buckets"  # the directions a count adds up in
BOTH = frozenset({AREAS, BUCKETS})
ACROSS_AREAS = frozenset({AREAS})


@dataclass
class Cell:
    """One figure: its value, the people it is computed from (ids, never shown), whether the
    small-cell rule applies (`counted`: not to staffing or the reference line), the directions it
    adds up in (`additive`), the figures it is derived from (`inputs`, keys of the same section), and
    why it is not shown (`reason`, with value None)."""

    value: Any
    people: frozenset = frozenset()
    counted: bool = True
    count: int | None = None  # how many people, when `people` names only those of a group under MIN_PEOPLE
    additive: frozenset = frozenset()
    inputs: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def hidden(self) -> bool:
        return self.reason is not None

    @property
    def size(self) -> int:
        """The people the figure is computed from (insight.aggregates counts them in SQL and names
        them only while they are fewer than MIN_PEOPLE: the rule never needs more)."""
        return len(self.people) if self.count is None else self.count

    def hide(self, reason: str) -> None:
        if self.reason is None:
            self.value, self.reason = None, reason


Section = dict[str, Cell]  # flat keys: «by_colour.red.alerts»


@dataclass(frozen=True)
class Counted:
    """The people behind a figure as SQL counts them: how many, and their ids when fewer than
    MIN_PEOPLE (empty otherwise)."""

    count: int
    ids: frozenset


People = frozenset | Counted


def _cell(value: Any, people: People, **kwargs) -> Cell:
    if isinstance(people, Counted):
        return Cell(value, people.ids, count=people.count, **kwargs)
    return Cell(value, people, **kwargs)


def _fixed(value: float | None, decimals: int = 2) -> float | None:
    return None if value is None else round(value, decimals)


def _ratio(part: float, whole: float, decimals: int = 2) -> float | None:
    return round(part / whole, decimals) if whole else None


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between the closest ranks (share 0.5: the median)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- the rows (insight.selectors builds them) -----------------------------------------------------


class StaffingRow(NamedTuple):
    valid_from: datetime.date
    valid_to: datetime.date | None
    nurse_fte: Decimal


class AlertRow(NamedTuple):
    patient_id: Any
    municipality_id: int
    kind: str
    colour: str
    opened_at: datetime.datetime
    since: datetime.datetime  # raised_at or opened_at: what the worklist's escalation counts from
    first_action_at: datetime.datetime | None  # first taken, not reached or handled event
    handled_at: datetime.datetime | None


class RetryRow(NamedTuple):
    """A «not reached, try again» event of an alert."""

    patient_id: Any
    municipality_id: int
    day: datetime.date


class PlanRow(NamedTuple):
    """An approved plan version in force from `valid_from` to before `valid_to` (None: still)."""

    patient_id: Any
    valid_from: datetime.date
    valid_to: datetime.date | None
    schedule: dict[str, tuple[str, int, int]]  # type → (frequency, times per day, days per week)


class FunnelEvent(NamedTuple):
    """A step of the forløp on the day it happened; `days` is the stage's length (the days since
    the step before), `reason` an ending's."""

    step: str
    day: datetime.date
    person: Any
    municipality_id: int
    days: int | None = None
    reason: str = ""


@dataclass
class Rows:
    segments: list[Segment] = field(default_factory=list)  # from TREND_DAYS before the period
    staffing: list[StaffingRow] | None = None  # None: the viewer's selection is not the whole centre
    alerts: list[AlertRow] = field(default_factory=list)
    retries: list[RetryRow] = field(default_factory=list)
    plans: list[PlanRow] = field(default_factory=list)
    readings: dict[tuple[Any, str, datetime.date], int] = field(default_factory=dict)
    funnel: list[FunnelEvent] = field(default_factory=list)
    hours: OpeningHours = field(default_factory=OpeningHours)
    reference: int = REFERENCE_PER_FTE

    def only(self, municipality_ids: frozenset[int], *, whole_centre: bool) -> Rows:
        """The rows of some of the kommuner (the readings and plans follow their patients' segments)."""
        segments = [s for s in self.segments if s.municipality_id in municipality_ids]
        return replace(
            self,
            segments=segments,
            staffing=self.staffing if whole_centre else None,
            alerts=[a for a in self.alerts if a.municipality_id in municipality_ids],
            retries=[r for r in self.retries if r.municipality_id in municipality_ids],
            funnel=[e for e in self.funnel if e.municipality_id in municipality_ids],
        )


@functools.lru_cache(maxsize=1 << 18)
def _local_day(at: datetime.datetime) -> datetime.date:
    """Norway's day of a moment (cached: each alert's is asked once per bucket and area)."""
    return at.astimezone(OSLO).date()


# --- capacity -------------------------------------------------------------------------------------


def _overlap(seg: Segment, first: int, end: int) -> int:
    return max(0, min(seg.end, end) - max(seg.start, first))


def _on(segments: Iterable[Segment], day: datetime.date, state: str) -> frozenset:
    ordinal = day.toordinal()
    return frozenset(s.patient_id for s in segments if s.state == state and s.start <= ordinal < s.end)


def _days_of(segments: Iterable[Segment], bucket: Bucket, state: str) -> tuple[int, frozenset]:
    first, end = bucket.first.toordinal(), bucket.end.toordinal()
    days, people = 0, set()
    for s in segments:
        if s.state == state and (overlap := _overlap(s, first, end)):
            days += overlap
            people.add(s.patient_id)
    return days, frozenset(people)


def fte_on(staffing: list[StaffingRow], day: datetime.date) -> Decimal | None:
    for row in staffing:
        if row.valid_from <= day and (row.valid_to is None or day <= row.valid_to):
            return row.nurse_fte
    return None


def nurse_fte(staffing: list[StaffingRow], bucket: Bucket) -> float | None:
    """The centre's nurse årsverk weighted by day over the days a staffing period covers; None when
    none does."""
    total, covered = Decimal(0), 0
    day = bucket.first
    while day <= bucket.last:
        fte = fte_on(staffing, day)
        if fte is not None:
            total += fte
            covered += 1
        day += datetime.timedelta(days=1)
    return float(total / covered) if covered else None


def staffing_fte(staffing: list[StaffingRow] | None, bucket: Bucket) -> tuple[float | None, str | None]:
    """The bucket's nurse årsverk, exact (rounded only where it is shown: a figure divided by it would
    carry the rounding), and why there is none: not the whole centre's figures, or no staffing."""
    if staffing is None:
        return None, WHOLE_CENTRE
    fte = nurse_fte(staffing, bucket)
    return fte, None if fte is not None else NO_STAFFING


def reaches_reference_on(segments: list[Segment], staffing: list[StaffingRow], day: datetime.date,
                         reference: int) -> tuple[datetime.date | None, frozenset]:  # fmt: skip
    """When the active patients reach reference × the nurse årsverk on `day`, at the present
    inclusion rate (net new active patients per month over the last TREND_DAYS): `day` itself when
    already there, None when the rate does not grow (or no staffing). → (date, people counted)."""
    now, then = _on(segments, day, ACTIVE), _on(segments, day - datetime.timedelta(days=TREND_DAYS), ACTIVE)
    return reaches_reference(len(now), len(then), fte_on(staffing, day), day, reference), now | then


def reaches_reference(now: int, then: int, fte: Decimal | None, day: datetime.date,
                      reference: int) -> datetime.date | None:  # fmt: skip
    """reaches_reference_on from the counts: active on `day` and TREND_DAYS before, the årsverk on `day`."""
    if fte is None:
        return None
    limit = float(fte) * reference
    if now >= limit:
        return day
    rate = (now - then) / (TREND_DAYS / DAYS_PER_MONTH)  # per month
    if rate <= 0:
        return None
    return day + datetime.timedelta(days=math.ceil((limit - now) / rate * DAYS_PER_MONTH))


def capacity(rows: Rows, bucket: Bucket) -> Section:
    active_days, active_people = _days_of(rows.segments, bucket, ACTIVE)
    paused_days, paused_people = _days_of(rows.segments, bucket, PAUSED)
    active_end, paused_end = _on(rows.segments, bucket.last, ACTIVE), _on(rows.segments, bucket.last, PAUSED)
    reach = None
    if rows.staffing is not None:
        reach = reaches_reference_on(rows.segments, rows.staffing, bucket.last, rows.reference)
    return capacity_cells(bucket, (active_days, active_people), (paused_days, paused_people),
                          (len(active_end), active_end), (len(paused_end), paused_end),
                          staffing=rows.staffing, reference=rows.reference, reach=reach)  # fmt: skip


def capacity_cells(bucket: Bucket, active: tuple[int, People], paused: tuple[int, People],
                   active_end: tuple[int, People], paused_end: tuple[int, People], *,
                   staffing: list[StaffingRow] | None, reference: int,
                   reach: tuple[datetime.date | None, People] | None) -> Section:  # fmt: skip
    """The capacity section from its counts (patient-days and the people behind them, patients on the
    last day), however they were counted (here from segments, in insight.aggregates in SQL)."""
    section: Section = {
        "active_patients": _cell(_fixed(active[0] / bucket.days), active[1], additive=BOTH),
        "paused_patients": _cell(_fixed(paused[0] / bucket.days), paused[1], additive=BOTH),
        "active_at_end": _cell(active_end[0], active_end[1], additive=ACROSS_AREAS),
        "paused_at_end": _cell(paused_end[0], paused_end[1], additive=ACROSS_AREAS),
        "reference_per_fte": Cell(reference, counted=False),
    }
    if staffing is None:
        for key in ("nurse_fte", "patients_per_fte", "reaches_reference_on"):
            section[key] = Cell(None, counted=False, reason=WHOLE_CENTRE)
        return section
    fte, why_none = staffing_fte(staffing, bucket)
    section["nurse_fte"] = Cell(_fixed(fte), counted=False, reason=why_none)
    per_fte = _ratio(active[0] / bucket.days, fte) if fte else None
    section["patients_per_fte"] = Cell(per_fte, counted=False, inputs=("active_patients", "nurse_fte"))
    reached, people = reach if reach is not None else (None, frozenset())
    section["reaches_reference_on"] = _cell(reached.isoformat() if reached else None, people, inputs=("nurse_fte",))
    return section


# --- alarm burden ---------------------------------------------------------------------------------


def _minutes(start: datetime.datetime, end: datetime.datetime) -> float:
    return (end - start).total_seconds() / 60


class Times(NamedTuple):
    """A group of alerts: how many and their people, and the minutes to the first action and to
    handled — (median, 90th percentile) and the people behind each."""

    alerts: int
    people: People
    taken: tuple[float | None, float | None]
    taken_people: People
    handled: tuple[float | None, float | None]
    handled_people: People


def _times_of(alerts: list[AlertRow]) -> Times:
    taken = [a for a in alerts if a.first_action_at is not None]
    handled = [a for a in alerts if a.handled_at is not None]
    taken_minutes = [_minutes(a.opened_at, a.first_action_at) for a in taken if a.first_action_at]
    handled_minutes = [_minutes(a.opened_at, a.handled_at) for a in handled if a.handled_at]
    return Times(
        len(alerts), frozenset(a.patient_id for a in alerts),
        (percentile(taken_minutes, 0.5), percentile(taken_minutes, 0.9)), frozenset(a.patient_id for a in taken),
        (percentile(handled_minutes, 0.5), percentile(handled_minutes, 0.9)), frozenset(a.patient_id for a in handled),
    )  # fmt: skip


def _times(times: Times, prefix: str, out: Section) -> None:
    out[f"{prefix}alerts"] = _cell(times.alerts, times.people, additive=BOTH)
    out[f"{prefix}taken_median_minutes"] = _cell(_fixed(times.taken[0], 1), times.taken_people)
    out[f"{prefix}taken_p90_minutes"] = _cell(_fixed(times.taken[1], 1), times.taken_people)
    out[f"{prefix}handled_median_minutes"] = _cell(_fixed(times.handled[0], 1), times.handled_people)
    out[f"{prefix}handled_p90_minutes"] = _cell(_fixed(times.handled[1], 1), times.handled_people)


def _count(rows: list) -> tuple[int, frozenset]:
    return len(rows), frozenset(r.patient_id for r in rows)


def alarm_burden(rows: Rows, bucket: Bucket) -> Section:
    alerts = [a for a in rows.alerts if bucket.first <= _local_day(a.opened_at) <= bucket.last]
    inside: list[AlertRow] = []
    outside: list[AlertRow] = []
    for a in alerts:  # one pass (a membership test of a list per alert was quadratic)
        (inside if rows.hours.is_open(a.opened_at) else outside).append(a)
    handled = [a for a in alerts if a.handled_at is not None]
    within = [a for a in handled if a.handled_at and not is_overdue(a.colour, a.since, a.handled_at, rows.hours)]
    retries = [r for r in rows.retries if bucket.first <= r.day <= bucket.last]
    return alarm_cells(
        bucket, _times_of(alerts), _times_of(inside), _times_of(outside),
        colours={colour: _count([a for a in alerts if a.colour == colour]) for colour in COLOURS},
        kinds={kind: _count([a for a in alerts if a.kind == kind]) for kind in KIND_KEYS},
        active=_days_of(rows.segments, bucket, ACTIVE), handled=(len(handled), len(within)),
        retries=_count(retries), fte=staffing_fte(rows.staffing, bucket),
    )  # fmt: skip


def alarm_cells(bucket: Bucket, everything: Times, inside: Times, outside: Times, *,
                colours: dict[str, tuple[int, People]], kinds: dict[str, tuple[int, People]],
                active: tuple[int, People], handled: tuple[int, int], retries: tuple[int, People],
                fte: tuple[float | None, str | None]) -> Section:  # fmt: skip
    """The alarm burden from its counts (`handled`: handled alerts, of them within the response
    time; `fte`: staffing_fte's exact årsverk and why none), however they were counted (here from the
    alert rows, in insight.aggregates in SQL)."""
    patient_weeks = active[0] / 7
    out: Section = {"patient_weeks": _cell(_fixed(patient_weeks), active[1], additive=BOTH)}
    _times(everything, "", out)
    out["alerts_per_patient_week"] = Cell(_ratio(everything.alerts, patient_weeks), counted=False,
                                          inputs=("alerts", "patient_weeks"))  # fmt: skip
    for colour in COLOURS:
        n, people = colours[colour]
        out[f"by_colour.{colour}.alerts"] = _cell(n, people, additive=BOTH)
        out[f"by_colour.{colour}.per_patient_week"] = Cell(
            _ratio(n, patient_weeks), counted=False, inputs=(f"by_colour.{colour}.alerts", "patient_weeks")
        )
    for kind, key in KIND_KEYS.items():
        n, people = kinds[kind]
        out[f"by_kind.{key}.alerts"] = _cell(n, people, additive=BOTH)
        out[f"by_kind.{key}.per_patient_week"] = Cell(
            _ratio(n, patient_weeks), counted=False, inputs=(f"by_kind.{key}.alerts", "patient_weeks")
        )
    _times(inside, "inside_opening_hours.", out)
    _times(outside, "outside_opening_hours.", out)
    out["handled_within_response_time_share"] = _cell(_ratio(handled[1], handled[0], 3), everything.handled_people)
    out["not_reached_retries"] = _cell(retries[0], retries[1], additive=BOTH)
    exact, why_none = fte
    nurse_days = exact * bucket.days if exact else None
    out["alerts_per_nurse_day"] = Cell(
        _ratio(everything.alerts, nurse_days) if nurse_days else None, counted=False, inputs=("alerts",),
        reason=why_none,
    )  # fmt: skip
    return out


# --- adherence ------------------------------------------------------------------------------------


def expected_per_day(frequency: str, times_per_day: int, days_per_week: int) -> float:
    """What a plan's schedule expects of one measurement type on an active day: daily, its times a
    day; weekly, its times a day on its days a week (spread over the week); on symptoms, nothing."""
    if frequency == "daily":
        return float(times_per_day)
    if frequency == "weekly":
        return times_per_day * days_per_week / 7
    return 0.0


def adherence(rows: Rows, bucket: Bucket) -> Section:
    """Measurements the approved plan in force expects on each active (not paused) day, against
    those received that day (at most the plan's times a day count: a second reading does not make
    up for a missed day)."""
    plans: dict[Any, list[PlanRow]] = defaultdict(list)
    for row in rows.plans:
        plans[row.patient_id].append(row)
    first, end = bucket.first.toordinal(), bucket.end.toordinal()
    expected: dict[str, float] = defaultdict(float)
    received: dict[str, float] = defaultdict(float)
    people: dict[str, set] = defaultdict(set)
    planned_days, without_plan = 0, set[Any]()
    for seg in rows.segments:
        if seg.state != ACTIVE:
            continue
        if seg.patient_id not in plans:  # no approved plan ever: every active day is one without, no day walk
            if _overlap(seg, first, end):
                without_plan.add(seg.patient_id)
            continue
        for ordinal in range(max(seg.start, first), min(seg.end, end)):
            day = datetime.date.fromordinal(ordinal)
            plan = next((p for p in plans.get(seg.patient_id, ()) if p.valid_from <= day and
                         (p.valid_to is None or day < p.valid_to)), None)  # fmt: skip
            if plan is None:
                without_plan.add(seg.patient_id)
                continue
            planned_days += 1
            for mtype, (frequency, times, days) in plan.schedule.items():
                wanted = expected_per_day(frequency, times, days)
                if not wanted:
                    continue
                expected[mtype] += wanted
                received[mtype] += min(rows.readings.get((seg.patient_id, mtype, day), 0), times)
                people[mtype].add(seg.patient_id)
    everyone = frozenset(p for group in people.values() for p in group)
    by_type = {mtype: (expected[mtype], received[mtype], frozenset(people[mtype])) for mtype in expected}
    return adherence_cells(planned_days, everyone, (len(without_plan), frozenset(without_plan)), by_type)


def adherence_cells(planned_days: int, everyone: People, without_plan: tuple[int, People],
                    by_type: Mapping[str, tuple[float, float, People]]) -> Section:  # fmt: skip
    """The adherence section from its sums (by type: expected, received and the people behind them),
    however they were counted (here day by day, in insight.aggregates in SQL)."""
    total_expected = sum(e for e, _r, _p in by_type.values())
    total_received = sum(r for _e, r, _p in by_type.values())
    out: Section = {
        "expected": _cell(_fixed(total_expected), everyone, additive=BOTH),
        "received": _cell(_fixed(total_received), everyone, additive=BOTH),
        "share": Cell(_ratio(total_received, total_expected, 3), counted=False, inputs=("expected", "received")),
        "patient_weeks": _cell(_fixed(planned_days / 7), everyone, additive=BOTH),
        "expected_per_patient_week": Cell(
            _ratio(total_expected, planned_days / 7), counted=False, inputs=("expected", "patient_weeks")
        ),
        "received_per_patient_week": Cell(
            _ratio(total_received, planned_days / 7), counted=False, inputs=("received", "patient_weeks")
        ),
        "patients_without_plan": _cell(without_plan[0], without_plan[1], additive=BOTH),
    }
    for mtype in sorted(by_type):
        expected, received, group = by_type[mtype]
        out[f"by_type.{mtype}.expected"] = _cell(_fixed(expected), group, additive=BOTH)
        out[f"by_type.{mtype}.received"] = _cell(_fixed(received), group, additive=BOTH)
        out[f"by_type.{mtype}.share"] = Cell(
            _ratio(received, expected, 3), counted=False,
            inputs=(f"by_type.{mtype}.expected", f"by_type.{mtype}.received"),
        )  # fmt: skip
    return out


# --- the funnel -----------------------------------------------------------------------------------


def _median(values: list[int]) -> float | None:
    return _fixed(statistics.median(values), 1) if values else None


class Endings(NamedTuple):
    """A bucket's endings: all of them and per end reason (endings, people: a person who ends twice
    counts twice, so that the reasons add up to `ended`), and the median days in service (from the
    oppstart in the same kommune) with the people behind it."""

    ended: tuple[int, People]
    by_reason: Mapping[str, tuple[int, People]]
    in_service: tuple[float | None, People]


def funnel_steps(events: Iterable[FunnelEvent], bucket: Bucket) -> dict[str, list[FunnelEvent]]:
    """The bucket's events by step."""
    by_step: dict[str, list[FunnelEvent]] = defaultdict(list)
    for event in events:
        if bucket.first <= event.day <= bucket.last:
            by_step[event.step].append(event)
    return by_step


def endings_of(events: list[FunnelEvent]) -> Endings:
    """The endings' figures from their events (insight.aggregates counts them in SQL)."""
    by_reason = {}
    for reason in END_REASONS:
        these = [e for e in events if e.reason == reason]
        by_reason[reason] = (len(these), frozenset(e.person for e in these))
    served = [e for e in events if e.days is not None]
    in_service = _median([e.days for e in served if e.days is not None])
    ended = (len(events), frozenset(e.person for e in events))
    return Endings(ended, by_reason, (in_service, frozenset(e.person for e in served)))


def funnel(rows: Rows, bucket: Bucket) -> Section:
    by_step = funnel_steps(rows.funnel, bucket)
    return funnel_cells(by_step, endings_of(by_step.get("ended", [])))


def funnel_cells(by_step: Mapping[str, list[FunnelEvent]], endings: Endings) -> Section:
    """The funnel from its steps' events (the endings' excepted) and the endings' figures, however the
    endings were counted (here from their events, in insight.aggregates in SQL)."""
    out: Section = {}
    for step in STEPS:
        if step == "ended":
            out[step] = _cell(endings.ended[0], endings.ended[1], additive=BOTH)
            continue
        these = by_step.get(step, [])
        out[step] = Cell(len({e.person for e in these}), frozenset(e.person for e in these), additive=BOTH)
    for name, part, whole in (("assessed", ("assessed",), ("referrals",)),
                              ("granted", ("granted",), ("granted", "refused")),
                              ("consented", ("consented",), ("granted",)),
                              ("started", ("started",), ("consented",))):  # fmt: skip
        numerator = sum(out[k].value for k in part)
        denominator = sum(out[k].value for k in whole)
        out[f"conversion.{name}"] = Cell(_ratio(numerator, denominator, 3), counted=False,
                                         inputs=tuple(dict.fromkeys(part + whole)))  # fmt: skip
    for stage in STAGES:
        steps = ("granted", "refused") if stage == "decided" else (stage,)
        measured = [e for s in steps for e in by_step.get(s, []) if e.days is not None]
        out[f"median_days.{stage}"] = Cell(_median([e.days for e in measured if e.days is not None]),
                                           frozenset(e.person for e in measured))  # fmt: skip
    for reason in END_REASONS:
        n, people = endings.by_reason[reason]
        out[f"endings_by_reason.{reason}"] = _cell(n, people, additive=BOTH)
    out["median_days_in_service"] = _cell(endings.in_service[0], endings.in_service[1])
    return out


# --- one area's figures, and the small-cell rule over all of them ---------------------------------

FIGURES = {"capacity": capacity, "adherence": adherence, "funnel": funnel}


def area_figures(rows: Rows, bucket: Bucket, sections: Iterable[str]) -> dict[str, Section]:
    wanted = set(sections)
    out: dict[str, Section] = {}
    if "capacity" in wanted:
        out["capacity"] = capacity(rows, bucket)
    if "alarm_burden" in wanted:
        out["alarm_burden"] = alarm_burden(rows, bucket)
    for name in ("adherence", "funnel"):
        if name in wanted:
            out[name] = FIGURES[name](rows, bucket)
    return out


@dataclass
class AreaReport:
    """One area's figures (a kommune, or the selection): the whole period and each bucket."""

    total: dict[str, Section]
    buckets: list[dict[str, Section]]


def _primary(report: AreaReport) -> None:
    for figures in [report.total, *report.buckets]:
        for section in figures.values():
            for cell in section.values():
                if cell.counted and cell.size < MIN_PEOPLE:
                    cell.hide(SMALL)


def _protect(cells: list[Cell], total: Cell) -> bool:
    """Rule 2 for one total and the cells that add up to it; → whether anything more was hidden."""
    if total.hidden:
        return False
    changed = False
    hidden = [c for c in cells if c.hidden]
    shown = sorted((c for c in cells if not c.hidden), key=lambda c: c.size)
    while hidden and 0 < _together(hidden) < MIN_PEOPLE:
        if not shown:
            total.hide(DIFFERENCING)
            return True
        cell = shown.pop(0)
        cell.hide(DIFFERENCING)
        hidden.append(cell)
        changed = True
    return changed


def _together(cells: list[Cell]) -> int:
    """How many people the cells hold between them, as far as the rule needs to know: exactly while
    under MIN_PEOPLE (a cell of fewer has its people named), else at least MIN_PEOPLE."""
    if any(c.size >= MIN_PEOPLE for c in cells):
        return MIN_PEOPLE
    return len(frozenset().union(*(c.people for c in cells)))


def breakdowns(name: str, section: Section) -> list[tuple[str, list[str]]]:
    """The parts of one section that add up to one of its figures: (the total's key, the parts' keys)."""

    def keys(prefix: str, suffix: str) -> list[str]:
        return [k for k in section if k.startswith(prefix) and k.endswith(suffix) and k.count(".") == 2]

    if name == "alarm_burden":
        return [("alerts", keys("by_colour.", ".alerts")), ("alerts", keys("by_kind.", ".alerts")),
                ("alerts", ["inside_opening_hours.alerts", "outside_opening_hours.alerts"])]  # fmt: skip
    if name == "adherence":
        return [("expected", keys("by_type.", ".expected")), ("received", keys("by_type.", ".received"))]
    if name == "funnel":
        return [("ended", keys("endings_by_reason.", ""))]
    return []


def _within(report: AreaReport) -> bool:
    """Rule 2 inside each section: the parts of a breakdown and the figure they add up to."""
    changed = False
    for figures in [report.total, *report.buckets]:
        for name, section in figures.items():
            for total, parts in breakdowns(name, section):
                changed |= _protect([section[k] for k in parts if k in section], section[total])
    return changed


def _secondary(reports: dict[str, AreaReport], parts: list[str], whole: str | None) -> None:
    """Rule 2 inside the sections, over buckets (each area) and over the kommuner (`parts` adding up
    to `whole`), until nothing more is hidden."""
    changed = True
    while changed:
        changed = False
        for report in reports.values():
            changed |= _within(report)
            for name, section in report.total.items():
                for key, total in section.items():
                    if BUCKETS in total.additive:
                        cells = [b[name][key] for b in report.buckets if key in b[name]]
                        changed |= _protect(cells, total)
        if whole is None:
            continue
        for index in [None, *range(len(reports[whole].buckets))]:

            def figures_of(area: str, index=index) -> dict[str, Section]:
                return reports[area].total if index is None else reports[area].buckets[index]

            for name, section in figures_of(whole).items():
                for key, total in section.items():
                    if AREAS in total.additive:
                        cells = [figures_of(p)[name][key] for p in parts if key in figures_of(p)[name]]
                        changed |= _protect(cells, total)


def _derived(report: AreaReport) -> None:
    for figures in [report.total, *report.buckets]:
        for section in figures.values():
            changed = True
            while changed:
                changed = False
                for cell in section.values():
                    if not cell.hidden and any(section[k].hidden for k in cell.inputs if k in section):
                        cell.hide(DERIVED)
                        changed = True


def reports_for(
    rows: Rows,
    period: Period,
    *,
    parts: dict[str, frozenset[int]],
    whole: str | None,
    whole_ids: frozenset[int],
    whole_centre: bool,
    sections: Iterable[str],
) -> dict[str, AreaReport]:
    """The figures of each part (a kommune) and of the whole they make up (the viewer's selection;
    the centre's own figures only when `whole_centre`), with the small-cell rule applied across all
    of them at once, so that no two answers can be set against each other to reveal a small cell."""
    sections = tuple(sections)
    areas = dict(parts)
    if whole is not None:
        areas[whole] = whole_ids
    reports: dict[str, AreaReport] = {}
    for name, ids in areas.items():
        these = rows.only(ids, whole_centre=whole_centre and name == whole)
        reports[name] = AreaReport(
            total=area_figures(these, period.whole, sections),
            buckets=[area_figures(these, bucket, sections) for bucket in period.buckets],
        )
    return apply_rule(reports, parts=list(parts), whole=whole)


def apply_rule(reports: dict[str, AreaReport], *, parts: list[str], whole: str | None) -> dict[str, AreaReport]:
    """The small-cell rule over every area's figures at once (here, and on insight.aggregates' figures)."""
    for report in reports.values():
        _primary(report)
    _secondary(reports, parts, whole)
    for report in reports.values():
        _derived(report)
    return reports


# --- as the API and the pages show it -------------------------------------------------------------


def public(section: Section) -> dict:
    """A section as nested plain values, with `suppressed`: {flat key: reason} of every hidden figure."""
    out: dict[str, Any] = {}
    suppressed: dict[str, str] = {}
    for key, cell in section.items():
        parts = key.split(".")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = cell.value
        if cell.reason is not None:
            suppressed[key] = cell.reason
    out["suppressed"] = suppressed
    return out
