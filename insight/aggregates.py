"""The insight figures counted in PostgreSQL: the same figures as insight.figures' functions, which
stay the reference (tests/insight/test_aggregates.py holds the two to each other), at national size.

Each figure is a sum and the people behind it, per bucket of the period (index 0 is the whole
period) and per area (a kommune, or 0 for all the kommuner the user sees together). The counting is
two-level, because a person may be behind a figure in two kommuner (a move): first one row per
(bucket, area, patient) — a temp table, GROUP BY GROUPING SETS ((bucket, kommune, patient),
(bucket, patient)) — then per (bucket, area) the sums and how many patients have a part in each
figure. The small-cell rule (insight.figures.apply_rule) never needs more than that count and, for a
group under MIN_PEOPLE, who they are (a hidden group's people are joined with the others' hidden
ones): those ids are fetched afterwards, for the small groups only.

- capacity and adherence's days: the status rows walked in SQL into active and paused stretches, as
  billing.calculation.segments walks them (each state-bearing row runs to the patient's next one;
  LEAD over the patient's rows in effective order), intersected with the buckets by arithmetic;
- adherence: the stretches cut by the approved plan versions (read and checked in Python, as
  insight.selectors.plan_rows) and the readings counted per patient, type and Norway's day;
- alarm burden: the alerts with their first action, inside or outside opening hours and whether
  handled within the response time, both by the opening-hour windows of each day computed in Python
  (triage.opening_hours' own instants); medians and 90th percentiles by percentile_cont, which
  interpolates as insight.figures.percentile does;
- the funnel's few rows stay in Python (insight.figures.funnel_cells), each area and bucket handed
  only its own events; its endings (a row per ending: the many) are counted in SQL.
"""

from __future__ import annotations

import bisect
import datetime
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from insight.figures import (
    END_REASONS,
    MIN_PEOPLE,
    TREND_DAYS,
    AreaReport,
    Counted,
    Endings,
    StaffingRow,
    Times,
    adherence_cells,
    alarm_cells,
    capacity_cells,
    fte_on,
    funnel_cells,
    funnel_steps,
    reaches_reference,
    staffing_fte,
)
from insight.periods import Bucket, Period
from measurements.models import Reading
from patients.models import Patient, StatusChange, StatusEvent
from tenants.rls import current_scope, scope_set
from triage.models import Alert, AlertEvent, AlertEventKind
from triage.opening_hours import OSLO, RED_AFTER, OpeningHours

STATES = ("started", "resumed", "paused", "ended")  # billing.calculation.STATE_AFTER
WHOLE_AREA = 0  # the area of every kommune the user sees (municipality ids are positive)
EMPTY = Counted(0, frozenset())
NO_ENDINGS = Endings((0, EMPTY), dict.fromkeys(END_REASONS, (0, EMPTY)), (None, EMPTY))
CLOSED = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)  # a closed day's window: [CLOSED, CLOSED)


def _buckets(period: Period) -> list[Bucket]:
    return [period.whole, *period.buckets]


def _bucket_params(period: Period) -> dict[str, list]:
    buckets = _buckets(period)
    return {"b_idx": list(range(len(buckets))), "b_first": [b.first for b in buckets],
            "b_stop": [b.end for b in buckets]}  # fmt: skip


BUCKETS = """b AS (SELECT * FROM unnest(%(b_idx)s::int[], %(b_first)s::date[], %(b_stop)s::date[])
                 AS b(idx, first, stop))"""
# days a stretch [start, stop) has in a bucket
OVERLAP = "GREATEST(0, LEAST({s}.stop, b.stop) - GREATEST({s}.start, b.first))"


def _moment(day: datetime.date) -> datetime.datetime:
    """The start of a day in Norway's time."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=OSLO)


class Counter:
    """The two-level count over one temp table of (idx, area, p, …) rows: per (idx, area[, key]) the
    sums and the people of each figure, and the ids of the groups under MIN_PEOPLE."""

    def __init__(self, cursor, table: str, keys: tuple[str, ...] = (), *, distinct: bool = False):
        self.cursor, self.table, self.keys = cursor, table, keys
        self.each = "COUNT(DISTINCT p)" if distinct else "COUNT(*)"  # distinct: several rows per patient

    def count(self, sums: dict[str, str], people: dict[str, str]) -> dict[tuple, dict[str, Any]]:
        """sums: name → expression summed; people: name → a patient's condition. → {(idx, area, *keys):
        {name: sum, name: Counted}}."""
        group = ", ".join(("idx", "area", *self.keys))
        columns = [f"SUM({expr})" for expr in sums.values()]
        columns += [f"{self.each} FILTER (WHERE {cond})" for cond in people.values()]
        self.cursor.execute(f"SELECT {group}, {', '.join(columns)} FROM {self.table} GROUP BY {group}")  # noqa: S608
        width = 2 + len(self.keys)
        out: dict[tuple, dict[str, Any]] = {}
        small: dict[tuple, list[str]] = defaultdict(list)
        for row in self.cursor.fetchall():
            key, values = tuple(row[:width]), row[width:]
            figures: dict[str, Any] = dict(zip(sums, values[: len(sums)], strict=True))
            for name, n in zip(people, values[len(sums) :], strict=True):
                figures[name] = Counted(n, frozenset())
                if 0 < n < MIN_PEOPLE:
                    small[key].append(name)
            out[key] = figures
        if small:
            self._name(out, small, people)
        return out

    def _name(self, out: dict, small: dict[tuple, list[str]], people: dict[str, str]) -> None:
        """The ids of the small groups' people (a few rows per group)."""
        names = sorted({name for names in small.values() for name in names})
        group = ", ".join(("idx", "area", *self.keys))
        flags = ", ".join(f"({people[name]})" for name in names)
        wanted = " OR ".join(f"({people[name]})" for name in names)
        self.cursor.execute(
            f"SELECT {group}, p::text, {flags} FROM {self.table} WHERE ({wanted}) AND ({group}) IN "  # noqa: S608
            f"(SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in self._types())}))",
            [list(column) for column in zip(*small, strict=True)],
        )
        width = 2 + len(self.keys)
        found: dict[tuple, set] = defaultdict(set)
        for row in self.cursor.fetchall():
            key, patient = tuple(row[:width]), row[width]
            for name, flag in zip(names, row[width + 1 :], strict=True):
                if flag and name in small[key]:
                    found[(key, name)].add(patient)
        for key, names_of in small.items():
            for name in names_of:
                ids = frozenset(found[(key, name)])
                assert len(ids) == out[key][name].count, (key, name)
                out[key][name] = Counted(len(ids), ids)

    def _types(self) -> list[str]:
        return ["int", "int", *("text" for _ in self.keys)]


