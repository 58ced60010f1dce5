"""Patient page benchmark: the page a nurse opens from the worklist, with its 90-day trend charts.

    make bench-patient-page
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/patient_page.py)

Seeds, in its own database (`<db>_bench_national_<patients>`, the one `make bench-national` makes and
keeps: a second run of either reuses it), BENCH_PATIENTS (default 3,000) patients with a year of
readings as bench/national.py does, then times GET /patients/<id>/?days=90 as the first centre's nurse,
logged in and past the second factor, server side and in-process with production settings, as the
app role under row-level security: BENCH_RUNS (default 150) pages of random patients of the centre.

It prints, per request, the wall time (p50/p95), the CPU time of this process (p50/p95/mean: on a
shared machine the wall time is mostly waiting for a core, the CPU time is what compares one run with
another) and the number of SQL statements;
with BENCH_PROFILE=1 also a cProfile of BENCH_RUNS more pages (the 30 costliest functions by own time
and by cumulative time), and with BENCH_SQL=1 the statements of one page.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _seed, national  # noqa: E402

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "3000"))
RUNS = int(os.environ.get("BENCH_RUNS", "150"))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _client(centre):
    """A test client logged in as the centre's nurse, past the second factor; → (client, patient ids)."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from patients.models import Patient
    from tenants.two_factor import session_mark_verified

    nurse = get_user_model().objects.get(username=f"bench-nurse-{centre.slug[-1]}")
    kommuner = national._kommuner_of(centre)
    patients = list(Patient.objects.filter(municipality__in=kommuner).order_by("id").values_list("id", flat=True))
    device, _created = TOTPDevice.objects.get_or_create(user=nurse, name="Bench", defaults={"confirmed": True})
    client = Client()
    client.force_login(nurse)
    session = client.session
    session_mark_verified(session, device)  # past the second factor (DHO_DEBUG is off, as in production)
    session.save()
    return client, patients


def _measure(client, paths: list[str]) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    wall, cpu, statements = [], [], []
    for path in paths:
        with CaptureQueriesContext(connection) as captured:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        statements.append(len(captured))
    return {"wall": wall, "cpu": cpu, "statements": statements, "bytes": len(response.content)}


def _sql_of_one(client, path: str) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(path)
    for i, query in enumerate(captured.captured_queries, 1):
        print(f"  {i:>2}. ({float(query['time']) * 1000:.1f} ms) {query['sql'][:300]}")


def main() -> int:
    _seed.setup(f"bench_national_{PATIENTS}", secret="bench-national-", collectstatic=True)
    national.seed(PATIENTS)
    centre, _other = national._centres()
    from dho.wsgi import tune_gc  # the web process's settings (gunicorn loads dho.wsgi)
    from tenants.rls import connection_use

    client, patients = _client(centre)
    connection_use("app")  # as the platform runs: the app's role, under row-level security
    tune_gc()
    rng = random.Random(5)
    paths = [f"/patients/{p}/?days=90" for p in rng.sample(patients, min(RUNS, len(patients)))]
    for path in paths[:10]:  # warm: templates, caches, the session, the connection
        client.get(path)
    if os.environ.get("BENCH_SQL"):
        print("Statements of one page:")
        _sql_of_one(client, paths[0])
    figures = _measure(client, paths)
    wall, cpu, statements = figures["wall"], figures["cpu"], figures["statements"]
    print(f"\nPatient page (90 days), {len(patients):,} patients in the centre, n={len(paths)}, "
          f"yardstick {_seed.cpu_yardstick():.2f} s:")  # fmt: skip
    print(f"  wall p50 {_pct(wall, 50):.1f} ms, p95 {_pct(wall, 95):.1f} ms, mean {statistics.mean(wall):.1f} ms")
    print(f"  CPU  p50 {_pct(cpu, 50):.1f} ms, p95 {_pct(cpu, 95):.1f} ms, mean {statistics.mean(cpu):.1f} ms")
    print(f"  statements: min {min(statements)}, max {max(statements)}; HTML {figures['bytes']:,} bytes")
    if os.environ.get("BENCH_PROFILE"):
        profile = cProfile.Profile(time.process_time)  # CPU time, not wall
        profile.enable()
        for path in paths:
            client.get(path)
        profile.disable()
        if os.environ.get("BENCH_PROFILE_OUT"):
            profile.dump_stats(os.environ["BENCH_PROFILE_OUT"])  # for pstats: callers, callees
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            lines = int(os.environ.get("BENCH_PROFILE_LINES", "30"))
            pstats.Stats(profile, stream=out).sort_stats(order).print_stats(lines)
            print(out.getvalue())
    connection_use("owner")
    return 0


if __name__ == "__main__":
    sys.exit(main())
