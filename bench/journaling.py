"""Journaling benchmark: how fast the outbox drains to the JFT stand-in, and what journaling costs the
nurse's «Håndter» step.

    make bench-journaling
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/journaling.py)

Starts the HelseID and JFT stand-ins (`dho.dev.standins.running`, real HTTPS servers in their own
processes; their simulated EPJ acknowledges at once here, so the figures are ours and the stand-in's,
not an EPJ's delay) and, in a database of its own made afresh (`<db>_bench_journaling`), one kommune
whose route goes to the stand-in. Then:

1. BENCH_DELIVERIES (200) red SpO2 readings go through the real ingest and scoring into open alerts,
   and a nurse handles each through `triage.services.alert_handle`: one outbox row each, written in the
   handling transaction;
2. the rows are drained with the journaling task functions, as one worker process runs them: the
   send sweep (`journaling.tasks.send_due`) until none is pending, then the receipts (`poll_sent`,
   and `delivery_poll` for what the sweep's 30 s spacing leaves) until every row is journaled.
   Printed: deliveries per second sent, and end to end (sent and followed until journaled);
3. the alert-handle page (POST `/worklist/alerts/<id>/handle/`, server time in-process, production
   settings, as the app role) BENCH_RUNS (200) times with the kommune's route `jft` (delivery on) and
   as many with `none` (off), in ONE run of interleaved rounds: each round a batch of BENCH_BATCH (10)
   requests with delivery on and a batch with it off, the order turning each round (on-off, off-on,
   …), so the machine's load, and its drift over the run, falls on both alike. Printed: p50/p95 of
   each, the p95 ratio on/off, the median over the rounds of each round's mean on/off (the paired
   figure a busy machine disturbs least), and the queries of one request of each. The send happens
   in the worker, after the commit, so journaling on must stay within 10 % of off at p95: it adds one
   row and one audit event to the transaction, and queuing the send task after it.

At a small scale, for a quick look on a shared machine: `BENCH_DELIVERIES=20 BENCH_RUNS=40
BENCH_BATCH=5` (BENCH_DELIVERIES=0 skips the drain).
"""

from __future__ import annotations

import datetime
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DELIVERIES = int(os.environ.get("BENCH_DELIVERIES", "200"))
RUNS = int(os.environ.get("BENCH_RUNS", "200"))
BATCH = max(1, int(os.environ.get("BENCH_BATCH", "10")))
QUEUE = "bench-journaling"  # the send tasks the handling queues wait here, for no worker; emptied at the end
NOTE = "Ringte pasienten. Startet reservekur etter planen."


def _database_url() -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{parts.path.lstrip('/') or 'dho'}_bench_journaling"))