# --- capacity, and the days of adherence ----------------------------------------------------------

SEGMENTS = f"""
CREATE TEMP TABLE insight_segments ON COMMIT DROP AS
WITH rows AS (
    SELECT * FROM (
        SELECT DISTINCT ON (patient_id) patient_id, effective_date AS day, event, municipality_id, at, id
          FROM {StatusChange._meta.db_table}
         WHERE patient_id IS NOT NULL AND municipality_id = ANY(%(m)s) AND event = ANY(%(events)s)
           AND effective_date < %(first)s
         ORDER BY patient_id, effective_date DESC, at DESC, id DESC) before
    UNION ALL
    SELECT patient_id, effective_date, event, municipality_id, at, id FROM {StatusChange._meta.db_table}
     WHERE patient_id IS NOT NULL AND municipality_id = ANY(%(m)s) AND event = ANY(%(events)s)
       AND effective_date >= %(first)s AND effective_date < %(stop)s
), walked AS (
    SELECT patient_id AS p, municipality_id AS m, event, GREATEST(day, %(first)s::date) AS start,
           LEAST(COALESCE(LEAD(day) OVER (PARTITION BY patient_id ORDER BY day, at, id), %(stop)s::date),
                 %(stop)s::date) AS stop
      FROM rows)
SELECT p, m, paused, start, stop,
       LAG(stop) OVER (PARTITION BY p, m, paused ORDER BY start) AS prev_m,
       LAG(stop) OVER (PARTITION BY p, paused ORDER BY start) AS prev_all
  FROM (SELECT p, m, event = 'paused' AS paused, start, stop FROM walked WHERE event <> 'ended' AND start < stop) s"""  # noqa: S608

# Capacity in one pass over the stretches × buckets, without a row per patient: a patient's stretches
# of one state (in one kommune: prev_m; in any: prev_all) are disjoint and in order, so a stretch is
# the patient's first in a bucket when the one before it (LAG) ends by the bucket's first day; on one
# day a patient has at most one stretch. `planned`: the patient has days under an approved plan.
CAPACITY_FROM = f"""
WITH {BUCKETS},
s AS (SELECT s.*, s.p IN (SELECT p FROM insight_pieces) AS planned FROM insight_segments s),
j AS (SELECT b.idx, b.first, s.*, {OVERLAP.format(s="s")} AS days,
             s.start < b.stop AND b.stop <= s.stop AS on_last,
             s.start <= b.stop - {TREND_DAYS + 1} AND b.stop - {TREND_DAYS + 1} < s.stop AS on_then
        FROM s JOIN b ON (s.start < b.stop AND s.stop > b.first)
                      OR (%(then)s AND NOT s.paused AND s.start <= b.stop - {TREND_DAYS + 1}
                          AND b.stop - {TREND_DAYS + 1} < s.stop))"""  # noqa: S608 – tables from the models, values as parameters

FIRST = {"m": "(prev_m IS NULL OR prev_m <= first)", "all": "(prev_all IS NULL OR prev_all <= first)"}
CAPACITY_PEOPLE = {
    "active_people": "NOT paused AND days > 0 AND {first}",
    "paused_people": "paused AND days > 0 AND {first}",
    "active_end": "NOT paused AND on_last",
    "paused_end": "paused AND on_last",
    "then": "NOT paused AND on_then",
    "unplanned": "NOT paused AND days > 0 AND NOT planned AND {first}",
}


def _capacity_condition(name: str, area: int) -> str:
    return CAPACITY_PEOPLE[name].format(first=FIRST["all" if area == {WHOLE_AREA} else "m"])


CAPACITY_COUNTS = ", ".join(
    f"COUNT(*) FILTER (WHERE {CAPACITY_PEOPLE[n].format(first=FIRST[f])})"
    for n in CAPACITY_PEOPLE
    for f in ("m", "all")
)
CAPACITY = f"""{CAPACITY_FROM}
SELECT idx, COALESCE(m, {WHOLE_AREA}), SUM(days) FILTER (WHERE NOT paused), SUM(days) FILTER (WHERE paused),
       {CAPACITY_COUNTS}
  FROM j GROUP BY GROUPING SETS ((idx, m), (idx))"""  # noqa: S608 – tables from the models, values as parameters

# Per (bucket, area, patient) of the patients with a plan: active days and days under a plan (an
# active day without one makes the patient one «without plan»).
DAYS = f"""
CREATE TEMP TABLE insight_days ON COMMIT DROP AS
WITH {BUCKETS},
facts AS (
    SELECT b.idx, s.m, s.p, {OVERLAP.format(s="s")} AS active, 0 AS planned
      FROM insight_segments s JOIN b ON s.start < b.stop AND s.stop > b.first
     WHERE NOT s.paused AND s.p IN (SELECT p FROM insight_pieces)
    UNION ALL
    SELECT b.idx, s.m, s.p, 0, {OVERLAP.format(s="s")}
      FROM insight_pieces s JOIN b ON s.start < b.stop AND s.stop > b.first)
SELECT idx, COALESCE(m, {WHOLE_AREA}) AS area, p, SUM(active) AS active, SUM(planned) AS planned
  FROM facts GROUP BY GROUPING SETS ((idx, m, p), (idx, p))"""  # noqa: S608 – tables from the models, values as parameters


