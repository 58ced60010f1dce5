"""National-scale benchmark: a year of readings for tens of thousands of patients, against a small base.

    make bench-national
    (= .venv/bin/python -m dho.embedded with-services -- .venv/bin/python bench/national.py)

For each of two sizes, BENCH_BASE_PATIENTS (default 3,000) and BENCH_PATIENTS (default 30,000), both
multiplied by BENCH_SCALE (default 1; 0.1 for a quick run), it seeds with COPY, in its own database
(`<db>_bench_national_<patients>`, kept between runs: a second run skips the seed), 30 kommuner under
3 centres (each centre follows up 10), the patients with their status history, an active plan for
half of them, a device on loan each, one year of readings at four a day (SpO2 and pulse in the
morning, SpO2 and blood pressure in the evening: 1,460 a patient, 44 million at 30,000; the year's
monthly partitions are made first) and the alerts they raised: BENCH_DEVIATING (2 %) of readings are
yellow or red, each opening an alert, all handled or closed by data except the last hours' (about
BENCH_OPEN_PER_CENTRE, 300, open per centre, a fifth of them taken). The readings' secondary indexes
are dropped for the load and made again after it, then the tables are vacuumed and analysed.

Each size is measured in its own process (Django set up on its database), as in the other
benchmarks — server side, in-process, production settings, as the app role under row-level security:

- the worklist page, its live refresh and the patient page with its 90-day trend (p50/p95 of BENCH_RUNS
  requests, and each one's queries), as bench/worklist.py, for a nurse of the first centre;
- one month's billing allocation for that centre (billing.selectors.allocation_for, as bench/billing.py);
- one month's insight figures for it (insight.selectors.insight_report by week, as bench/insight.py);
- reading → alert under a steady load paced at BENCH_RATE (2,000) readings/s for BENCH_LOAD_SECONDS (30)
  against a real gunicorn and Celery worker, as bench/ingest.py measures it, on the second centre
  (whose alerts the measured pages do not show, so a second run measures the same pages);
- disk per million readings: pg_total_relation_size of the readings' partitions / their rows.

Then it prints one table: figure | at the base size | at the national size | ratio, with the targets
(at national size: worklist p95 < 50 ms, patient page p95 < 25 ms; reading → alert p95 < 250 ms).
Drop the databases when done: DROP DATABASE <db>_bench_national_<patients>.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _seed  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
NATIONAL = max(60, int(int(os.environ.get("BENCH_PATIENTS", "30000")) * SCALE))
BASE = max(60, int(int(os.environ.get("BENCH_BASE_PATIENTS", "3000")) * SCALE))
CENTRES = 3
KOMMUNER = 30
DAYS = 365
# (hour UTC, minutes after, type): four readings a day, each patient at its own minute past the hour.
SLOTS = ((7, 0, "spo2"), (7, 1, "pulse"), (19, 0, "spo2"), (19, 1, "blood_pressure"))
DEVIATING = float(os.environ.get("BENCH_DEVIATING", "0.02"))
OPEN_PER_CENTRE = int(os.environ.get("BENCH_OPEN_PER_CENTRE", "300"))
RUNS = int(os.environ.get("BENCH_RUNS", "40"))
RATE = int(os.environ.get("BENCH_RATE", "2000"))
LOAD_SECONDS = int(os.environ.get("BENCH_LOAD_SECONDS", "30"))
PROBES = int(os.environ.get("BENCH_ALERT_PROBES", "60"))
TODAY = datetime.date.today()

READING_COLUMNS = ["id", "patient_id", "municipality_id", "type", "value", "systolic", "diastolic", "original",
                   "measured_at", "received_at", "colour", "reason", "scored_at", "alert_id",
                   "external_id"]  # fmt: skip
ALERT_COLUMNS = ["id", "patient_id", "municipality_id", "kind", "subject", "colour", "reason", "without_plan", "status",
                 "opened_at", "raised_at", "updated_at", "closed_at", "closed_reason", "measurement", "taken_at",
                 "taken_by_id", "handled_at", "handled_by_id", "seconds_to_handle"]  # fmt: skip
EVENT_COLUMNS = ["alert_id", "municipality_id", "patient_id", "kind", "at", "colour", "previous_colour", "reason",
                 "reading_id", "by_id"]  # fmt: skip
# Values in range (value, systolic, diastolic, original) per type, as COPY text; and out of range.
NORMAL = {
    "spo2": [f"{v}\t\\N\t\\N\t" for v in (93, 94, 95, 95, 96, 96, 97, 97, 98)],
    "pulse": [f"{v}\t\\N\t\\N\t" for v in range(58, 96, 3)],
    "blood_pressure": [f"\\N\t{s}\t{d}\t" for s in range(112, 142, 6) for d in (68, 74, 80, 86)],
}
DEVIANT = {  # (colour, COPY values, reason)
    "spo2": [("yellow", "90\t\\N\t\\N\t", "SpO2 90 % – gul under 92"),
             ("red", "86\t\\N\t\\N\t", "SpO2 86 % – rød under 88")],
    "pulse": [("yellow", "112\t\\N\t\\N\t", "Puls 112 /min – gul over 110"),
              ("red", "132\t\\N\t\\N\t", "Puls 132 /min – rød over 130")],
    "blood_pressure": [("yellow", "\\N\t168\t96\t", "Blodtrykk 168/96 – gul over 160"),
                       ("red", "\\N\t186\t112\t", "Blodtrykk 186/112 – rød over 180")],
}  # fmt: skip


# --- the parent: one child process per size, then the table --------------------------------------------


def main() -> int:
    if os.environ.get("BENCH_NATIONAL_CHILD"):
        return child(int(os.environ["BENCH_NATIONAL_CHILD"]), Path(os.environ["BENCH_NATIONAL_OUT"]))
    results = []
    yardstick = [_seed.cpu_yardstick()]
    for patients in (BASE, NATIONAL):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            env = {**os.environ, "BENCH_NATIONAL_CHILD": str(patients), "BENCH_NATIONAL_OUT": out.name}
            subprocess.run([sys.executable, __file__], env=env, cwd=ROOT, check=True)
            results.append(json.loads(Path(out.name).read_text()))
    yardstick.append(_seed.cpu_yardstick())
    report(*results, yardstick=yardstick)
    return 0


def report(base: dict, big: dict, yardstick: list[float]) -> None:
    print(f"\nNational-scale benchmark ({os.cpu_count()} cores; BENCH_SCALE={SCALE:g}):")
    print(f"  the cores' speed: a fixed Python loop (bench/_seed.py, cpu_yardstick) took "
          f"{yardstick[0]:.2f} s before the run and {yardstick[1]:.2f} s after")  # fmt: skip
    for f in (base, big):
        print(f"  {f['patients']:,} patients: {f['readings']:,} readings, {f['alerts']:,} alerts "
              f"({f['open']} open in the measured centre), database {f['db_gb']:.1f} GB, "
              f"seeded in {f['seed_s']}")  # fmt: skip
    rows = [
        ("worklist page p50 / p95 (ms)", "worklist", "ms"),
        ("worklist live refresh p50 / p95 (ms)", "live", "ms"),
        ("patient page, 90 days, p50 / p95 (ms)", "patient", "ms"),
        ("queries: worklist / live / patient page", "queries", ""),
        ("billing allocation, one month (s)", "billing_s", "s"),
        ("insight report, one month by week (s)", "insight_s", "s"),
        ("paced load reached (readings/s)", "paced_rate", ""),
        ("reading → alert p50 / p95 (ms)", "alert", "ms"),
        ("single POST under load p95 (ms)", "single_p95", "ms"),
        ("disk per million readings (MB)", "mb_per_million", ""),
    ]
    head = f"at {base['patients']:,}", f"at {big['patients']:,}"
    print(f"\n  {'figure':<42} | {head[0]:>14} | {head[1]:>14} | ratio")
    print(f"  {'-' * 42}-+-{'-' * 14}-+-{'-' * 14}-+------")
    for label, key, _unit in rows:
        a, b = base[key], big[key]
        print(f"  {label:<42} | {_shown(a):>14} | {_shown(b):>14} | {_ratio(a, b)}")
    w, p, a = big["worklist"][1], big["patient"][1], big["alert"][1]
    print(f"\n  targets at {big['patients']:,} patients and a year: worklist p95 < 50 ms: {_verdict(w, 50)}; "
          f"patient page p95 < 25 ms: {_verdict(p, 25)}; reading → alert p95 < 250 ms: {_verdict(a, 250)} "
          f"(at {big['paced_rate']:,.0f} readings/s of {RATE:,} asked)")  # fmt: skip


def _shown(value) -> str:
    if isinstance(value, list):
        return " / ".join(_shown(v) for v in value)
    if value is None:
        return "–"
    return f"{value:,.2f}" if isinstance(value, float) and value < 10 else f"{value:,.0f}"


def _ratio(a, b) -> str:
    a, b = (a[-1], b[-1]) if isinstance(a, list) else (a, b)
    return f"{b / a:.2f}" if a and b is not None else "–"


def _verdict(value, target) -> str:
    return "–" if value is None else f"{value:.0f} ms {'ok' if value < target else 'OVER'}"


# --- a child: one size, its database ----------------------------------------------------------------


def child(patients: int, out: Path) -> int:
    url = _seed.setup(f"bench_national_{patients}", secret="bench-national-", collectstatic=True)
    figures = seed(patients)
    figures.update(disk())
    centre, other = _centres()
    figures.update(pages(centre))
    figures.update(billing(centre))
    figures.update(insight(centre))
    figures.update(ingest(url, other))
    out.write_text(json.dumps(figures))
    return 0


def _centres():
    from tenants.models import Centre

    return Centre.objects.get(slug="bench-0"), Centre.objects.get(slug="bench-1")


def seed(patients: int) -> dict:
    """Idempotent: a seeded database (one transaction: all or nothing) is reused as it is."""
    from django.db import connection, transaction

    from patients.models import Patient
    from triage.models import Alert

    seconds = "reused"
    if not Patient.objects.exists():
        started = time.perf_counter()
        with transaction.atomic():
            _seed_all(patients)
        with connection.cursor() as cursor:
            for table in ("measurements_reading", "triage_alert", "triage_alertevent", "patients_patient"):
                cursor.execute(f"VACUUM (ANALYZE) {table}")  # as autovacuum would have by now: hint bits, stats
            cursor.execute("ANALYZE")  # every other table COPY filled (status rows, loans, plans): their plans
        seconds = f"{time.perf_counter() - started:.0f} s"
        print(f"[{patients:,}] seeded in {seconds}", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(reltuples)::bigint FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid"
                       " WHERE i.inhparent = 'measurements_reading'::regclass")  # fmt: skip
        readings = int(cursor.fetchone()[0] or 0)
    centre, _other = _centres()
    _open_alerts_top_up(centre)
    open_alerts = Alert.objects.filter(status="open", municipality__in=_kommuner_of(centre)).count()
    return {"patients": patients, "readings": readings, "alerts": Alert.objects.count(), "open": open_alerts,
            "seed_s": seconds}  # fmt: skip


REOPEN = """
UPDATE triage_alert SET status = 'open', closed_at = NULL, closed_reason = '', handled_at = NULL,
       handled_by_id = NULL, seconds_to_handle = NULL, updated_at = opened_at
 WHERE id IN (SELECT id FROM (SELECT DISTINCT ON (patient_id) id, opened_at FROM triage_alert
                               WHERE municipality_id = ANY (%s) AND status = 'closed'
                                 AND patient_id NOT IN (SELECT patient_id FROM triage_alert WHERE status = 'open')
                               ORDER BY patient_id, opened_at DESC) latest
               ORDER BY opened_at DESC LIMIT %s)
