"""What the benchmarks share: their own database next to the configured one, Django set up on it with
production settings (migrated and seeded as the tables' owner, measured as the app role), and the
COPY helpers and status history the large seeds are made with.

    from bench import _seed
    _seed.setup("bench_insight_100000", secret="bench-insight-")
"""

from __future__ import annotations

import datetime
import os
import random
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit


def cpu_yardstick() -> float:
    """Seconds for a fixed piece of pure Python, the best of three: how fast this machine's cores are
    at the moment of a run. The development machine's cores differ by a third between hours, as
    much as most changes measured, so a run's figures are compared with another's only beside this."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        seen: dict[int, int] = {}
        total = 0
        for i in range(4_000_000):
            seen[i & 1023] = i
            total += i * i % 7
        best = min(best, time.perf_counter() - started)
    return best


def database_url(suffix: str, base: str | None = None) -> str:
    """The configured database's address with `_<suffix>` added to its name."""
    parts = urlsplit(base or os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{parts.path.lstrip('/') or 'dho'}_{suffix}"))


def libpq(url: str, dbname: str | None = None) -> str:
    import dj_database_url

    cfg = dj_database_url.parse(url)
    pieces = {"dbname": dbname or cfg["NAME"], "user": cfg["USER"], "password": cfg["PASSWORD"],
              "host": cfg["HOST"], "port": cfg["PORT"]}  # fmt: skip
    return " ".join(f"{k}={v}" for k, v in pieces.items() if v)


def ensure_database(url: str) -> None:
    import dj_database_url
    import psycopg

    name = dj_database_url.parse(url)["NAME"]
    with psycopg.connect(libpq(url, dbname="postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def production_env(url: str, secret: str) -> dict[str, str]:
    """The settings the measured code runs with: production's, on the bench database."""
    return {
        "DATABASE_URL": url,
        "DHO_DEBUG": "0",
        "DHO_TESTING": "0",
        "SECRET_KEY": secret + "x" * 50,
        "ALLOWED_HOSTS": "testserver",
        "DHO_SSL_REDIRECT": "0",
        "DHO_SECURE_COOKIES": "0",
        "DHO_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "dho.settings",
        "DHO_DB_APP_PASSWORD": "bench-app-role",  # the app role's password, for measuring as the app
    }


def setup(suffix: str, *, secret: str, collectstatic: bool = False) -> str:
    """Create (if need be) and migrate `<db>_<suffix>`, and set Django up on it in this process as the
    tables' owner (seeding); the measuring switches to the app role (tenants.rls.connection_use).
    → the database's address."""
    url = database_url(suffix)
    ensure_database(url)
    os.environ.update(production_env(url, secret), DHO_DB_AS_OWNER="1")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)
    if collectstatic:
        call_command("collectstatic", "--no-input", verbosity=0)  # production settings: hashed file names
    return url


def copy(table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """Rows (tuples) into a table with one COPY on Django's connection."""
    from django.db import connection

    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copying:
        for row in rows:
            copying.write_row(row)


def copy_text(table: str, columns: list[str], chunks: Iterable[str | bytes]) -> None:
    """COPY text-format chunks (tab-separated lines, `\\N` for null) into a table: for tens of millions
    of rows, formatting lines in bulk is several times faster than a tuple per row."""
    from django.db import connection

    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copying:
        for chunk in chunks:
            copying.write(chunk)


def status_history(rng: random.Random, patient_id, home: int, kommuner: list[int], today: datetime.date) -> list[tuple]:
    """(patient, kommune, event, effective date, end reason) rows: a start within the last 15 months,
    then pauses and resumes, sometimes an end, sometimes a move (ended with reason moved, a new start
    elsewhere), otherwise evaluations."""
    day = today - datetime.timedelta(days=rng.randint(10, 450))
    rows, kommune = [(patient_id, home, "started", day, "")], home
    while True:
        day += datetime.timedelta(days=rng.randint(20, 120))
        if day >= today:
            return rows
        roll = rng.random()
        if roll < 0.35:
            rows.append((patient_id, kommune, "paused", day, ""))
            day += datetime.timedelta(days=rng.randint(3, 30))
            if day >= today:
                return rows
            rows.append((patient_id, kommune, "resumed", day, ""))
        elif roll < 0.45:
            rows.append((patient_id, kommune, "ended", day, rng.choice(["no_benefit", "too_ill", "deceased"])))
            return rows
        elif roll < 0.50:
            rows.append((patient_id, kommune, "ended", day, "moved"))
            kommune = rng.choice(kommuner)
            rows += [(patient_id, kommune, "moved", day, ""), (patient_id, kommune, "started", day, "")]
        else:
            rows.append((patient_id, kommune, "evaluated", day, ""))


STATUS_COLUMNS = ["patient_id", "municipality_id", "event", "effective_date", "at", "note", "end_reason"]
PATIENT_COLUMNS = ["id", "municipality_id", "name", "national_id", "diagnoses", "status", "created_at", "phone",
                   "next_of_kin"]  # fmt: skip


def copy_patients(patients: list[tuple], now, today: datetime.date, rng: random.Random, kommuner: list[int]) -> int:
    """COPY (id, kommune) patients, active, each with its status history; → the status rows made."""
    rows = ((pid, m, f"Pasient {i}", f"{i:011d}", "{kols}", "active", now, "", "")
            for i, (pid, m) in enumerate(patients))  # fmt: skip
    copy("patients_patient", PATIENT_COLUMNS, rows)
    history = [row for pid, m in patients for row in status_history(rng, pid, m, kommuner, today)]
    copy("patients_statuschange", STATUS_COLUMNS, ((p, m, e, d, now, "", reason) for p, m, e, d, reason in history))
    return len(history)


def centre_with_kommuner(count: int) -> tuple[list, object]:
    """`count` kommuner (numbers 9000 …) and the centre «Benk» hosted by the first: → (kommuner, centre)."""
    from tenants.models import Centre, Municipality

    kommuner = [
        Municipality.objects.get_or_create(number=f"{9000 + i}", defaults={"name": f"Kommune {i:02d}"})[0]
        for i in range(count)
    ]
    centre, _ = Centre.objects.get_or_create(slug="bench", defaults={"name": "Benk", "host": kommuner[0]})
    return kommuner, centre


def analyze() -> None:
    """The planner's statistics after a COPY, as autovacuum would make them a little later."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


class Timing(NamedTuple):
    """Medians over the runs: wall-clock seconds, and CPU seconds of the PostgreSQL backend (this
    connection's; parallel workers not included) and of this Python process."""

    wall: float
    backend: float
    python: float
    result: Any


def _backend_cpu(pid: int | None) -> float:
    """The CPU seconds a local backend process has used (/proc; 0 where it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def timed(fn, runs: int) -> Timing:
    """Run `fn` `runs` times: the medians of its wall-clock and CPU seconds, and its last result."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    walls, backends, pythons, result = [], [], [], None
    for _ in range(runs):
        backend, python, started = _backend_cpu(pid), time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - started)
        pythons.append(time.process_time() - python)
        backends.append(_backend_cpu(pid) - backend)
    median = statistics.median
    return Timing(median(walls), median(backends), median(pythons), result)


def measured_as(user, measure) -> Any:
    """`measure(user)` as the platform runs a request of the user's: the app's database role, under
    row-level security, in the user's scope."""
    from dho.scope import municipality_ids_for
    from tenants.rls import connection_use, scoped

    connection_use("app")
    with scoped(municipality_ids_for(user)):
        return measure(user)