# The active stretches under an approved plan version: (patient, kommune, the version's first day, days)
PIECES = """
CREATE TEMP TABLE insight_pieces ON COMMIT DROP AS
WITH v AS (SELECT * FROM unnest(%(v_p)s::uuid[], %(v_from)s::date[], %(v_to)s::date[]) AS v(p, vf, vt))
SELECT s.p, s.m, v.vf, GREATEST(s.start, v.vf) AS start, LEAST(s.stop, v.vt) AS stop
  FROM insight_segments s JOIN v ON v.p = s.p AND v.vf < s.stop AND v.vt > s.start
 WHERE NOT s.paused"""


def _versions(plans) -> list[tuple[str, datetime.date, datetime.date, dict]]:
    """The approved versions per patient as disjoint stretches [from, to): a version is in force up to
    the next one's first day (they chain so; insight.figures.adherence takes the first in force)."""
    by_patient: dict[Any, list] = defaultdict(list)
    for plan in plans:
        by_patient[plan.patient_id].append(plan)
    out = []
    for patient, versions in by_patient.items():
        versions.sort(key=lambda v: v.valid_from)
        for version, after in zip(versions, [*versions[1:], None], strict=True):
            end = version.valid_to or datetime.date.max
            if after is not None:
                end = min(end, after.valid_from)
            if version.valid_from < end:
                out.append((patient, version.valid_from, end, version.schedule))
    return out


def _per_day(frequency: str, times: int, days: int) -> int:
    """insight.figures.expected_per_day × 7 (an integer: the sums stay exact)."""
    return {"daily": times * 7, "weekly": times * days}.get(frequency, 0)


# Expected per bucket from the stretches under a plan cut by the buckets; received from the readings
# counted per patient, type and Norway's day, each day in the one stretch under a plan it falls in
# (a patient's stretches are disjoint) and its bucket by width_bucket: no day is joined with every
# stretch and bucket of its patient. The whole period (idx 0) is the buckets' sum, by grouping sets.
ADHERENCE = f"""
CREATE TEMP TABLE insight_types ON COMMIT DROP AS
WITH {BUCKETS},
t AS (SELECT * FROM unnest(%(t_p)s::uuid[], %(t_from)s::date[], %(t_type)s::text[], %(t_sevenths)s::int[],
                           %(t_times)s::int[]) AS t(p, vf, type, sevenths, times)),
r AS (SELECT patient_id AS p, type, (measured_at AT TIME ZONE 'Europe/Oslo')::date AS day, COUNT(*) AS n
        FROM {Reading._meta.db_table}
       WHERE patient_id = ANY(%(t_p)s::uuid[]) AND measured_at >= %(after_first)s AND measured_at < %(before)s
       GROUP BY 1, 2, 3),
facts AS (
    SELECT b.idx, s.m, s.p, t.type,
           (LEAST(s.stop, b.stop) - GREATEST(s.start, b.first)) * t.sevenths AS sevenths, 0 AS received
      FROM insight_pieces s JOIN t ON t.p = s.p AND t.vf = s.vf
           JOIN b ON b.idx > 0 AND s.start < b.stop AND s.stop > b.first
    UNION ALL
    SELECT width_bucket(r.day, %(b_firsts)s::date[]), s.m, s.p, t.type, 0, LEAST(r.n, t.times)
      FROM r JOIN insight_pieces s ON s.p = r.p AND r.day >= s.start AND r.day < s.stop
             JOIN t ON t.p = s.p AND t.vf = s.vf AND t.type = r.type)
SELECT COALESCE(idx, 0) AS idx, COALESCE(m, {WHOLE_AREA}) AS area, p, type, SUM(sevenths) AS sevenths,
       SUM(received) AS received
  FROM facts GROUP BY GROUPING SETS ((idx, m, p, type), (idx, p, type), (m, p, type), (p, type))"""  # noqa: S608


# --- alarm burden ---------------------------------------------------------------------------------

KIND_COLUMNS = ("out_of_range", "deviating_answer", "missing_measurement", "missing_answer", "inactive_patient")
TIMES = ("alerts", "taken", "handled")  # of all the alerts, and of those inside and outside opening hours
# An alert's categories, as bits of one integer in this order (a patient's first of each, below).
CATEGORIES = (
    "colour_red", "colour_yellow", *(f"kind_{k}" for k in KIND_COLUMNS),
    *(f"{group}_{what}" for group in ("all", "inside", "outside") for what in TIMES),
)  # fmt: skip


def _bit(name: str) -> int:
    return 1 << CATEGORIES.index(name)


# Over the columns of ALERTS' `facts`, in a few expressions: the colour's bit, the kind's, and the three
# of TIMES (1 + 2 if taken + 4 if handled) shifted both to `all` and to inside or outside (× 2^a + 2^b).
WHEN_COLOUR = " ".join(f"WHEN '{c}' THEN {_bit('colour_' + c)}" for c in ("red", "yellow"))
WHEN_KIND = " ".join(f"WHEN '{k}' THEN {_bit('kind_' + k)}" for k in KIND_COLUMNS)
BITS = (
    f"CASE colour {WHEN_COLOUR} ELSE 0 END + CASE kind {WHEN_KIND} ELSE 0 END"
    " + (1 + CASE WHEN first_action_at IS NULL THEN 0 ELSE 2 END + CASE WHEN handled_at IS NULL THEN 0 ELSE 4 END)"
    f" * ({_bit('all_alerts')} + CASE WHEN inside THEN {_bit('inside_alerts')} ELSE {_bit('outside_alerts')} END)"
)
WITHIN = 1 << len(CATEGORIES)  # handled within the response time: a bit beside the categories, summed only

# The areas × buckets an alert counts in, by the columns of insight_alerts that say which of its
# categories are new for its patient there: (bucket, kommune), (bucket, all), (period, kommune), (period, all).
SCOPES = {"km": ("k", "m"), "k": ("k",), "m": ("m",), "all": ()}
# The categories of an alert that none of its patient's alerts before it in the partition had: each
# patient's first alert of a category in an area and bucket carries its bit, so the people of a
# category are a count of rows (no row per patient). The rows' order in a partition is any: only
# that each patient's first is one row matters.
NEW = ("bits & ~COALESCE(bit_or(bits) OVER (PARTITION BY {partition}"
       " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)")  # fmt: skip