"""


def _open_alerts_top_up(centre) -> None:
    """The measured centre's worklist holds OPEN_PER_CENTRE alerts at both sizes and on every run, so
    the two are compared on the same rows: the seed leaves the last hours' alerts open, how many
    depends on the hour it ran; the newest closed alerts of patients with none open are opened again
    to make up. A reused database also holds what the last run's paced load opened: the oldest open
    ones past OPEN_PER_CENTRE are closed (a reused database's worklist had 816 rows against 300)."""
    from django.db import connection
    from django.utils import timezone

    from triage.models import Alert

    kommuner = _kommuner_of(centre)
    open_alerts = Alert.objects.filter(status="open", municipality__in=kommuner)
    missing = OPEN_PER_CENTRE - open_alerts.count()
    if missing > 0:
        with connection.cursor() as cursor:
            cursor.execute(REOPEN, [kommuner, missing])
    elif missing < 0:
        surplus = list(open_alerts.order_by("opened_at", "id").values_list("pk", flat=True)[:-missing])
        Alert.objects.filter(pk__in=surplus).update(
            status="closed", closed_at=timezone.now(), closed_reason="benk: lukket før neste måling"
        )


def _kommuner_of(centre) -> list[int]:
    return [centre.host_id, *centre.agreements.values_list("municipality_id", flat=True)]


def _seed_all(patients: int) -> None:
    from django.db import connection
    from django.utils import timezone

    started, rng, now = time.perf_counter(), random.Random(17), timezone.now()
    world = _tenants(patients, now)
    ids = world["kommuner"]
    people = [(uuid.UUID(int=rng.getrandbits(128)), ids[i % KOMMUNER]) for i in range(patients)]
    status_rows = _seed.copy_patients(people, now, TODAY, rng, ids)
    planned = _plans(people[::2], world)
    _loans(people, world, rng, now)
    print(f"[{patients:,}] {patients:,} patients, {status_rows:,} status rows, plans and loans in "
          f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    _partitions()
    with connection.cursor() as cursor:
        # Our rows are consistent by construction: no per-row foreign key checks for 44 million of them
        # (nothing else fires on insert into readings, alerts or their events).
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    indexes = _secondary_indexes_drop()
    with tempfile.TemporaryFile("w+") as alerts, tempfile.TemporaryFile("w+") as events:
        load = _Readings(people, planned, world, rng, alerts, events)
        _seed.copy_text("measurements_reading", READING_COLUMNS, load.chunks())
        print(f"[{patients:,}] {load.count:,} readings in {time.perf_counter() - started:.0f} s", flush=True)
        for handle, table, columns in ((alerts, "triage_alert", ALERT_COLUMNS),
                                       (events, "triage_alertevent", EVENT_COLUMNS)):  # fmt: skip
            handle.seek(0)
            _seed.copy_text(table, columns, iter(lambda h=handle: h.read(1 << 20), ""))
    with connection.cursor() as cursor:
        for sql in indexes:
            cursor.execute(sql)
        cursor.execute("SELECT setval(pg_get_serial_sequence('measurements_reading', 'id'), %s)", [load.count])
    print(f"[{patients:,}] {load.alerts:,} alerts, indexes made again, in {time.perf_counter() - started:.0f} s",
          flush=True)  # fmt: skip


def _tenants(patients: int, now) -> dict:
    """3 centres, each hosting one of its 10 kommuner and following up the other 9 by agreement; a
    nurse, a leder and a finance user per centre, a price model, staffing, populations."""
    from django.contrib.auth import get_user_model

    from billing.models import PriceModel
    from tenants.models import Agreement, Centre, Membership, Municipality, Population, Staffing

    users = get_user_model().objects
    kommuner = [Municipality.objects.create(number=f"{9000 + i}", name=f"Kommune {i:02d}") for i in range(KOMMUNER)]
    centres, nurses = [], {}
    for c in range(CENTRES):
        own = kommuner[c * 10 : (c + 1) * 10]
        centre = Centre.objects.create(slug=f"bench-{c}", name=f"Benk {c}", host=own[0])
        centres.append(centre)
        for role, name in (("nurse", "nurse"), ("leader", "leder"), ("finance", "finance")):
            user = users.create(username=f"bench-{name}-{c}", first_name="Benk")
            Membership.objects.create(user=user, role=role, centre=centre)
            if role == "nurse":
                for m in own:
                    nurses[m.pk] = user.pk
        for m in own[1:]:
            Agreement.objects.create(centre=centre, municipality=m, follow_up_by="centre",
                                     valid_from=datetime.date(2020, 1, 1))  # fmt: skip
        Staffing.objects.create(centre=centre, valid_from=datetime.date(2020, 1, 1),
                                nurse_fte=max(1, patients // CENTRES // 80), note="benk")  # fmt: skip
        PriceModel.objects.create(
            centre=centre, valid_from=datetime.date(2020, 1, 1), base_ore=50_000_000, base_key="mixed",
            base_equal_percent=30, follow_up_ore=121_200, paused_percent=50, licence_ore=59_600,
            start_fee_ore=150_000,
            equipment_ore={"pulsoksymeter": 10_000, "nettbrett": 20_000, "vekt": 15_000, "blodtrykk": 15_000},
        )  # fmt: skip
    rng = random.Random(3)
    for m in kommuner:
        Population.objects.create(municipality=m, year=TODAY.year, inhabitants=rng.randint(900, 90000))
    centre_of = {m.pk: centres[i // 10] for i, m in enumerate(kommuner)}
    gp = users.create(username="bench-gp")
    return {"kommuner": [m.pk for m in kommuner], "centre_of": centre_of, "nurse_of": nurses, "gp": gp}


def _plans(people: list[tuple], world: dict) -> set:
    """An active plan (the KOLS template) for each of `people`; → their ids."""
    from ebp.content import dump, parse_content
    from ebp.defaults import TEMPLATES
    from ebp.models import Plan, PlanVersion

    content = dump(parse_content(TEMPLATES["kols"]["content"]))
    plans = Plan.objects.bulk_create([Plan(patient_id=p, municipality_id=m) for p, m in people], batch_size=2000)
    PlanVersion.objects.bulk_create(
        [PlanVersion(plan=plan, municipality_id=plan.municipality_id, number=1, status="active", content=content,
                     created_by=world["gp"]) for plan in plans],
        batch_size=2000,
    )  # fmt: skip
    return {p for p, _m in people}


def _loans(people: list[tuple], world: dict, rng: random.Random, now) -> None:
    """A device of its centre on loan to each patient (billing's equipment lines)."""
    from patients.models import Device

    types = ["pulsoksymeter", "nettbrett", "vekt", "blodtrykk"]
    _seed.copy("patients_device", ["centre_id", "type", "model", "serial", "state", "note", "created_at"],
               ((world["centre_of"][m].pk, types[i % 4], "", f"B-{i:07d}", "lent", "", now)
                for i, (_p, m) in enumerate(people)))  # fmt: skip
    devices = list(Device.objects.order_by("serial").values_list("id", flat=True))
    columns = ["device_id", "patient_id", "municipality_id", "lent_on", "returned_on", "lent_by_id", "created_at",
               "updated_at"]  # fmt: skip
    _seed.copy("patients_deviceloan", columns,
               ((d, p, m, TODAY - datetime.timedelta(days=rng.randint(1, 400)), None, world["nurse_of"][m], now, now)
                for d, (p, m) in zip(devices, people, strict=True)))  # fmt: skip


def _partitions() -> None:
    """The year's months (and the next three) of readings, before the load: there is no default partition."""
    from django.db import connection

    from measurements.partitions import month_add, month_start

    first = month_start(TODAY - datetime.timedelta(days=DAYS + 1))
    with connection.cursor() as cursor:
        month = first
        while month <= month_add(month_start(TODAY), 3):
            cursor.execute("SELECT dho_partition_ensure(%s, %s)", ["measurements_reading", month])
            month = month_add(month, 1)


SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
 WHERE i.indrelid = 'measurements_reading'::regclass
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def _secondary_indexes_drop() -> list[str]:
    """Drop the readings' indexes that back no constraint; → the statements that make them again (on
    the parent, so on every partition). Building an index once is cheaper than 44 million inserts."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(SECONDARY_INDEXES)
        found = cursor.fetchall()
        for name, _definition in found:
            cursor.execute(f"DROP INDEX {name}")
    return [definition.replace(" ON ONLY ", " ON ") for _name, definition in found]


class _Readings:
    """The year of readings as COPY text, time-major (as they arrive: every patient's morning, then the
    evening, day after day). A deviating reading opens an alert (written to `alerts` and `events` for
    their own COPY): handled or closed by data, except in the last hours, where it stays open (one per
    patient, as `alert_one_open` wants) and later deviating readings of the patient join it."""

    def __init__(self, people, planned, world, rng, alerts, events):
        self.people, self.planned, self.world, self.rng = people, planned, world, rng
        self.alerts_file, self.events_file = alerts, events
        self.count = self.alerts = 0
        per_centre_hour = len(people) / CENTRES * len(SLOTS) / 24 * DEVIATING
        self.now = datetime.datetime.now(datetime.UTC)
        self.open_from = self.now - datetime.timedelta(hours=OPEN_PER_CENTRE / per_centre_hour)
        self.open = {}  # patient → its open alert's id

    def chunks(self):
        rng, rand = self.rng, self.rng.random
        prefixes = [f"\t{p}\t{m}\t" for p, m in self.people]
        offsets = [rng.randrange(120) for _ in self.people]
        first = datetime.datetime.combine(TODAY - datetime.timedelta(days=DAYS), datetime.time(), tzinfo=datetime.UTC)
        rid = 0
        for day in range(DAYS + 1):
            for hour, minute, kind in SLOTS:
                base = first + datetime.timedelta(days=day, hours=hour, minutes=minute)
                if base + datetime.timedelta(minutes=120) > self.now:
                    return
                times = [(base + datetime.timedelta(minutes=o)).isoformat() for o in range(120)]
                tails = [f"\t{t}\t{t}\tgreen\t\t{t}\t\\N\t\n" for t in times]
                normal = [f"{kind}\t{v}" for v in NORMAL[kind]]
                n, out = len(normal), []
                for i, prefix in enumerate(prefixes):
                    rid += 1
                    r = rand()
                    if r < DEVIATING:
                        at = base + datetime.timedelta(minutes=offsets[i])
                        out.append(f"{rid}{prefix}{kind}\t{self._deviating(i, rid, kind, at, times[offsets[i]])}")
                    else:
                        out.append(f"{rid}{prefix}{normal[int(r * 7919) % n]}{tails[offsets[i]]}")
                self.count = rid
                yield "".join(out)

    def _deviating(self, i: int, rid: int, kind: str, at: datetime.datetime, iso: str) -> str:
        """One deviating reading's values and tail, its alert opened (or joined) on the way."""
        rng = self.rng
        colour, values, reason = DEVIANT[kind][rng.random() < 0.25]
        patient, kommune = self.people[i]
        if at >= self.open_from and patient in self.open:
            return f"{values}\t{iso}\t{iso}\t{colour}\t{reason}\t{iso}\t{self.open[patient]}\t\n"
        alert = str(uuid.UUID(int=rng.getrandbits(128)))
        nurse = self.world["nurse_of"][kommune]
        events = [("opened", at, r"\N")]
        taken = handled = None
        if at >= self.open_from:
            self.open[patient] = alert
            status, closed, reason_closed = "open", None, ""
            if rng.random() < 0.2:
                taken = at + datetime.timedelta(minutes=rng.randint(1, 30))
        else:
            status = "closed"
            if rng.random() < 0.9:
                taken = at + datetime.timedelta(minutes=rng.randint(2, 120))
                handled = taken + datetime.timedelta(minutes=rng.randint(1, 60))
            closed = handled or at + datetime.timedelta(hours=rng.randint(4, 48))
            reason_closed = "" if handled else "Normale verdier"
        if taken:
            events.append(("taken", taken, nurse))
        if handled:
            events.append(("handled", handled, nurse))
        without_plan = "f" if patient in self.planned else "t"
        row = [alert, patient, kommune, "out_of_range", "", colour, reason, without_plan, status, at, None,
               closed or at, closed, reason_closed, kind, taken, nurse if taken else None, handled,
               nurse if handled else None, int((handled - at).total_seconds()) if handled else None]  # fmt: skip
        self.alerts_file.write("\t".join(_text(v) for v in row) + "\n")
        for event, when, by in events:
            reading = rid if event == "opened" else r"\N"
            self.events_file.write(
                f"{alert}\t{kommune}\t{patient}\t{event}\t{_text(when)}\t{colour}\t\t{reason}\t{reading}\t{by}\n"
            )
        self.alerts += 1
        return f"{values}\t{iso}\t{iso}\t{colour}\t{reason}\t{iso}\t{alert}\t\n"


def _text(value) -> str:
    if value is None:
        return r"\N"
    return value.isoformat() if isinstance(value, datetime.datetime) else str(value)


# --- the figures ----------------------------------------------------------------------------------


def disk() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("""SELECT pg_total_relation_size('measurements_reading')
                                 + coalesce(sum(pg_total_relation_size(inhrelid)), 0)
                            FROM pg_inherits WHERE inhparent = 'measurements_reading'::regclass""")  # fmt: skip
        size = int(cursor.fetchone()[0])
        cursor.execute("SELECT count(*) FROM measurements_reading")
        rows = cursor.fetchone()[0]
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
    return {"mb_per_million": size / rows * 1_000_000 / 2**20 if rows else None, "readings": rows,
            "db_gb": database / 2**30}  # fmt: skip


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timed(client, paths: list[str], **headers) -> tuple[list[float], int]:
    """Server time per request (ms) and the queries of the last one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, queries = [], 0
    for path in paths:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path, **headers)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        queries = len(captured)
    return times, queries


def pages(centre) -> dict:
    """The worklist, its live refresh and the patient page (90 days), as bench/worklist.py times them."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from dho.wsgi import tune_gc  # the web process's settings (gunicorn loads dho.wsgi)
    from patients.models import Patient
    from tenants.rls import connection_use
    from tenants.two_factor import session_mark_verified

    nurse = get_user_model().objects.get(username=f"bench-nurse-{centre.slug[-1]}")
    patients = list(Patient.objects.filter(municipality__in=_kommuner_of(centre)).values_list("id", flat=True))
    device, _created = TOTPDevice.objects.get_or_create(user=nurse, name="Bench", defaults={"confirmed": True})
    connection_use("app")  # as the platform runs: the app's role, under row-level security
    tune_gc()
    client = Client()
    client.force_login(nurse)
    session = client.session
    session_mark_verified(session, device)  # past the second factor (DHO_DEBUG is off, as in production)
    session.save()
    client.get("/worklist/")  # warm caches and the session
    full, full_q = _timed(client, ["/worklist/"] * RUNS)
    live, live_q = _timed(client, ["/worklist/"] * RUNS, HTTP_HX_REQUEST="true")
    sample = random.Random(3).sample(patients, min(RUNS, len(patients)))
    # Warm as the worklist is (its templates, the compiled reads), on patients outside the sample: a
    # process's first patient page compiled its templates, one of RUNS timed pages and most of the p95.
    timed = set(sample)
    for warm in [p for p in patients if p not in timed][:5]:
        client.get(f"/patients/{warm}/?days=90")
    page, page_q = _timed(client, [f"/patients/{p}/?days=90" for p in sample])
    connection_use("owner")
    return {
        "worklist": [_pct(full, 50), _pct(full, 95)],
        "live": [_pct(live, 50), _pct(live, 95)],
        "patient": [_pct(page, 50), _pct(page, 95)],
        "queries": [full_q, live_q, page_q],
    }


def _median_seconds(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def billing(centre) -> dict:
    from django.contrib.auth import get_user_model

    from billing.calculation import Month
    from billing.selectors import allocation_for
    from dho.scope import municipality_ids_for
    from tenants.rls import connection_use, scoped

    user = get_user_model().objects.get(username=f"bench-finance-{centre.slug[-1]}")
    connection_use("app")
    with scoped(municipality_ids_for(user)):  # the finance user's request scope
        seconds = _median_seconds(lambda: allocation_for(centre, Month.of(TODAY).previous()))
    connection_use("owner")
    return {"billing_s": seconds}


def insight(centre) -> dict:
    from django.contrib.auth import get_user_model

    from dho.scope import municipality_ids_for
    from insight.access import insight_view_for, selection_for
    from insight.periods import period_parse
    from insight.selectors import insight_report
    from tenants.rls import connection_use, scoped

    leder = get_user_model().objects.get(username=f"bench-leder-{centre.slug[-1]}")
    last = TODAY.replace(day=1) - datetime.timedelta(days=1)
    connection_use("app")
    with scoped(municipality_ids_for(leder)):  # the leder's request scope
        view = insight_view_for(leder)
        selection = selection_for(view)
        period = period_parse(last.replace(day=1).isoformat(), last.isoformat(), "week", today=TODAY)
        seconds = _median_seconds(lambda: insight_report(view, selection, period))
    connection_use("owner")
    return {"insight_s": seconds}


def ingest(url: str, centre) -> dict:
    """Reading → alert under a paced load on a real gunicorn and Celery worker (bench/ingest.py's)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from knox.models import AuthToken

    from bench import ingest as stack
    from measurements.services import integration_create
    from patients.models import Patient
    from tenants.tokens import token_create
    from triage.models import Alert

    nurse = get_user_model().objects.get(username=f"bench-nurse-{centre.slug[-1]}")
    _integration, gateway = integration_create(centre=centre, name=f"bench-{uuid.uuid4().hex[:6]}")
    AuthToken.objects.filter(user=nurse).delete()  # the last run's
    _token, nurse_secret = token_create(user=nurse)
    kommuner = _kommuner_of(centre)
    ordered = Patient.objects.filter(municipality__in=kommuner).order_by("id")
    ids = [str(p) for p in ordered.values_list("id", flat=True)]
    probes, load_patients = ids[:PROBES], ids[PROBES:]
    # The same probes every run, none with an alert open (an open alert would answer at once): the
    # last run's probes and load left alerts open, and a reused database soon had no patient without.
    Alert.objects.filter(patient_id__in=probes, status="open").update(
        status="closed", closed_at=timezone.now(), closed_reason="benk: lukket før neste måling"
    )
    env = {key: value for key, value in os.environ.items() if key != "DHO_DB_AS_OWNER"}  # the stack: the app role
    env.update(_seed.production_env(url, "bench-national-"), ALLOWED_HOSTS="127.0.0.1",
               DHO_CELERY_QUEUE=f"bench-{uuid.uuid4().hex[:6]}", DHO_THROTTLE_GATEWAY="1000000/min",
               DHO_THROTTLE_USER="1000000/min")  # fmt: skip
    port = stack._free_port()
    procs = stack.start_stack(env, port)
    try:
        time.sleep(3)  # let the worker connect
        load = stack.paced_load(port, gateway, nurse_secret, load_patients, probes, RATE, LOAD_SECONDS)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    return {
        # The last batch leaves one interval before the load's end: a pace held is RATE, not a little over.
        "paced_rate": sum(load["paced"]) / max(load["seconds"], LOAD_SECONDS),
        "alert": [_pct(load["alerts"], 50), _pct(load["alerts"], 95)] if load["alerts"] else [None, None],
        "alert_n": len(load["alerts"]),
        "single_p95": _pct(load["singles"], 95) if load["singles"] else None,
        "ingest_errors": len(load["errors"]),
    }


if __name__ == "__main__":
    sys.exit(main())
