"""Readings and answers partitioned by month (measurements/partitions.py, migration 0007): the beat
task makes the months ahead as the app role, a partition cannot be read around the parent's policy,
and the retention command moves old months into the archive schema, audited, never dropping them."""

import datetime
import io

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from measurements import partitions
from measurements.models import Answer, Reading
from measurements.tasks import partitions_ensure
from tenants import rls
from tenants.errors import NotAllowed
from tenants.models import AuditEvent
from tests.database_roles import owner_connection, owner_psycopg


def _rows(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _reading(patient, at, **extra):
    return Reading.objects.create(
        patient=patient, municipality_id=patient.municipality_id, type="spo2", value=94, measured_at=at, **extra
    )


def _this_month(parent="measurements_reading") -> str:
    return f"{parent}_y{timezone.localdate():%Y}m{timezone.localdate():%m}"


def test_the_tables_are_partitioned_by_month_with_this_month_and_three_ahead(db):
    kinds = dict(_rows("SELECT relname, relkind FROM pg_class WHERE relname = ANY (%s)", [list(partitions.PARENTS)]))
    assert kinds == {"measurements_reading": "p", "measurements_answer": "p"}
    first = partitions.month_start(timezone.localdate())
    for parent in partitions.PARENTS:
        months = {p.month for p in partitions.partitions(parent)}
        assert {partitions.month_add(first, n) for n in range(4)} <= months, parent
    # The primary and unique keys hold the partition key.
    keys = dict(_rows(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'measurements_reading'::regclass"
        " AND contype IN ('p', 'u')"
    ))  # fmt: skip
    assert keys == {
        "measurements_reading_pkey": "PRIMARY KEY (id, measured_at)",
        "reading_external_id_unique": "UNIQUE (integration_id, external_id, measured_at)",
    }


def test_the_beat_task_makes_the_months_ahead_as_the_app_role_and_audits_them(db):
    assert _rows("SELECT current_user")[0][0] == settings.DHO_DB_APP_ROLE
    made = partitions.partitions_ensure(today=datetime.date(2031, 11, 20))
    assert made == [f"{parent}_y{y}m{m}" for parent in partitions.PARENTS
                    for y, m in (("2031", "11"), ("2031", "12"), ("2032", "01"), ("2032", "02"))]  # fmt: skip
    assert partitions.partitions_ensure(today=datetime.date(2031, 11, 20)) == []  # made once
    logged = AuditEvent.objects.filter(username=f"system:{partitions.ENSURE_ACTOR}", object_type="partition")
    assert sorted(logged.values_list("object_id", flat=True)) == sorted(made)
    # A Norwegian calendar month: midnight in Oslo on the 1st opens it (23:00 UTC in winter).
    bounds = _rows(
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'measurements_reading_y2031m12'"
    )
    assert bounds == [("FOR VALUES FROM ('2031-11-30 23:00:00+00') TO ('2031-12-31 23:00:00+00')",)]


def test_the_beat_task_finds_this_month_and_the_next_three_made(db):
    assert partitions_ensure() == []  # the migration made them; the daily run keeps three months ahead


def test_a_row_outside_every_partition_is_refused_not_lost_in_a_default(world):
    with pytest.raises(DatabaseError, match="no partition"), transaction.atomic():
        _reading(world.p.gjerdrum, datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC))
    assert not _rows("SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                     " WHERE pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'")  # fmt: skip


def test_a_partition_cannot_be_read_around_the_parents_policy(world):
    now = timezone.now()
    mine, theirs = _reading(world.p.gjerdrum, now), _reading(world.p.grimstad, now)
    partition = _this_month()
    # A partition's name from the catalogue's pattern, not input.
    for sql in ("SELECT count(*) FROM {}", "DELETE FROM {}", "INSERT INTO {} (id) VALUES (1)"):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            _rows(sql.format(partition))
    with rls.scoped([world.m.gjerdrum.pk]):
        assert list(Reading.objects.values_list("pk", flat=True)) == [mine.pk]
        assert _rows("SELECT id FROM measurements_reading") == [(mine.pk,)]
        assert not Reading.objects.filter(pk=theirs.pk).exists()
    with rls.scoped([]):
        assert _rows("SELECT count(*) FROM measurements_reading") == [(0,)]
    # Every partition of both tables: forced policy, and no privilege of the app role at all.
    found = _rows(
        """SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity,
                  has_table_privilege(current_user, c.oid,
                                      'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent IN ('measurements_reading'::regclass, 'measurements_answer'::regclass)"""
    )
    assert len(found) >= 8 and all(forced and not granted for _name, forced, granted in found)


def test_migrate_takes_back_a_grant_on_a_partition(db):
    role = settings.DHO_DB_APP_ROLE
    with owner_psycopg() as owner, owner.cursor() as cursor:
        cursor.execute(f'GRANT SELECT ON {_this_month()} TO "{role}"')
        rls._partition_revokes(cursor, role)  # what walls_ensure does after every migrate
        cursor.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [role, _this_month()])
        assert cursor.fetchone() == (False,)