# Each alert: its bucket (1 …, by the buckets' first days), inside opening hours, minutes to the first
# action and to handled, handled within the response time (the open time from `since` to handled,
# summed over each day's window; at most the wall-clock time, so an alert handled within the limit by
# the clock needs no sum), its categories, and which of them are new for its patient in each scope.
# The windows are arrays indexed by the day's number from %(w_first)s (a closed day: an empty window).
WINDOW = "(%(w_{end})s::timestamptz[])[{day} - %(w_first)s::date + 1]"
LIMIT = "CASE colour WHEN 'red' THEN %(red_limit)s::interval ELSE %(limit)s::interval END"
# The open time before an instant: that of the days before its day (%(w_before)s, summed in Python) and
# of its day's window up to it. Intervals, exact to the microsecond, and arrays of a fixed-width type,
# so that an element is found by its offset (an array of numerics is walked to its element).
OPEN_BEFORE = """((%(w_before)s::interval[])[{i}] + GREATEST(interval '0',
                 LEAST({at}, (%(w_to)s::timestamptz[])[{i}]) - (%(w_from)s::timestamptz[])[{i}]))"""
ALERTS = f"""
CREATE TEMP TABLE insight_alerts ON COMMIT DROP AS
WITH a AS (
    SELECT patient_id AS p, municipality_id AS m, kind, colour, opened_at, COALESCE(raised_at, opened_at) AS since,
           first_action_at, handled_at, (opened_at AT TIME ZONE 'Europe/Oslo')::date AS day,
           (COALESCE(raised_at, opened_at) AT TIME ZONE 'Europe/Oslo')::date - %(w_first)s::date + 1 AS since_i,
           (handled_at AT TIME ZONE 'Europe/Oslo')::date - %(w_first)s::date + 1 AS handled_i
      FROM {Alert._meta.db_table}
     WHERE municipality_id = ANY(%(m)s) AND opened_at >= %(after_first)s AND opened_at < %(before)s OFFSET 0),
facts AS (
    SELECT a.*, width_bucket(day, %(b_firsts)s::date[]) AS k,
           {WINDOW.format(end="from", day="day")} <= opened_at AND opened_at < {WINDOW.format(end="to", day="day")}
           AS inside,
           CASE WHEN handled_at IS NULL THEN false
                WHEN handled_at - since <= {LIMIT} THEN true
                ELSE {OPEN_BEFORE.format(at="handled_at", i="handled_i")}
                     - {OPEN_BEFORE.format(at="since", i="since_i")} <= {LIMIT} END AS within
      FROM a OFFSET 0),
alerts AS (  -- each OFFSET 0: computed once (pulled up, a column used twice would be computed twice)
    SELECT p, m, k, inside, within, {BITS} AS bits,
           EXTRACT(EPOCH FROM first_action_at - opened_at)::float8 / 60 AS taken,
           EXTRACT(EPOCH FROM handled_at - opened_at)::float8 / 60 AS handled
      FROM facts OFFSET 0)
SELECT p, m, k, inside, taken, handled, bits, new_k AS new_km, new_k, new_all AS new_m, new_all, multi
  FROM (SELECT p, m, k, inside, taken, handled, bits | CASE WHEN within THEN {WITHIN} ELSE 0 END AS bits,
               {NEW.format(partition="p, k")} AS new_k, {NEW.format(partition="p")} AS new_all,
               MIN(m) OVER (PARTITION BY p) <> MAX(m) OVER (PARTITION BY p) AS multi
          FROM alerts) w"""  # noqa: S608 – tables from the models, values as parameters

# The scopes of one kommune for the few patients with alerts in several: a patient whose alerts are all in
# one kommune has its bucket's (period's) first alerts there as in the whole, so ALERTS copied new_k to
# new_km and new_all to new_m, with one sort (patient, bucket) and two windows instead of two sorts and
# four; the others' rows get their own windows here.
ALERTS_MULTI = f"""
UPDATE insight_alerts a SET new_km = x.new_km, new_m = x.new_m
  FROM (SELECT row, {NEW.format(partition="p, k, m")} AS new_km, {NEW.format(partition="p, m")} AS new_m
          FROM (SELECT ctid AS row, bits & ~{WITHIN} AS bits, p, k, m FROM insight_alerts WHERE multi) b) x
 WHERE a.ctid = x.row"""  # noqa: S608

SUMMED = "COALESCE(SUM(n) FILTER (WHERE {bits} & {bit} <> 0), 0)::int"  # the rows with the bit, of the patterns'

# Per (bucket, area): the alerts of each category and those handled within the response time. Every
# alert counts in its bucket and kommune, so the sums roll up from the few (bucket, kommune, bits) patterns;
# and whether any patient has alerts in several kommuner (then ALERTS_MULTI, before the people are counted).
ALERT_SUMS = f"""
WITH g AS (SELECT k, m, bits, COUNT(*) AS n, bool_or(multi) AS multi FROM insight_alerts GROUP BY k, m, bits)
SELECT COALESCE(k, 0), COALESCE(m, {WHOLE_AREA}), bool_or(multi), {SUMMED.format(bits="bits", bit=WITHIN)},
       {", ".join(SUMMED.format(bits="bits", bit=1 << i) for i in range(len(CATEGORIES)))}
  FROM g GROUP BY GROUPING SETS ((k, m), (k), (m), ())"""  # noqa: S608

# Per (bucket, area): the people of each category, each scope from its own column of new categories
# (a grouping set leaves the other scopes' columns NULL).
ALERT_PEOPLE = f"""
WITH g AS (SELECT k, m, COALESCE(new_km, new_k, new_m, new_all) AS new, COUNT(*) AS n FROM insight_alerts
            GROUP BY GROUPING SETS ((k, m, new_km), (k, new_k), (m, new_m), (new_all)))
SELECT COALESCE(k, 0), COALESCE(m, {WHOLE_AREA}),
       {", ".join(SUMMED.format(bits="new", bit=1 << i) for i in range(len(CATEGORIES)))}
  FROM g GROUP BY k, m"""  # noqa: S608