def _fresh_database(url: str) -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(url)
    admin = {"dbname": "postgres", "user": cfg["USER"], "password": cfg["PASSWORD"], "host": cfg["HOST"],
             "port": cfg["PORT"]}  # fmt: skip
    with psycopg.connect(" ".join(f"{k}={v}" for k, v in admin.items() if v), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')


def _setup(standin_env: dict[str, str]) -> None:
    url = _database_url()
    _fresh_database(url)
    os.environ.update(
        standin_env,
        DATABASE_URL=url,
        DHO_DEBUG="0",
        DHO_TESTING="0",
        SECRET_KEY="bench-journaling-" + "x" * 50,
        ALLOWED_HOSTS="testserver",
        DHO_SSL_REDIRECT="0",
        DHO_SECURE_COOKIES="0",
        DHO_LOG_LEVEL="WARNING",
        DHO_CELERY_QUEUE=QUEUE,
        DJANGO_SETTINGS_MODULE="dho.settings",
        DHO_DB_AS_OWNER="1",
        DHO_DB_APP_PASSWORD="bench-app-role",  # set up as the tables' owner; measured as the app role
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)
    call_command("collectstatic", "--no-input", verbosity=0)  # production settings: hashed file names


def _seed(standins, patients: int):
    """One kommune to the JFT stand-in, a centre, a nurse, `patients` patients."""
    from django.contrib.auth import get_user_model

    from ebp.services import centre_defaults_ensure
    from journaling.models import Route, RouteKind
    from measurements.services import integration_create
    from patients import national_id
    from patients.models import Patient
    from tenants.models import Centre, Membership, Municipality

    municipality = Municipality.objects.create(number="3209", name="Ullensaker", population=42500)
    centre = Centre.objects.create(slug="bench", name="Benk", host=municipality)
    centre_defaults_ensure(centre)
    nurse = get_user_model().objects.create(username="bench-nurse", first_name="Benk")
    Membership.objects.create(user=nurse, role="nurse", centre=centre)
    route = Route.objects.create(
        municipality=municipality, kind=RouteKind.JFT, orgnr=standins.client.organisations[0],
        base_url=standins.jft_base_url, client_id=standins.client.client_id,
        key_reference=str(standins.client.key_file),
    )  # fmt: skip
    rows, taken = [], set()
    for i in range(patients):
        birth = datetime.date(1930 + i % 50, 1 + i % 12, 1 + i % 28)
        value = national_id.synthetic(birth, 100 + i % 400)
        while value is None or value in taken:
            birth += datetime.timedelta(days=1)
            value = national_id.synthetic(birth, 100 + i % 400)
        taken.add(value)
        rows.append(Patient(municipality=municipality, name=f"Pasient {i}", national_id=value, birth_date=birth,
                            diagnoses=["kols"]))  # fmt: skip
    Patient.objects.bulk_create(rows)
    gateway = integration_create(centre=centre, name="bench-gateway")[0]
    return nurse, route, gateway, list(Patient.objects.order_by("pk"))


def _alerts(gateway, patients) -> list:
    """A red SpO2 reading per patient through the real ingest and scoring: an open alert each."""
    from measurements.services import readings_ingest
    from triage.models import Alert
    from triage.services import readings_score

    at = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)).isoformat()
    items = [{"external_id": uuid.uuid4().hex, "patient_id": str(p.pk), "type": "spo2", "value": 86, "unit": "%",
              "measured_at": at} for p in patients]  # fmt: skip
    stored = readings_ingest(integration=gateway, items=items)
    readings_score([r.id for r in stored])
    by_patient = {a.patient_id: a for a in Alert.objects.filter(status="open", patient__in=patients)}
    return [by_patient[p.pk] for p in patients]


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _drain(count: int) -> tuple[float, float]:
    """Seconds until every row is sent, and until every row is journaled."""
    from journaling import services, tasks
    from journaling.models import Delivery, DeliveryState
    from tenants.rls import system_scope

    def left(*states) -> list[int]:
        with system_scope("bench"):
            return list(Delivery.objects.filter(state__in=states).values_list("pk", flat=True))

    started = time.perf_counter()
    while tasks.send_due():
        pass
    sent = time.perf_counter() - started
    pending = left(DeliveryState.PENDING, DeliveryState.FAILED, DeliveryState.DEAD)
    assert not pending, f"{len(pending)} not sent"
    tasks.poll_sent()  # the beat's sweep: each sent row once (then not again for POLL_EVERY)
    while waiting := left(DeliveryState.SENT, DeliveryState.REGISTERED, DeliveryState.READ):
        for pk in waiting:  # what the sweep's spacing leaves: the same function, row by row
            services.delivery_poll(pk)
    journaled = time.perf_counter() - started
    with system_scope("bench"):
        assert Delivery.objects.filter(state=DeliveryState.JOURNALED).count() == count
    return sent, journaled