def test_scoring_finds_a_reading_by_id_in_any_month(world):
    from triage.services import readings_score

    old = _reading(world.p.gjerdrum, timezone.now() - datetime.timedelta(days=40))
    new = _reading(world.p.gjerdrum, timezone.now())
    assert readings_score([old.pk, new.pk]) == 2
    assert Reading.objects.filter(pk__in=[old.pk, new.pk], scored_at__isnull=False).count() == 2


# --- retention: archive_partitions ---------------------------------------------------------------------


def test_the_archive_command_is_the_owners_and_refuses_a_month_still_written_to(db):
    with pytest.raises(NotAllowed, match="DHO_DB_AS_OWNER=1"):
        partitions.archive_plan(before=datetime.date(2020, 1, 1))
    with pytest.raises(CommandError, match="ÅÅÅÅ-MM"):
        call_command("archive_partitions", "--before", "2020-13")
    limit = partitions.archive_limit(datetime.date(2026, 12, 6))
    assert limit == datetime.date(2026, 11, 1)  # 30 days back is 6 November: November stays live


@pytest.fixture
def january_2020(transactional_db, world):
    """A reading and an answer of January 2020 in partitions of their own, committed; afterwards the
    archived tables are dropped (as the owner) so the test database is as before."""
    partitions.partitions_ensure(today=datetime.date(2020, 1, 1), months_ahead=0)
    at = datetime.datetime(2020, 1, 15, 12, tzinfo=datetime.UTC)
    reading = _reading(world.p.gjerdrum, at)
    _reading(world.p.gjerdrum, timezone.now())  # this month's: stays
    Answer.objects.create(patient=world.p.gjerdrum, municipality=world.m.gjerdrum, questionnaire="cat",
                          answers={"items": [1] * 8}, total=8, answered_at=at)  # fmt: skip
    yield reading
    with owner_connection(), connection.cursor() as cursor:
        for parent in partitions.PARENTS:
            cursor.execute(f"DROP TABLE IF EXISTS archive.{parent}_y2020m01, {parent}_y2020m01")


def test_archiving_detaches_old_months_into_the_archive_schema_audited(january_2020, tmp_path):
    today = datetime.date(2020, 3, 10)  # 30 days back is February: January may go
    names = ["measurements_answer_y2020m01", "measurements_reading_y2020m01"]
    with owner_connection():
        out = io.StringIO()
        call_command("archive_partitions", "--before", "2020-02", "--dry-run", stdout=out)
        assert "measurements_reading_y2020m01 (2020-01, 1 rader)" in out.getvalue()
        assert [p.name for p in partitions.partitions() if p.month.year == 2020] == names  # nothing moved
        done = partitions.partitions_archive(before=datetime.date(2020, 2, 1), dump_to=str(tmp_path), today=today)
        assert [(p.name, p.rows) for p, _path in done] == [(n, 1) for n in names]
        assert [p.name for p in partitions.partitions() if p.month.year == 2020] == []
        archived = _rows("SELECT tablename FROM pg_tables WHERE schemaname = 'archive' AND tablename LIKE '%%2020m01'")
        assert sorted(archived) == [(n,) for n in names]
        assert _rows("SELECT count(*) FROM archive.measurements_reading_y2020m01") == [(1,)]  # kept, not dropped
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"{n}.dump" for n in names]
        events = AuditEvent.objects.filter(
            username=f"system:{partitions.ARCHIVE_ACTOR}", object_type="archived_partition"
        )
        assert sorted(events.values_list("action", "object_id")) == sorted(
            [("update", f"archive.{n}") for n in names] + [("export", f"archive.{n}") for n in names]
        )
    # The app role: the month is gone from the live table, and the archive is out of its reach.
    with rls.scoped([january_2020.municipality_id]):
        assert Reading.objects.filter(patient=january_2020.patient).exists()  # this month's, still live
        assert not Reading.objects.filter(pk=january_2020.pk).exists()
        with pytest.raises(DatabaseError, match="permission denied for schema archive"), transaction.atomic():
            _rows("SELECT count(*) FROM archive.measurements_reading_y2020m01")


