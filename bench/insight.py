"""Insight benchmark: the figures of a large centre for a month and for a year.

    make bench-insight
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/insight.py)

Seeds with COPY, in its own database (`<db>_bench_insight_<patients>`, kept between runs), one centre
with 30 kommuner it follows up, its leder and its staffing, BENCH_PATIENTS patients (default 100,000)
with about 15 months of status history (starts, pauses and resumes, ends, moves between kommuner)
and a year of alerts (BENCH_ALERTS_PER_PATIENT a year each, default 5: colours, kinds, most taken
and handled, some not reached first). BENCH_SCALE (e.g. 0.02) scales the patients for a quick run.

Then, as the leder's request runs (the app's role, under row-level security), it times
`insight.selectors.insight_report` for the whole centre for last month (by week) and for the last
twelve months (by month): the median of BENCH_RUNS runs (default 3). Targets: < 2 s for a month,
< 5 s for a year. It prints the figures the page would show.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import random
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _seed  # noqa: E402

KOMMUNER = 30
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
PATIENTS = max(50, int(int(os.environ.get("BENCH_PATIENTS", "100000")) * SCALE))
ALERTS_PER_PATIENT = float(os.environ.get("BENCH_ALERTS_PER_PATIENT", "5"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
PARALLEL = os.environ.get("BENCH_PARALLEL", "1") != "0"
# Adherence: an approved plan (the KOLS template: SpO2 and pulse daily) for every patient and their
# readings of the last BENCH_READINGS_DAYS days (most days both, some days one or none), in a database
# of its own (…_readings), and the month's adherence timed alone as well.
READINGS = os.environ.get("BENCH_READINGS", "0") == "1"
READINGS_DAYS = int(os.environ.get("BENCH_READINGS_DAYS", "40"))
TODAY = datetime.date.today()
KINDS = ("out_of_range", "deviating_answer", "missing_measurement", "missing_answer", "inactive_patient")


def _setup() -> None:
    _seed.setup(f"bench_insight_{PATIENTS}" + ("_readings" if READINGS else ""), secret="bench-insight-")


def _plans_and_readings(patients, rng: random.Random, gp_id: int, now) -> int:
    """An approved plan for each patient (approved before the readings' first day) and their readings,
    COPY text in bulk; → the readings made."""
    from django.db import connection

    from ebp.content import dump, parse_content
    from ebp.defaults import TEMPLATES
    from ebp.models import Plan, PlanVersion
    from measurements.partitions import month_add, month_start
    from triage.opening_hours import OSLO

    content = dump(parse_content(TEMPLATES["kols"]["content"]))
    first = TODAY - datetime.timedelta(days=READINGS_DAYS)
    approved = datetime.datetime.combine(first - datetime.timedelta(days=1), datetime.time(12), tzinfo=OSLO)
    plans = Plan.objects.bulk_create([Plan(patient_id=p, municipality_id=m) for p, m in patients], batch_size=5000)
    PlanVersion.objects.bulk_create(
        [PlanVersion(plan=plan, municipality_id=plan.municipality_id, number=1, status="active", content=content,
                     created_by_id=gp_id, decided_by_id=gp_id, decided_at=approved) for plan in plans],
        batch_size=5000,
    )  # fmt: skip
    with connection.cursor() as cursor:
        month = month_start(first)
        while month <= month_add(month_start(TODAY), 1):
            cursor.execute("SELECT dho_partition_ensure(%s, %s)", ["measurements_reading", month])
            month = month_add(month, 1)
    columns = ["patient_id", "municipality_id", "type", "value", "measured_at", "received_at", "colour", "reason",
               "original", "external_id"]  # fmt: skip
    count = 0

    def chunks():
        nonlocal count
        for day in range(READINGS_DAYS):
            morning = datetime.datetime.combine(first + datetime.timedelta(days=day), datetime.time(8), tzinfo=OSLO)
            out = []
            for p, m in patients:
                for mtype, value in (("spo2", 96), ("pulse", 72)):
                    if rng.random() < 0.85:  # a missed reading now and then
                        at = (morning + datetime.timedelta(minutes=rng.randrange(180))).isoformat()
                        out.append(f"{p}\t{m}\t{mtype}\t{value}\t{at}\t{at}\tgreen\t\t\t\n")
            count += len(out)
            yield "".join(out)

    _seed.copy_text("measurements_reading", columns, chunks())
    return count


def _alerts(rng: random.Random, patients, now, nurse_id):
    """A year of closed alerts, and their events (opened; taken; not reached; handled), with the first
    action as triage.services.events_record keeps it (the earliest: a day of summer time can put the
    handling before the take)."""
    from triage.opening_hours import OSLO

    alerts, events = [], []
    start = datetime.datetime.combine(TODAY - datetime.timedelta(days=365), datetime.time.min, tzinfo=OSLO)
    for _ in range(int(len(patients) * ALERTS_PER_PATIENT)):
        pid, m = rng.choice(patients)
        aid = uuid.UUID(int=rng.getrandbits(128))
        opened = start + datetime.timedelta(seconds=rng.randint(0, 365 * 86400 - 1))
        colour, kind = ("red" if rng.random() < 0.3 else "yellow"), rng.choice(KINDS)
        taken = opened + datetime.timedelta(minutes=rng.randint(2, 600)) if rng.random() < 0.9 else None
        handled = taken + datetime.timedelta(minutes=rng.randint(1, 120)) if taken and rng.random() < 0.9 else None
        first_action = min((x for x in (taken, handled) if x), default=None)
        alerts.append((aid, pid, m, kind, "", colour, "Funn", False, "closed", opened, None, now,
                       handled or opened + datetime.timedelta(days=2), "", "", taken, handled, nurse_id,
                       first_action))  # fmt: skip
        events.append((aid, m, pid, "opened", opened, colour, "", ""))
        if taken:
            events.append((aid, m, pid, "taken", taken, colour, "", ""))
            if rng.random() < 0.1:
                events.append((aid, m, pid, "not_reached", taken + datetime.timedelta(minutes=1), colour, "", ""))
        if handled:
            events.append((aid, m, pid, "handled", handled, colour, "", ""))
    return alerts, events


def seed():
    """Idempotent: a seeded database is reused, so a second run starts measuring at once."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from patients.models import Patient, StatusChange
    from tenants.models import Agreement, Centre, Membership, Staffing
    from triage.models import Alert, AlertEvent

    leder, _ = get_user_model().objects.get_or_create(username="bench-leder")
    nurse, _ = get_user_model().objects.get_or_create(username="bench-nurse")
    gp, _ = get_user_model().objects.get_or_create(username="bench-gp")
    if Patient.objects.count() >= PATIENTS:
        return Centre.objects.get(slug="bench"), leder
    started, rng, now = time.perf_counter(), random.Random(11), timezone.now()
    kommuner, centre = _seed.centre_with_kommuner(KOMMUNER)
    Membership.objects.get_or_create(user=leder, role="leader", centre=centre)
    Membership.objects.get_or_create(user=nurse, role="nurse", centre=centre)
    for m in kommuner[1:]:
        defaults = {"follow_up_by": "centre", "valid_from": datetime.date(2020, 1, 1)}
        Agreement.objects.get_or_create(centre=centre, municipality=m, defaults=defaults)
    fte = min(999, max(1, PATIENTS // 80))  # the field holds at most 999,99 årsverk
    Staffing.objects.get_or_create(centre=centre, valid_from=datetime.date(2020, 1, 1),
                                   defaults={"nurse_fte": fte, "note": "benk"})  # fmt: skip
    ids = [m.pk for m in kommuner]
    patients = [(uuid.UUID(int=rng.getrandbits(128)), rng.choice(ids)) for _ in range(PATIENTS)]
    _seed.copy_patients(patients, now, TODAY, rng, ids)
    alerts, events = _alerts(rng, patients, now, nurse.pk)
    _seed.copy(
        "triage_alert",
        ["id", "patient_id", "municipality_id", "kind", "subject", "colour", "reason", "without_plan", "status",
         "opened_at", "raised_at", "updated_at", "closed_at", "closed_reason", "measurement", "taken_at",
         "handled_at", "handled_by_id", "first_action_at"],
        alerts,
    )  # fmt: skip
    event_columns = ["alert_id", "municipality_id", "patient_id", "kind", "at", "colour", "previous_colour", "reason"]
    _seed.copy("triage_alertevent", event_columns, events)
    readings = _plans_and_readings(patients, rng, gp.pk, now) if READINGS else 0
    _seed.analyze()
    print(
        f"Seeded {PATIENTS:,} patients, {StatusChange.objects.count():,} status rows, {Alert.objects.count():,} "
        f"alerts, {AlertEvent.objects.count():,} alert events, {readings:,} readings in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return centre, leder


def main() -> int:
    _setup()
    _centre, leder = seed()
    return _seed.measured_as(leder, measure)  # the leder's request: the app's role, under row-level security


def _print_figures(report) -> None:
    """The first figures of each section, and a digest of every figure as the API answers them (the
    same digest before and after a change of how they are counted: the same answer)."""
    from insight.figures import public
    from insight.presentation import SECTION_TITLES, label_of, shown

    every = [{n: public(s) for n, s in figures.items()} for figures in (report.figures.total, *report.figures.buckets)]
    digest = hashlib.sha256(json.dumps(every, sort_keys=True, default=str).encode()).hexdigest()[:16]
    for name, section in report.figures.total.items():
        figures = [f"{label_of(name, key)} {shown(name, key, cell)}" for key, cell in list(section.items())[:8]]
        print(f"    {SECTION_TITLES[name]}: " + "; ".join(figures), flush=True)
    print(f"    every figure's digest: {digest}", flush=True)


def measure(leder) -> int:
    from django.db import connection

    from insight.access import insight_view_for, selection_for
    from insight.periods import months_back, period_parse
    from insight.selectors import insight_report

    view = insight_view_for(leder)
    selection = selection_for(view)
    last_month_end = TODAY.replace(day=1) - datetime.timedelta(days=1)
    month = period_parse(last_month_end.replace(day=1).isoformat(), last_month_end.isoformat(), "week", today=TODAY)
    year = period_parse(months_back(TODAY, 12).isoformat(), TODAY.isoformat(), "month", today=TODAY)
    print(f"Centre «{view.centre.name}»: {len(view.municipality_ids)} kommuner, {PATIENTS:,} patients", flush=True)
    if not PARALLEL:  # the backend does all the work, so its CPU seconds are the report's
        with connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
    failed = False
    for label, period, target in (("one month, by week", month, 2.0), ("one year, by month", year, 5.0)):
        timing = _seed.timed(lambda period=period: insight_report(view, selection, period), RUNS)
        verdict = "ok" if timing.wall < target else "OVER"
        failed |= timing.wall >= target
        print(f"  {label} ({period.first}–{period.last}, {len(period.buckets)} buckets): median {timing.wall:.2f} s "
              f"of {RUNS} (target < {target:.0f} s: {verdict}); CPU {timing.backend:.2f} s backend + "
              f"{timing.python:.2f} s Python", flush=True)  # fmt: skip
        _print_figures(timing.result)
    if READINGS:  # the month's adherence alone: the readings counted per patient, type and day
        alone = replace(selection, sections=frozenset({"adherence"}))
        timing = _seed.timed(lambda: insight_report(view, alone, month), RUNS)
        print(f"  one month's adherence alone: median {timing.wall:.2f} s of {RUNS}; CPU {timing.backend:.2f} s "
              f"backend + {timing.python:.2f} s Python", flush=True)  # fmt: skip
        _print_figures(timing.result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