# The people of the categories under MIN_PEOPLE, per scope: the rows that are their patients' first of
# the category there (%(s_idx)s, %(s_area)s, %(s_mask)s: a small group and its categories' bits).
ALERT_IDS = {
    scope: f"""
SELECT s.idx, s.area, s.mask & a.new_{scope}, a.p::text
  FROM insight_alerts a JOIN unnest(%(s_idx)s::int[], %(s_area)s::int[], %(s_mask)s::int[]) AS s(idx, area, mask)
       ON {" AND ".join([*(f"s.{'idx' if c == 'k' else 'area'} = a.{c}" for c in cols), "true"])}
 WHERE a.new_{scope} & s.mask <> 0"""  # noqa: S608
    for scope, cols in SCOPES.items()
}

PERCENTILES = f"""
SELECT COALESCE(k, 0), COALESCE(m, {WHOLE_AREA}), inside,
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY taken),
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY handled)
  FROM insight_alerts
 GROUP BY GROUPING SETS ((k, m, inside), (k, inside), (k, m), (k), (m, inside), (inside), (m), ())"""  # noqa: S608

# The not-reached events of the period by their own day, bucket by width_bucket as the alerts; the
# patient is the event's own column (in the index alert_event_area_kind_time: no alert is read).
RETRIES = f"""
CREATE TEMP TABLE insight_retries ON COMMIT DROP AS
WITH e AS (SELECT e.patient_id AS p, e.municipality_id AS m,
                  width_bucket((e.at AT TIME ZONE 'Europe/Oslo')::date, %(b_firsts)s::date[]) AS k
             FROM {AlertEvent._meta.db_table} e
            WHERE e.municipality_id = ANY(%(m)s) AND e.kind = %(not_reached)s AND e.at >= %(after_first)s
              AND e.at < %(before)s)
SELECT COALESCE(k, 0) AS idx, COALESCE(m, {WHOLE_AREA}) AS area, p, COUNT(*) AS retries
  FROM e GROUP BY GROUPING SETS ((k, m, p), (k, p), (m, p), (p))"""  # noqa: S608


# --- the funnel's endings -------------------------------------------------------------------------

# The `ended` status rows of patients (not of a record merged into another) in the period, each with
# its bucket and the days since the forløp's oppstart in the same kommune (the latest `started` on or
# before the ending: a move ends one kommune's forløp and starts the next's). A person is «p:<id>», as
# insight.selectors.funnel_events names them.
ENDINGS = f"""
CREATE TEMP TABLE insight_endings ON COMMIT DROP AS
SELECT 'p:' || e.patient_id::text AS p, e.municipality_id AS m, e.end_reason AS reason,
       width_bucket(e.effective_date, %(b_firsts)s::date[]) AS k,
       e.effective_date - (SELECT MAX(s.effective_date) FROM {StatusChange._meta.db_table} s
                            WHERE s.patient_id = e.patient_id AND s.municipality_id = e.municipality_id
                              AND s.event = %(started)s AND s.effective_date <= e.effective_date) AS days
  FROM {StatusChange._meta.db_table} e JOIN {Patient._meta.db_table} pt ON pt.id = e.patient_id
 WHERE e.event = %(ended)s AND pt.merged_into_id IS NULL AND e.municipality_id = ANY(%(m)s)
   AND e.effective_date >= %(period_first)s AND e.effective_date < %(period_stop)s"""  # noqa: S608

# Per (bucket, area, person): the endings, those of each reason and those with a days in service.
ENDED = f"""
CREATE TEMP TABLE insight_ended ON COMMIT DROP AS
SELECT COALESCE(k, 0) AS idx, COALESCE(m, {WHOLE_AREA}) AS area, p, COUNT(*) AS ended,
       {", ".join(f"COUNT(*) FILTER (WHERE reason = '{r}') AS r_{r}" for r in END_REASONS)},
       COUNT(days) AS served
  FROM insight_endings GROUP BY GROUPING SETS ((k, m, p), (k, p), (m, p), (p))"""  # noqa: S608

# The median days in service per (bucket, area), and how many endings it is of (statistics.median
# gives an odd count's middle value as it is: an integer).
IN_SERVICE = f"""
SELECT COALESCE(k, 0), COALESCE(m, {WHOLE_AREA}), percentile_cont(0.5) WITHIN GROUP (ORDER BY days), COUNT(days)
  FROM insight_endings GROUP BY GROUPING SETS ((k, m), (k), (m), ())"""  # noqa: S608


def _windows(hours: OpeningHours, first: datetime.date, last: datetime.date) -> dict[str, Any]:
    """Each day's open window from `first` to `last`, as triage.opening_hours has it (its instants: a
    day of summer time ends and starts as Python's zone says); a closed day an empty one."""
    out: dict[str, Any] = {"w_first": first, "w_from": [], "w_to": [], "w_before": []}
    day, before = first, datetime.timedelta(0)
    while day <= last:
        window = hours._window(day) or (CLOSED, CLOSED)
        out["w_from"].append(window[0])
        out["w_to"].append(window[1])
        out["w_before"].append(before)
        before += window[1] - window[0]
        day += datetime.timedelta(days=1)
    return out


# --- the report -----------------------------------------------------------------------------------