def test_a_month_an_open_alert_or_an_undelivered_document_still_needs_is_refused_and_named(
    january_2020, world, monkeypatch
):
    """An open alert is shown with the readings that raised it, and a handled alert's journal document
    is built from them until it is delivered: their month stays live, and the refusal names what holds it."""
    from journaling import services as journaling_services
    from journaling.models import Delivery, DeliveryState, Route, RouteKind
    from triage.models import Alert, AlertStatus
    from triage.services import alert_handle

    today = datetime.date(2020, 3, 10)
    patient = january_2020.patient
    alert = Alert.objects.create(patient=patient, municipality_id=patient.municipality_id, kind="out_of_range",
                                 colour="red", reason="SpO2 86 %", opened_at=january_2020.measured_at)  # fmt: skip
    Reading.objects.filter(pk=january_2020.pk).update(alert_id=alert.pk)

    def refused() -> str:
        with owner_connection(), pytest.raises(CommandError) as refusal:
            call_command("archive_partitions", "--before", "2020-02", "--dry-run")
        with owner_connection(), pytest.raises(partitions.Refused):
            partitions.partitions_archive(before=datetime.date(2020, 2, 1), today=today)
        return str(refusal.value)

    message = refused()
    assert "2020-01: 1 åpent varsel" in message and str(alert.pk) in message
    assert "som ikke er levert" not in message

    # Handled: the alert is closed, its document waits in the outbox (queued to no worker).
    monkeypatch.setattr(journaling_services, "_queue", lambda delivery_id: None)
    with rls.scoped([patient.municipality_id]):  # the owner's turn above reconnected: no test scope now
        Route.objects.create(
            municipality_id=patient.municipality_id, kind=RouteKind.JFT, orgnr="312229544",
            base_url="https://jft.invalid", client_id="dho-demo", key_reference="/run/k.json",
        )  # fmt: skip
        alert_handle(alert=alert, user=world.u.nurse, actions=["called_reached"], note="Ringte.")
    with rls.scoped([patient.municipality_id]):
        assert Alert.objects.get(pk=alert.pk).status == AlertStatus.CLOSED
        delivery = Delivery.objects.get(journal_note__alert=alert)
    message = refused()
    assert "2020-01: 1 journalsending som ikke er levert" in message and str(delivery.pk) in message
    assert "åpent varsel" not in message
    assert [p.name for p in partitions.partitions() if p.month.year == 2020] == [
        "measurements_answer_y2020m01", "measurements_reading_y2020m01"]  # nothing moved  # fmt: skip

    # Delivered: nothing holds January any more.
    with rls.scoped([patient.municipality_id]):
        Delivery.objects.filter(pk=delivery.pk).update(state=DeliveryState.JOURNALED)
    with owner_connection():
        done = partitions.partitions_archive(before=datetime.date(2020, 2, 1), today=today)
    assert [p.name for p, _path in done] == ["measurements_answer_y2020m01", "measurements_reading_y2020m01"]


def test_each_index_of_the_readings_and_answers_is_one_a_query_needs(db):
    """Every index costs every insert and every scoring update: the set is the one documented in
    docs/readings-and-fhir.md («The indexes»), each with the query it serves, and a partition has
    the parent's and no more."""
    expected = {
        "measurements_reading": {
            "measurements_reading_pkey", "reading_external_id_unique", "reading_by_patient",
            "reading_unscored", "reading_alert", "measurements_reading_municipality_id_42b4c7e9",
        },
        "measurements_answer": {
            "measurements_answer_pkey", "answer_external_id_unique", "answer_patient_time",
            "answer_unscored", "answer_alert", "measurements_answer_municipality_id_bd28e37e",
        },
    }  # fmt: skip
    for parent, names in expected.items():
        found = {
            name
            for (name,) in _rows(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = %s::regclass", [parent]
            )
        }
        assert found == names, parent
        month = _rows(
            "SELECT count(*) FROM pg_index WHERE indrelid = (SELECT inhrelid FROM pg_inherits"
            " WHERE inhparent = %s::regclass LIMIT 1)", [parent]
        )  # fmt: skip
        assert month == [(len(names),)], parent
    alert = _rows("SELECT pg_get_indexdef('reading_alert'::regclass)")[0][0]
    assert alert.endswith("(alert_id) WHERE (alert_id IS NOT NULL)"), alert


def test_a_patients_readings_by_time_are_read_from_the_index_alone_under_the_policy(world):
    """Both reads of a patient's readings by time, the patient page's trend and the worklist's last
    values, select only what reading_by_patient carries, the policy's municipality included: with the
    planner's other paths off, each partition is an Index Only Scan. A column the index lacks, the
    policy's too, would make it an Index Scan: a heap page per reading (docs/readings-and-fhir.md)."""
    from triage.selectors import TREND_POINTS, TREND_SQL, trend_readings_query

    now = timezone.now()
    _reading(world.p.gjerdrum, now)
    since = now - datetime.timedelta(days=90)
    with rls.scoped([world.m.gjerdrum.pk]), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        page = trend_readings_query(world.p.gjerdrum.pk, since).explain()
        cursor.execute(
            "EXPLAIN " + TREND_SQL.format(since=" AND m.measured_at >= %s"),
            [[world.p.gjerdrum.pk], ["spo2"], since, TREND_POINTS],
        )
        worklist = "\n".join(line for (line,) in cursor.fetchall())
    for plan in (page, worklist):
        assert "Index Only Scan using" in plan and "_by_patient" in plan, plan
        assert "Index Scan using" not in plan and "Seq Scan" not in plan, plan
