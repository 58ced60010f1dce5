"""Worklist benchmark: the nurses' two busiest pages on a realistic centre.

    make bench-worklist
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/worklist.py)

Seeds, in its own database (`<db>_bench_worklist`, kept between runs), 5,000 active patients, 2 million
readings (90 days of SpO2, pulse and blood pressure) and 300 open alerts; then times the server side of
the requests (Django in-process, production settings, no network) and prints p50/p95 for:

- the worklist page (full load: the first page of the 300, 50 rows rendered and audited), target p95 < 150 ms;
- its live refresh (the htmx request every 5 s);
- the patient page (30 days of trends with bands, alert history, notes), target p95 < 250 ms;

and the number of queries of each, which does not depend on the number of rows, with the CPU time
the measuring process spent per request (p50/p95): on a shared machine the wall time is mostly
waiting for a core, and the CPU time is what compares one run with another.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _seed  # noqa: E402

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "5000"))
READINGS_PER_PATIENT = int(os.environ.get("BENCH_READINGS_PER_PATIENT", "400"))  # 5,000 × 400 = 2 million
ALERTS = int(os.environ.get("BENCH_ALERTS", "300"))
RUNS = int(os.environ.get("BENCH_RUNS", "40"))


def _setup() -> None:
    _seed.setup("bench_worklist", secret="bench-worklist-", collectstatic=True)


def seed():
    """Idempotent: what exists is kept, so a second run starts measuring at once."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from ebp.content import dump, parse_content
    from ebp.defaults import TEMPLATES
    from ebp.models import Plan, PlanVersion
    from patients import national_id
    from patients.models import Patient
    from tenants.models import Centre, Membership, Municipality
    from triage.models import Alert

    municipality, _ = Municipality.objects.get_or_create(
        number="3209", defaults={"name": "Ullensaker", "population": 42500}
    )
    centre, _ = Centre.objects.get_or_create(slug="bench", defaults={"name": "Benk", "host": municipality})
    nurse, _ = get_user_model().objects.get_or_create(username="bench-nurse", defaults={"first_name": "Benk"})
    Membership.objects.get_or_create(user=nurse, role="nurse", centre=centre)
    gp, _ = get_user_model().objects.get_or_create(username="bench-gp")
    started = time.perf_counter()
    rng = random.Random(11)
    have = Patient.objects.count()
    if have < PATIENTS:
        taken, new = set(Patient.objects.values_list("national_id", flat=True)), []
        while have + len(new) < PATIENTS:
            birth = __import__("datetime").date(rng.randint(1930, 1979), rng.randint(1, 12), rng.randint(1, 28))
            value = national_id.synthetic(birth, rng.randint(100, 499))
            if value and value not in taken:
                taken.add(value)
                new.append(Patient(municipality=municipality, name=f"Pasient {have + len(new)}", national_id=value,
                                   birth_date=birth, gp=gp, diagnoses=["kols"]))  # fmt: skip
        Patient.objects.bulk_create(new, batch_size=2000)
    patients = list(Patient.objects.order_by("id").values_list("id", flat=True))
    if not PlanVersion.objects.exists():
        content = dump(parse_content(TEMPLATES["kols"]["content"]))
        plans = Plan.objects.bulk_create([Plan(patient_id=p, municipality=municipality) for p in patients[::2]])
        PlanVersion.objects.bulk_create(
            [
                PlanVersion(
                    plan=p, municipality=municipality, number=1, status="active", content=content, created_by=gp
                )
                for p in plans
            ]
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM measurements_reading")
        if cursor.fetchone()[0] < len(patients) * READINGS_PER_PATIENT:
            print(f"Seeding {len(patients) * READINGS_PER_PATIENT:,} readings …", flush=True)
            cursor.execute("TRUNCATE measurements_reading CASCADE")
            # 90 days, every ~5.4 h, rotating SpO2 / pulse / blood pressure, a few yellow and red.
            cursor.execute(
                """
                INSERT INTO measurements_reading (patient_id, municipality_id, integration_id, external_id, type,
                    value, systolic, diastolic, original, measured_at, received_at, colour, reason, scored_at)
                SELECT p.id, p.municipality_id, NULL, '', t.type,
                    CASE t.type WHEN 'spo2' THEN 88 + (g %% 10) WHEN 'pulse' THEN 60 + (g %% 45) END,
                    CASE WHEN t.type = 'blood_pressure' THEN 115 + (g %% 40) END,
                    CASE WHEN t.type = 'blood_pressure' THEN 70 + (g %% 20) END,
                    '', now() - make_interval(mins => g * (90 * 24 * 60 / %s)), now(),
                    CASE WHEN g %% 17 = 0 THEN 'red' WHEN g %% 7 = 0 THEN 'yellow' ELSE 'green' END, '', now()
                FROM patients_patient p
                CROSS JOIN generate_series(1, %s) AS g
                CROSS JOIN LATERAL (SELECT (ARRAY['spo2', 'pulse', 'blood_pressure'])[1 + g %% 3] AS type) t
                """,
                [READINGS_PER_PATIENT, READINGS_PER_PATIENT],
            )
            cursor.execute("ANALYZE measurements_reading")
    if Alert.objects.filter(status="open").count() != ALERTS:
        Alert.objects.all().delete()
        chosen = rng.sample(patients, ALERTS)
        Alert.objects.bulk_create(
            [
                Alert(
                    patient_id=p,
                    municipality=municipality,
                    kind="out_of_range",
                    colour=rng.choice(["red", "yellow", "yellow"]),
                    reason="SpO2 89 % – gul under 92",
                    measurement="spo2",
                    taken_by=nurse if i % 5 == 0 else None,
                )
                for i, p in enumerate(chosen)
            ]
        )
    print(f"Seed ready in {time.perf_counter() - started:.0f} s", flush=True)
    return nurse, patients


CPU: list[float] = []  # this process's CPU time per request (ms), beside the wall time: a shared machine


def _timed(client, paths: list[str], **headers) -> tuple[list[float], int]:
    """Server time per request (ms) and the queries of the last one; the CPU time of each in CPU."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    CPU.clear()
    for path in paths:
        with CaptureQueriesContext(connection) as captured:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(path, **headers)
            times.append((time.perf_counter() - started) * 1000)
            CPU.append((time.process_time() - cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        queries = len(captured)
    return times, queries


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _second_factor(client, user) -> None:
    """The session past the second factor (DHO_DEBUG is off here, as in production)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants.two_factor import session_mark_verified

    device, _created = TOTPDevice.objects.get_or_create(user=user, name="Bench", defaults={"confirmed": True})
    session = client.session
    session_mark_verified(session, device)
    session.save()


def main() -> int:
    _setup()
    from django.test import Client

    nurse, patients = seed()
    from tenants.rls import connection_use

    connection_use("app")  # as the platform runs: the app's role, under row-level security
    from dho.wsgi import tune_gc  # the web process's settings (gunicorn loads dho.wsgi)

    tune_gc()
    client = Client()
    client.force_login(nurse)
    _second_factor(client, nurse)
    client.get("/worklist/")  # warm caches and the session
    full, full_q = _timed(client, ["/worklist/"] * RUNS)
    full_cpu = list(CPU)
    live, live_q = _timed(client, ["/worklist/"] * RUNS, HTTP_HX_REQUEST="true")
    live_cpu = list(CPU)
    page, page_q = _timed(client, [f"/patients/{p}/" for p in random.Random(3).sample(patients, RUNS)])
    page_cpu = list(CPU)
    readings = len(patients) * READINGS_PER_PATIENT
    print(f"\nWorklist benchmark: {len(patients):,} patients, {readings:,} readings, {ALERTS} open alerts")
    for name, times, cpu, queries, target in (
        ("worklist, full page", full, full_cpu, full_q, " (target p95 < 150)"),
        ("worklist, live refresh", live, live_cpu, live_q, ""),
        ("patient page, 30 days", page, page_cpu, page_q, " (target p95 < 250)"),
    ):
        p50, p95, mean = _pct(times, 50), _pct(times, 95), statistics.mean(times)
        figures = f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, mean {mean:.0f} ms{target}"
        print(f"  {name:<23} n={len(times)}: {figures}; {queries} queries")
        print(f"  {'':<23} CPU of this process: p50 {_pct(cpu, 50):.0f} ms, p95 {_pct(cpu, 95):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