def _handle_times(client, alerts, route) -> tuple[dict[str, list[list[float]]], dict[str, list[str]]]:
    """Server time (ms) of the handle POST, journaling on (jft) and off (none), in rounds: each round a
    batch of BATCH requests of each, the order turning every round (ABBA), so the machine's load and
    its drift fall on both alike; after one untimed request of each whose queries are kept (the first
    also opens the broker connection). Returns, per kind, the times of each round."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from journaling.models import RouteKind
    from tenants.rls import scoped

    def route_set(kind) -> None:
        if route.kind != kind:
            route.kind = kind
            with scoped([route.municipality_id]):  # the centre admin's change, outside the timed requests
                route.save(update_fields=["kind"])

    def handle(alert) -> float:
        path = f"/worklist/alerts/{alert.pk}/handle/"
        started = time.perf_counter()
        response = client.post(
            path, {"actions": ["called_reached", "advised_ebp"], "note": NOTE, "seen_colour": alert.colour}
        )
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status_code == 302, (path, response.status_code)
        return elapsed

    kinds = (RouteKind.JFT, RouteKind.NONE)
    queue = list(alerts)
    queries: dict[str, list[str]] = {}
    for kind in kinds:
        route_set(kind)
        with CaptureQueriesContext(connection) as captured:
            handle(queue.pop())
        queries[kind] = [q["sql"] for q in captured.captured_queries]
    rounds: dict[str, list[list[float]]] = {kind: [] for kind in kinds}
    number = 0
    while len(queue) >= 2 * BATCH:
        for kind in kinds if number % 2 == 0 else tuple(reversed(kinds)):
            route_set(kind)
            rounds[kind].append([handle(queue.pop()) for _ in range(BATCH)])
        number += 1
    return rounds, queries


def _second_factor(client, user) -> None:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from tenants.two_factor import session_mark_verified

    device, _created = TOTPDevice.objects.get_or_create(user=user, name="Bench", defaults={"confirmed": True})
    session = client.session
    session_mark_verified(session, device)
    session.save()


def _queue_empty() -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).delete(QUEUE)


def main() -> int:
    # The stand-ins load only in debug or test mode; the platform measured runs with production settings.
    os.environ["DHO_TESTING"] = "1"
    from dho.dev import standins as launcher

    with tempfile.TemporaryDirectory(prefix="dho-bench-journaling-") as var, launcher.running(
        var, jft_ack_delay=0.0
    ) as standins:  # fmt: skip
        return _bench(standins)


def _bench(standins) -> int:
    _setup(standins.environ())
    from django.test import Client

    from journaling.models import Delivery, RouteKind
    from tenants.rls import connection_use, scoped
    from triage import services as triage

    runs = max(BATCH, RUNS // BATCH * BATCH)  # whole batches
    handled_runs = 2 * runs + 2  # and one of each whose queries are counted
    started = time.perf_counter()
    nurse, route, gateway, patients = _seed(standins, DELIVERIES + handled_runs)
    alerts = _alerts(gateway, patients)
    connection_use("app")  # as the platform runs: the app's role, under row-level security
    with scoped([route.municipality_id]):  # the nurse's kommune, as her request would have it
        for alert in alerts[:DELIVERIES]:
            triage.alert_handle(alert=alert, user=nurse, actions=["called_reached", "advised_ebp"], note=NOTE)
        assert Delivery.objects.count() == DELIVERIES
    print(f"Seed ready in {time.perf_counter() - started:.0f} s: {DELIVERIES} deliveries pending", flush=True)

    sent, journaled = _drain(DELIVERIES) if DELIVERIES else (0.0, 0.0)
    if DELIVERIES:
        print(f"Drained in {journaled:.1f} s", flush=True)

    from dho.wsgi import tune_gc

    tune_gc()
    client = Client()
    client.force_login(nurse)
    _second_factor(client, nurse)
    client.get("/worklist/")  # warm caches and the session
    rounds, queries = _handle_times(client, alerts[DELIVERIES:], route)
    _queue_empty()

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nJournaling benchmark ({os.cpu_count()} cores, load average {load}):")
    if DELIVERIES:
        print(f"  outbox drain, one worker, {DELIVERIES} deliveries to the JFT stand-in:")
        print(f"    sent       {sent:6.1f} s  {DELIVERIES / sent:6.1f} deliveries/s (HelseID token cached)")
        print(f"    journaled  {journaled:6.1f} s  {DELIVERIES / journaled:6.1f} deliveries/s end to end (+ receipts)")
    on, off = RouteKind.JFT, RouteKind.NONE
    print(f"  alert-handle page (POST, server time), {len(rounds[on])} interleaved rounds of {BATCH} + {BATCH}:")
    p95 = {}
    for kind, label in ((off, "delivery off (none)"), (on, "delivery on (jft)")):
        values = [t for batch in rounds[kind] for t in batch]
        p95[kind] = _pct(values, 95)
        print(f"    {label:<22} n={len(values)}: p50 {_pct(values, 50):.0f} ms, p95 {p95[kind]:.0f} ms, "
              f"mean {statistics.mean(values):.0f} ms; {len(queries[kind])} queries")  # fmt: skip
    if os.environ.get("BENCH_SHOW_QUERIES"):
        for sql in queries[on]:
            print("     ", sql[:160])
    ratio = p95[on] / p95[off]
    paired = statistics.median(
        statistics.mean(a) / statistics.mean(b) for a, b in zip(rounds[on], rounds[off], strict=True)
    )
    print(f"    p95 on/off: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %, target within 10 %)")
    print(f"    per round, mean on/off: median {paired:.3f} ({(paired - 1) * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