class Counting:
    """One report's counting: the temp tables of one transaction and the figures read from them."""

    def __init__(self, cursor, municipality_ids, period: Period, *, whole_centre: bool):
        self.cursor, self.period, self.whole_centre = cursor, period, whole_centre
        self.params: dict[str, Any] = {
            "m": sorted(municipality_ids), **_bucket_params(period),
            "after_first": _moment(period.first), "before": _moment(period.end),
            "b_firsts": [b.first for b in period.buckets],
        }  # fmt: skip

    def run(self, sql: str, **params) -> None:
        self.cursor.execute(sql, {**self.params, **params})

    def days(self, plans) -> tuple[dict, dict | None]:
        """(per (idx, area): capacity's and adherence's days and people; per (idx, area, type): expected
        and received, or None when no patient has a plan)."""
        span_first = self.period.first - datetime.timedelta(days=TREND_DAYS)
        self.run(SEGMENTS, events=list(STATES), first=span_first, stop=self.period.end)
        versions = _versions(plans)
        self.run(PIECES, v_p=[v[0] for v in versions], v_from=[v[1] for v in versions],
                 v_to=[min(v[2], datetime.date(9999, 12, 31)) for v in versions])  # fmt: skip
        days = self._capacity()
        self.run(DAYS)
        planned = Counter(self.cursor, "insight_days").count({"planned": "planned"},
                                                            {"without_planned": "active > planned"})  # fmt: skip
        for key, figures in days.items():
            figures.update(planned.get(key, {}))
            unplanned, others = figures.pop("unplanned"), figures.pop("without_planned", EMPTY)
            count = unplanned.count + others.count
            figures["without_plan"] = Counted(count, unplanned.ids | others.ids if count < MIN_PEOPLE else frozenset())
            now, then = figures["active_end"], figures.pop("then")
            figures["then"] = then.count
            if max(now.count, then.count) >= MIN_PEOPLE:  # not a figure that adds up: at least 5 is all the rule asks
                figures["reach"] = Counted(max(now.count, then.count), frozenset())
            else:
                figures["reach"] = Counted(len(now.ids | then.ids), now.ids | then.ids)
        if not versions:
            return days, None
        types = [(p, vf, mtype, _per_day(*schedule), schedule[1])
                 for p, vf, _vt, schedules in versions for mtype, schedule in schedules.items()
                 if _per_day(*schedule)]  # fmt: skip
        self.run(ADHERENCE, **{f"t_{name}": [row[i] for row in types]
                               for i, name in enumerate(("p", "from", "type", "sevenths", "times"))})  # fmt: skip
        by_type = Counter(self.cursor, "insight_types", ("type",)).count(
            {"sevenths": "sevenths", "received": "received"}, {"people": "true"}
        )
        everyone = Counter(self.cursor, "insight_types", distinct=True).count({}, {"everyone": "true"})
        for key, figures in everyone.items():
            days.setdefault(key, {}).update(figures)
        return days, by_type

    def _capacity(self) -> dict[tuple, dict[str, Any]]:
        """Per (idx, area): active and paused days, and the people of each capacity figure."""
        self.run(CAPACITY, then=self.whole_centre)
        out: dict[tuple, dict[str, Any]] = {}
        small: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for idx, area, active, paused, *counts in self.cursor.fetchall():
            figures: dict[str, Any] = {"active": active or 0, "paused": paused or 0}
            for i, name in enumerate(CAPACITY_PEOPLE):
                n = counts[2 * i + (1 if area == WHOLE_AREA else 0)]
                figures[name] = Counted(n, frozenset())
                if 0 < n < MIN_PEOPLE:
                    small[name].append((idx, area))
            out[(idx, area)] = figures
        if small:
            self._capacity_ids(out, small)
        return out

    def _capacity_ids(self, out: dict, small: dict[str, list[tuple[int, int]]]) -> None:
        """The people of the capacity figures under MIN_PEOPLE: only the rows of those figures."""
        clauses, params = [], {}
        for name, groups in small.items():
            for scope in ("m", "all"):
                these = [(idx, area) for idx, area in groups if (area == WHOLE_AREA) == (scope == "all")]
                if not these:
                    continue
                key = f"{name}_{scope}"
                params[f"{key}_idx"], params[f"{key}_m"] = [i for i, _a in these], [a for _i, a in these]
                pairs = f"SELECT * FROM unnest(%({key}_idx)s::int[], %({key}_m)s::int[])"  # noqa: S608
                match = f"idx = ANY(%({key}_idx)s::int[])" if scope == "all" else f"(idx, m) IN ({pairs})"
                clauses.append(f"({CAPACITY_PEOPLE[name].format(first=FIRST[scope])} AND {match})")
        flags = ", ".join(_capacity_condition(n, a) for n in CAPACITY_PEOPLE for a in (1, WHOLE_AREA))
        sql = f"{CAPACITY_FROM} SELECT idx, m, p::text, {flags} FROM j WHERE {' OR '.join(clauses)}"  # noqa: S608
        self.run(sql, then=self.whole_centre, **params)
        found: dict[tuple, set] = defaultdict(set)
        for idx, m, patient, *flags in self.cursor.fetchall():
            for i, name in enumerate(CAPACITY_PEOPLE):
                for area, flag in ((m, flags[2 * i]), (WHOLE_AREA, flags[2 * i + 1])):
                    if flag and (idx, area) in small.get(name, ()):
                        found[(idx, area, name)].add(patient)
        for name, groups in small.items():
            for idx, area in groups:
                ids = frozenset(found[(idx, area, name)])
                assert len(ids) == out[(idx, area)][name].count, (idx, area, name)
                out[(idx, area)][name] = Counted(len(ids), ids)

    def alerts(self, hours: OpeningHours) -> tuple[dict, dict]:
        """(per (idx, area): the counts and people; per (idx, area, inside or None): the percentiles)."""
        self.cursor.execute(
            f"SELECT MIN(COALESCE(raised_at, opened_at)), MAX(handled_at), MAX(opened_at) FROM {Alert._meta.db_table}"  # noqa: S608
            " WHERE municipality_id = ANY(%(m)s) AND opened_at >= %(after_first)s AND opened_at < %(before)s",
            self.params,
        )
        since, handled, opened = self.cursor.fetchone()
        first = min(since.astimezone(OSLO).date(), self.period.first) if since else self.period.first
        last = max(x.astimezone(OSLO).date() for x in (handled, opened) if x) if opened else self.period.last
        self.run(ALERTS, red_limit=RED_AFTER, limit=hours.working_day, **_windows(hours, first, last))
        self.run(ALERT_SUMS)
        counts: dict[tuple, dict[str, Any]] = {}
        multi = False  # any patient with alerts in more than one kommune
        for idx, area, several, within, *sums in self.cursor.fetchall():
            multi |= bool(several)  # null where a group has no alerts
            counts[(idx, area)] = {"within": within, **dict(zip(CATEGORIES, sums, strict=True))}
        if multi:
            self.run(ALERTS_MULTI)
        self.run(ALERT_PEOPLE)
        small: dict[str, dict[tuple[int, int], int]] = defaultdict(dict)  # scope → (idx, area) → bits under 5
        for idx, area, *people in self.cursor.fetchall():
            scope = _scope(idx, area)
            for i, (name, n) in enumerate(zip(CATEGORIES, people, strict=True)):
                counts[(idx, area)][f"{name}_people"] = Counted(n, frozenset())
                if 0 < n < MIN_PEOPLE:
                    small[scope][(idx, area)] = small[scope].get((idx, area), 0) | 1 << i
        if small:
            self._alert_ids(counts, small)
        self.run(PERCENTILES)
        percentiles = {(idx, area, inside): (taken, handled) for idx, area, inside, taken, handled in self.cursor}
        return counts, percentiles

    def retries(self) -> dict:
        """Per (idx, area): the «ikke nådd» retries and their people."""
        self.run(RETRIES, not_reached=AlertEventKind.NOT_REACHED)
        return Counter(self.cursor, "insight_retries").count({"retries": "retries"}, {"people": "true"})

    def endings(self) -> dict[tuple[int, int], Endings]:
        """Per (idx, area): the funnel's endings, by reason and in service."""
        self.run(ENDINGS, started=StatusEvent.STARTED, ended=StatusEvent.ENDED, period_first=self.period.first,
                 period_stop=self.period.end)  # fmt: skip
        self.run(ENDED)
        counts = Counter(self.cursor, "insight_ended").count(
            {"n_ended": "ended", **{f"n_{r}": f"r_{r}" for r in END_REASONS}},
            {"ended": "true", "served": "served > 0", **{f"p_{r}": f"r_{r} > 0" for r in END_REASONS}},
        )
        self.run(IN_SERVICE)
        medians = {(idx, area): (median, n) for idx, area, median, n in self.cursor.fetchall()}
        out = {}
        for key, figures in counts.items():
            median, n = medians.get(key, (None, 0))
            if median is not None:  # as insight.figures._median: an odd count's middle value is the integer it is
                median = round(int(median) if n % 2 else median, 1)
            by_reason = {r: (int(figures[f"n_{r}"]), figures[f"p_{r}"]) for r in END_REASONS}
            out[key] = Endings((int(figures["n_ended"]), figures["ended"]), by_reason, (median, figures["served"]))
        return out

    def _alert_ids(self, counts: dict, small: dict[str, dict[tuple[int, int], int]]) -> None:
        """The people of the alarm figures under MIN_PEOPLE: only the rows that are their first."""
        found: dict[tuple, set] = defaultdict(set)
        for scope, groups in small.items():
            self.run(ALERT_IDS[scope], s_idx=[idx for idx, _a in groups], s_area=[a for _i, a in groups],
                     s_mask=list(groups.values()))  # fmt: skip
            for idx, area, bits, patient in self.cursor.fetchall():
                for i in range(len(CATEGORIES)):
                    if bits & 1 << i:
                        found[(idx, area, i)].add(patient)
        for groups in small.values():
            for (idx, area), bits in groups.items():
                for i, name in enumerate(CATEGORIES):
                    if bits & 1 << i:
                        ids = frozenset(found[(idx, area, i)])
                        assert len(ids) == counts[(idx, area)][f"{name}_people"].count, (idx, area, name)
                        counts[(idx, area)][f"{name}_people"] = Counted(len(ids), ids)


