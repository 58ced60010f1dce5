"""The monthly partitions of readings and answers (migration 0007): making the months ahead (the beat
task, as the app role, through the owner's function `dho_partition_ensure`) and archiving old months
(the `archive_partitions` command, as the owner). Why and how: docs/readings-and-fhir.md,
«Partitions and retention».

Archiving never drops a row: a month's partition is DETACHed from its table and moved, whole, into
the schema `archive`, where the app role has no privilege; with `--dump` it is also written out with
pg_dump. Each step is audited as `system:measurements.archive_partitions`."""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models.functions import TruncMonth
from django.utils import timezone

from measurements.extensions import archive_holds
from measurements.ingest import MAX_AGE
from measurements.models import Answer, Reading
from tenants.errors import NotAllowed, Refused
from tenants.models import AuditAction
from tenants.rls import system_scope
from tenants.services import audit_record

# Each partitioned table and the time it is partitioned by.
PARENTS = {"measurements_reading": "measured_at", "measurements_answer": "answered_at"}
MONTHS_AHEAD = 3  # the beat task runs daily: three months of slack before an insert could find no partition
ARCHIVE_SCHEMA = "archive"
ENSURE_ACTOR = "measurements.partitions_ensure"
ARCHIVE_ACTOR = "measurements.archive_partitions"
# dho_partition_ensure names each partition so: the month is read back from the name, never guessed.
NAME = re.compile(r"^(?P<parent>measurements_reading|measurements_answer)_y(?P<year>\d{4})m(?P<month>\d{2})$")


@dataclass(frozen=True)
class Partition:
    parent: str
    name: str
    month: datetime.date  # the first day of the month it holds (Norwegian calendar month)
    rows: int = 0
    linked_to_alerts: int = 0  # rows an alert was raised or kept open by

    @property
    def archived_name(self) -> str:
        return f"{ARCHIVE_SCHEMA}.{self.name}"


def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def month_add(month: datetime.date, count: int) -> datetime.date:
    index = month.year * 12 + month.month - 1 + count
    return datetime.date(index // 12, index % 12 + 1, 1)


def parse_month(text: str) -> datetime.date:
    """«2025-01» → 1 January 2025; a Refused naming the argument otherwise."""
    try:
        return datetime.datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise Refused(f"--before: «{text}» er ikke en måned på formen ÅÅÅÅ-MM (for eksempel 2025-01).") from None


# --- making the months ahead (the beat task) ----------------------------------------------------------


def partitions_ensure(*, months_ahead: int = MONTHS_AHEAD, today: datetime.date | None = None) -> list[str]:
    """This month's partition and the next `months_ahead` months' of both tables, those missing made;
    → the names made, each audited. Idempotent: a month that has its partition is left alone."""
    first = month_start(today or timezone.localdate())
    made = []
    with connection.cursor() as cursor:
        for parent in PARENTS:
            for month in (month_add(first, n) for n in range(months_ahead + 1)):
                cursor.execute("SELECT dho_partition_ensure(%s, %s)", [parent, month])
                name = cursor.fetchone()[0]
                if name:
                    made.append(name)
    for name in made:
        audit_record(action=AuditAction.CREATE, object_type="partition", object_id=name, system=ENSURE_ACTOR)
    return made


def partitions(parent: str | None = None) -> list[Partition]:
    """The live partitions (in the current schema) of one table or both, oldest month first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid
                 JOIN pg_class p ON p.oid = i.inhparent
                WHERE p.oid = ANY (%s::regclass[])""",
            [[parent] if parent else list(PARENTS)],
        )
        names = [name for (name,) in cursor.fetchall()]
    found = []
    for name in names:
        match = NAME.match(name)
        if match:
            month = datetime.date(int(match["year"]), int(match["month"]), 1)
            found.append(Partition(match["parent"], name, month))
    return sorted(found, key=lambda p: (p.month, p.parent))


# --- archiving old months (the management command) ---------------------------------------------------


def archive_limit(today: datetime.date | None = None) -> datetime.date:
    """The latest `--before` month allowed: a gateway may still send what was measured up to
    MAX_AGE (30 days) ago, so the month that holds that day stays live, with every month after it."""
    return month_start((today or timezone.localdate()) - MAX_AGE)


