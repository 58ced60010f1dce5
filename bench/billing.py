"""Billing benchmark: one month's allocation for a large centre.

    make bench-billing
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/billing.py)

Seeds, in its own database (`<db>_bench_billing`, kept between runs), one centre with 30 kommuner
(one follows up its own patients), 100,000 patients with a year of status history (starts, pauses
and resumes, ends, moves between kommuner) and 150,000 device loans; then prints:

- the time to compute one month's allocation (billing.selectors.allocation_for), target < 5 s;
- the time to compute the next open month after a locked one that a back-dated change touched
  (the locked month is recomputed for its adjustment lines);
- the time to render the month's CSV and one kommune's PDF (billing.exports).
"""

from __future__ import annotations

import datetime
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KOMMUNER = 30
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "100000"))
LOANS = int(os.environ.get("BENCH_LOANS", "150000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TODAY = datetime.date.today()


def _setup() -> None:
    base = os.environ["DATABASE_URL"]
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{parts.path.lstrip('/') or 'dho'}_bench_billing"))
    _ensure_database(url)
    os.environ.update(
        DATABASE_URL=url,
        DHO_DEBUG="0",
        DHO_TESTING="0",
        SECRET_KEY="bench-billing-" + "x" * 50,
        ALLOWED_HOSTS="testserver",
        DHO_SSL_REDIRECT="0",
        DHO_SECURE_COOKIES="0",
        DHO_LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="dho.settings",
        DHO_DB_AS_OWNER="1",
        DHO_DB_APP_PASSWORD="bench-app-role",  # migrate and seed as the tables' owner; measured as the app role (main)
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


def _ensure_database(url: str) -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    admin = {
        "dbname": "postgres",
        "user": cfg["USER"],
        "password": cfg["PASSWORD"],
        "host": cfg["HOST"],
        "port": cfg["PORT"],
    }
    with psycopg.connect(" ".join(f"{k}={v}" for k, v in admin.items() if v), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')


def _copy(table: str, columns: list[str], rows) -> None:
    from django.db import connection

    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _history(rng: random.Random, patient_id, home: int, kommuner: list[int]) -> list[tuple]:
    """(patient, kommune, event, effective date) rows: a start within the last 15 months, then
    pauses and resumes, sometimes an end, sometimes a move (end, moved, a new start elsewhere)."""
    day = TODAY - datetime.timedelta(days=rng.randint(10, 450))
    rows, kommune = [(patient_id, home, "started", day)], home
    while True:
        day += datetime.timedelta(days=rng.randint(20, 120))
        if day >= TODAY:
            return rows
        roll = rng.random()
        if roll < 0.35:
            rows.append((patient_id, kommune, "paused", day))
            day += datetime.timedelta(days=rng.randint(3, 30))
            if day >= TODAY:
                return rows
            rows.append((patient_id, kommune, "resumed", day))
        elif roll < 0.45:
            rows.append((patient_id, kommune, "ended", day))
            return rows
        elif roll < 0.50:
            rows.append((patient_id, kommune, "ended", day))
            kommune = rng.choice(kommuner)
            rows += [(patient_id, kommune, "moved", day), (patient_id, kommune, "started", day)]
        else:
            rows.append((patient_id, kommune, "evaluated", day))


def seed():
    """Idempotent: a seeded database is reused, so a second run starts measuring at once."""
    import uuid

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from billing.models import PriceModel
    from patients.models import DeviceLoan, Patient, StatusChange
    from tenants.models import Agreement, Centre, Membership, Municipality, Population

    user, _ = get_user_model().objects.get_or_create(username="bench-finance")
    if Patient.objects.count() >= PATIENTS:
        return Centre.objects.get(slug="bench"), user
    started, rng, now = time.perf_counter(), random.Random(7), timezone.now()
    kommuner = [
        Municipality.objects.get_or_create(number=f"{9000 + i}", defaults={"name": f"Kommune {i:02d}"})[0]
        for i in range(KOMMUNER)
    ]
    centre, _ = Centre.objects.get_or_create(slug="bench", defaults={"name": "Benk", "host": kommuner[0]})
    Membership.objects.get_or_create(user=user, role="finance", centre=centre)
    for i, m in enumerate(kommuner[1:], 1):
        Agreement.objects.get_or_create(
            centre=centre,
            municipality=m,
            defaults={"follow_up_by": "municipality" if i == 1 else "centre", "valid_from": datetime.date(2020, 1, 1)},
        )
        Population.objects.get_or_create(
            municipality=m, year=TODAY.year, defaults={"inhabitants": rng.randint(900, 90000)}
        )
    PriceModel.objects.get_or_create(
        centre=centre,
        valid_from=datetime.date(2020, 1, 1),
        defaults={
            "base_ore": 50_000_000,
            "base_key": "mixed",
            "base_equal_percent": 30,
            "follow_up_ore": 121_200,
            "paused_percent": 50,
            "licence_ore": 59_600,
            "start_fee_ore": 150_000,
            "equipment_ore": {"pulsoksymeter": 10_000, "nettbrett": 20_000, "vekt": 15_000, "blodtrykk": 15_000},
        },
    )
    ids = [m.pk for m in kommuner]
    patients = [(uuid.UUID(int=rng.getrandbits(128)), rng.choice(ids)) for _ in range(PATIENTS)]
    _copy(
        "patients_patient",
        ["id", "municipality_id", "name", "national_id", "diagnoses", "status", "created_at", "phone", "next_of_kin"],
        ((pid, m, f"Pasient {i}", f"{i:011d}", "{kols}", "active", now, "", "") for i, (pid, m) in enumerate(patients)),
    )
    history = [row for pid, m in patients for row in _history(rng, pid, m, ids)]
    _copy(
        "patients_statuschange",
        ["patient_id", "municipality_id", "event", "effective_date", "at", "note", "end_reason"],
        ((p, m, e, d, now, "", "") for p, m, e, d in history),
    )
    types = ["pulsoksymeter", "nettbrett", "vekt", "blodtrykk"]
    _copy(
        "patients_device",
        ["centre_id", "type", "model", "serial", "state", "note", "created_at"],
        ((centre.pk, types[i % 4], "", f"B-{i:07d}", "lent", "", now) for i in range(LOANS)),
    )
    device_ids = list(centre.devices.order_by("id").values_list("id", flat=True))
    loans = []
    for device_id in device_ids:
        pid, m = rng.choice(patients)
        lent = TODAY - datetime.timedelta(days=rng.randint(1, 400))
        returned = lent + datetime.timedelta(days=rng.randint(5, 200))
        loans.append((device_id, pid, m, lent, returned if returned < TODAY else None, user.pk, now, now))
    _copy(
        "patients_deviceloan",
        [
            "device_id",
            "patient_id",
            "municipality_id",
            "lent_on",
            "returned_on",
            "lent_by_id",
            "created_at",
            "updated_at",
        ],
        loans,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"Seeded {PATIENTS:,} patients, {StatusChange.objects.count():,} status rows, "
        f"{DeviceLoan.objects.count():,} loans in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return centre, user


def _time(fn, runs: int = RUNS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> int:
    _setup()

    centre, user = seed()
    from dho.scope import municipality_ids_for
    from tenants.rls import connection_use, scoped

    connection_use("app")  # as the platform runs: the app's role, under row-level security
    with scoped(municipality_ids_for(user)):  # the finance user's request scope
        return measure(centre, user)


def measure(centre, user) -> int:
    from billing.calculation import Month
    from billing.models import LockedMonth
    from billing.selectors import allocation_for, finance_view_for, visible_allocation
    from billing.services import month_lock
    from patients.models import StatusChange

    month = Month.of(TODAY).previous()
    seconds, allocation = _time(lambda: allocation_for(centre, month))
    lines = len(allocation.lines)
    print(
        f"Month {month}: {len(allocation.municipalities)} kommuner, {lines} lines, "
        f"total {allocation.total_ore / 100:,.2f} kr",
        flush=True,
    )
    print(f"  compute one month's allocation: median {seconds:.2f} s of {RUNS} (target < 5 s)", flush=True)

    view = finance_view_for(user)
    earlier = month.previous()
    if not LockedMonth.objects.filter(centre=centre, month=earlier.first).exists():
        month_lock(view=view, month=earlier, user=user)
    changed = StatusChange.objects.filter(event="started", effective_date__lt=earlier.first).first()
    StatusChange.objects.create(
        patient_id=changed.patient_id,
        municipality_id=changed.municipality_id,
        event="evaluated",
        effective_date=earlier.last,
    )
    seconds, allocation = _time(lambda: allocation_for(centre, month))
    adjustments = sum(1 for line in allocation.lines if line.component == "adjustment")
    print(
        f"  the open month after a locked month with a back-dated change (recomputed, {adjustments} "
        f"adjustment lines): median {seconds:.2f} s",
        flush=True,
    )

    from billing import exports

    shown = visible_allocation(view, month)
    seconds, csv_text = _time(lambda: exports.allocation_csv(shown))
    print(f"  render the month's CSV ({len(csv_text):,} bytes): median {seconds * 1000:.0f} ms", flush=True)
    group = shown.municipalities[1]
    seconds, pdf = _time(lambda: exports.basis_pdf(shown, group))
    print(f"  render one kommune's PDF ({len(pdf):,} bytes): median {seconds * 1000:.0f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