def _scope(idx: int, area: int) -> str:
    """Which of SCOPES a (bucket, area) is: idx 0 is the whole period, area WHOLE_AREA every kommune."""
    return {(True, True): "km", (True, False): "k", (False, True): "m", (False, False): "all"}[
        (idx != 0, area != WHOLE_AREA)
    ]


def _get(figures: dict, name: str, default: Any = 0) -> Any:
    value = figures.get(name)
    return default if value is None else value


def _capacity(days: dict, bucket: Bucket, *, staffing, reference: int, whole: bool) -> dict:
    reach = None
    if staffing is not None and whole:
        now, then = _get(days, "active_end", EMPTY).count, int(_get(days, "then"))
        reach = (reaches_reference(now, then, fte_on(staffing, bucket.last), bucket.last, reference),
                 _get(days, "reach", EMPTY))  # fmt: skip
    return capacity_cells(
        bucket, (int(_get(days, "active")), _get(days, "active_people", EMPTY)),
        (int(_get(days, "paused")), _get(days, "paused_people", EMPTY)),
        (_get(days, "active_end", EMPTY).count, _get(days, "active_end", EMPTY)),
        (_get(days, "paused_end", EMPTY).count, _get(days, "paused_end", EMPTY)),
        staffing=staffing if whole else None, reference=reference, reach=reach,
    )  # fmt: skip


def _times(counts: dict, percentiles: dict, key: tuple, prefix: str, inside: bool | None) -> Times:
    taken, handled = percentiles.get((*key, inside), (None, None))
    return Times(
        int(_get(counts, f"{prefix}_alerts")), _get(counts, f"{prefix}_alerts_people", EMPTY),
        tuple(taken) if taken else (None, None), _get(counts, f"{prefix}_taken_people", EMPTY),
        tuple(handled) if handled else (None, None), _get(counts, f"{prefix}_handled_people", EMPTY),
    )  # fmt: skip


def _alarm(alerts: tuple, days: dict, key: tuple, bucket: Bucket, fte: tuple[float | None, str | None]) -> dict:
    counts_of, percentiles, retries_of = alerts
    counts, retries = counts_of.get(key, {}), retries_of.get(key, {})
    return alarm_cells(
        bucket, _times(counts, percentiles, key, "all", None), _times(counts, percentiles, key, "inside", True),
        _times(counts, percentiles, key, "outside", False),
        colours={c: (int(_get(counts, f"colour_{c}")), _get(counts, f"colour_{c}_people", EMPTY))
                 for c in ("red", "yellow")},
        kinds={k: (int(_get(counts, f"kind_{k}")), _get(counts, f"kind_{k}_people", EMPTY)) for k in KIND_COLUMNS},
        active=(int(_get(days, "active")), _get(days, "active_people", EMPTY)),
        handled=(int(_get(counts, "all_handled")), int(_get(counts, "within"))),
        retries=(int(_get(retries, "retries")), _get(retries, "people", EMPTY)), fte=fte,
    )  # fmt: skip