def _owner_required() -> None:
    """DETACH and SET SCHEMA are the tables' owner's; the platform's own processes are the app role."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class"
            " WHERE oid = 'measurements_reading'::regclass"
        )
        if not cursor.fetchone()[0]:
            raise NotAllowed(
                "Arkivering av partisjoner gjøres av tabellenes eier: kjør kommandoen med DHO_DB_AS_OWNER=1 "
                "og eierens adresse i DATABASE_URL."
            )


def _counted(partition: Partition) -> Partition:
    with connection.cursor() as cursor:
        q = connection.ops.quote_name(partition.name)
        # Names from pg_class matched by NAME; counted inside the system scope, through the policy.
        cursor.execute(f"SELECT count(*), count(alert_id) FROM {q}")  # noqa: S608
        rows, linked = cursor.fetchone()
    return Partition(partition.parent, partition.name, partition.month, rows, linked)


def archive_plan(*, before: datetime.date, today: datetime.date | None = None) -> list[Partition]:
    """The partitions of months before `before` (each with its row count); refuses a month a gateway
    may still write to."""
    _owner_required()
    before = month_start(before)
    limit = archive_limit(today)
    if before > limit:
        raise Refused(
            f"--before {before:%Y-%m} er for nytt: målinger inntil {MAX_AGE.days} dager gamle tas fortsatt imot, "
            f"så senest {limit:%Y-%m} kan brukes i dag (arkiverer til og med {month_add(limit, -1):%Y-%m})."
        )
    with system_scope(ARCHIVE_ACTOR):
        plan = [_counted(p) for p in partitions() if p.month < before]
        _holds_refuse(before)
    return plan


def _oslo_midnight(month: datetime.date) -> datetime.datetime:
    # The partitions' bounds are Norwegian calendar months (the default time zone).
    return timezone.make_aware(datetime.datetime.combine(month, datetime.time()), timezone.get_default_timezone())


def _holds_refuse(before: datetime.date) -> None:
    """Refuses, naming them, the months before `before` that an upper app still needs
    (measurements/extensions.py: an open alert's readings, an undelivered journal document's)."""
    held: dict[datetime.date, list[str]] = {}
    for hold in archive_holds():
        for month, reasons in hold.months(_oslo_midnight(before)).items():
            held.setdefault(month, []).extend(reasons)
    if held:
        lines = [f"{month:%Y-%m}: {'; '.join(reasons)}" for month, reasons in sorted(held.items())]
        raise Refused(
            f"--before {before:%Y-%m}: disse månedene trengs fortsatt og kan ikke arkiveres ennå:\n"
            + "\n".join(f"  {line}" for line in lines)
            + "\nLukk varslene og få journalsendingene levert først, eller velg en tidligere måned."
        )


def months_of_alerts(alert_ids, before: datetime.datetime) -> dict[datetime.date, set]:
    """The months before `before` of the readings and answers that opened or kept these alerts
    (Reading.alert_id, Answer.alert_id): {first day of the month: the alert ids with rows in it}.
    For the holds the apps above register (measurements/extensions.py)."""
    alert_ids = list(alert_ids)
    found: dict[datetime.date, set] = {}
    if not alert_ids:
        return found
    for model, field in ((Reading, "measured_at"), (Answer, "answered_at")):
        rows = (
            model.objects.filter(alert_id__in=alert_ids, **{f"{field}__lt": before})
            .annotate(month=TruncMonth(field, tzinfo=timezone.get_default_timezone()))
            .values_list("month", "alert_id")
            .distinct()
        )
        for month, alert_id in rows:
            found.setdefault(timezone.localtime(month).date(), set()).add(alert_id)
    return found


def _archive_schema_ensure(cursor) -> None:
    q = connection.ops.quote_name
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {q(ARCHIVE_SCHEMA)}")
    cursor.execute(f"REVOKE ALL ON SCHEMA {q(ARCHIVE_SCHEMA)} FROM PUBLIC")
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [settings.DHO_DB_APP_ROLE])
    if cursor.fetchone():
        cursor.execute(f"REVOKE ALL ON SCHEMA {q(ARCHIVE_SCHEMA)} FROM {q(settings.DHO_DB_APP_ROLE)}")


def _detach(partition: Partition) -> None:
    """One month out of its table into the archive schema, with its audit event, in one transaction."""
    q = connection.ops.quote_name
    with transaction.atomic(), connection.cursor() as cursor:
        _archive_schema_ensure(cursor)
        cursor.execute(f"ALTER TABLE {q(partition.parent)} DETACH PARTITION {q(partition.name)}")
        cursor.execute(f"ALTER TABLE {q(partition.name)} SET SCHEMA {q(ARCHIVE_SCHEMA)}")
        audit_record(
            action=AuditAction.UPDATE,
            object_type="archived_partition",
            object_id=partition.archived_name,
            system=ARCHIVE_ACTOR,
        )


def _dump(partition: Partition, directory: Path) -> Path:
    """pg_dump of one archived table (custom format, restorable with pg_restore) as the owner."""
    # On the server itself, past a pooler in transaction mode (settings.DHO_DB_DIRECT): pg_dump's
    # session settings (search_path, timeouts) would otherwise land on a server connection of their
    # own and stay there for the next client.
    database = {**connection.settings_dict, **(settings.DHO_DB_DIRECT or {})}
    target = directory / f"{partition.name}.dump"
    command = [pg_dump_for(_server_major()), "--format=custom"]
    command += [f"--table={partition.archived_name}", f"--file={target}", "--dbname", database["NAME"]]
    for flag, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if database.get(key):
            command += [flag, str(database[key])]
    environment = {**os.environ, "PGPASSWORD": database.get("PASSWORD") or ""}
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise Refused(f"pg_dump av {partition.archived_name} feilet: {result.stderr.strip()}")
    audit_record(
        action=AuditAction.EXPORT, object_type="archived_partition", object_id=partition.archived_name,
        system=ARCHIVE_ACTOR,
    )  # fmt: skip
    return target


def _server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def _pg_dump_major(executable: str) -> int:
    out = subprocess.run([executable, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(found.group(1)) if found else 0


def pg_dump_for(server_major: int) -> str:
    """A pg_dump no older than the server (an older one refuses: «server version mismatch»): the one
    on PATH, else Debian's of the server's version, else the one pgserver ships (the embedded server
    of development and the tests, dho/embedded.py); the one on PATH if none is new enough."""
    candidates = [shutil.which("pg_dump"), f"/usr/lib/postgresql/{server_major}/bin/pg_dump"]
    embedded = importlib.util.find_spec("pgserver")  # found, not imported (importing it sets up a runtime dir)
    if embedded and embedded.submodule_search_locations:
        candidates.append(str(Path(embedded.submodule_search_locations[0]) / "pginstall" / "bin" / "pg_dump"))
    found = [c for c in candidates if c and os.access(c, os.X_OK)]
    for candidate in found:
        if _pg_dump_major(candidate) >= server_major:
            return candidate
    return found[0] if found else "pg_dump"


def dump_directory_check(directory: str | None) -> Path | None:
    """The `--dump` directory, checked before anything is detached."""
    if directory is None:
        return None
    if shutil.which("pg_dump") is None:
        raise Refused("--dump: pg_dump finnes ikke på denne maskinen (installer postgresql-client).")
    path = Path(directory)
    if not path.is_dir():
        raise Refused(f"--dump: mappen «{directory}» finnes ikke.")
    return path


def partitions_archive(
    *, before: datetime.date, dump_to: str | None = None, today: datetime.date | None = None
) -> list[tuple[Partition, Path | None]]:
    """DETACH every partition of a month before `before` and keep it in the archive schema (and, with
    `dump_to`, as a pg_dump file there); → what was archived. Never drops a table."""
    directory = dump_directory_check(dump_to)
    done = []
    for partition in archive_plan(before=before, today=today):
        _detach(partition)
        done.append((partition, _dump(partition, directory) if directory else None))
    return done