def _adherence(days: dict, by_type: dict | None, key: tuple) -> dict:
    types = {}
    for (idx, area, mtype), figures in (by_type or {}).items():
        if (idx, area) == key:
            types[mtype] = (float(Decimal(figures["sevenths"]) / 7), float(figures["received"]), figures["people"])
    without = _get(days, "without_plan", EMPTY)
    return adherence_cells(int(_get(days, "planned")), _get(days, "everyone", EMPTY), (without.count, without), types)


def _funnel_by_area(events, areas: dict[str, int]) -> dict[int, tuple[list, list]]:
    """Each area's events sorted by day (with the days, for bisect)."""
    out: dict[int, list] = defaultdict(list)
    for event in events:
        out[event.municipality_id].append(event)
        out[WHOLE_AREA].append(event)
    return {area: (sorted(es, key=lambda e: e.day), sorted(e.day for e in es)) for area, es in out.items()}


def _counting_settings(cursor) -> None:
    cursor.execute("SET LOCAL work_mem = '128MB'")  # the sorts and hashes of a year fit in memory
    cursor.execute("SET LOCAL jit = off")  # compiling costs more than it saves on these few passes


def _alerts_beside(cursor, ids, period: Period, whole_centre: bool, hours: OpeningHours):
    """The alarm figures (about half of a report's database work) counted while the caller counts the
    rest: on a second connection, in a thread, in the caller's snapshot (pg_export_snapshot: both read
    the same rows) and scope — a year's report then takes the longer of the two halves, not their sum.
    settings.INSIGHT_SECOND_CONNECTION off (the test suite, whose rows are in a transaction no other
    connection sees), or inside a savepoint (no snapshot can be exported there): on the caller's
    connection, one after the other. → a Future of Counting.alerts."""
    if not settings.INSIGHT_SECOND_CONNECTION or any(connection.savepoint_ids):
        done: Future = Future()
        done.set_result(Counting(cursor, ids, period, whole_centre=whole_centre).alerts(hours))
        return done
    cursor.execute("SELECT pg_export_snapshot()")
    snapshot, scope = cursor.fetchone()[0], current_scope()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="insight")
    future = pool.submit(_alerts_in_snapshot, snapshot, scope, ids, period, whole_centre, hours)
    pool.shutdown(wait=False)  # the thread ends with its one task
    return future


def _alerts_in_snapshot(snapshot: str, scope, ids, period: Period, whole_centre: bool, hours: OpeningHours):
    """Counting.alerts on this thread's own connection, in the snapshot and scope handed over; the
    connection is closed after (a thread's connection is never reused)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # Both must come first in the transaction; a snapshot is imported only into REPEATABLE READ.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
            scope_set(scope or ())
            _counting_settings(cursor)
            return Counting(cursor, ids, period, whole_centre=whole_centre).alerts(hours)
    finally:
        connection.close()


def report_figures(
    *,
    municipality_ids: Iterable[int],
    areas: dict[str, int],
    period: Period,
    sections: Iterable[str],
    whole_centre: bool,
    staffing: list[StaffingRow] | None,
    reference: int,
    hours: OpeningHours,
    plans=(),
    funnel_events=(),
) -> dict[str, AreaReport]:
    """Every area's figures before the small-cell rule (`areas`: the report's name of each area →
    its kommune, or WHOLE_AREA), as insight.figures.area_figures computes them from rows."""
    wanted = set(sections)
    ids = sorted(municipality_ids)
    # No savepoint of its own: a snapshot is exported only outside one (_alerts_beside). Its SET LOCALs
    # last to the end of the caller's transaction, its temp tables are dropped below.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        _counting_settings(cursor)
        counting = Counting(cursor, ids, period, whole_centre=whole_centre)
        beside = _alerts_beside(cursor, ids, period, whole_centre, hours) if "alarm_burden" in wanted else None
        try:
            days, by_type = counting.days(plans if "adherence" in wanted else ())
            endings = counting.endings() if "funnel" in wanted else {}
            retries = counting.retries() if beside is not None else None
        finally:  # never leave the second connection counting behind a failed report
            wait([beside] if beside is not None else [])
        alerts = (*beside.result(), retries) if beside is not None else None
        cursor.execute("DROP TABLE IF EXISTS insight_segments, insight_pieces, insight_days, insight_types, "
                       "insight_alerts, insight_retries, insight_endings, insight_ended")  # fmt: skip
    events = _funnel_by_area(funnel_events, areas) if "funnel" in wanted else {}
    reports: dict[str, AreaReport] = {}
    for name, area in areas.items():
        figures = []
        for idx, bucket in enumerate(_buckets(period)):
            key = (idx, area)
            these = days.get(key, {})
            out: dict[str, dict] = {}
            whole = whole_centre and area == WHOLE_AREA  # the centre's own figures
            if "capacity" in wanted:
                out["capacity"] = _capacity(these, bucket, staffing=staffing, reference=reference, whole=whole)
            if alerts is not None:
                fte = staffing_fte(staffing if whole else None, bucket)
                out["alarm_burden"] = _alarm(alerts, these, key, bucket, fte)
            if "adherence" in wanted:
                out["adherence"] = _adherence(these, by_type, key)
            if "funnel" in wanted:
                ordered, day_list = events.get(area, ([], []))
                low, high = bisect.bisect_left(day_list, bucket.first), bisect.bisect_right(day_list, bucket.last)
                out["funnel"] = funnel_cells(funnel_steps(ordered[low:high], bucket), endings.get(key, NO_ENDINGS))
            figures.append(out)
        reports[name] = AreaReport(total=figures[0], buckets=figures[1:])
    return reports
